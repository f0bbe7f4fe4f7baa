/* save.c - shared parts of writing a trained model directory; see save.h. */
#include "train/save.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "base/json.h"

rerank_status rr_train_mkdirs(const char *dir, rerank_error *err) { return rr_dir_make(dir, err); }

rerank_status rr_train_rmdir_flat(const char *dir, rerank_error *err) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? RERANK_OK : rr_fail(err, RERANK_ERR_IO, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (rr_path_join(path, sizeof path, dir, e->d_name)) unlink(path);
    }
    closedir(d);
    if (rmdir(dir) != 0) return rr_fail(err, RERANK_ERR_IO, "%s: %s", dir, strerror(errno));
    return RERANK_OK;
}

rerank_status rr_train_copy_file(const char *src_dir, const char *out_dir, const char *name, bool optional,
                                 rerank_error *err) {
    char src[4096], dst[4096];
    if (!rr_path_join(src, sizeof src, src_dir, name) || !rr_path_join(dst, sizeof dst, out_dir, name))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", out_dir);
    if (!rr_file_exists(src)) return optional ? RERANK_OK : rr_fail(err, RERANK_ERR_IO, "%s: no such file", src);
    return rr_file_copy(src, dst, err);
}

rerank_status rr_train_copy_tokenizer(const char *src_dir, const char *out_dir, rerank_error *err) {
    static const char *const names[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "vocab.txt", "vocab.json", "merges.txt", "added_tokens.json",
                                        "sentencepiece.bpe.model", "spiece.model", "tokenizer.model"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        rerank_status st = rr_train_copy_file(src_dir, out_dir, names[i], true, err);
        if (st) return st;
    }
    return RERANK_OK;
}

rerank_status rr_train_write_config(const char *src_dir, const char *out_dir, bool f32, rerank_error *err) {
    char src[4096], dst[4096];
    if (!rr_path_join(src, sizeof src, src_dir, "config.json") || !rr_path_join(dst, sizeof dst, out_dir, "config.json"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", out_dir);
    json_t *cfg;
    rerank_status st = rr_json_load_file(src, 1 << 20, &cfg, err);
    if (st) return st;
    const json_t *dt = json_object_get(cfg, "torch_dtype");
    if (f32 && dt && !(json_is_string(dt) && !strcmp(json_string_value(dt), "float32"))) {
        json_object_set_new(cfg, "torch_dtype", json_string("float32"));
        if (json_dump_file(cfg, dst, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
            st = rr_fail(err, RERANK_ERR_IO, "%s: cannot write", dst);
    } else {
        st = rr_train_copy_file(src_dir, out_dir, "config.json", false, err); /* byte for byte */
    }
    json_decref(cfg);
    return st;
}
