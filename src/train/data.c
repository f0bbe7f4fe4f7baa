/* data.c - training rows, group sampling and training token layouts; see data.h. */
#include "train/data.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arch/config.h"
#include "arch/model.h"
#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "base/utf8.h"
#include "score/llm_input.h"
#include "score/pair_input.h"

/* ---- reading ---- */

static void row_free(rr_train_row *r) {
    free(r->pos);
    free(r->neg);
    free(r->pos_len);
    free(r->neg_len);
    free(r->pos_scores);
    free(r->neg_scores);
}

void rr_train_data_free(rr_train_data *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n_rows; i++) {
        row_free(&d->rows[i]);
        json_decref(d->owners[i]);
    }
    for (size_t i = 0; i < d->n_bad && i < RR_TRAIN_MAX_BAD_KEPT; i++) free(d->bad[i]);
    for (size_t i = 0; i < d->n_files; i++) free(d->files[i]);
    free(d->files);
    free(d->rows);
    free(d->owners);
    free(d->bad);
    free(d);
}

/* Records one bad line; returns nonzero when out of memory. */
static int add_bad(rr_train_data *d, const char *fmt, ...) RR_PRINTF(2, 3);
static int add_bad(rr_train_data *d, const char *fmt, ...) {
    if (d->n_bad < RR_TRAIN_MAX_BAD_KEPT) {
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        if (!d->bad && !(d->bad = calloc(RR_TRAIN_MAX_BAD_KEPT, sizeof *d->bad))) return 1;
        if (!(d->bad[d->n_bad] = strdup(buf))) return 1;
    }
    d->n_bad++;
    return 0;
}

/* A list of strings; on error writes the reason into why. */
static bool get_texts(const json_t *obj, const char *key, bool required, const char ***out, size_t **lens,
                      size_t *n, char *why, size_t why_size) {
    const json_t *a = json_object_get(obj, key);
    *n = 0;
    if (!a) {
        if (required) snprintf(why, why_size, "field \"%s\": missing", key);
        return !required;
    }
    if (!json_is_array(a) || json_array_size(a) == 0) {
        snprintf(why, why_size, "field \"%s\": must be a non-empty list of strings", key);
        return false;
    }
    size_t k = json_array_size(a);
    for (size_t i = 0; i < k; i++)
        if (!json_is_string(json_array_get(a, i))) {
            snprintf(why, why_size, "field \"%s\"[%zu]: must be a string", key, i);
            return false;
        }
    *out = malloc(k * sizeof **out);
    *lens = malloc(k * sizeof **lens);
    if (!*out || !*lens) {
        snprintf(why, why_size, "out of memory");
        return false;
    }
    for (size_t i = 0; i < k; i++) {
        (*out)[i] = json_string_value(json_array_get(a, i));
        (*lens)[i] = json_string_length(json_array_get(a, i));
    }
    *n = k;
    return true;
}

/* Teacher scores `key` matching the n passages of `list`; absent is fine unless required. */
static bool get_scores(const json_t *obj, const char *key, const char *list, size_t n, bool required, double **out,
                       char *why, size_t why_size) {
    const json_t *a = json_object_get(obj, key);
    *out = NULL;
    if (!a) {
        if (required)
            snprintf(why, why_size, "field \"%s\": missing (knowledge distillation needs pos_scores and neg_scores)",
                     key);
        return !required;
    }
    if (!json_is_array(a)) {
        snprintf(why, why_size, "field \"%s\": must be a list of numbers", key);
        return false;
    }
    for (size_t i = 0; i < json_array_size(a); i++)
        if (!json_is_number(json_array_get(a, i))) {
            snprintf(why, why_size, "field \"%s\"[%zu]: must be a number", key, i);
            return false;
        }
    if (json_array_size(a) != n) {
        snprintf(why, why_size, "field \"%s\": has %zu scores but \"%s\" has %zu passages", key, json_array_size(a),
                 list, n);
        return false;
    }
    if (!(*out = malloc(n * sizeof **out))) {
        snprintf(why, why_size, "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++) (*out)[i] = json_number_value(json_array_get(a, i));
    return true;
}

/* Validates one parsed object into *r; false with the reason in why. */
static bool parse_row(const json_t *obj, const rr_train_data_opts *o, rr_train_row *r, char *why, size_t ws) {
    memset(r, 0, sizeof *r);
    const json_t *q = json_object_get(obj, "query"), *pr = json_object_get(obj, "prompt");
    if (!q) return snprintf(why, ws, "field \"query\": missing"), false;
    if (!json_is_string(q)) return snprintf(why, ws, "field \"query\": must be a string"), false;
    r->query = json_string_value(q);
    r->query_len = json_string_length(q);
    if (pr && !json_is_null(pr)) {
        if (!json_is_string(pr)) return snprintf(why, ws, "field \"prompt\": must be a string"), false;
        r->prompt = json_string_value(pr);
        r->prompt_len = json_string_length(pr);
    }
    const char *keys[2] = {"query_prompt", "passage_prompt"};
    const char **dst[2] = {&r->query_prompt, &r->passage_prompt};
    for (int k = 0; k < 2; k++) {
        const json_t *v = json_object_get(obj, keys[k]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_string(v)) return snprintf(why, ws, "field \"%s\": must be a string", keys[k]), false;
        *dst[k] = json_string_value(v);
    }
    bool any_scores = json_object_get(obj, "pos_scores") || json_object_get(obj, "neg_scores");
    bool need = o->need_scores || any_scores; /* one list of scores without the other is an error too */
    bool ok = get_texts(obj, "pos", true, &r->pos, &r->pos_len, &r->n_pos, why, ws) &&
              get_texts(obj, "neg", true, &r->neg, &r->neg_len, &r->n_neg, why, ws) &&
              get_scores(obj, "pos_scores", "pos", r->n_pos, need, &r->pos_scores, why, ws) &&
              get_scores(obj, "neg_scores", "neg", r->n_neg, need, &r->neg_scores, why, ws);
    if (!ok) row_free(r);
    return ok;
}

static rerank_status push_row(rr_train_data *d, size_t *cap, json_t *obj, const rr_train_row *r, rerank_error *err) {
    if (d->n_rows == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        rr_train_row *rows = realloc(d->rows, c * sizeof *rows);
        if (rows) d->rows = rows;
        void **own = realloc(d->owners, c * sizeof *own);
        if (own) d->owners = own;
        if (!rows || !own) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory reading training data");
        *cap = c;
    }
    d->rows[d->n_rows] = *r;
    d->owners[d->n_rows++] = obj;
    return RERANK_OK;
}

static rerank_status read_file(rr_train_data *d, size_t *cap, const char *path, const rr_train_data_opts *o,
                               rerank_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(errno));
    char *line = NULL, why[400];
    size_t lcap = 0;
    long line_no = 0;
    ssize_t n;
    rerank_status st = RERANK_OK;
    char **files = realloc(d->files, (d->n_files + 1) * sizeof *files);
    if (files) d->files = files;
    if (!files || !(d->files[d->n_files] = strdup(path))) {
        fclose(f);
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    }
    size_t file_index = d->n_files++;
    while (!st && (n = getline(&line, &lcap, f)) >= 0) {
        line_no++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (line_no == 1 && n >= 3 && !memcmp(line, "\xef\xbb\xbf", 3)) { /* a UTF-8 byte-order mark */
            memmove(line, line + 3, (size_t)n - 2);
            n -= 3;
        }
        size_t k = 0;
        while (k < (size_t)n && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k == (size_t)n) continue; /* blank lines are not rows */
        size_t bad_at;
        if (!rr_utf8_valid(line, (size_t)n, &bad_at)) {
            if (add_bad(d, "%s:%ld: invalid UTF-8 at byte %zu", path, line_no, bad_at + 1)) goto nomem;
            continue;
        }
        json_error_t je;
        json_t *obj = json_loadb(line, (size_t)n, 0, &je);
        if (!obj) {
            if (add_bad(d, "%s:%ld: invalid JSON at column %d: %s", path, line_no, je.column, je.text)) goto nomem;
            continue;
        }
        rr_train_row r;
        if (!json_is_object(obj)) {
            json_decref(obj);
            if (add_bad(d, "%s:%ld: expected a JSON object", path, line_no)) goto nomem;
        } else if (!parse_row(obj, o, &r, why, sizeof why)) {
            json_decref(obj);
            if (add_bad(d, "%s:%ld: %s", path, line_no, why)) goto nomem;
        } else {
            r.file = file_index;
            r.line = line_no;
            if ((st = push_row(d, cap, obj, &r, err))) {
                row_free(&r);
                json_decref(obj);
            }
        }
    }
    if (!st && ferror(f)) st = rr_fail(err, RERANK_ERR_IO, "%s: read error", path);
    free(line);
    fclose(f);
    return st;
nomem:
    free(line);
    fclose(f);
    return rr_fail(err, RERANK_ERR_NOMEM, "out of memory reading %s", path);
}

static bool data_name(const char *name) {
    size_t n = strlen(name);
    return (n > 5 && !strcmp(name + n - 5, ".json")) || (n > 6 && !strcmp(name + n - 6, ".jsonl"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static rerank_status read_dir(rr_train_data *d, size_t *cap, const char *dir, const rr_train_data_opts *o,
                              rerank_error *err) {
    DIR *dp = opendir(dir);
    if (!dp) return rr_fail(err, RERANK_ERR_IO, "%s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, ncap = 0;
    rerank_status st = RERANK_OK;
    struct dirent *e;
    while (!st && (e = readdir(dp))) {
        if (!data_name(e->d_name)) continue;
        if (n == ncap) {
            ncap = ncap ? 2 * ncap : 16;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (!nn) st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
            else names = nn;
        }
        if (!st && !(names[n++] = strdup(e->d_name))) st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    }
    closedir(dp);
    if (names) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        if (!st && !rr_path_join(path, sizeof path, dir, names[i]))
            st = rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
        if (!st) st = read_file(d, cap, path, o, err);
        free(names[i]);
    }
    free(names);
    if (!st && n == 0) st = rr_fail(err, RERANK_ERR_INPUT, "%s: no .json or .jsonl files in the directory", dir);
    return st;
}

rerank_status rr_train_data_load(const char *path, const rr_train_data_opts *o, rr_train_data **out,
                                 rerank_error *err) {
    *out = NULL;
    rr_train_data *d = calloc(1, sizeof *d);
    if (!d) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    struct stat sb;
    size_t cap = 0;
    rerank_status st;
    if (stat(path, &sb) != 0) st = rr_fail(err, RERANK_ERR_IO, "%s: %s", path, strerror(errno));
    else if (S_ISDIR(sb.st_mode)) st = read_dir(d, &cap, path, o, err);
    else st = read_file(d, &cap, path, o, err);
    if (st) {
        rr_train_data_free(d);
        return st;
    }
    *out = d;
    if (d->n_bad && !o->skip_bad)
        return rr_fail(err, RERANK_ERR_INPUT, "%s (%zu bad line%s in all; --skip-bad-lines trains on the rest)",
                       d->bad[0], d->n_bad, d->n_bad == 1 ? "" : "s");
    if (d->n_rows == 0)
        return rr_fail(err, RERANK_ERR_INPUT, "%s: no training rows%s", path, d->n_bad ? " (every line is bad)" : "");
    return RERANK_OK;
}

/* ---- sampling ---- */

/* splitmix64's finalizer over a combination of the inputs. */
uint64_t rr_train_hash(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9e3779b97f4a7c15ull + b + 0x632be59bd9b4e019ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
    r->s += 0x9e3779b97f4a7c15ull;
    return rr_train_hash(r->s, 0);
}

/* Uniform in [0, n), n >= 1, without modulo bias. */
static size_t rng_below(rng *r, size_t n) {
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
    do x = rng_next(r);
    while (x >= lim);
    return (size_t)(x % n);
}

void rr_train_epoch_order(size_t n, uint64_t seed, uint64_t epoch, size_t *perm) {
    rng r = {rr_train_hash(rr_train_hash(seed, 0x5eed), epoch)};
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
        size_t j = rng_below(&r, i), t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

void rr_train_pick_group(const rr_train_row *row, size_t group_size, uint64_t seed, size_t *pos, size_t *neg,
                         size_t *scratch) {
    rng r = {seed};
    *pos = rng_below(&r, row->n_pos);
    size_t need = group_size - 1, pool = row->n_neg;
    if (pool < need) pool = row->n_neg * ((need + row->n_neg - 1) / row->n_neg); /* neg * ceil(need / n_neg) */
    for (size_t i = 0; i < pool; i++) scratch[i] = i % row->n_neg;
    for (size_t i = 0; i < need; i++) { /* the first `need` draws of a shuffle: sampling without replacement */
        size_t j = i + rng_below(&r, pool - i), t = scratch[i];
        scratch[i] = scratch[j];
        scratch[j] = t;
        neg[i] = scratch[i];
    }
}

/* ---- tokenization ---- */

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

rerank_status rr_train_encoder_layout(const rr_tokenizer *tok, size_t qml, size_t pml, const int32_t *q, size_t nq,
                                      const int32_t *p, size_t np, rr_i32vec *ids, rr_i32vec *types) {
    nq = min_sz(nq, qml + pml / 4);
    np = min_sz(np, pml + qml / 2);
    rr_pair_limits lim = {qml + pml, nq};
    return rr_pair_build(tok, &lim, q, nq, p, np, ids, types);
}

rerank_status rr_train_llm_layout(bool add_bos, int32_t bos, const int32_t *sep, size_t n_sep, const int32_t *prompt,
                                  size_t n_prompt, size_t qml, size_t pml, const int32_t *q, size_t nq,
                                  const int32_t *p, size_t np, rr_i32vec *ids) {
    nq = min_sz(nq, qml + pml / 4);
    np = min_sz(np, pml + qml / 2);
    long long budget = (long long)(qml + pml) - (long long)n_prompt - (long long)n_sep;
    long long first = (long long)nq + (add_bos ? 1 : 0), second = (long long)(n_sep + np);
    if (first + second > budget) {
        long long remove = first + second - budget;
        if (second > remove) second -= remove; /* else transformers logs an error and cuts nothing */
    }
    size_t n2 = (size_t)second, sep_kept = min_sz(n2, n_sep);
    if ((add_bos && rr_i32vec_push(ids, bos)) || rr_i32vec_append(ids, q, nq) || rr_i32vec_append(ids, sep, sep_kept) ||
        rr_i32vec_append(ids, p, n2 - sep_kept) || rr_i32vec_append(ids, sep, n_sep) ||
        rr_i32vec_append(ids, prompt, n_prompt))
        return RERANK_ERR_NOMEM;
    return RERANK_OK;
}

/* max_tokens; for decoders bos/pad: config.json, overridden by tokenizer_config.json's tokens (what
 * FlagEmbedding reads). */
static rerank_status read_config(const char *dir, rr_train_tok *t, rerank_model_kind kind, rerank_error *err) {
    rr_model_config c;
    rerank_status st = rr_model_config_load(dir, &c, err);
    if (st) return st;
    t->max_tokens = c.max_tokens > 0 ? (size_t)c.max_tokens : 0;
    if (!t->llm) return RERANK_OK;
    int32_t b = c.bos_id, pad = c.pad_id;
    if ((st = rr_tokenizer_config_bos_pad(dir, t->tok, &b, &pad, err))) return st;
    t->bos = b;
    t->add_bos = kind == RERANK_KIND_LAYERWISE ? b >= 0 : b >= 0 && b != pad;
    return RERANK_OK;
}

void rr_train_tok_free(rr_train_tok *t) {
    if (!t) return;
    rr_tokenizer_free(t->tok);
    rr_i32vec *v[6] = {&t->sep, &t->default_prompt, &t->q, &t->p, &t->prompt, &t->text};
    for (int i = 0; i < 6; i++) rr_i32vec_free(v[i]);
    free(t);
}

rerank_status rr_train_tok_open(const char *dir, rerank_model_kind kind, size_t query_max_len,
                                size_t passage_max_len, rr_train_tok **out, rerank_error *err) {
    *out = NULL;
    rr_train_tok *t = calloc(1, sizeof *t);
    if (!t) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    t->llm = kind != RERANK_KIND_CROSS_ENCODER;
    t->query_max_len = query_max_len;
    t->passage_max_len = passage_max_len;
    rerank_status st = rr_tokenizer_load(dir, &t->tok, err);
    if (!st) st = read_config(dir, t, kind, err);
    if (!st && t->llm) {
        if (kind == RERANK_KIND_QWEN3)
            st = rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: training Qwen3-Reranker models is not supported", dir);
        if (!st) st = rr_tokenizer_encode(t->tok, RR_LLM_SEP, strlen(RR_LLM_SEP), &t->sep, err);
        if (!st)
            st = rr_tokenizer_encode(t->tok, RR_LLM_DEFAULT_PROMPT, strlen(RR_LLM_DEFAULT_PROMPT), &t->default_prompt,
                                     err);
    }
    if (st) rr_train_tok_free(t);
    else *out = t;
    return st;
}

/* ids of prefix + text, as FlagEmbedding formats "A: " + query. */
static rerank_status encode(rr_train_tok *t, const char *prefix, const char *text, size_t len, rr_i32vec *out,
                            rerank_error *err) {
    out->n = 0;
    if (!*prefix) return rr_tokenizer_encode(t->tok, text, len, out, err);
    size_t np = strlen(prefix);
    char *buf = malloc(np + len + 1);
    if (!buf) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    memcpy(buf, prefix, np);
    memcpy(buf + np, text, len);
    rerank_status st = rr_tokenizer_encode(t->tok, buf, np + len, out, err);
    free(buf);
    return st;
}

rerank_status rr_train_tok_pair(rr_train_tok *t, const rr_train_row *r, const char *passage, size_t passage_len,
                                rr_i32vec *ids, rr_i32vec *types, rerank_error *err) {
    rerank_status st;
    /* FlagEmbedding's LLM dataset formats "{instruction}{text}" with "A: " / "B: " unless the row gives its own
     * query_prompt / passage_prompt; the encoder dataset has no instructions. */
    const char *qi = !t->llm ? "" : r->query_prompt ? r->query_prompt : RR_LLM_QUERY_INSTRUCTION;
    const char *pi = !t->llm ? "" : r->passage_prompt ? r->passage_prompt : RR_LLM_PASSAGE_INSTRUCTION;
    if ((st = encode(t, qi, r->query, r->query_len, &t->q, err))) {
        rr_error_prefix(err, "query");
        return st;
    }
    if ((st = encode(t, pi, passage, passage_len, &t->p, err))) {
        rr_error_prefix(err, "passage");
        return st;
    }
    if (!t->llm) {
        if (rr_train_encoder_layout(t->tok, t->query_max_len, t->passage_max_len, t->q.data, t->q.n, t->p.data, t->p.n,
                                    ids, types))
            return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
        return RERANK_OK;
    }
    const rr_i32vec *prompt = &t->default_prompt;
    if (r->prompt) {
        if ((st = encode(t, "", r->prompt, r->prompt_len, &t->prompt, err))) {
            rr_error_prefix(err, "prompt");
            return st;
        }
        prompt = &t->prompt;
    }
    size_t n0 = ids->n;
    if (rr_train_llm_layout(t->add_bos, t->bos, t->sep.data, t->sep.n, prompt->data, prompt->n, t->query_max_len,
                            t->passage_max_len, t->q.data, t->q.n, t->p.data, t->p.n, ids))
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    if (types) {
        if (rr_i32vec_reserve(types, ids->n - n0)) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
        memset(types->data + types->n, 0, (ids->n - n0) * sizeof(int32_t));
        types->n += ids->n - n0;
    }
    return RERANK_OK;
}
