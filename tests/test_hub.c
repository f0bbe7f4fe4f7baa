/* test_hub.c - models by name (src/hub/): the environment as huggingface_hub reads it, the cache layout both tools
 * share, the protocol against a loopback fake hub (tests/fake_hub.c), and every hostile or broken answer the
 * client must refuse without writing outside the cache. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_hub.h"
#include "golden.h"
#include "hub/hub.h"
#include "hub/hub_cache.h"
#include "io/safetensors.h"
#include "rerank.h"
#include "server_client.h"
#include "test.h"

static const char *const hf_vars[] = {"HF_ENDPOINT", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME",
                                      "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE",
                                      "TRANSFORMERS_OFFLINE", "HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT",
                                      /* a proxy would take the loopback requests elsewhere */
                                      "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};

static void env_clear(void) {
    for (size_t i = 0; i < sizeof hf_vars / sizeof hf_vars[0]; i++) unsetenv(hf_vars[i]);
}

/* A fresh temporary root with a cache/ inside; the environment points at it and at endpoint. */
typedef struct sandbox {
    char root[64], cache[128];
} sandbox;

static bool sandbox_open(sandbox *s, const char *endpoint) {
    env_clear();
    snprintf(s->root, sizeof s->root, "/tmp/rerank_hub_XXXXXX");
    if (!mkdtemp(s->root)) return false;
    snprintf(s->cache, sizeof s->cache, "%s/cache", s->root);
    setenv("HF_HUB_CACHE", s->cache, 1);
    if (endpoint) setenv("HF_ENDPOINT", endpoint, 1);
    return true;
}

static void sandbox_close(sandbox *s) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", s->root);
    env_clear();
}

static const char *model_dir(const char *name) { return rr_shared_path(name); }

/* Every path under root that is not under root/cache (what a hostile answer must never create). */
static int n_outside;
static int count_outside(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    if (ftw->level == 1 && strcmp(path + ftw->base, "cache") != 0) n_outside++;
    return 0;
}
static int files_outside_cache(const sandbox *s) {
    n_outside = 0;
    nftw(s->root, count_outside, 16, FTW_PHYS);
    return n_outside;
}

static int n_named;
static const char *named;
static int count_named(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    if (strstr(path + ftw->base, named)) n_named++;
    return 0;
}
static int files_named(const char *root, const char *part) {
    n_named = 0;
    named = part;
    nftw(root, count_named, 16, FTW_PHYS);
    return n_named;
}

static const fake_repo std_repos[] = {
    {"org/xlmr", NULL, false, false},  /* dir filled in by repos() */
    {"org/bert", NULL, false, false},
    {"org/gated", NULL, true, false},
    {"org/private", NULL, false, true},
    {"org/nosafe", NULL, false, false},
};
static fake_repo repo_table[5];
static char nosafe_dir[64];

/* The repositories: tiny XLM-R and BERT checkpoints, gated and private copies, and one without safetensors. */
static const fake_repo *repos(int *n) {
    memcpy(repo_table, std_repos, sizeof repo_table);
    repo_table[0].dir = model_dir("testdata/xlmr-seqcls-tiny");
    static char bert[1024];
    snprintf(bert, sizeof bert, "%s", model_dir("testdata/bert-seqcls-tiny"));
    repo_table[1].dir = repo_table[2].dir = repo_table[3].dir = bert;
    if (!nosafe_dir[0]) {
        snprintf(nosafe_dir, sizeof nosafe_dir, "/tmp/rerank_hub_nosafe_XXXXXX");
        if (mkdtemp(nosafe_dir)) {
            char p[128];
            snprintf(p, sizeof p, "%s/config.json", nosafe_dir);
            FILE *f = fopen(p, "w");
            if (f) fputs("{}", f), fclose(f);
            snprintf(p, sizeof p, "%s/pytorch_model.bin", nosafe_dir);
            f = fopen(p, "w");
            if (f) fputs("weights", f), fclose(f);
        }
    }
    repo_table[4].dir = nosafe_dir;
    *n = 5;
    return repo_table;
}

static fake_hub *start(const fake_hub_mode *mode) {
    int n;
    const fake_repo *r = repos(&n);
    return fake_hub_start(r, n, mode);
}

static bool read_text(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return true;
}

/* ---- environment and names ---- */

TEST(hub_env_precedence) {
    env_clear();
    const char *home = getenv("HOME");
    rr_hub_env e;
    rerank_error err;
    setenv("HOME", "/home/u", 1);
    REQUIRE(rr_hub_env_read(&e, &err) == RERANK_OK, "%s", err.message);
    CHECK(!strcmp(e.endpoint, "https://huggingface.co"));
    CHECK(!strcmp(e.cache, "/home/u/.cache/huggingface/hub"), "%s", e.cache);
    CHECK(!e.offline && e.token[0] == '\0' && e.etag_timeout_s == 10);
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    rr_hub_env_read(&e, &err);
    CHECK(!strcmp(e.cache, "/xdg/huggingface/hub"), "%s", e.cache);
    setenv("HF_HOME", "~/hfhome", 1);
    rr_hub_env_read(&e, &err);
    CHECK(!strcmp(e.cache, "/home/u/hfhome/hub"), "%s", e.cache);
    setenv("RR_TEST_ROOT", "/r", 1); /* paths go through expanduser then expandvars, as in huggingface_hub */
    setenv("HF_HOME", "${RR_TEST_ROOT}/hf$RR_TEST_ROOT/$RR_NO_SUCH_VAR", 1);
    rr_hub_env_read(&e, &err);
    CHECK(!strcmp(e.cache, "/r/hf/r/$RR_NO_SUCH_VAR/hub"), "%s", e.cache);
    unsetenv("RR_TEST_ROOT");
    setenv("HUGGINGFACE_HUB_CACHE", "/legacy", 1);
    rr_hub_env_read(&e, &err);
    CHECK(!strcmp(e.cache, "/legacy"), "%s", e.cache);
    setenv("HF_HUB_CACHE", "/hubcache", 1);
    setenv("HF_ENDPOINT", "http://127.0.0.1:1234//", 1);
    rr_hub_env_read(&e, &err);
    CHECK(!strcmp(e.cache, "/hubcache"), "%s", e.cache);
    CHECK(!strcmp(e.endpoint, "http://127.0.0.1:1234"), "%s", e.endpoint);
    /* the token: HF_TOKEN, else HF_TOKEN_PATH, else HF_HOME/token */
    char dir[] = "/tmp/rerank_hub_env_XXXXXX";
    REQUIRE(mkdtemp(dir));
    char p[128];
    snprintf(p, sizeof p, "%s/token", dir);
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    fputs("hf_fromfile\n", f);
    fclose(f);
    setenv("HF_HOME", dir, 1);
    rr_hub_env_read(&e, &err);
    CHECK(!strcmp(e.token, "hf_fromfile"), "%s", e.token);
    setenv("HF_TOKEN_PATH", "/nonexistent/token", 1);
    rr_hub_env_read(&e, &err);
    CHECK(e.token[0] == '\0', "a missing HF_TOKEN_PATH file means anonymous");
    setenv("HF_TOKEN", "  hf_env\r\n", 1);
    rr_hub_env_read(&e, &err);
    CHECK(!strcmp(e.token, "hf_env"), "%s", e.token);
    setenv("HF_TOKEN", "hf_a\nX-Injected: 1", 1);
    CHECK(rr_hub_env_read(&e, &err) == RERANK_ERR_INVALID_ARGUMENT && strstr(err.message, "HF_TOKEN"), "%s", err.message);
    unsetenv("HF_TOKEN");
    const char *truthy[] = {"1", "ON", "yes", "True"}, *falsy[] = {"0", "off", "no"};
    for (int i = 0; i < 4; i++) {
        setenv("HF_HUB_OFFLINE", truthy[i], 1);
        rr_hub_env_read(&e, &err);
        CHECK(e.offline, "HF_HUB_OFFLINE=%s", truthy[i]);
    }
    for (int i = 0; i < 3; i++) {
        setenv("HF_HUB_OFFLINE", falsy[i], 1);
        rr_hub_env_read(&e, &err);
        CHECK(!e.offline, "HF_HUB_OFFLINE=%s", falsy[i]);
    }
    setenv("HF_ENDPOINT", "ftp://x", 1);
    CHECK(rr_hub_env_read(&e, &err) == RERANK_ERR_INVALID_ARGUMENT);
    snprintf(p, sizeof p, "rm -rf %s", dir);
    CHECK(system(p) == 0);
    env_clear();
    if (home) setenv("HOME", home, 1);
}

TEST(hub_ids_and_names) {
    rr_hub_id id;
    CHECK(rr_hub_parse_id("BAAI/bge-reranker-v2-m3", &id) && !strcmp(id.repo, "BAAI/bge-reranker-v2-m3") &&
          !strcmp(id.rev, "main"));
    CHECK(rr_hub_parse_id("Qwen/Qwen3-Reranker-0.6B@refs/pr/1", &id) && !strcmp(id.rev, "refs/pr/1"));
    CHECK(rr_hub_parse_id("a/b@" FAKE_SHA_MAIN, &id) && rr_hub_is_commit(id.rev));
    const char *bad[] = {"noslash", "/abs/path", "a/b/c", "a//b", "../x", "a/..", "a/b@", "a/b@../x", "a/b@/x",
                         "a--b/c", "a/-b", "a/b c", "./m", "a/b@x\\y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(!rr_hub_parse_id(bad[i], &id), "%s", bad[i]);
    const char *why;
    CHECK(rr_hub_safe_relpath("model.safetensors", 17, &why));
    CHECK(rr_hub_safe_relpath("sub/dir/x.json", 14, &why));
    CHECK(!rr_hub_safe_relpath("/etc/passwd", 11, &why) && strstr(why, "absolute"));
    CHECK(!rr_hub_safe_relpath("a/../../x", 9, &why) && strstr(why, ".."));
    CHECK(!rr_hub_safe_relpath("..", 2, &why));
    CHECK(!rr_hub_safe_relpath("a\\..\\x", 6, &why) && strstr(why, "backslash"));
    CHECK(!rr_hub_safe_relpath("a\0b", 3, &why) && strstr(why, "NUL"));
    CHECK(!rr_hub_safe_relpath("a\nb", 3, &why) && strstr(why, "control"));
    CHECK(!rr_hub_safe_relpath("a//b", 4, &why) && !rr_hub_safe_relpath("", 0, &why));
    CHECK(!rr_hub_etag_ok("../x") && !rr_hub_etag_ok("") && rr_hub_etag_ok("a1b2-c_3"));
}

/* ---- the protocol and the layout ---- */

static const char *const lfs_files[] = {"model.safetensors", "sentencepiece.bpe.model"};

TEST(hub_download_layout_matches_huggingface_hub) {
    fake_hub *h = start(NULL);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    setenv("HF_TOKEN", "hf_good", 1);
    char dir[4096], expect[4096];
    rerank_error err;
    rerank_status st = rerank_hub_download("org/xlmr", NULL, NULL, dir, sizeof dir, &err);
    REQUIRE(st == RERANK_OK, "%s", err.message);
    snprintf(expect, sizeof expect, "%s/models--org--xlmr/snapshots/%s", s.cache, FAKE_SHA_MAIN);
    CHECK(!strcmp(dir, expect), "%s", dir);
    /* refs/main: the commit, no trailing newline */
    char path[4400], text[128];
    snprintf(path, sizeof path, "%s/models--org--xlmr/refs/main", s.cache);
    CHECK(read_text(path, text, sizeof text) && !strcmp(text, FAKE_SHA_MAIN), "refs/main = '%s'", text);
    /* LFS files: relative symlinks to blobs named by their sha256; small files: by their git blob id */
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, lfs_files[i]);
        char target[256];
        ssize_t n = readlink(path, target, sizeof target - 1);
        REQUIRE(n > 0, "%s is not a symlink", path);
        target[n] = '\0';
        char want[256];
        snprintf(want, sizeof want, "../../blobs/%s", fake_hub_sha256(h, "org/xlmr", lfs_files[i]));
        CHECK(!strcmp(target, want), "%s -> %s", lfs_files[i], target);
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    char target[256];
    ssize_t n = readlink(path, target, sizeof target - 1);
    CHECK(n == 12 + 40 && !strncmp(target, "../../blobs/", 12), "config.json -> %.*s", (int)(n > 0 ? n : 0), target);
    /* only what a reranker reads: no golden files, no onnx/, gguf, subfolders; no .incomplete left */
    snprintf(path, sizeof path, "%s/golden.jsonl", dir);
    CHECK(access(path, F_OK) != 0);
    CHECK(files_named(s.cache, ".incomplete") == 0 && files_named(s.cache, "onnx") == 0 &&
          files_named(s.cache, "gguf") == 0 && files_named(s.cache, "1_Pooling") == 0);
    snprintf(path, sizeof path, "%s/.locks/models--org--xlmr", s.cache);
    CHECK(access(path, F_OK) == 0, "huggingface_hub's lock folder");
    fake_hub_counts c = fake_hub_counts_get(h);
    CHECK(c.cdn == 2 && c.cdn_auth == 0, "CDN requests %d, with Authorization %d", c.cdn, c.cdn_auth);
    CHECK(c.hub_auth > 0 && c.resolve_cache > 0, "token to the hub %d, resolve-cache %d", c.hub_auth, c.resolve_cache);
    /* the model loads from there, with the local directory's scores */
    rerank_model *m = NULL;
    CHECK(rerank_model_load(dir, NULL, &m, &err) == RERANK_OK, "%s", err.message);
    rerank_model_free(m);
    sandbox_close(&s);
    fake_hub_stop(h);
}

TEST(hub_cached_files_cost_no_request) {
    fake_hub_mode mode = {.weak_etag = true};
    fake_hub *h = start(&mode);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    char dir[4096], dir2[4096];
    rerank_error err;
    REQUIRE(rerank_hub_download("org/bert", NULL, NULL, dir, sizeof dir, &err) == RERANK_OK, "%s", err.message);
    /* weak ETags W/"..." name blobs without the W/ and quotes */
    char path[4400], target[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n > 0 ? n : 0] = '\0'; /* readlink does not terminate */
    CHECK(n == 52 && !strchr(target, '"') && !strchr(target, 'W'), "config.json -> %.*s", (int)(n > 0 ? n : 0), target);
    fake_hub_counts_reset(h);
    REQUIRE(rerank_hub_download("org/bert", NULL, NULL, dir2, sizeof dir2, &err) == RERANK_OK, "%s", err.message);
    fake_hub_counts c = fake_hub_counts_get(h);
    CHECK(!strcmp(dir, dir2));
    CHECK(c.api == 1 && c.resolve == 0 && c.resolve_cache == 0 && c.cdn == 0,
          "branch: api %d resolve %d cache %d cdn %d", c.api, c.resolve, c.resolve_cache, c.cdn);
    fake_hub_counts_reset(h);
    REQUIRE(rerank_hub_download("org/bert@" FAKE_SHA_MAIN, NULL, NULL, dir2, sizeof dir2, &err) == RERANK_OK, "%s",
            err.message);
    c = fake_hub_counts_get(h);
    CHECK(c.api + c.resolve + c.resolve_cache + c.cdn == 0, "a cached commit costs no request at all");
    /* a tag and a PR ref resolve to the commit and get their refs/ entry; a commit gets none */
    REQUIRE(rerank_hub_download("org/bert@refs/pr/1", NULL, NULL, dir2, sizeof dir2, &err) == RERANK_OK, "%s", err.message);
    char text[128];
    snprintf(path, sizeof path, "%s/models--org--bert/refs/refs/pr/1", s.cache);
    CHECK(read_text(path, text, sizeof text) && !strcmp(text, FAKE_SHA_MAIN));
    snprintf(path, sizeof path, "%s/models--org--bert/refs/%s", s.cache, FAKE_SHA_MAIN);
    CHECK(access(path, F_OK) != 0);
    /* the network gone: the cache answers for the revision it knows */
    setenv("HF_ENDPOINT", "http://127.0.0.1:1", 1);
    CHECK(rerank_hub_download("org/bert", NULL, NULL, dir2, sizeof dir2, &err) == RERANK_OK && !strcmp(dir, dir2), "%s",
          err.message);
    CHECK(rerank_hub_download("org/bert@v9", NULL, NULL, dir2, sizeof dir2, &err) == RERANK_ERR_NETWORK, "%s",
          err.message);
    sandbox_close(&s);
    fake_hub_stop(h);
}

/* Writes `file` of `src` into cache as huggingface_hub does: blobs/<sha256>, a relative symlink. */
static bool hand_write(const char *repo_dir, const char *src, const char *file) {
    char from[2048], blob[2048], link[2048], target[256], hex[65];
    rerank_error err;
    snprintf(from, sizeof from, "%s/%s", src, file);
    if (rr_hub_sha256_file(from, hex, &err)) return false;
    snprintf(blob, sizeof blob, "%s/blobs/%s", repo_dir, hex);
    char cmd[4500];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, blob);
    if (system(cmd) != 0) return false;
    snprintf(link, sizeof link, "%s/snapshots/%s/%s", repo_dir, FAKE_SHA_MAIN, file);
    snprintf(target, sizeof target, "../../blobs/%s", hex);
    return symlink(target, link) == 0;
}

TEST(hub_offline_uses_a_cache_written_by_huggingface_hub) {
    fake_hub *h = start(NULL);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    setenv("HF_HUB_OFFLINE", "1", 1);
    const char *src = model_dir("testdata/bert-seqcls-tiny");
    char repo[256], cmd[1024];
    snprintf(repo, sizeof repo, "%s/models--org--hand", s.cache);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/blobs %s/refs %s/snapshots/%s", repo, repo, repo, FAKE_SHA_MAIN);
    REQUIRE(system(cmd) == 0);
    const char *files[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                           "special_tokens_map.json", "vocab.txt"};
    for (int i = 0; i < 6; i++) REQUIRE(hand_write(repo, src, files[i]), "%s", files[i]);
    char ref[300];
    snprintf(ref, sizeof ref, "%s/refs/main", repo);
    FILE *f = fopen(ref, "w");
    REQUIRE(f);
    fputs(FAKE_SHA_MAIN, f); /* no newline, as huggingface_hub writes it */
    fclose(f);
    rerank_model *a = NULL, *b = NULL;
    rerank_error err;
    REQUIRE(rerank_model_load("org/hand", NULL, &a, &err) == RERANK_OK, "%s", err.message);
    REQUIRE(rerank_model_load(src, NULL, &b, &err) == RERANK_OK, "%s", err.message);
    rerank_session *sa, *sb;
    rerank_session_new(a, &sa, &err);
    rerank_session_new(b, &sb, &err);
    rerank_pair pairs[] = {RERANK_PAIR("what is panda?", "The giant panda is a bear."), RERANK_PAIR("hi", "there")};
    float xa[2], xb[2];
    rerank_score_params sp = rerank_score_default_params();
    CHECK(rerank_score(sa, &sp, pairs, 2, xa, &err) == RERANK_OK && rerank_score(sb, &sp, pairs, 2, xb, &err) == RERANK_OK);
    CHECK(xa[0] == xb[0] && xa[1] == xb[1]);
    rerank_session_free(sa);
    rerank_session_free(sb);
    rerank_model_free(a);
    rerank_model_free(b);
    char dir[4096];
    CHECK(rerank_hub_download("org/hand@" FAKE_SHA_MAIN, NULL, NULL, dir, sizeof dir, &err) == RERANK_OK, "%s", err.message);
    /* nothing cached: the error names HF_HUB_OFFLINE; and not one request went out */
    CHECK(rerank_hub_download("org/xlmr", NULL, NULL, dir, sizeof dir, &err) == RERANK_ERR_NOT_FOUND &&
          strstr(err.message, "HF_HUB_OFFLINE") && strstr(err.message, "org/xlmr"), "%s", err.message);
    fake_hub_counts c = fake_hub_counts_get(h);
    CHECK(c.api + c.resolve + c.resolve_cache + c.cdn == 0);
    sandbox_close(&s);
    fake_hub_stop(h);
}

TEST(hub_errors_keyed_on_x_error_code) {
    fake_hub *h = start(NULL);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    char dir[4096];
    rerank_error err;
    /* anonymous: a missing and a private repository both answer 401 RepoNotFound */
    CHECK(rerank_hub_download("org/missing", NULL, NULL, dir, sizeof dir, &err) == RERANK_ERR_NOT_FOUND &&
          strstr(err.message, "repository not found") && strstr(err.message, "HF_TOKEN"), "%s", err.message);
    CHECK(rerank_hub_download("org/private", NULL, NULL, dir, sizeof dir, &err) == RERANK_ERR_NOT_FOUND &&
          strstr(err.message, "set HF_TOKEN"), "%s", err.message);
    /* gated: the listing works, the files answer 401 GatedRepo */
    CHECK(rerank_hub_download("org/gated", NULL, NULL, dir, sizeof dir, &err) == RERANK_ERR_ACCESS &&
          strstr(err.message, "gated") && strstr(err.message, "HF_TOKEN"), "%s", err.message);
    CHECK(rerank_hub_download("org/bert@nope", NULL, NULL, dir, sizeof dir, &err) == RERANK_ERR_NOT_FOUND &&
          strstr(err.message, "revision 'nope' not found"), "%s", err.message);
    CHECK(rerank_hub_download("org/nosafe", NULL, NULL, dir, sizeof dir, &err) == RERANK_ERR_UNSUPPORTED &&
          strstr(err.message, "safetensors") && strstr(err.message, "pytorch_model.bin"), "%s", err.message);
    setenv("HF_TOKEN", "hf_wrong", 1);
    CHECK(rerank_hub_download("org/gated", NULL, NULL, dir, sizeof dir, &err) == RERANK_ERR_ACCESS &&
          strstr(err.message, "no access"), "%s", err.message);
    CHECK(rerank_hub_download("org/missing", NULL, NULL, dir, sizeof dir, &err) == RERANK_ERR_NOT_FOUND, "%s", err.message);
    setenv("HF_TOKEN", "hf_good", 1);
    CHECK(rerank_hub_download("org/gated", NULL, NULL, dir, sizeof dir, &err) == RERANK_OK, "%s", err.message);
    CHECK(rerank_hub_download("org/private", NULL, NULL, dir, sizeof dir, &err) == RERANK_OK, "%s", err.message);
    CHECK(fake_hub_counts_get(h).cdn_auth == 0);
    sandbox_close(&s);
    fake_hub_stop(h);
}

/* ---- broken and hostile servers ---- */

TEST(hub_resumes_after_a_dropped_connection_and_retries_503) {
    fake_hub_mode mode = {.drop_half = true, .fail_503_once = true};
    fake_hub *h = start(&mode);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    char dir[4096], path[4400], hex[65];
    rerank_error err;
    REQUIRE(rerank_hub_download("org/xlmr", NULL, NULL, dir, sizeof dir, &err) == RERANK_OK, "%s", err.message);
    fake_hub_counts c = fake_hub_counts_get(h);
    CHECK(c.api == 2, "the 503 was retried: %d API calls", c.api);
    CHECK(c.cdn == 4 && c.cdn_range == 2, "each blob cut once and resumed with Range: %d requests, %d ranged", c.cdn,
          c.cdn_range);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, lfs_files[i]);
        CHECK(rr_hub_sha256_file(path, hex, &err) == RERANK_OK && !strcmp(hex, fake_hub_sha256(h, "org/xlmr", lfs_files[i])));
    }
    sandbox_close(&s);
    fake_hub_stop(h);
}

TEST(hub_refreshes_an_expired_cdn_url) {
    fake_hub_mode mode = {.drop_half = true, .expire_after_drop = true};
    fake_hub *h = start(&mode);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    char dir[4096], path[4400], hex[65];
    rerank_error err;
    REQUIRE(rerank_hub_download("org/xlmr", NULL, NULL, dir, sizeof dir, &err) == RERANK_OK, "%s", err.message);
    fake_hub_counts c = fake_hub_counts_get(h);
    /* per blob: the cut GET, the expired (403) resume, a fresh HEAD, the resume that completes */
    CHECK(c.cdn == 6 && c.cdn_range == 4, "%d CDN requests, %d ranged", c.cdn, c.cdn_range);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(rr_hub_sha256_file(path, hex, &err) == RERANK_OK && !strcmp(hex, fake_hub_sha256(h, "org/xlmr", "model.safetensors")));
    sandbox_close(&s);
    fake_hub_stop(h);
}

TEST(hub_refuses_a_checksum_mismatch) {
    fake_hub_mode mode = {.wrong_sha = true};
    fake_hub *h = start(&mode);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    char dir[4096];
    rerank_error err;
    CHECK(rerank_hub_download("org/xlmr", NULL, NULL, dir, sizeof dir, &err) == RERANK_ERR_NETWORK &&
          strstr(err.message, "checksum mismatch"), "%s", err.message);
    CHECK(files_named(s.cache, fake_hub_sha256(h, "org/xlmr", "model.safetensors")) == 0 ||
          files_named(s.cache, fake_hub_sha256(h, "org/xlmr", "sentencepiece.bpe.model")) == 0, "no bad blob kept");
    CHECK(files_named(s.cache, ".incomplete") == 0);
    sandbox_close(&s);
    fake_hub_stop(h);
}

TEST(hub_refuses_hostile_file_names) {
    const char *names[] = {"\"/tmp/rerank_hub_abs.safetensors\"", "\"../evil.safetensors\"",
                           "\"a/../../evil.safetensors\"", "\"..\\\\evil.safetensors\"", "\"evil\\u0000.safetensors\"",
                           "\"evil\\u0001.safetensors\"", "\"\"", "\"a//evil.safetensors\""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        fake_hub_mode mode = {.extra_sibling = names[i]};
        fake_hub *h = start(&mode);
        REQUIRE(h);
        sandbox s;
        REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
        char dir[4096];
        rerank_error err;
        CHECK(rerank_hub_download("org/bert", NULL, NULL, dir, sizeof dir, &err) == RERANK_ERR_NETWORK &&
              strstr(err.message, "refusing file name"), "%s: %s", names[i], err.message);
        CHECK(files_outside_cache(&s) == 0 && files_named(s.root, "evil") == 0, "%s", names[i]);
        CHECK(access("/tmp/rerank_hub_abs.safetensors", F_OK) != 0);
        CHECK(fake_hub_counts_get(h).resolve == 0, "nothing fetched after a hostile listing");
        sandbox_close(&s);
        fake_hub_stop(h);
    }
}

TEST(hub_refuses_hostile_commits_and_etags) {
    struct {
        fake_hub_mode mode;
        const char *says;
    } cases[] = {
        {{.api_sha = "\"../../../../tmp/rerank_hub_evil\""}, "40-hex"},
        {{.api_sha = "\"0123456789abcdef0123456789abcdef0123456\\u0000\""}, "40-hex"},
        {{.api_sha = "42"}, "40-hex"},
        {{.etag = "../../../rerank_hub_evil"}, "refusing ETag"},
        {{.etag = "a/b"}, "refusing ETag"},
        {{.file_commit = "fedcba9876543210fedcba9876543210fedcba98"}, "expected " FAKE_SHA_MAIN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_hub *h = start(&cases[i].mode);
        REQUIRE(h);
        sandbox s;
        REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
        char dir[4096];
        rerank_error err;
        CHECK(rerank_hub_download("org/xlmr", NULL, NULL, dir, sizeof dir, &err) == RERANK_ERR_NETWORK &&
              strstr(err.message, cases[i].says), "case %zu: %s", i, err.message);
        CHECK(files_outside_cache(&s) == 0 && files_named(s.root, "evil") == 0 &&
              access("/tmp/rerank_hub_evil", F_OK) != 0);
        sandbox_close(&s);
        fake_hub_stop(h);
    }
}

TEST(hub_bounds_sizes_and_redirects) {
    struct {
        fake_hub_mode mode;
        const char *says;
    } cases[] = {
        {{.huge_size = true}, "refusing a size"},
        {{.long_content = true}, "Content-Length"},
        {{.redirect_loop = true}, "more than 10 redirects"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_hub *h = start(&cases[i].mode);
        REQUIRE(h);
        sandbox s;
        REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
        char dir[4096];
        rerank_error err;
        CHECK(rerank_hub_download("org/xlmr", NULL, NULL, dir, sizeof dir, &err) == RERANK_ERR_NETWORK &&
              strstr(err.message, cases[i].says), "case %zu: %s", i, err.message);
        CHECK(files_outside_cache(&s) == 0);
        if (i == 2) CHECK(fake_hub_counts_get(h).resolve == 11, "%d requests", fake_hub_counts_get(h).resolve);
        sandbox_close(&s);
        fake_hub_stop(h);
    }
}

TEST(hub_never_follows_a_cache_symlink_out_of_the_cache) {
    fake_hub *h = start(NULL);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    char dir[4096], path[4400], secret[128];
    rerank_error err;
    REQUIRE(rerank_hub_download("org/bert", NULL, NULL, dir, sizeof dir, &err) == RERANK_OK, "%s", err.message);
    snprintf(secret, sizeof secret, "%s/secret.json", s.root);
    FILE *f = fopen(secret, "w");
    REQUIRE(f);
    fputs("{}", f);
    fclose(f);
    /* a planted extra entry: the snapshot check refuses it before the loader could open it */
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    REQUIRE(symlink(secret, path) == 0);
    rerank_model *m = NULL;
    CHECK(rerank_model_load("org/bert", NULL, &m, &err) == RERANK_ERR_FORMAT && strstr(err.message, "outside"), "%s",
          err.message);
    setenv("HF_HUB_OFFLINE", "1", 1);
    CHECK(rerank_model_load("org/bert", NULL, &m, &err) == RERANK_ERR_FORMAT && strstr(err.message, "outside"), "%s",
          err.message);
    unsetenv("HF_HUB_OFFLINE");
    unlink(path);
    /* a wanted file redirected outside: refused, not followed, not re-downloaded over */
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    REQUIRE(symlink("../../../../secret.json", path) == 0);
    CHECK(rerank_hub_download("org/bert", NULL, NULL, dir, sizeof dir, &err) == RERANK_ERR_FORMAT &&
          strstr(err.message, "outside"), "%s", err.message);
    CHECK(m == NULL);
    sandbox_close(&s);
    fake_hub_stop(h);
}

/* ---- the CLI ---- */

static const char *cli(void) {
    const char *c = getenv("RERANK_CLI");
    return c && *c ? c : "build/rerank";
}

TEST(hub_two_processes_download_the_same_files) {
    fake_hub_mode mode = {.slow = true};
    fake_hub *h = start(&mode);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    char cmd[2048], *out, *err;
    snprintf(cmd, sizeof cmd,
             "%s download org/xlmr > %s/a.out & a=$!; %s download org/xlmr > %s/b.out & b=$!; wait $a && wait $b && "
             "cat %s/a.out %s/b.out",
             cli(), s.root, cli(), s.root, s.root, s.root);
    int rc = run_command(cmd, NULL, &out, &err);
    CHECK(rc == 0, "%s", err);
    char *nl = strchr(out, '\n');
    REQUIRE(nl, "output: %s / %s", out, err);
    CHECK(!strncmp(out, nl + 1, (size_t)(nl - out + 1)) && strstr(out, "/snapshots/" FAKE_SHA_MAIN), "%s", out);
    fake_hub_counts c = fake_hub_counts_get(h);
    CHECK(c.cdn == 2, "each blob fetched once under the lock: %d CDN requests", c.cdn);
    char path[4400], hex[65];
    rerank_error e;
    *nl = '\0';
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", out, lfs_files[i]);
        CHECK(rr_hub_sha256_file(path, hex, &e) == RERANK_OK && !strcmp(hex, fake_hub_sha256(h, "org/xlmr", lfs_files[i])));
    }
    free(out);
    free(err);
    sandbox_close(&s);
    fake_hub_stop(h);
}

typedef struct thread_arg {
    char dir[4096];
    rerank_status st;
} thread_arg;

static void *download_thread(void *p) {
    thread_arg *a = p;
    rerank_error err;
    a->st = rerank_hub_download("org/xlmr", NULL, NULL, a->dir, sizeof a->dir, &err);
    return NULL;
}

TEST(hub_two_threads_download_the_same_files) {
    fake_hub_mode mode = {.slow = true};
    fake_hub *h = start(&mode);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    thread_arg a = {0}, b = {0};
    pthread_t ta, tb;
    REQUIRE(pthread_create(&ta, NULL, download_thread, &a) == 0);
    REQUIRE(pthread_create(&tb, NULL, download_thread, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.st == RERANK_OK && b.st == RERANK_OK && !strcmp(a.dir, b.dir), "%d %d", a.st, b.st);
    CHECK(fake_hub_counts_get(h).cdn == 2, "%d CDN requests", fake_hub_counts_get(h).cdn);
    sandbox_close(&s);
    fake_hub_stop(h);
}

TEST(hub_cli_scores_by_name_as_the_local_directory) {
    fake_hub *h = start(NULL);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    const char *input = "{\"query\": \"what is panda?\", \"passage\": \"The giant panda is a bear.\"}\n"
                        "{\"query\": \"hi\", \"passage\": \"hello there\"}\n";
    char cmd[2048], *o1, *e1, *o2, *e2, *o3, *e3;
    snprintf(cmd, sizeof cmd, "HF_ENDPOINT=%s HF_HUB_CACHE=%s %s score --model org/xlmr", fake_hub_endpoint(h), s.cache,
             cli());
    int rc1 = run_command(cmd, input, &o1, &e1);
    snprintf(cmd, sizeof cmd, "%s score --model %s", cli(), model_dir("testdata/xlmr-seqcls-tiny"));
    int rc2 = run_command(cmd, input, &o2, &e2);
    CHECK(rc1 == 0 && rc2 == 0, "%s / %s", e1, e2);
    CHECK(!strcmp(o1, o2) && strlen(o1) > 20, "by name: %s\nlocal: %s", o1, o2);
    CHECK(e1[0] == '\0', "stderr is not a terminal: no progress line, got '%s'", e1);
    snprintf(cmd, sizeof cmd, "HF_ENDPOINT=%s HF_HUB_CACHE=%s %s download org/xlmr", fake_hub_endpoint(h), s.cache, cli());
    int rc3 = run_command(cmd, NULL, &o3, &e3);
    char want[4200];
    snprintf(want, sizeof want, "%s/models--org--xlmr/snapshots/%s\n", s.cache, FAKE_SHA_MAIN);
    CHECK(rc3 == 0 && !strcmp(o3, want), "stdout '%s', stderr '%s'", o3, e3);
    free(o1), free(e1), free(o2), free(e2), free(o3), free(e3);
    snprintf(cmd, sizeof cmd, "HF_ENDPOINT=%s HF_HUB_CACHE=%s %s tokenize --model org/missing", fake_hub_endpoint(h),
             s.cache, cli());
    rc1 = run_command(cmd, input, &o1, &e1);
    CHECK(rc1 == 1 && strstr(e1, "rerank: error: org/missing: repository not found") && !strchr(strchr(e1, '\n') + 1, '\n'),
          "exit %d: %s", rc1, e1);
    free(o1), free(e1);
    snprintf(cmd, sizeof cmd, "HF_HUB_OFFLINE=1 HF_HUB_CACHE=%s %s download org/other", s.cache, cli());
    rc1 = run_command(cmd, NULL, &o1, &e1);
    CHECK(rc1 == 1 && strstr(e1, "HF_HUB_OFFLINE") && o1[0] == '\0', "exit %d: %s", rc1, e1);
    free(o1), free(e1);
    sandbox_close(&s);
    fake_hub_stop(h);
}

TEST(hub_local_path_wins) {
    fake_hub *h = start(NULL);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    /* in a directory holding org/bert (a local copy), "org/bert" is that directory, not the hub's repository */
    char abs[PATH_MAX], cwd[PATH_MAX], org[200], link[256];
    REQUIRE(realpath(model_dir("testdata/bert-seqcls-tiny"), abs) && getcwd(cwd, sizeof cwd));
    snprintf(org, sizeof org, "%s/org", s.root);
    snprintf(link, sizeof link, "%s/bert", org);
    REQUIRE(mkdir(org, 0777) == 0 && symlink(abs, link) == 0, "%s", strerror(errno));
    REQUIRE(chdir(s.root) == 0);
    rerank_model *m = NULL;
    rerank_error err;
    rerank_status st = rerank_model_load("org/bert", NULL, &m, &err);
    REQUIRE(chdir(cwd) == 0);
    CHECK(st == RERANK_OK, "%s", err.message);
    rerank_model_free(m);
    fake_hub_counts c = fake_hub_counts_get(h);
    CHECK(c.api + c.resolve + c.cdn == 0, "a local directory costs no request");
    sandbox_close(&s);
    fake_hub_stop(h);
}

/* Extracts the text of "key":value from a JSON line (for comparing outputs that also carry timings). */
static void field(const char *json, const char *key, char *out, size_t cap) {
    const char *p = strstr(json, key);
    size_t n = p ? strcspn(p, ",}") : 0;
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p ? p : "");
}

TEST(hub_train_and_eval_take_hub_ids) {
    fake_hub *h = start(NULL);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    char rows[200];
    snprintf(rows, sizeof rows, "%s/rows.jsonl", s.root);
    FILE *f = fopen(rows, "w");
    REQUIRE(f);
    fputs("{\"query\": \"a\", \"pos\": [\"p q\"], \"neg\": [\"n m\"]}\n"
          "{\"query\": \"d\", \"pos\": [\"p\"], \"neg\": [\"n\", \"x y\"]}\n", f);
    fclose(f);
    const char *local = model_dir("testdata/bert-seqcls-tiny");
    char env[512], cmd[4096], *o1, *e1, *o2, *e2;
    snprintf(env, sizeof env, "HF_ENDPOINT=%s HF_HUB_CACHE=%s", fake_hub_endpoint(h), s.cache);
    /* eval */
    snprintf(cmd, sizeof cmd, "%s %s eval --model org/bert --eval-data %s", env, cli(), rows);
    int rc1 = run_command(cmd, NULL, &o1, &e1);
    snprintf(cmd, sizeof cmd, "%s eval --model %s --eval-data %s", cli(), local, rows);
    int rc2 = run_command(cmd, NULL, &o2, &e2);
    CHECK(rc1 == 0 && rc2 == 0 && !strcmp(o1, o2) && strstr(o1, "mrr@10"), "%s%s / %s%s", o1, e1, o2, e2);
    free(o1), free(e1), free(o2), free(e2);
    /* one training step: the same first loss */
    snprintf(cmd, sizeof cmd,
             "%s %s train --model org/bert --train-data %s --output-dir %s/out1 --train-group-size 2 --batch-size 1 "
             "--max-steps 1 --save-steps 0", env, cli(), rows, s.root);
    rc1 = run_command(cmd, NULL, &o1, &e1);
    snprintf(cmd, sizeof cmd,
             "%s train --model %s --train-data %s --output-dir %s/out2 --train-group-size 2 --batch-size 1 --max-steps 1 "
             "--save-steps 0", cli(), local, rows, s.root);
    rc2 = run_command(cmd, NULL, &o2, &e2);
    char l1[64], l2[64];
    field(o1, "\"first_loss\"", l1, sizeof l1);
    field(o2, "\"first_loss\"", l2, sizeof l2);
    CHECK(rc1 == 0 && rc2 == 0 && l1[0] && !strcmp(l1, l2), "%s %s / %s %s", l1, e1, l2, e2);
    snprintf(cmd, sizeof cmd, "%s/out1/model.safetensors", s.root);
    CHECK(access(cmd, F_OK) == 0);
    free(o1), free(e1), free(o2), free(e2);
    sandbox_close(&s);
    fake_hub_stop(h);
}

TEST(hub_progress_line_only_on_a_terminal) {
    /* util-linux's script(1) runs the command on a terminal; without it (or without ptys) there is nothing to test */
    if (system("script -qec true /dev/null > /dev/null 2>&1") != 0) {
        CHECK(1, "no script(1) or no pty: skipped");
        return;
    }
    fake_hub_mode mode = {.slow = true};
    fake_hub *h = start(&mode);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    char cmd[2048], *out, *err, path[300], text[4200];
    snprintf(cmd, sizeof cmd, "script -qec \"HF_ENDPOINT=%s HF_HUB_CACHE=%s %s download org/xlmr > %s/stdout\" /dev/null",
             fake_hub_endpoint(h), s.cache, cli(), s.root);
    int rc = run_command(cmd, NULL, &out, &err);
    CHECK(rc == 0, "%s", err);
    CHECK(strstr(out, "downloading ") && strstr(out, "/s") && strstr(out, "eta ") && strstr(out, " files]"),
          "terminal output: %s", out);
    snprintf(path, sizeof path, "%s/stdout", s.root);
    CHECK(read_text(path, text, sizeof text) && !strchr(text, '\r') && strstr(text, "/snapshots/"), "stdout: %s", text);
    free(out), free(err);
    sandbox_close(&s);
    fake_hub_stop(h);
}

/* A downloaded tokenizer.json is as untrusted as the rest: one of 2 GB is refused before it is read (bounded
 * memory). (A 10M-merge file under the size limit is refused by the merge limit: ~1 GB peak, too slow for here.) */
TEST(hub_oversized_tokenizer_json_is_refused_unread) {
    char dir[] = "/tmp/rerank_hub_tok_XXXXXX", path[128], abs[PATH_MAX];
    REQUIRE(mkdtemp(dir));
    const char *files[] = {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        REQUIRE(realpath(rr_shared_path("testdata/bert-seqcls-tiny"), abs));
        strcat(abs, "/");
        strcat(abs, files[i]);
        REQUIRE(symlink(abs, path) == 0);
    }
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    CHECK(ftruncate(fileno(f), 2000000000) == 0); /* sparse: no disk used */
    fclose(f);
    rerank_model *m = NULL;
    rerank_error err;
    CHECK(rerank_model_load(dir, NULL, &m, &err) == RERANK_ERR_FORMAT && strstr(err.message, "tokenizer.json") &&
          strstr(err.message, "more than the"), "%s", err.message);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* bert-seqcls-tiny split into two shards with an index, and its tokenizer files, in a new directory. */
static bool write_sharded(const char *dir) {
    const char *src = model_dir("testdata/bert-seqcls-tiny");
    char path[1024];
    rerank_error err;
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    rr_safetensors *sf;
    if (rr_safetensors_open(path, &sf, &err)) return false;
    size_t n = rr_safetensors_count(sf), half = n / 2;
    rr_st_write_tensor *ts = calloc(n, sizeof *ts);
    json_t *map = json_object();
    for (size_t i = 0; i < n; i++) {
        const rr_st_tensor *x = rr_safetensors_at(sf, i);
        ts[i] = (rr_st_write_tensor){.name = x->name, .dtype = x->dtype, .n_dims = x->n_dims, .data = x->data};
        memcpy(ts[i].shape, x->shape, sizeof ts[i].shape);
        json_object_set_new(map, x->name, json_string(i < half ? "model-00001-of-00002.safetensors"
                                                               : "model-00002-of-00002.safetensors"));
    }
    bool ok = true;
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
    ok = ok && rr_safetensors_write(path, ts, half, &err) == RERANK_OK;
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    ok = ok && rr_safetensors_write(path, ts + half, n - half, &err) == RERANK_OK;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    json_t *index = json_pack("{s:{}, s:o}", "metadata", "weight_map", map);
    ok = ok && json_dump_file(index, path, 0) == 0;
    json_decref(index);
    free(ts);
    rr_safetensors_free(sf);
    const char *files[] = {"config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"};
    for (int i = 0; i < 5 && ok; i++) {
        char cmd[2200];
        snprintf(cmd, sizeof cmd, "cp '%s/%s' '%s/'", src, files[i], dir);
        ok = system(cmd) == 0;
    }
    return ok;
}

TEST(hub_sharded_checkpoint) {
    char shard_dir[] = "/tmp/rerank_hub_shard_XXXXXX";
    REQUIRE(mkdtemp(shard_dir) && write_sharded(shard_dir));
    fake_repo repo = {"org/sharded", shard_dir, false, false};
    fake_hub *h = fake_hub_start(&repo, 1, NULL);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h)));
    char dir[4096], path[4400];
    rerank_error err;
    REQUIRE(rerank_hub_download("org/sharded", NULL, NULL, dir, sizeof dir, &err) == RERANK_OK, "%s", err.message);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    CHECK(access(path, R_OK) == 0);
    CHECK(fake_hub_counts_get(h).cdn == 2, "two shards from the CDN");
    rerank_model *a = NULL, *b = NULL;
    CHECK(rerank_model_load("org/sharded", NULL, &a, &err) == RERANK_OK, "%s", err.message);
    CHECK(rerank_model_load(model_dir("testdata/bert-seqcls-tiny"), NULL, &b, &err) == RERANK_OK);
    if (a && b) {
        rerank_session *sa, *sb;
        rerank_session_new(a, &sa, &err);
        rerank_session_new(b, &sb, &err);
        rerank_pair pair = RERANK_PAIR("what is panda?", "The giant panda is a bear.");
        float xa = 0, xb = 1;
        rerank_score_params sp = rerank_score_default_params();
        CHECK(rerank_score(sa, &sp, &pair, 1, &xa, &err) == RERANK_OK && rerank_score(sb, &sp, &pair, 1, &xb, &err) == RERANK_OK);
        CHECK(xa == xb, "%g vs %g", xa, xb);
        rerank_session_free(sa);
        rerank_session_free(sb);
    }
    rerank_model_free(a);
    rerank_model_free(b);
    /* the commit is complete in the cache (index and every shard): no request at all */
    fake_hub_counts_reset(h);
    CHECK(rerank_hub_download("org/sharded@" FAKE_SHA_MAIN, NULL, NULL, dir, sizeof dir, &err) == RERANK_OK, "%s", err.message);
    fake_hub_counts c = fake_hub_counts_get(h);
    CHECK(c.api + c.resolve + c.resolve_cache + c.cdn == 0);
    /* a shard missing from the cache: the commit is incomplete and the hub is asked again */
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
    unlink(path);
    CHECK(rerank_hub_download("org/sharded@" FAKE_SHA_MAIN, NULL, NULL, dir, sizeof dir, &err) == RERANK_OK, "%s", err.message);
    c = fake_hub_counts_get(h);
    CHECK(c.api == 1 && c.resolve == 1 && c.cdn == 0, "relinked from its blob: api %d resolve %d cdn %d", c.api, c.resolve, c.cdn);
    CHECK(access(path, R_OK) == 0);
    sandbox_close(&s);
    fake_hub_stop(h);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", shard_dir);
    CHECK(system(cmd) == 0);
}

TEST(hub_serve_by_name) {
    fake_hub *h = start(NULL);
    REQUIRE(h);
    sandbox s;
    REQUIRE(sandbox_open(&s, fake_hub_endpoint(h))); /* the child server inherits HF_ENDPOINT and HF_HUB_CACHE */
    rr_ts_server srv;
    REQUIRE(rr_ts_start(&srv, "org/xlmr", NULL) == 0);
    rr_ts_response r;
    CHECK(rr_ts_request(srv.port, "GET", "/v1/models", NULL, NULL, &r) == 0 && r.status == 200 &&
          strstr(r.body, "\"org/xlmr\""), "a hub id is served under its own name: %s", r.body);
    rr_ts_response_free(&r);
    const char *req = "{\"query\": \"what is panda?\", \"documents\": [\"The giant panda is a bear.\", \"Paris\"]}";
    CHECK(rr_ts_request(srv.port, "POST", "/v1/rerank", NULL, req, &r) == 0 && r.status == 200 &&
          strstr(r.body, "relevance_score"), "%s", r.body);
    rr_ts_response_free(&r);
    CHECK(rr_ts_stop(&srv) == 0);
    sandbox_close(&s);
    fake_hub_stop(h);
}
