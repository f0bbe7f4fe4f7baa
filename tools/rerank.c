/* rerank.c - the command-line interface: score, rank, tokenize, convert (and serve). A client of rerank.h only.
 * Exit codes: 0 success, 1 a runtime or input error, 2 a usage error. Every error is one line on stderr,
 * "rerank: error: ...". Results already written stay written when a later input line is bad. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_download.h"
#include "cli_train.h"
#include "rerank.h"

static const char *const usage_text =
    "usage: rerank <command> [options]\n"
    "\n"
    "Commands:\n"
    "  score     score query/passage pairs: JSONL {\"query\": ..., \"passage\": ...} in, one JSON object per\n"
    "            input line out, in input order: {\"score\": <float>}\n"
    "  rank      rank passages for one query: JSONL {\"passage\": ...} or plain lines in, passages out sorted\n"
    "            by score: {\"index\": <input index>, \"score\": <float>, \"passage\": ...}\n"
    "  tokenize  show the exact model input of each pair: {\"input_ids\": [...], \"token_type_ids\": [...]}\n"
    "  serve     run the HTTP server (Cohere/Jina/TEI rerank APIs); see rerank serve --help\n"
    "  train     fine-tune a reranker on JSONL query/pos/neg data; see rerank train --help\n"
    "  eval      MRR@10, nDCG@10 and MAP of a model on JSONL query/pos/neg data; see rerank eval --help\n"
    "  merge-lora  merge a LoRA adapter into its decoder base model; see rerank merge-lora --help\n"
    "  convert   save a model with its weights converted to bf16 or int8, so that loads need no conversion;\n"
    "            see rerank convert --help\n"
    "\n"
    "Options (score, rank, tokenize):\n"
    "  --model DIR|ID          Hugging Face model directory (config.json, *.safetensors, tokenizer), or a hub id\n"
    "                          ORG/NAME[@REVISION], fetched into the hub cache (see rerank download --help) [required]\n"
    "  --input FILE            read input from FILE instead of standard input\n"
    "  --max-length N          token budget of a pair, special tokens included (default 512, at most the\n"
    "                          model's limit)\n"
    "  --query-max-length N    token budget of the query (default max-length*3/4)\n"
    "  --batch-size N          pairs per forward pass (default 32; never changes scores)\n"
    "  --threads N             threads (default: all cores)\n"
    "  --normalize             sigmoid scores in [0,1] instead of raw logits\n"
    "  --long-doc MODE         truncate (default, as FlagEmbedding) or chunk: score overlapping windows of a\n"
    "                          long passage and keep the best (MaxP)\n"
    "  --chunk-overlap N       tokens shared by consecutive windows with --long-doc chunk (default 32)\n"
    "  --dtype T               compute precision: auto (default: fp32, or a converted model's), f32, bf16 or\n"
    "                          int8\n"
    "  --split-special-tokens  treat special-token text in the input (\"<s>\", \"[SEP]\") as plain text; by\n"
    "                          default it is matched as that token, as FlagEmbedding does\n"
    "  rank only: --query TEXT [required], --top-k K (default: all)\n"
    "\n"
    "LLM rerankers (bge-reranker-v2-gemma, bge-reranker-v2-minicpm-layerwise, Qwen3-Reranker):\n"
    "  --prompt TEXT           FlagLLMReranker prompt (default: the Yes/No prompt of FlagEmbedding)\n"
    "  --instruction TEXT      Qwen3-Reranker instruction (default: the model card's web-search one)\n"
    "  --cutoff-layers L[,L..] layerwise model: layers to score (default: the last); with several, each output\n"
    "                          line has \"scores\" and \"layers\" in ascending layer order\n"
    "  --recipe R              flag-llm or qwen3 input layout for a decoder (default: by architecture)\n"
    "  --no-prefix-reuse       run every pair whole; by default the tokens all pairs of a query share\n"
    "                          (instruction, query) run once per query (same scores up to float rounding)\n"
    "\n"
    "Scores are FlagEmbedding's compute_score(pairs, max_length, normalize): the raw relevance logit, or its\n"
    "sigmoid with --normalize. LLM rerankers: the \"Yes\" logit of the last token; Qwen3-Reranker: the log-odds\n"
    "of \"yes\" over \"no\", whose sigmoid (--normalize) is the model card's P(yes). Exit status: 0 success, 1 runtime or input error (the message names the input\n"
    "line and field), 2 usage error.\n"
    "\n"
    "  rerank --version       print the version\n";

static const char *const convert_usage_text =
    "usage: rerank convert --model DIR|ORG/NAME[@REV] --dtype bf16|int8 --out DIR\n"
    "\n"
    "Converts the dense weights of a model to bf16 or int8 once and saves them, packed as the kernels read them,\n"
    "in a new model directory: model.safetensors (every other tensor unchanged), config.json with a\n"
    "\"rerank_packed\" key, and the tokenizer and other files copied. rerank score/rank/serve --model on it map\n"
    "the packed weights instead of converting at every start, with exactly the scores of --dtype on the\n"
    "original. It loads with --dtype auto (the default) or the same dtype; it is no longer a transformers\n"
    "checkpoint (keep the original for training). The CPU needs AVX512_BF16 (bf16) or AVX512_VNNI (int8), as\n"
    "for --dtype.\n"
    "\n"
    "  --model DIR    the model directory to convert [required]\n"
    "  --dtype T      bf16 or int8 [required]\n"
    "  --out DIR      the new model directory: created, must not exist or be empty [required]\n";

static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("rerank: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see rerank --help)\n", stderr);
    va_end(ap);
    return 2;
}

static int runtime_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("rerank: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

typedef struct cli_options {
    const char *model, *input, *query;
    long top_k;
    int layers[256];
    rerank_score_params sp;
    rerank_model_params mp;
} cli_options;

static int parse_int(const char *flag, const char *text, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi)
        return usage_error("%s expects an integer in [%ld, %ld], got '%s'", flag, lo, hi, text);
    *out = v;
    return 0;
}

/* "28" or "8,16,28" -> o->layers, ascending and unique (the order the scores come back in). */
static int parse_layers(const char *v, cli_options *o) {
    size_t n = 0;
    for (const char *p = v; *p;) {
        char *end;
        errno = 0;
        long l = strtol(p, &end, 10);
        if (errno || end == p || l < 0 || l > 100000 || n == sizeof o->layers / sizeof o->layers[0] ||
            (*end && *end != ','))
            return usage_error("--cutoff-layers expects layer numbers like 28 or 8,16,28, got '%s'", v);
        o->layers[n++] = (int)l;
        p = *end ? end + 1 : end;
    }
    if (n == 0) return usage_error("--cutoff-layers expects at least one layer");
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && o->layers[j - 1] > o->layers[j]; j--) {
            int t = o->layers[j];
            o->layers[j] = o->layers[j - 1];
            o->layers[j - 1] = t;
        }
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || o->layers[u - 1] != o->layers[i]) o->layers[u++] = o->layers[i];
    o->sp.cutoff_layers = o->layers;
    o->sp.n_cutoff_layers = u;
    return 0;
}

/* Parses the shared options; returns 0, or an exit code. */
static int parse_options(int argc, char **argv, cli_options *o, int is_rank) {
    memset(o, 0, sizeof *o);
    o->sp = rerank_score_default_params();
    o->mp = rerank_model_default_params();
    o->top_k = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        int rc;
#define NEED_VALUE()                                                      \
    do {                                                                  \
        if (!v) return usage_error("option %s needs a value", a);         \
        i++;                                                              \
    } while (0)
        if (!strcmp(a, "--normalize")) o->sp.normalize = true;
        else if (!strcmp(a, "--split-special-tokens")) o->sp.split_special_tokens = true;
        else if (!strcmp(a, "--no-prefix-reuse")) o->sp.prefix_reuse = false;
        else if (!strcmp(a, "--model")) { NEED_VALUE(); o->model = v; }
        else if (!strcmp(a, "--input")) { NEED_VALUE(); o->input = v; }
        else if (!strcmp(a, "--max-length")) {
            NEED_VALUE();
            if ((rc = parse_int(a, v, 1, 1 << 20, &n))) return rc;
            o->sp.max_length = (int)n;
        } else if (!strcmp(a, "--query-max-length")) {
            NEED_VALUE();
            if ((rc = parse_int(a, v, 1, 1 << 20, &n))) return rc;
            o->sp.query_max_length = (int)n;
        } else if (!strcmp(a, "--batch-size")) {
            NEED_VALUE();
            if ((rc = parse_int(a, v, 1, 256, &n))) return rc;
            o->sp.batch_size = (int)n;
        } else if (!strcmp(a, "--threads")) {
            NEED_VALUE();
            if ((rc = parse_int(a, v, 0, 1024, &n))) return rc;
            o->sp.n_threads = (int)n;
        } else if (!strcmp(a, "--chunk-overlap")) {
            NEED_VALUE();
            if ((rc = parse_int(a, v, 0, 1 << 20, &n))) return rc;
            o->sp.chunk_overlap = (int)n;
        } else if (!strcmp(a, "--long-doc")) {
            NEED_VALUE();
            if (!strcmp(v, "truncate")) o->sp.long_doc = RERANK_LONG_DOC_TRUNCATE;
            else if (!strcmp(v, "chunk")) o->sp.long_doc = RERANK_LONG_DOC_CHUNK;
            else return usage_error("--long-doc expects truncate or chunk, got '%s'", v);
        } else if (!strcmp(a, "--dtype")) {
            NEED_VALUE();
            if (!strcmp(v, "auto")) o->mp.dtype = RERANK_DTYPE_AUTO;
            else if (!strcmp(v, "f32") || !strcmp(v, "fp32")) o->mp.dtype = RERANK_DTYPE_F32;
            else if (!strcmp(v, "bf16")) o->mp.dtype = RERANK_DTYPE_BF16;
            else if (!strcmp(v, "int8")) o->mp.dtype = RERANK_DTYPE_INT8;
            else return usage_error("--dtype expects auto, f32, bf16 or int8, got '%s'", v);
        } else if (!strcmp(a, "--prompt")) { NEED_VALUE(); o->sp.prompt = v; }
        else if (!strcmp(a, "--instruction")) { NEED_VALUE(); o->sp.instruction = v; }
        else if (!strcmp(a, "--recipe")) { NEED_VALUE(); o->mp.recipe = v; }
        else if (!strcmp(a, "--cutoff-layers")) {
            NEED_VALUE();
            if ((rc = parse_layers(v, o))) return rc;
        } else if (is_rank && !strcmp(a, "--query")) { NEED_VALUE(); o->query = v; }
        else if (is_rank && !strcmp(a, "--top-k")) {
            NEED_VALUE();
            if ((rc = parse_int(a, v, 0, LONG_MAX, &n))) return rc;
            o->top_k = n;
        } else return usage_error("unknown option '%s'", a);
#undef NEED_VALUE
    }
    if (!o->model) return usage_error("--model DIR is required");
    if (is_rank && !o->query) return usage_error("rank needs --query TEXT");
    return 0;
}

/* Line reader over a file or stdin that counts lines. */
typedef struct line_reader {
    FILE *f;
    const char *name;
    char *buf;
    size_t cap;
    long line_no;
} line_reader;

static int reader_open(line_reader *r, const char *path) {
    memset(r, 0, sizeof *r);
    r->name = path ? path : "<stdin>";
    r->f = path ? fopen(path, "rb") : stdin;
    if (!r->f) return runtime_error("%s: %s", path, strerror(errno));
    return 0;
}

static void reader_close(line_reader *r) {
    if (r->f && r->f != stdin) fclose(r->f);
    free(r->buf);
}

/* Next non-blank line without its line ending; NULL at end of input. */
static const char *reader_next(line_reader *r, size_t *len) {
    for (;;) {
        ssize_t n = getline(&r->buf, &r->cap, r->f);
        if (n < 0) return NULL;
        r->line_no++;
        while (n > 0 && (r->buf[n - 1] == '\n' || r->buf[n - 1] == '\r')) r->buf[--n] = '\0';
        size_t k = 0;
        while (k < (size_t)n && (r->buf[k] == ' ' || r->buf[k] == '\t')) k++;
        if (k == (size_t)n) continue;
        *len = (size_t)n;
        return r->buf;
    }
}

/* Parses one JSONL line into an object; on failure prints "<file>:<line>: ..." and returns NULL. */
static json_t *parse_line(const line_reader *r, const char *line, size_t len) {
    json_error_t je;
    json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, &je);
    if (!j) {
        runtime_error("%s:%ld: invalid JSON at column %d: %s", r->name, r->line_no, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        runtime_error("%s:%ld: expected a JSON object", r->name, r->line_no);
        return NULL;
    }
    return j;
}

/* Reads string field `key` of a line's object; on failure prints the error and returns NULL. */
static const char *line_string(const line_reader *r, json_t *obj, const char *key, size_t *len) {
    json_t *v = json_object_get(obj, key);
    if (!v) {
        runtime_error("%s:%ld: missing field \"%s\"", r->name, r->line_no, key);
        return NULL;
    }
    if (!json_is_string(v)) {
        runtime_error("%s:%ld: field \"%s\" must be a string", r->name, r->line_no, key);
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

/* A {"query", "passage"} line: returns the object that owns the texts of *pair, or NULL after printing the
 * error. */
static json_t *parse_pair_line(const line_reader *r, const char *line, size_t len, rerank_pair *pair) {
    json_t *obj = parse_line(r, line, len);
    size_t ql = 0, pl = 0;
    const char *q = obj ? line_string(r, obj, "query", &ql) : NULL;
    const char *p = q ? line_string(r, obj, "passage", &pl) : NULL;
    if (!p) {
        json_decref(obj);
        return NULL;
    }
    *pair = (rerank_pair){q, ql, p, pl};
    return obj;
}

static int load_model(const cli_options *o, rerank_model **model, rerank_session **session) {
    rerank_error err;
    rerank_model_params mp = o->mp;
    mp.progress = rr_cli_progress_fn();
    rerank_status st = rerank_model_load(o->model, &mp, model, &err);
    rr_cli_progress_done();
    if (st) return runtime_error("%s", err.message);
    if (session && rerank_session_new(*model, session, &err)) {
        rerank_model_free(*model);
        return runtime_error("%s", err.message);
    }
    return 0;
}

static void print_json(json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
}

/* A chunk of parsed pairs waiting to be scored; the JSON objects own the texts. */
typedef struct pending {
    json_t **lines;
    rerank_pair *pairs;
    long *line_nos;
    size_t n, cap;
} pending;

static int pending_push(pending *p, json_t *line, rerank_pair pair, long line_no) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        json_t **l = realloc(p->lines, cap * sizeof *l);
        if (l) p->lines = l;
        rerank_pair *q = realloc(p->pairs, cap * sizeof *q);
        if (q) p->pairs = q;
        long *n = realloc(p->line_nos, cap * sizeof *n);
        if (n) p->line_nos = n;
        if (!l || !q || !n) return runtime_error("out of memory");
        p->cap = cap;
    }
    p->lines[p->n] = line;
    p->pairs[p->n] = pair;
    p->line_nos[p->n] = line_no;
    p->n++;
    return 0;
}

static void pending_clear(pending *p) {
    for (size_t i = 0; i < p->n; i++) json_decref(p->lines[i]);
    p->n = 0;
}

static void pending_free(pending *p) {
    pending_clear(p);
    free(p->lines);
    free(p->pairs);
    free(p->line_nos);
}

/* Maps "pair <i>: ..." in a library message back to the input line of pair i. */
static int pair_error(const char *input, const pending *p, const rerank_error *err) {
    size_t idx;
    int consumed = 0;
    if (sscanf(err->message, "pair %zu: %n", &idx, &consumed) == 1 && consumed > 0 && idx < p->n)
        return runtime_error("%s:%ld: %s", input, p->line_nos[idx], err->message + consumed);
    return runtime_error("%s", err->message);
}

/* One output line: {"score"} or, with several cutoff layers, {"scores", "layers"}. */
static void print_scores(const cli_options *o, const float *scores, size_t n_out) {
    json_t *out;
    if (n_out == 1) {
        out = json_pack("{s:f}", "score", (double)scores[0]);
    } else {
        json_t *sc = json_array(), *ly = json_array();
        for (size_t k = 0; k < n_out; k++) {
            json_array_append_new(sc, json_real(scores[k]));
            json_array_append_new(ly, json_integer(o->layers[k]));
        }
        out = json_pack("{s:o, s:o}", "scores", sc, "layers", ly);
    }
    print_json(out);
    json_decref(out);
}

static int flush_scores(rerank_session *s, const cli_options *o, const char *input, pending *p, float **scores,
                        size_t *cap, size_t n_out) {
    if (p->n == 0) return 0;
    if (p->n * n_out > *cap) {
        float *n = realloc(*scores, p->n * n_out * sizeof *n);
        if (!n) return runtime_error("out of memory");
        *scores = n;
        *cap = p->n * n_out;
    }
    rerank_error err;
    if (rerank_score(s, &o->sp, p->pairs, p->n, *scores, &err)) return pair_error(input, p, &err);
    for (size_t i = 0; i < p->n; i++) print_scores(o, *scores + i * n_out, n_out);
    fflush(stdout);
    pending_clear(p);
    return 0;
}

static int cmd_score(int argc, char **argv) {
    cli_options o;
    int rc = parse_options(argc, argv, &o, 0);
    if (rc) return rc;
    line_reader r;
    if ((rc = reader_open(&r, o.input))) return rc;
    rerank_model *model;
    rerank_session *session;
    if ((rc = load_model(&o, &model, &session))) {
        reader_close(&r);
        return rc;
    }
    size_t n_out;
    rerank_error err;
    if (rerank_score_n_outputs(model, &o.sp, &n_out, &err)) {
        rerank_session_free(session);
        rerank_model_free(model);
        reader_close(&r);
        return runtime_error("%s", err.message);
    }
    pending p = {0};
    float *scores = NULL;
    size_t cap = 0, len;
    const size_t chunk = 1024; /* pairs scored together: bounds memory, keeps output flowing */
    const char *line;
    while (!rc && (line = reader_next(&r, &len))) {
        rerank_pair pair;
        json_t *obj = parse_pair_line(&r, line, len, &pair);
        if (!obj) {
            rc = 1;
            break;
        }
        rc = pending_push(&p, obj, pair, r.line_no);
        if (!rc && p.n >= chunk) rc = flush_scores(session, &o, r.name, &p, &scores, &cap, n_out);
    }
    /* score what came before a bad line, so nothing valid is lost */
    if (rc == 1 && p.n) flush_scores(session, &o, r.name, &p, &scores, &cap, n_out);
    else if (!rc) rc = flush_scores(session, &o, r.name, &p, &scores, &cap, n_out);
    pending_free(&p);
    free(scores);
    rerank_session_free(session);
    rerank_model_free(model);
    reader_close(&r);
    return rc;
}

typedef struct ranked {
    size_t index;
    float score;
} ranked;

static int by_score_desc(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int cmd_rank(int argc, char **argv) {
    cli_options o;
    int rc = parse_options(argc, argv, &o, 1);
    if (rc) return rc;
    line_reader r;
    if ((rc = reader_open(&r, o.input))) return rc;
    pending p = {0};
    json_t *texts = json_array(); /* owns the passages of plain-text input */
    int jsonl = -1;               /* decided by the first line: a JSON object, or plain text */
    size_t len;
    const char *line;
    while (!rc && (line = reader_next(&r, &len))) {
        if (jsonl < 0) {
            json_t *probe = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
            jsonl = probe && json_is_object(probe);
            json_decref(probe);
        }
        json_t *holder;
        const char *text;
        size_t tl;
        if (jsonl) {
            holder = parse_line(&r, line, len);
            text = holder ? line_string(&r, holder, "passage", &tl) : NULL;
            if (!text) {
                json_decref(holder);
                rc = 1;
                break;
            }
        } else {
            holder = json_stringn_nocheck(line, len);
            if (!holder) {
                rc = runtime_error("out of memory");
                break;
            }
            text = json_string_value(holder);
            tl = len;
        }
        json_array_append_new(texts, holder); /* texts owns it; pending borrows */
        rc = pending_push(&p, holder, (rerank_pair){o.query, strlen(o.query), text, tl}, r.line_no);
    }
    rerank_model *model = NULL;
    rerank_session *session = NULL;
    float *scores = NULL;
    ranked *order = NULL;
    if (!rc) rc = load_model(&o, &model, &session);
    size_t n_out = 1;
    rerank_error err;
    if (!rc && rerank_score_n_outputs(model, &o.sp, &n_out, &err)) rc = runtime_error("%s", err.message);
    if (!rc && p.n) {
        scores = malloc(p.n * n_out * sizeof *scores);
        order = malloc(p.n * sizeof *order);
        if (!scores || !order) rc = runtime_error("out of memory");
        else if (rerank_score(session, &o.sp, p.pairs, p.n, scores, &err)) rc = pair_error(r.name, &p, &err);
    }
    if (!rc && p.n) {
        /* several cutoff layers: rank by the highest one */
        for (size_t i = 0; i < p.n; i++) order[i] = (ranked){i, scores[i * n_out + n_out - 1]};
        qsort(order, p.n, sizeof *order, by_score_desc);
        size_t k = o.top_k >= 0 && (size_t)o.top_k < p.n ? (size_t)o.top_k : p.n;
        for (size_t i = 0; i < k; i++) {
            const rerank_pair *pr = &p.pairs[order[i].index];
            json_t *out = json_pack("{s:I, s:f, s:s%}", "index", (json_int_t)order[i].index, "score",
                                    (double)order[i].score, "passage", pr->passage, pr->passage_len);
            print_json(out);
            json_decref(out);
        }
    }
    p.n = 0; /* the texts array owns the holders */
    pending_free(&p);
    json_decref(texts);
    free(scores);
    free(order);
    rerank_session_free(session);
    rerank_model_free(model);
    reader_close(&r);
    return rc;
}

static int cmd_tokenize(int argc, char **argv) {
    cli_options o;
    int rc = parse_options(argc, argv, &o, 0);
    if (rc) return rc;
    line_reader r;
    if ((rc = reader_open(&r, o.input))) return rc;
    rerank_model *model;
    if ((rc = load_model(&o, &model, NULL))) {
        reader_close(&r);
        return rc;
    }
    size_t len;
    const char *line;
    while (!rc && (line = reader_next(&r, &len))) {
        rerank_pair pair;
        json_t *obj = parse_pair_line(&r, line, len, &pair);
        if (!obj) {
            rc = 1;
            break;
        }
        rerank_encoding enc;
        rerank_error err;
        if (rerank_tokenize(model, &o.sp, &pair, &enc, &err)) {
            const char *msg = err.message;
            if (!strncmp(msg, "pair 0: ", 8)) msg += 8;
            rc = runtime_error("%s:%ld: %s", r.name, r.line_no, msg);
        } else {
            json_t *ids = json_array(), *types = json_array();
            for (size_t i = 0; i < enc.n_tokens; i++) {
                json_array_append_new(ids, json_integer(enc.ids[i]));
                json_array_append_new(types, json_integer(enc.type_ids[i]));
            }
            json_t *out = json_pack("{s:o, s:o}", "input_ids", ids, "token_type_ids", types);
            print_json(out);
            json_decref(out);
            rerank_encoding_free(&enc);
        }
        json_decref(obj);
    }
    fflush(stdout);
    rerank_model_free(model);
    reader_close(&r);
    return rc;
}

static int cmd_convert(int argc, char **argv) {
    const char *model = NULL, *out = NULL;
    rerank_dtype dtype = RERANK_DTYPE_AUTO;
    for (int i = 0; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strncmp(a, "--", 2) != 0) return usage_error("unexpected argument '%s'", a);
        if (!v) return usage_error("option %s needs a value", a);
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--dtype")) {
            if (!strcmp(v, "bf16")) dtype = RERANK_DTYPE_BF16;
            else if (!strcmp(v, "int8")) dtype = RERANK_DTYPE_INT8;
            else return usage_error("convert --dtype expects bf16 or int8, got '%s'", v);
        } else return usage_error("unknown option '%s'", a);
    }
    if (!model) return usage_error("--model DIR is required");
    if (!out) return usage_error("--out DIR is required");
    if (dtype == RERANK_DTYPE_AUTO) return usage_error("--dtype bf16|int8 is required");
    char fetched[4096];
    int rc = 0;
    if (!(model = rr_cli_prefetch(model, fetched, sizeof fetched, &rc))) return rc;
    rerank_error err;
    if (rerank_model_convert(model, out, dtype, &err)) return runtime_error("%s", err.message);
    fprintf(stderr, "converted model written to %s\n", out);
    return 0;
}

int rr_serve_main(int argc, char **argv) __attribute__((weak));

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            if (!strcmp(cmd, "serve") && rr_serve_main) return rr_serve_main(argc - 1, argv + 1);
            if (!strcmp(cmd, "convert")) {
                fputs(convert_usage_text, stdout);
                return 0;
            }
            if (!strcmp(cmd, "download")) {
                fputs(rr_cli_download_usage, stdout);
                return 0;
            }
            if (!strcmp(cmd, "train") || !strcmp(cmd, "eval") || !strcmp(cmd, "merge-lora")) {
                fputs(!strcmp(cmd, "train") ? rr_cli_train_usage
                      : !strcmp(cmd, "eval") ? rr_cli_eval_usage
                                             : rr_cli_merge_usage,
                      stdout);
                return 0;
            }
            fputs(usage_text, stdout);
            return 0;
        }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("rerank %s\n", RERANK_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "score")) return cmd_score(argc - 2, argv + 2);
    if (!strcmp(cmd, "rank")) return cmd_rank(argc - 2, argv + 2);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 2, argv + 2);
    if (!strcmp(cmd, "train")) return rr_cli_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval")) return rr_cli_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "merge-lora")) return rr_cli_merge_lora(argc - 2, argv + 2);
    if (!strcmp(cmd, "convert")) return cmd_convert(argc - 2, argv + 2);
    if (!strcmp(cmd, "download")) return rr_cli_download(argc - 2, argv + 2);
    if (!strcmp(cmd, "serve")) {
        if (rr_serve_main) return rr_serve_main(argc - 1, argv + 1);
        return runtime_error("this build has no HTTP server");
    }
    return usage_error("unknown command '%s'", cmd);
}
