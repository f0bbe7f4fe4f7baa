/* rerank.c - the command-line interface: score, rank, tokenize, convert, and the dispatch to every subcommand
 * (train, eval, merge-lora: cli_train.c; serve: cli_serve.c). A client of rerank.h only; options: options.h.
 * Exit codes: 0 success, 1 a runtime or input error, 2 a usage error. Every error is one line on stderr,
 * "rerank: error: ...". Results already written stay written when a later input line is bad. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_train.h"
#include "options.h"
#include "rerank.h"
#include "server/server.h"

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
    if (!r->f) return rr_cli_runtime_error("%s: %s", path, strerror(errno));
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
        rr_cli_runtime_error("%s:%ld: invalid JSON at column %d: %s", r->name, r->line_no, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        rr_cli_runtime_error("%s:%ld: expected a JSON object", r->name, r->line_no);
        return NULL;
    }
    return j;
}

/* Reads string field `key` of a line's object; on failure prints the error and returns NULL. */
static const char *line_string(const line_reader *r, json_t *obj, const char *key, size_t *len) {
    json_t *v = json_object_get(obj, key);
    if (!v) {
        rr_cli_runtime_error("%s:%ld: missing field \"%s\"", r->name, r->line_no, key);
        return NULL;
    }
    if (!json_is_string(v)) {
        rr_cli_runtime_error("%s:%ld: field \"%s\" must be a string", r->name, r->line_no, key);
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

static int load_model(const rr_cli_args *o, rerank_model **model, rerank_session **session) {
    rerank_error err;
    if (rerank_model_load(o->model, &o->mp, model, &err)) return rr_cli_runtime_error("%s", err.message);
    if (session && rerank_session_new(*model, session, &err)) {
        rerank_model_free(*model);
        return rr_cli_runtime_error("%s", err.message);
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
        if (!l || !q || !n) return rr_cli_runtime_error("out of memory");
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
        return rr_cli_runtime_error("%s:%ld: %s", input, p->line_nos[idx], err->message + consumed);
    return rr_cli_runtime_error("%s", err->message);
}

/* One output line: {"score"} or, with several cutoff layers, {"scores", "layers"}. */
static void print_scores(const rr_cli_args *o, const float *scores, size_t n_out) {
    json_t *out;
    if (n_out == 1) {
        out = json_pack("{s:f}", "score", (double)scores[0]);
    } else {
        json_t *sc = json_array(), *ly = json_array();
        for (size_t k = 0; k < n_out; k++) {
            json_array_append_new(sc, json_real(scores[k]));
            json_array_append_new(ly, json_integer(o->layers.v[k]));
        }
        out = json_pack("{s:o, s:o}", "scores", sc, "layers", ly);
    }
    print_json(out);
    json_decref(out);
}

static int flush_scores(rerank_session *s, const rr_cli_args *o, const char *input, pending *p, float **scores,
                        size_t *cap, size_t n_out) {
    if (p->n == 0) return 0;
    if (p->n * n_out > *cap) {
        float *n = realloc(*scores, p->n * n_out * sizeof *n);
        if (!n) return rr_cli_runtime_error("out of memory");
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
    rr_cli_args o;
    rr_cli_args_init(&o);
    int rc = rr_cli_parse("score", argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    rr_cli_score_params(&o);
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
        return rr_cli_runtime_error("%s", err.message);
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
    rr_cli_args o;
    rr_cli_args_init(&o);
    int rc = rr_cli_parse("rank", argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    rr_cli_score_params(&o);
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
                rc = rr_cli_runtime_error("out of memory");
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
    if (!rc && rerank_score_n_outputs(model, &o.sp, &n_out, &err)) rc = rr_cli_runtime_error("%s", err.message);
    if (!rc && p.n) {
        scores = malloc(p.n * n_out * sizeof *scores);
        order = malloc(p.n * sizeof *order);
        if (!scores || !order) rc = rr_cli_runtime_error("out of memory");
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
    rr_cli_args o;
    rr_cli_args_init(&o);
    int rc = rr_cli_parse("tokenize", argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    rr_cli_score_params(&o);
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
            rc = rr_cli_runtime_error("%s:%ld: %s", r.name, r.line_no, msg);
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
    rr_cli_args o;
    rr_cli_args_init(&o);
    int rc = rr_cli_parse("convert", argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    rerank_error err;
    if (rerank_model_convert(o.model, o.out, o.convert_dtype, &err)) return rr_cli_runtime_error("%s", err.message);
    fprintf(stderr, "converted model written to %s\n", o.out);
    return 0;
}

/* The subcommands: argv[0] is the command name. Their options and --help: options.h. */
static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"score", cmd_score},   {"rank", cmd_rank},   {"tokenize", cmd_tokenize},     {"convert", cmd_convert},
    {"serve", rr_serve_main},   {"train", rr_cli_train}, {"eval", rr_cli_eval}, {"merge-lora", rr_cli_merge_lora},
};

int main(int argc, char **argv) {
    if (argc < 2) {
        rr_cli_print_overview(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        rr_cli_print_overview(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("rerank %s\n", RERANK_VERSION);
        return 0;
    }
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        if (strcmp(cmd, commands[c].name)) continue;
        /* --help anywhere wins over every other option, even a bad one */
        for (int i = 2; i < argc; i++)
            if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                rr_cli_print_help(rr_cli_command_find(cmd), stdout);
                return 0;
            }
        return commands[c].run(argc - 1, argv + 1);
    }
    return rr_cli_usage_error(NULL, "unknown command '%s'", cmd);
}
