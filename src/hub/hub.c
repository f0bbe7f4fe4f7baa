/* hub.c - `ORG/NAME[@REV]` to a local snapshot directory, as huggingface_hub's snapshot_download does it but for
 * the files a reranker needs only: GET /api/models/{repo}/revision/{rev}?blobs=true for the commit and the file
 * list, then per file a HEAD on /{repo}/resolve/{commit}/{file} (ETag, size, the CDN's URL) and a GET into
 * blobs/<etag>, linked from snapshots/<commit>/. Offline (HF_HUB_OFFLINE) and on network failure the cache alone
 * answers. Every name, size and checksum the server sends is checked before it is used. */
#include "hub/hub.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "hub/hub_cache.h"
#include "hub/hub_http.h"

#define API_MAX_BYTES (32u << 20)       /* the revision API's answer */
#define MAX_SIBLINGS 100000             /* files listed by one revision */
#define MAX_PLAIN_FILE (64ll << 20)     /* a file stored in git (the hub puts anything over 10 MB in LFS) */
#define MAX_LFS_FILE (1ll << 40)        /* one LFS file (the largest safetensors shards are ~50 GB) */

/* The top-level files a reranker reads; with every *.safetensors. Never *.bin, *.gguf, onnx/, *.h5, ... */
static const char *const wanted_names[] = {
    "config.json",          "tokenizer.json",     "tokenizer_config.json", "special_tokens_map.json",
    "tokenizer.model",      "sentencepiece.bpe.model", "vocab.txt",      "vocab.json",
    "merges.txt",           "added_tokens.json",  "model.safetensors.index.json", "adapter_config.json",
};

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static bool wanted(const char *name) {
    if (strchr(name, '/')) return false; /* the loader reads the top level only: no onnx/, no subfolders */
    if (ends_with(name, ".safetensors")) return true;
    for (size_t i = 0; i < sizeof wanted_names / sizeof wanted_names[0]; i++)
        if (!strcmp(name, wanted_names[i])) return true;
    return false;
}

/* A hostile name made printable for a one-line message. */
static const char *shown_name(const char *s, size_t n, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\') o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

typedef struct fetch {
    rr_hub_id id;
    rr_hub_env env;
    rr_hub_cache cache;
    rr_http *http;
    const rr_hub_opts *opts;
    char commit[41];
    rr_hub_listing listing; /* the files we want */
    /* progress */
    uint64_t done, total;
    int files_done, files_total;
    const char *current;
} fetch;

/* The hub's answer to a failed request, keyed on X-Error-Code (the real hub answers an anonymous request for a
 * private or missing repository with 401 RepoNotFound, and a gated repository's files with 401/403 GatedRepo). */
static rerank_status hub_error(const fetch *f, const char *file, const rr_http_reply *r, rerank_error *err) {
    const char *code = r->error_code, *repo = f->id.repo;
    bool tok = f->env.token[0] != '\0';
    char msg[200] = "";
    if (r->error_message[0]) snprintf(msg, sizeof msg, " (hub: %.150s)", r->error_message);
    if (!strcmp(code, "RepoNotFound"))
        return rr_fail(err, RERANK_ERR_NOT_FOUND, "%s: repository not found on %s%s%s", repo, f->env.endpoint,
                       tok ? ", or the token in HF_TOKEN has no access to it" : " (if it is private, set HF_TOKEN)", msg);
    if (!strcmp(code, "GatedRepo"))
        return rr_fail(err, RERANK_ERR_ACCESS, "%s: gated repository: %s%s", repo,
                       tok ? "the token in HF_TOKEN has no access yet; request it on the repository's page"
                           : "accept its conditions on the repository's page and set HF_TOKEN",
                       msg);
    if (!strcmp(code, "RevisionNotFound"))
        return rr_fail(err, RERANK_ERR_NOT_FOUND, "%s: revision '%s' not found%s", repo, f->id.rev, msg);
    if (!strcmp(code, "EntryNotFound"))
        return rr_fail(err, RERANK_ERR_NOT_FOUND, "%s: file '%s' not found at revision %s%s", repo, file ? file : "?",
                       f->id.rev, msg);
    if (!strcmp(code, "DisabledRepo"))
        return rr_fail(err, RERANK_ERR_ACCESS, "%s: repository disabled on the hub%s", repo, msg);
    if (r->status == 401 || r->status == 403)
        return rr_fail(err, RERANK_ERR_ACCESS, "%s%s%s: HTTP %ld: access denied (%s)%s", repo, file ? " " : "",
                       file ? file : "", r->status, tok ? "check the token in HF_TOKEN" : "set HF_TOKEN", msg);
    if (r->status == 404)
        return rr_fail(err, RERANK_ERR_NOT_FOUND, "%s%s%s: HTTP 404 not found%s", repo, file ? " " : "", file ? file : "",
                       msg);
    return rr_fail(err, RERANK_ERR_NETWORK, "%s%s%s: HTTP %ld from %s%s", repo, file ? " " : "", file ? file : "",
                   r->status, f->env.endpoint, msg);
}

static void report(fetch *f, uint64_t current_bytes) {
    if (!f->opts || !f->opts->progress) return;
    rerank_download_progress p = {.file = f->current, .bytes_done = f->done + current_bytes, .bytes_total = f->total,
                                  .files_done = f->files_done, .files_total = f->files_total};
    f->opts->progress(&p, f->opts->progress_user);
}

static void on_bytes(void *user, uint64_t bytes) { report(user, bytes); }

/* ---- the revision listing ---- */

rerank_status rr_hub_parse_revision(const char *repo, const char *rev, const char *body, size_t len,
                                    rr_hub_listing *out, rerank_error *err) {
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, &je); /* NULs are let through so the check below names them */
    if (!j) return rr_fail(err, RERANK_ERR_NETWORK, "%s: the hub's revision answer is not JSON (%s)", repo, je.text);
    rerank_status st = RERANK_OK;
    json_t *sha = json_object_get(j, "sha"), *sib = json_object_get(j, "siblings");
    if (!json_is_string(sha) || !rr_hub_is_commit(json_string_value(sha)) || strlen(json_string_value(sha)) != json_string_length(sha))
        st = rr_fail(err, RERANK_ERR_NETWORK, "%s: the hub's answer has no valid 40-hex \"sha\"", repo);
    else if (!json_is_array(sib) || json_array_size(sib) > MAX_SIBLINGS)
        st = rr_fail(err, RERANK_ERR_NETWORK, "%s: the hub's answer has no usable \"siblings\" list", repo);
    if (!st) {
        memcpy(out->commit, json_string_value(sha), 41);
        out->files = calloc(json_array_size(sib) + 1, sizeof *out->files);
        if (!out->files) st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    }
    size_t i, used = 0;
    json_t *s;
    bool any_weights = false;
    json_array_foreach(sib, i, s) {
        if (st) break;
        json_t *rf = json_object_get(s, "rfilename");
        if (!json_is_string(rf)) {
            st = rr_fail(err, RERANK_ERR_NETWORK, "%s: siblings[%zu] has no \"rfilename\"", repo, i);
            break;
        }
        const char *name = json_string_value(rf);
        size_t n = json_string_length(rf);
        const char *why;
        char shown[200];
        if (!rr_hub_safe_relpath(name, n, &why)) {
            st = rr_fail(err, RERANK_ERR_NETWORK, "%s: refusing file name '%s' from the hub: it is %s", repo,
                         shown_name(name, n, shown, sizeof shown), why);
            break;
        }
        if (used + strlen(name) + 3 < sizeof out->names - 8)
            used += (size_t)snprintf(out->names + used, sizeof out->names - used, "%s%s", used ? ", " : "", name);
        else if (!strstr(out->names, ", ..."))
            used += (size_t)snprintf(out->names + used, sizeof out->names - used, ", ...");
        if (!wanted(name)) continue;
        rr_hub_file *hf = &out->files[out->n_files++];
        snprintf(hf->name, sizeof hf->name, "%s", name);
        json_t *size = json_object_get(s, "size"), *lfs = json_object_get(s, "lfs");
        hf->size = json_is_integer(size) && json_integer_value(size) >= 0 ? json_integer_value(size) : -1;
        if (json_is_object(lfs)) {
            json_t *h = json_object_get(lfs, "sha256"), *ls = json_object_get(lfs, "size");
            if (json_is_string(h) && strlen(json_string_value(h)) == 64 && json_string_length(h) == 64)
                snprintf(hf->sha256, sizeof hf->sha256, "%s", json_string_value(h));
            if (json_is_integer(ls) && json_integer_value(ls) >= 0) hf->size = json_integer_value(ls);
        }
        if (ends_with(name, ".safetensors")) any_weights = true;
    }
    if (!st && !any_weights)
        st = rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s@%s has no *.safetensors weights (rerank does not read *.bin, "
                     "*.gguf or onnx/); its files: %s", repo, rev, out->names[0] ? out->names : "none");
    json_decref(j);
    if (st) rr_hub_listing_free(out);
    return st;
}

void rr_hub_listing_free(rr_hub_listing *l) {
    if (!l) return;
    free(l->files);
    l->files = NULL;
    l->n_files = 0;
}

/* ---- one file ---- */

static rerank_status fetch_file(fetch *f, const rr_hub_file *hf, rerank_error *err) {
    const char *repo = f->id.repo;
    int has = rr_hub_cache_has_file(&f->cache, f->commit, hf->name, err);
    if (has < 0) return err ? err->status : RERANK_ERR_FORMAT;
    if (has == 1) return RERANK_OK; /* in the cache: no request at all */

    char esc[3200], url[5200];
    if (!rr_http_escape(hf->name, true, esc, sizeof esc) ||
        (size_t)snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", f->env.endpoint, repo, f->commit, esc) >= sizeof url)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: URL too long", hf->name);
    rr_http_reply r;
    rerank_status st = rr_http_head(f->http, url, &r, err);
    if (st) return st;
    bool redirect = r.status >= 300 && r.status < 400 && r.location[0];
    if (!(r.status >= 200 && r.status < 300) && !redirect) return hub_error(f, hf->name, &r, err);
    /* what the answer says about the blob */
    if (!r.commit[0])
        return rr_fail(err, RERANK_ERR_NETWORK, "%s %s: the answer has no X-Repo-Commit header (is HF_ENDPOINT a hub?)",
                       repo, hf->name);
    if (strcmp(r.commit, f->commit))
        return rr_fail(err, RERANK_ERR_NETWORK, "%s %s: the hub answered for commit '%.64s', expected %s", repo,
                       hf->name, r.commit, f->commit);
    if (!rr_hub_etag_ok(r.etag))
        return rr_fail(err, RERANK_ERR_NETWORK, "%s %s: refusing ETag '%.80s' as a blob name", repo, hf->name, r.etag);
    bool lfs = r.linked || hf->sha256[0];
    int64_t limit = lfs ? MAX_LFS_FILE : MAX_PLAIN_FILE;
    if (r.size < 0) return rr_fail(err, RERANK_ERR_NETWORK, "%s %s: the answer gives no size", repo, hf->name);
    if (r.size > limit)
        return rr_fail(err, RERANK_ERR_NETWORK, "%s %s: refusing a size of %lld bytes (limit %lld)", repo, hf->name,
                       (long long)r.size, (long long)limit);
    if (hf->size >= 0 && hf->size != r.size)
        return rr_fail(err, RERANK_ERR_NETWORK, "%s %s: the file API says %lld bytes, the download %lld", repo, hf->name,
                       (long long)hf->size, (long long)r.size);
    /* the sha256 to verify: the API's lfs.sha256, and an LFS ETag is the sha256 too */
    char want[65] = "";
    if (hf->sha256[0]) snprintf(want, sizeof want, "%s", hf->sha256);
    if (r.linked && strlen(r.etag) == 64) {
        if (want[0] && strcmp(want, r.etag))
            return rr_fail(err, RERANK_ERR_NETWORK, "%s %s: the API's sha256 %s differs from the ETag %s", repo,
                           hf->name, want, r.etag);
        snprintf(want, sizeof want, "%s", r.etag);
    }
    const char *source = redirect ? r.location : r.url;

    char blob[4400], part[4500];
    if (!rr_hub_cache_blob_path(&f->cache, r.etag, blob, sizeof blob) ||
        (size_t)snprintf(part, sizeof part, "%s.incomplete", blob) >= sizeof part)
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "cache path too long");
    char blobs_dir[4400];
    snprintf(blobs_dir, sizeof blobs_dir, "%s/blobs", f->cache.repo_dir);
    if ((st = rr_dir_make(blobs_dir, err))) return st;
    int lock;
    if ((st = rr_hub_cache_lock(&f->cache, r.etag, &lock, err))) return st;
    struct stat bs;
    /* another process may have written it while we waited for the lock */
    if (lstat(blob, &bs) != 0 || !S_ISREG(bs.st_mode) || bs.st_size != r.size) {
        f->current = hf->name;
        rr_http_reply got_reply;
        for (int refresh = 0;; refresh++) {
            st = rr_http_download(f->http, source, part, r.size, on_bytes, f, &got_reply, err);
            /* a signed CDN URL can expire during a long download (the CDN then answers 403): ask the hub for a
             * fresh one, twice at most, and resume onto the bytes already here */
            long s = got_reply.status;
            if (!st || !redirect || refresh >= 2 || !(s == 401 || s == 403 || s == 410)) break;
            rr_http_reply fresh;
            rerank_error herr;
            if (rr_http_head(f->http, url, &fresh, &herr) != RERANK_OK || !(fresh.status >= 300 && fresh.status < 400) ||
                !fresh.location[0] || strcmp(fresh.etag, r.etag) || fresh.size != r.size)
                break;
            memcpy(r.location, fresh.location, sizeof r.location);
        }
        if (st) rr_error_prefix(err, "%s %s", repo, hf->name);
        char got[65];
        if (!st && want[0] && !(st = rr_hub_sha256_file(part, got, err)) && strcmp(got, want)) {
            unlink(part); /* resuming onto wrong bytes would never succeed */
            st = rr_fail(err, RERANK_ERR_NETWORK, "%s %s: checksum mismatch: sha256 %s, expected %s", repo, hf->name,
                         got, want);
        }
        if (!st && rename(part, blob) != 0) st = rr_fail(err, RERANK_ERR_IO, "%s: cannot rename into place", part);
    }
    if (!st) st = rr_hub_cache_link(&f->cache, f->commit, hf->name, r.etag, err);
    rr_hub_cache_unlock(lock);
    return st;
}

/* ---- the cache alone ---- */

/* snapshots/<commit> of id from the cache only; `why` says why the network is not used. */
static rerank_status from_cache(fetch *f, const char *why, char *out, size_t cap, rerank_error *err) {
    char commit[41];
    if (rr_hub_is_commit(f->id.rev)) memcpy(commit, f->id.rev, 41);
    else {
        int found = rr_hub_cache_read_ref(&f->cache, f->id.rev, commit, err);
        if (found < 0) return err ? err->status : RERANK_ERR_FORMAT;
        if (found == 0)
            return rr_fail(err, RERANK_ERR_NOT_FOUND, "%s@%s is not in the hub cache %s and %s", f->id.repo, f->id.rev,
                           f->env.cache, why);
    }
    int has = rr_hub_cache_has_file(&f->cache, commit, "config.json", err);
    if (has < 0) return err ? err->status : RERANK_ERR_FORMAT;
    if (has == 0)
        return rr_fail(err, RERANK_ERR_NOT_FOUND, "%s@%s: snapshot %s is not in the hub cache %s and %s", f->id.repo,
                       f->id.rev, commit, f->env.cache, why);
    rerank_status st = rr_hub_cache_check_snapshot(&f->cache, commit, err);
    if (!st && !rr_hub_cache_snapshot_dir(&f->cache, commit, out, cap))
        st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "snapshot path too long");
    return st;
}

/* A commit's snapshot that holds everything a load needs: config.json, a tokenizer, and the weights (the single
 * file, or the index and every shard it names). Snapshots never change, so such a one needs no request. */
static bool snapshot_complete(fetch *f, const char *commit) {
    rerank_error e;
#define HAS(name) (rr_hub_cache_has_file(&f->cache, commit, name, &e) == 1)
    if (!HAS("config.json")) return false;
    if (!HAS("tokenizer.json") && !HAS("tokenizer.model") && !HAS("sentencepiece.bpe.model") && !HAS("vocab.txt"))
        return false;
    if (HAS("model.safetensors")) return true;
    if (!HAS("model.safetensors.index.json")) return false;
    char dir[4400], path[4500];
    if (!rr_hub_cache_snapshot_dir(&f->cache, commit, dir, sizeof dir) ||
        (size_t)snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir) >= sizeof path)
        return false;
    json_t *j = NULL;
    if (rr_json_load_file(path, 16u << 20, &j, &e) != RERANK_OK) return false;
    json_t *map = json_object_get(j, "weight_map");
    const char *k;
    json_t *v;
    bool ok = json_is_object(map) && json_object_size(map) > 0;
    json_object_foreach(map, k, v) {
        const char *s = json_string_value(v);
        if (!ok) break;
        ok = s && !strchr(s, '/') && rr_hub_safe_relpath(s, strlen(s), NULL) && HAS(s);
    }
#undef HAS
    json_decref(j);
    return ok;
}

rerank_status rr_hub_fetch(const char *spec, const rr_hub_opts *opts, char *out, size_t cap, rerank_error *err) {
    fetch *f = calloc(1, sizeof *f);
    if (!f) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    f->opts = opts;
    rerank_status st = RERANK_OK;
    if (!rr_hub_parse_id(spec, &f->id))
        st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "'%.200s' is not a hub id ORG/NAME[@REVISION]", spec);
    if (!st) st = rr_hub_env_read(&f->env, err);
    if (!st) st = rr_hub_cache_init(&f->cache, f->env.cache, f->id.repo, err);
    if (st) goto done;
    if (f->env.offline) {
        st = from_cache(f, "HF_HUB_OFFLINE is set (no network); download it once without HF_HUB_OFFLINE", out, cap, err);
        goto done;
    }
    if (rr_hub_is_commit(f->id.rev) && snapshot_complete(f, f->id.rev)) {
        st = from_cache(f, "", out, cap, err);
        goto done;
    }
    if ((st = rr_http_open(&f->env, &f->http, err))) goto done;

    char rev[800], url[2200];
    rr_http_escape(f->id.rev, false, rev, sizeof rev);
    snprintf(url, sizeof url, "%s/api/models/%s/revision/%s?blobs=true", f->env.endpoint, f->id.repo, rev);
    char *body = NULL;
    size_t len = 0;
    rr_http_reply r;
    st = rr_http_get(f->http, url, API_MAX_BYTES, &body, &len, &r, err);
    if (st) rr_error_prefix(err, "%s", f->id.repo);
    if (st == RERANK_ERR_NETWORK) {
        /* no answer at all: what the cache has for this revision will do, as huggingface_hub falls back */
        rerank_error net = *(err ? err : &(rerank_error){0});
        rerank_error cerr;
        if (from_cache(f, "", out, cap, &cerr) == RERANK_OK) st = RERANK_OK;
        else if (err) *err = net;
        free(body);
        goto done;
    }
    if (!st && r.status != 200) st = hub_error(f, NULL, &r, err);
    if (!st && !(st = rr_hub_parse_revision(f->id.repo, f->id.rev, body, len, &f->listing, err)))
        memcpy(f->commit, f->listing.commit, sizeof f->commit);
    free(body);
    if (st) goto done;
    if (strcmp(f->id.rev, f->commit) && (st = rr_hub_cache_write_ref(&f->cache, f->id.rev, f->commit, err))) goto done;

    const rr_hub_file *files = f->listing.files;
    f->files_total = (int)f->listing.n_files;
    for (size_t i = 0; i < f->listing.n_files; i++)
        if (rr_hub_cache_has_file(&f->cache, f->commit, files[i].name, NULL) != 1 && files[i].size > 0)
            f->total += (uint64_t)files[i].size;
    for (size_t i = 0; !st && i < f->listing.n_files; i++) {
        f->current = files[i].name;
        st = fetch_file(f, &files[i], err);
        if (!st && rr_hub_cache_has_file(&f->cache, f->commit, files[i].name, NULL) == 1) {
            f->files_done++;
            report(f, 0);
        }
    }
    if (!st) st = rr_hub_cache_check_snapshot(&f->cache, f->commit, err);
    if (!st && !rr_hub_cache_snapshot_dir(&f->cache, f->commit, out, cap))
        st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "snapshot path too long");
done:
    rr_http_close(f->http);
    rr_hub_listing_free(&f->listing);
    free(f);
    return st;
}

rerank_status rr_hub_resolve_model(const char *spec, const rr_hub_opts *opts, char *out, size_t cap, rerank_error *err) {
    if (!spec) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "model path is NULL");
    struct stat st;
    rr_hub_id id;
    if (stat(spec, &st) == 0 || !rr_hub_parse_id(spec, &id)) { /* a local path always wins */
        if ((size_t)snprintf(out, cap, "%s", spec) >= cap) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "path too long");
        return RERANK_OK;
    }
    rerank_status s = rr_hub_fetch(spec, opts, out, cap, err);
    if ((s == RERANK_ERR_NOT_FOUND || s == RERANK_ERR_NETWORK) && err) { /* maybe a mistyped local path */
        size_t n = strlen(err->message);
        snprintf(err->message + n, sizeof err->message - n, " (and no local directory '%s' exists)", spec);
    }
    return s;
}

rerank_status rerank_hub_download(const char *id, rerank_progress_fn progress, void *user, char *dir_out, size_t cap,
                                  rerank_error *err) {
    if (!id || !dir_out || cap == 0) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "rerank_hub_download: NULL argument");
    rr_hub_opts o = {progress, user};
    return rr_hub_fetch(id, &o, dir_out, cap, err);
}
