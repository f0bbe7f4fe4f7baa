/* test_safetensors.c - safetensors parsing/writing, malformed files, weights directories (sharded,
 * pytorch_model.bin only, missing shards, wrong shapes, missing tensors), config checks and forward input
 * checks. Fixtures are written into a mkdtemp directory under /tmp. */
#include <unistd.h>

#include "arch/model.h"
#include "base/file.h"
#include "base/json.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "test.h"

static const char *xlmr_dir(void) { return rr_shared_path("testdata/xlmr-seqcls-tiny"); }

/* A file image: 8-byte length, the header as given (padded with spaces to 8), then data_len zero bytes. */
static unsigned char *image(const char *header, size_t data_len, size_t *size) {
    size_t h = strlen(header), hp = (h + 7) / 8 * 8;
    *size = 8 + hp + data_len;
    unsigned char *p = calloc(1, *size);
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)((uint64_t)hp >> (8 * i));
    memcpy(p + 8, header, h);
    memset(p + 8 + h, ' ', hp - h);
    return p;
}

static rerank_status parse_header(const char *header, size_t data_len, rerank_error *err) {
    size_t size;
    unsigned char *p = image(header, data_len, &size);
    rr_safetensors *st;
    rerank_status s = rr_safetensors_parse(p, size, "t.safetensors", &st, err);
    rr_safetensors_free(st);
    free(p);
    return s;
}

static char *make_tmpdir(void) {
    char *d = strdup("/tmp/rerank-test-XXXXXX");
    return mkdtemp(d) ? d : NULL;
}

static void rm_tree(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "    cannot remove %s\n", dir);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void copy_config(const char *dir) {
    char *buf, path[1024];
    size_t len;
    rerank_error err;
    snprintf(path, sizeof path, "%s/config.json", xlmr_dir());
    if (rr_file_read(path, 1 << 20, &buf, &len, &err) == RERANK_OK) {
        write_text(dir, "config.json", buf);
        free(buf);
    }
}

static json_t *xlmr_config(void) {
    char path[1024];
    json_t *c = NULL;
    rerank_error err;
    snprintf(path, sizeof path, "%s/config.json", xlmr_dir());
    rr_json_load_file(path, 1 << 20, &c, &err);
    return c;
}

/* Writes a copy of the xlmr tensors to `path`: all of them (part -1) or those at even/odd positions of the
 * sorted list (part 0/1), without `drop`, with `reshape` relabelled as [a, b] (same bytes). */
static rerank_status write_xlmr_variant(const char *path, int part, const char *drop, const char *reshape,
                                        int64_t a, int64_t b, rerank_error *err) {
    rr_safetensors *src;
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", xlmr_dir());
    rerank_status s = rr_safetensors_open(p, &src, err);
    if (s) return s;
    size_t n = rr_safetensors_count(src), k = 0;
    rr_st_write_tensor *ts = calloc(n, sizeof *ts);
    for (size_t i = 0; i < n; i++) {
        const rr_st_tensor *t = rr_safetensors_at(src, i);
        if (drop && strcmp(t->name, drop) == 0) continue;
        if (part >= 0 && (int)(i % 2) != part) continue;
        rr_st_write_tensor *w = &ts[k++];
        w->name = t->name;
        w->dtype = t->dtype;
        w->n_dims = t->n_dims;
        memcpy(w->shape, t->shape, sizeof w->shape);
        w->data = t->data;
        if (reshape && strcmp(t->name, reshape) == 0) {
            w->n_dims = 2;
            w->shape[0] = a;
            w->shape[1] = b;
        }
    }
    s = rr_safetensors_write(path, ts, k, err);
    free(ts);
    rr_safetensors_free(src);
    return s;
}

TEST(safetensors_roundtrip) {
    char *dir = make_tmpdir();
    REQUIRE(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/x.safetensors", dir);
    float f[6] = {1, 2, 3, 4, 5, -6};
    uint16_t h[3] = {0x3c00, 0xc000, 0x0001};
    int64_t pos[4] = {0, 1, 2, 3};
    rr_st_write_tensor ts[] = {
        {"a.weight", RR_ST_F32, 2, {2, 3}, f},
        {"b.half", RR_ST_F16, 1, {3}, h},
        {"embeddings.position_ids", RR_ST_I64, 2, {1, 4}, pos},
        {"scalar", RR_ST_F32, 0, {0}, f},
    };
    rerank_error err;
    REQUIRE(rr_safetensors_write(path, ts, 4, &err) == RERANK_OK, "%s", err.message);
    rr_mapped_file mf;
    REQUIRE(rr_file_map(path, &mf, &err) == RERANK_OK);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | mf.data[i];
    CHECK(hl % 8 == 0 && memmem(mf.data + 8, hl, "\"__metadata__\":{\"format\":\"pt\"}", 30) != NULL);
    rr_file_unmap(&mf);
    rr_safetensors *st;
    REQUIRE(rr_safetensors_open(path, &st, &err) == RERANK_OK, "%s", err.message);
    CHECK(rr_safetensors_count(st) == 4);
    const rr_st_tensor *t = rr_safetensors_find(st, "a.weight");
    REQUIRE(t && t->dtype == RR_ST_F32 && t->n_dims == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->n_bytes == 24);
    CHECK(memcmp(t->data, f, 24) == 0);
    t = rr_safetensors_find(st, "embeddings.position_ids");
    CHECK(t && t->dtype == RR_ST_I64 && t->n_elems == 4 && memcmp(t->data, pos, 32) == 0);
    t = rr_safetensors_find(st, "scalar");
    CHECK(t && t->n_dims == 0 && t->n_elems == 1 && t->n_bytes == 4);
    CHECK(rr_safetensors_find(st, "nope") == NULL);
    rr_safetensors_free(st);
    /* a duplicate name is refused by the writer */
    rr_st_write_tensor dup[] = {{"a", RR_ST_F32, 1, {1}, f}, {"a", RR_ST_F32, 1, {1}, f}};
    CHECK(rr_safetensors_write(path, dup, 2, &err) == RERANK_ERR_INVALID_ARGUMENT);
    rm_tree(dir);
    free(dir);
}

TEST(half_conversions_are_exact) {
    CHECK(rr_f16_to_f32(0x3c00) == 1.0f);
    CHECK(rr_f16_to_f32(0xc000) == -2.0f);
    CHECK(rr_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(rr_f16_to_f32(0x0001) == ldexpf(1.0f, -24), "smallest subnormal");
    CHECK(rr_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24), "largest subnormal");
    CHECK(rr_f16_to_f32(0x0400) == ldexpf(1.0f, -14), "smallest normal");
    float nz = rr_f16_to_f32(0x8000);
    CHECK(nz == 0.0f && signbit(nz));
    CHECK(isinf(rr_f16_to_f32(0x7c00)) && rr_f16_to_f32(0xfc00) < 0);
    CHECK(isnan(rr_f16_to_f32(0x7e00)));
    CHECK(rr_bf16_to_f32(0x3f80) == 1.0f && rr_bf16_to_f32(0xc040) == -3.0f);
    CHECK(isinf(rr_bf16_to_f32(0x7f80)) && isnan(rr_bf16_to_f32(0x7fc0)));
    CHECK(rr_bf16_to_f32(0x0001) == ldexpf(1.0f, -133), "bf16 subnormal");
}

TEST(safetensors_rejects_malformed_headers) {
    rerank_error err;
    unsigned char tiny[5] = {0};
    rr_safetensors *st;
    CHECK(rr_safetensors_parse(tiny, 5, "t.safetensors", &st, &err) == RERANK_ERR_FORMAT);
    CHECK(strstr(err.message, "t.safetensors") && strstr(err.message, "too short"), "%s", err.message);
    /* header length past the end of the file */
    size_t size;
    unsigned char *p = image("{}", 0, &size);
    p[0] = 200;
    CHECK(rr_safetensors_parse(p, size, "t.safetensors", &st, &err) == RERANK_ERR_FORMAT);
    CHECK(strstr(err.message, "header length 200") != NULL, "%s", err.message);
    p[0] = 0xff, p[7] = 0xff;
    CHECK(rr_safetensors_parse(p, size, "t.safetensors", &st, &err) == RERANK_ERR_FORMAT);
    free(p);
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    CHECK(parse_header(ok, 16, &err) == RERANK_OK, "%s", err.message);
    /* truncated file: the data area is shorter than the offsets say */
    CHECK(parse_header(ok, 15, &err) == RERANK_ERR_FORMAT);
    CHECK(strstr(err.message, "tensor 'a'") && strstr(err.message, "past the end"), "%s", err.message);
    CHECK(parse_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,0]}}", 16, &err) == RERANK_ERR_FORMAT);
    CHECK(strstr(err.message, "bad data_offsets [16, 0]") != NULL, "%s", err.message);
    CHECK(parse_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 16, &err) == RERANK_ERR_FORMAT);
    CHECK(strstr(err.message, "tensor 'a': 16 bytes for F32 [2,3], expected 24") != NULL, "%s", err.message);
    CHECK(parse_header("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,2]}}", 16, &err) == RERANK_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "unknown dtype 'Q4'") != NULL, "%s", err.message);
    CHECK(parse_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 16, &err) == RERANK_ERR_FORMAT);
    CHECK(parse_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}",
                       16, &err) == RERANK_ERR_FORMAT);
    CHECK(strstr(err.message, "overflow") != NULL, "%s", err.message);
    CHECK(parse_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 16, &err) == RERANK_ERR_FORMAT);
    CHECK(parse_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},", 16, &err) == RERANK_ERR_FORMAT);
    CHECK(strstr(err.message, "invalid JSON") != NULL, "%s", err.message);
    CHECK(parse_header("[1,2]", 0, &err) == RERANK_ERR_FORMAT);
    CHECK(parse_header("{\"__metadata__\":3}", 0, &err) == RERANK_ERR_FORMAT);
    CHECK(parse_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 16, &err) == RERANK_ERR_FORMAT);
}

static int by_offset(const void *a, const void *b) {
    const rr_st_tensor *x = *(const rr_st_tensor *const *)a, *y = *(const rr_st_tensor *const *)b;
    if (x->file_offset != y->file_offset) return x->file_offset < y->file_offset ? -1 : 1;
    return x->n_bytes < y->n_bytes ? -1 : x->n_bytes > y->n_bytes; /* an empty tensor before its neighbour */
}

/* The aligned writer starts every tensor at a multiple of 64 bytes and fills the gaps with U8 tensors, so that the
 * data area stays covered without holes (what the reference reader checks) and the data is unchanged. */
TEST(safetensors_write_aligned_pads_to_64) {
    char *dir = make_tmpdir();
    REQUIRE(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    float f[7] = {1, 2, 3, 4, 5, 6, 7};
    uint16_t h[3] = {0x3c00, 0x4000, 0x4200};
    int8_t q[64];
    for (int i = 0; i < 64; i++) q[i] = (int8_t)(i - 32);
    rr_st_write_tensor ts[] = {{"q", RR_ST_I8, 2, {2, 32}, q}, {"f", RR_ST_F32, 1, {7}, f}, {"h", RR_ST_F16, 1, {3}, h},
                               {"empty", RR_ST_F32, 1, {0}, NULL}, {"last", RR_ST_F32, 0, {0}, f}};
    rerank_error err;
    REQUIRE(rr_safetensors_write_aligned(path, ts, 5, 64, &err) == RERANK_OK, "%s", err.message);
    rr_safetensors *st;
    REQUIRE(rr_safetensors_open(path, &st, &err) == RERANK_OK, "%s", err.message);
    size_t n = rr_safetensors_count(st), pads = 0;
    const rr_st_tensor *all[16];
    REQUIRE(n <= 16);
    for (size_t i = 0; i < n; i++) all[i] = rr_safetensors_at(st, i);
    qsort(all, n, sizeof *all, by_offset);
    size_t end = all[0]->file_offset;
    CHECK(end % 64 == 0, "data area starts at %zu", end);
    for (size_t i = 0; i < n; i++) {
        bool pad = strncmp(all[i]->name, RR_ST_PAD_PREFIX, strlen(RR_ST_PAD_PREFIX)) == 0;
        pads += pad;
        CHECK(all[i]->file_offset == end, "'%s' leaves a hole", all[i]->name);
        CHECK(pad || all[i]->file_offset % 64 == 0, "'%s' at %zu", all[i]->name, all[i]->file_offset);
        CHECK(!pad || (all[i]->dtype == RR_ST_U8 && all[i]->n_bytes < 64), "'%s'", all[i]->name);
        end = all[i]->file_offset + all[i]->n_bytes;
    }
    CHECK(pads == 2 && n == 7, "%zu pads of %zu tensors", pads, n); /* after f (28 bytes) and h (6); q is 64 */
    const rr_st_tensor *t = rr_safetensors_find(st, "f");
    CHECK(t && memcmp(t->data, f, sizeof f) == 0 && (uintptr_t)t->data % 64 == 0);
    t = rr_safetensors_find(st, "h");
    CHECK(t && memcmp(t->data, h, sizeof h) == 0);
    t = rr_safetensors_find(st, "q");
    CHECK(t && memcmp(t->data, q, sizeof q) == 0);
    rr_safetensors_free(st);
    /* the filler prefix is reserved; the alignment must be a power of two */
    rr_st_write_tensor bad[] = {{RR_ST_PAD_PREFIX "0", RR_ST_U8, 1, {1}, q}};
    CHECK(rr_safetensors_write_aligned(path, bad, 1, 64, &err) == RERANK_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "reserved") != NULL, "%s", err.message);
    CHECK(rr_safetensors_write_aligned(path, ts, 1, 48, &err) == RERANK_ERR_INVALID_ARGUMENT);
    rm_tree(dir);
    free(dir);
}

/* Pages of [p, p + bytes) present in this process's page tables (/proc/self/pagemap bit 63); -1 where
 * pagemap cannot be read (qemu-user, a kernel without it). */
static long pages_present(const void *p, size_t bytes) {
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/pagemap", "rb");
    if (!f || page <= 0) {
        if (f) fclose(f);
        return -1;
    }
    long n = 0;
    for (uintptr_t a = (uintptr_t)p / (uintptr_t)page; a < ((uintptr_t)p + bytes) / (uintptr_t)page; a++) {
        uint64_t e;
        if (fseeko(f, (off_t)(a * sizeof e), SEEK_SET) || fread(&e, sizeof e, 1, f) != 1) {
            n = -1;
            break;
        }
        n += (long)(e >> 63);
    }
    fclose(f);
    return n;
}

/* rr_weights_release on a mapped F32 tensor: its pages leave the resident set and stay out when neighbours
 * are read afterwards. (Whether a neighbour's read maps a large folio across released pages depends on the
 * kernel and on how the file entered the page cache: this file does not trigger it on the 6.18 kernel where
 * bge-reranker-base did, so the test pins the contract, and bench_rerank's rss_file_mib shows the effect.) */
TEST(weights_release_keeps_mapped_pages_out) {
    char *dir = make_tmpdir();
    REQUIRE(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    enum { BIG = 1 << 20 }; /* 4 MiB of floats between two small tensors */
    float *big = malloc(BIG * sizeof *big), small[4] = {1, 2, 3, 4};
    REQUIRE(big);
    for (int i = 0; i < BIG; i++) big[i] = (float)(i % 97);
    rr_st_write_tensor ts[] = {{"a", RR_ST_F32, 1, {4}, small}, {"big", RR_ST_F32, 2, {1024, 1024}, big},
                               {"z", RR_ST_F32, 1, {4}, small}};
    rerank_error err;
    REQUIRE(rr_safetensors_write_aligned(path, ts, 3, 64, &err) == RERANK_OK, "%s", err.message);
    free(big);
    rr_weights *w;
    REQUIRE(rr_weights_open(dir, &w, &err) == RERANK_OK, "%s", err.message);
    const float *pb, *pa, *pz;
    REQUIRE(RR_WEIGHTS_REQUIRE(w, "big", &pb, &err, 1024, 1024) == RERANK_OK, "%s", err.message);
    REQUIRE(RR_WEIGHTS_REQUIRE(w, "a", &pa, &err, 4) == RERANK_OK && RR_WEIGHTS_REQUIRE(w, "z", &pz, &err, 4) == RERANK_OK);
    const rr_st_tensor *t = rr_weights_find(w, "big", NULL);
    CHECK(t && pb == (const void *)t->data, "the F32 view is the mapping itself");
    double sum = 0;
    for (int i = 0; i < BIG; i++) sum += pb[i];
    CHECK(sum > 0);
    long page = sysconf(_SC_PAGESIZE);
    const char *lo = (const char *)(((uintptr_t)pb + (uintptr_t)page - 1) & ~((uintptr_t)page - 1));
    size_t interior = (((uintptr_t)(pb + BIG)) & ~((uintptr_t)page - 1)) - (uintptr_t)lo;
    long before = pages_present(lo, interior);
    rr_weights_release(w, pb, BIG);
    volatile float touch = pa[0] + pa[3] + pz[0] + pz[3]; /* the neighbours, read after the release */
    CHECK(touch == 10.0f);
    long after = pages_present(lo, interior);
    if (before < 0) {
        printf("    /proc/self/pagemap unreadable here: residency not checked\n");
    } else {
        CHECK(before == (long)(interior / (size_t)page), "%ld of %zu pages present after reading", before,
              interior / (size_t)page);
        CHECK(after == 0, "%ld pages back after reading the neighbours", after);
    }
    rr_weights_free(w);
    rm_tree(dir);
    free(dir);
}

/* rr_weights_require_raw: the tensor as stored, after checking its dtype, shape and alignment. */
TEST(weights_require_raw_checks_dtype_shape_alignment) {
    char *dir = make_tmpdir();
    REQUIRE(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int8_t q[8] = {1, -2, 3, -4, 5, -6, 7, -8};
    float s[2] = {0.5f, 0.25f};
    rr_st_write_tensor ts[] = {{"s", RR_ST_F32, 1, {1}, s}, {"q", RR_ST_I8, 2, {2, 4}, q}};
    rerank_error err;
    REQUIRE(rr_safetensors_write(path, ts, 2, &err) == RERANK_OK, "%s", err.message); /* q right after 4 bytes */
    rr_weights *w;
    REQUIRE(rr_weights_open(dir, &w, &err) == RERANK_OK, "%s", err.message);
    const rr_st_tensor *t;
    CHECK(rr_weights_require_raw(w, "q", RR_ST_I8, (const int64_t[]){2, 4}, 2, 1, &t, &err) == RERANK_OK && t &&
          memcmp(t->data, q, 8) == 0);
    CHECK(rr_weights_require_raw(w, "q", RR_ST_I8, (const int64_t[]){2, 4}, 2, 64, &t, &err) == RERANK_ERR_FORMAT && !t);
    CHECK(strstr(err.message, "model.safetensors: tensor 'q' starts at byte ") && strstr(err.message, "not a multiple of 64"),
          "%s", err.message);
    CHECK(rr_weights_require_raw(w, "q", RR_ST_BF16, (const int64_t[]){2, 4}, 2, 1, &t, &err) == RERANK_ERR_FORMAT);
    CHECK(strcmp(err.message, "model.safetensors: tensor 'q' has dtype I8, expected BF16") == 0, "%s", err.message);
    CHECK(rr_weights_require_raw(w, "q", RR_ST_I8, (const int64_t[]){8}, 1, 1, &t, &err) == RERANK_ERR_FORMAT);
    CHECK(strcmp(err.message, "model.safetensors: tensor 'q' is [2,4], expected [8]") == 0, "%s", err.message);
    CHECK(rr_weights_require_raw(w, "r", RR_ST_I8, (const int64_t[]){8}, 1, 1, &t, &err) == RERANK_ERR_FORMAT);
    CHECK(strcmp(err.message, "model.safetensors: missing tensor 'r'") == 0, "%s", err.message);
    const char *file;
    CHECK(rr_weights_count(w) == 2 && rr_weights_at(w, 2, NULL) == NULL);
    CHECK(rr_weights_at(w, 0, &file) == rr_weights_find(w, "q", NULL) && strcmp(file, "model.safetensors") == 0);
    rr_weights_free(w);
    rm_tree(dir);
    free(dir);
}

TEST(weights_views_are_fp32_in_place_or_converted) {
    char *dir = make_tmpdir();
    REQUIRE(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    uint16_t h[1] = {0x3c00}, bf[2] = {0x4040, 0x0001}; /* 1.0; 3.0, bf16 subnormal */
    float f[2] = {0.5f, -7.25f};
    rr_st_write_tensor ts[] = {{"h", RR_ST_F16, 1, {1}, h}, {"f", RR_ST_F32, 1, {2}, f}, {"bf", RR_ST_BF16, 1, {2}, bf},
                               {"ids", RR_ST_I64, 1, {0}, NULL}};
    rerank_error err;
    REQUIRE(rr_safetensors_write(path, ts, 4, &err) == RERANK_OK, "%s", err.message);
    rr_weights *w;
    REQUIRE(rr_weights_open(dir, &w, &err) == RERANK_OK, "%s", err.message);
    const float *p;
    const char *file;
    const rr_st_tensor *t = rr_weights_find(w, "f", &file);
    CHECK(t && strcmp(file, "model.safetensors") == 0 && (uintptr_t)t->data % 4 != 0, "f is stored misaligned");
    CHECK(RR_WEIGHTS_REQUIRE(w, "f", &p, &err, 2) == RERANK_OK && p != (const void *)t->data && p[0] == 0.5f &&
          p[1] == -7.25f);
    CHECK(RR_WEIGHTS_REQUIRE(w, "h", &p, &err, 1) == RERANK_OK && p[0] == 1.0f);
    CHECK(RR_WEIGHTS_REQUIRE(w, "bf", &p, &err, 2) == RERANK_OK && p[0] == 3.0f && p[1] == ldexpf(1.0f, -133));
    CHECK(RR_WEIGHTS_REQUIRE(w, "bf", &p, &err, 1, 2) == RERANK_ERR_FORMAT);
    CHECK(strcmp(err.message, "model.safetensors: tensor 'bf' is [2], expected [1,2]") == 0, "%s", err.message);
    CHECK(RR_WEIGHTS_REQUIRE(w, "ids", &p, &err, 0) == RERANK_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "dtype I64") != NULL, "%s", err.message);
    rr_weights_free(w);
    rm_tree(dir);
    free(dir);
}

TEST(weights_report_wrong_shape_and_missing_tensor) {
    char *dir = make_tmpdir();
    REQUIRE(dir);
    copy_config(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rerank_error err;
    json_t *config = xlmr_config();
    rr_model *m = NULL;
    REQUIRE(write_xlmr_variant(path, -1, NULL, "classifier.dense.weight", 32, 128, &err) == RERANK_OK, "%s", err.message);
    CHECK(rr_model_load(dir, config, RERANK_DTYPE_AUTO, &m, &err) == RERANK_ERR_FORMAT && !m);
    CHECK(strcmp(err.message, "model.safetensors: tensor 'classifier.dense.weight' is [32,128], expected [64,64]") == 0,
          "%s", err.message);
    REQUIRE(write_xlmr_variant(path, -1, "roberta.encoder.layer.1.output.dense.bias", NULL, 0, 0, &err) == RERANK_OK);
    CHECK(rr_model_load(dir, config, RERANK_DTYPE_AUTO, &m, &err) == RERANK_ERR_FORMAT && !m);
    CHECK(strcmp(err.message, "model.safetensors: missing tensor 'roberta.encoder.layer.1.output.dense.bias'") == 0,
          "%s", err.message);
    /* pytorch_model.bin only */
    unlink(path);
    write_text(dir, "pytorch_model.bin", "not really");
    CHECK(rr_model_load(dir, config, RERANK_DTYPE_AUTO, &m, &err) == RERANK_ERR_UNSUPPORTED && !m);
    CHECK(strstr(err.message, "pytorch_model.bin") && strstr(err.message, "safe_serialization=True"), "%s", err.message);
    CHECK(!strchr(err.message, '\n'));
    /* nothing at all */
    snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
    unlink(path);
    CHECK(rr_model_load(dir, config, RERANK_DTYPE_AUTO, &m, &err) == RERANK_ERR_IO && !m);
    json_decref(config);
    rm_tree(dir);
    free(dir);
}

static float score_first_rows(rr_model *m, float *out, size_t n) {
    /* three sequences from the golden file (case 0 and two made-up ones) packed together */
    static const int32_t ids[] = {0, 385, 37, 278, 464, 4, 18, 717, 16, 528, 2, 2, 4, 635, 2, 0, 7, 8, 9, 2, 0, 2};
    size_t offs[] = {0, 15, 20, 22};
    rr_batch b = {.ids = ids, .offsets = offs, .n_seqs = 3};
    rr_workspace *ws = rr_workspace_new();
    rerank_error err;
    CHECK(n == 3 && rr_model_forward(m, &b, ws, out, &err) == RERANK_OK, "%s", err.message);
    rr_workspace_free(ws);
    return out[0];
}

TEST(weights_sharded_copy_gives_identical_logits) {
    char *dir = make_tmpdir();
    REQUIRE(dir);
    copy_config(dir);
    char path[1024];
    rerank_error err;
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
    REQUIRE(write_xlmr_variant(path, 0, NULL, NULL, 0, 0, &err) == RERANK_OK, "%s", err.message);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    REQUIRE(write_xlmr_variant(path, 1, NULL, NULL, 0, 0, &err) == RERANK_OK, "%s", err.message);
    /* the index: every tensor of the original, assigned by position as in write_xlmr_variant */
    rr_safetensors *src;
    snprintf(path, sizeof path, "%s/model.safetensors", xlmr_dir());
    REQUIRE(rr_safetensors_open(path, &src, &err) == RERANK_OK);
    json_t *map = json_object();
    for (size_t i = 0; i < rr_safetensors_count(src); i++)
        json_object_set_new(map, rr_safetensors_at(src, i)->name,
                            json_string(i % 2 ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors"));
    rr_safetensors_free(src);
    json_t *index = json_pack("{s:{s:i},s:o}", "metadata", "total_size", 0, "weight_map", map);
    char *text = json_dumps(index, JSON_INDENT(2));
    write_text(dir, "model.safetensors.index.json", text);
    free(text);
    json_t *config = xlmr_config();
    rr_model *ref = NULL, *sharded = NULL;
    REQUIRE(rr_model_load(xlmr_dir(), config, RERANK_DTYPE_AUTO, &ref, &err) == RERANK_OK, "%s", err.message);
    CHECK(rr_model_load(dir, config, RERANK_DTYPE_AUTO, &sharded, &err) == RERANK_OK, "%s", err.message);
    if (sharded) {
        float a[3], b[3];
        score_first_rows(ref, a, 3);
        score_first_rows(sharded, b, 3);
        CHECK(memcmp(a, b, sizeof a) == 0, "%g %g / %g %g", a[0], b[0], a[2], b[2]);
        CHECK_NEAR(a[0], 0.5266836285591125, 1e-4);
    }
    rr_model_free(sharded);
    sharded = NULL;
    /* an index naming a shard that is not there */
    json_object_set_new(map, "classifier.dense.bias", json_string("model-00003-of-00003.safetensors"));
    text = json_dumps(index, 0);
    write_text(dir, "model.safetensors.index.json", text);
    free(text);
    CHECK(rr_model_load(dir, config, RERANK_DTYPE_AUTO, &sharded, &err) == RERANK_ERR_IO && !sharded);
    CHECK(strstr(err.message, "model-00003-of-00003.safetensors") != NULL, "%s", err.message);
    /* a shard name that escapes the directory */
    json_object_set_new(map, "classifier.dense.bias", json_string("../model.safetensors"));
    text = json_dumps(index, 0);
    write_text(dir, "model.safetensors.index.json", text);
    free(text);
    CHECK(rr_model_load(dir, config, RERANK_DTYPE_AUTO, &sharded, &err) == RERANK_ERR_FORMAT && !sharded);
    json_decref(index);
    json_decref(config);
    rr_model_free(ref);
    rm_tree(dir);
    free(dir);
}

static rerank_status check_config_text(const char *text, rerank_error *err) {
    json_t *c;
    rerank_status s = rr_json_parse(text, strlen(text), "config.json", &c, err);
    if (s) return s;
    s = rr_model_check_config(c, NULL, err);
    json_decref(c);
    return s;
}

TEST(config_checks_name_the_field) {
    rerank_error err;
    rr_model_desc d;
    json_t *c = xlmr_config();
    REQUIRE(c);
    CHECK(rr_model_check_config(c, &d, &err) == RERANK_OK, "%s", err.message);
    CHECK(d.max_tokens == 512 && d.hidden_size == 64 && d.n_layers == 2 && d.vocab_size == 4002 && d.pad_token_id == 1);
    CHECK(strcmp(d.architecture, "XLMRobertaForSequenceClassification") == 0 && d.kind == RERANK_KIND_CROSS_ENCODER);
    json_decref(c);
    CHECK(check_config_text("{\"architectures\":[\"GPT2LMHeadModel\"]}", &err) == RERANK_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "'GPT2LMHeadModel'") && strstr(err.message, "XLMRobertaForSequenceClassification, "
                                                                          "BertForSequenceClassification"),
          "%s", err.message);
    CHECK(check_config_text("{\"architectures\":[]}", &err) == RERANK_ERR_FORMAT);
    const char *base = "{\"architectures\":[\"BertForSequenceClassification\"],\"hidden_size\":64,"
                       "\"num_hidden_layers\":2,\"intermediate_size\":128,\"vocab_size\":10,"
                       "\"max_position_embeddings\":512,\"num_labels\":1,";
    char buf[1024];
    snprintf(buf, sizeof buf, "%s\"num_attention_heads\":4}", base);
    CHECK(check_config_text(buf, &err) == RERANK_OK, "%s", err.message);
    snprintf(buf, sizeof buf, "%s\"num_attention_heads\":5}", base);
    CHECK(check_config_text(buf, &err) == RERANK_ERR_FORMAT);
    CHECK(strstr(err.message, "config.json: field 'hidden_size' (64) is not a multiple") != NULL, "%s", err.message);
    snprintf(buf, sizeof buf, "%s\"num_attention_heads\":0}", base);
    CHECK(check_config_text(buf, &err) == RERANK_ERR_FORMAT);
    CHECK(strstr(err.message, "'num_attention_heads' is 0") != NULL, "%s", err.message);
    snprintf(buf, sizeof buf, "%s\"num_attention_heads\":4,\"id2label\":{\"0\":\"a\",\"1\":\"b\"}}", base);
    CHECK(check_config_text(buf, &err) == RERANK_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "config.json: field 'id2label' gives 2 labels") != NULL, "%s", err.message);
    snprintf(buf, sizeof buf, "%s\"num_attention_heads\":4,\"hidden_act\":\"relu\"}", base);
    CHECK(check_config_text(buf, &err) == RERANK_ERR_UNSUPPORTED);
    snprintf(buf, sizeof buf, "%s\"num_attention_heads\":4,\"layer_norm_eps\":-1}", base);
    CHECK(check_config_text(buf, &err) == RERANK_ERR_FORMAT);
    /* found by fuzz_config: a huge real used to be cast to long long before its range check (UB) */
    snprintf(buf, sizeof buf, "%s\"num_attention_heads\":4,\"type_vocab_size\":1e42}", base);
    CHECK(check_config_text(buf, &err) == RERANK_ERR_FORMAT);
    snprintf(buf, sizeof buf, "%s\"num_attention_heads\":\"4\"}", base);
    CHECK(check_config_text(buf, &err) == RERANK_ERR_FORMAT);
    CHECK(strstr(err.message, "'num_attention_heads' must be an integer") != NULL, "%s", err.message);
}

TEST(forward_rejects_bad_input) {
    json_t *c = xlmr_config();
    rr_model *m = NULL;
    rerank_error err;
    REQUIRE(rr_model_load(xlmr_dir(), c, RERANK_DTYPE_AUTO, &m, &err) == RERANK_OK, "%s", err.message);
    json_decref(c);
    const rr_model_desc *d = rr_model_describe(m);
    CHECK(d->max_tokens == 512 && d->type_vocab_size == 1);
    rr_workspace *ws = rr_workspace_new();
    float out[2];
    int32_t ids[600] = {0}, types[3] = {0, 1, 0};
    size_t offs[3] = {0, 3, 3};
    rr_batch b = {.ids = ids, .offsets = offs, .n_seqs = 1};
    ids[1] = 4002;
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_ERR_INPUT);
    CHECK(strstr(err.message, "id 4002") != NULL, "%s", err.message);
    ids[1] = -1;
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_ERR_INPUT);
    ids[1] = 5;
    b.type_ids = types;
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_ERR_INPUT);
    CHECK(strstr(err.message, "type id 1") != NULL, "%s", err.message);
    b.type_ids = NULL;
    b.n_seqs = 2; /* second sequence empty */
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_ERR_INPUT);
    offs[1] = 513, b.n_seqs = 1;
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_ERR_INPUT);
    CHECK(strstr(err.message, "513 tokens") != NULL, "%s", err.message);
    offs[1] = 512; /* the longest allowed: positions 2..513 */
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_OK, "%s", err.message);
    CHECK(isfinite(out[0]));
    offs[0] = 1;
    CHECK(rr_model_forward(m, &b, ws, out, &err) == RERANK_ERR_INVALID_ARGUMENT);
    rr_model *none;
    CHECK(rr_model_load(xlmr_dir(), NULL, RERANK_DTYPE_AUTO, &none, &err) == RERANK_ERR_INVALID_ARGUMENT && !none);
    rr_workspace_free(ws);
    rr_model_free(m);
}
