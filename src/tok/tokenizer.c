/* tokenizer.c - loading tokenizer.json (or a BERT vocab.txt) into the pipeline of tok_internal.h, and the
 * encode path: added-token split -> normalizer -> normalized added tokens -> pre-tokenizer -> model. */
#include "tok/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "base/utf8.h"
#include "tok/tok_internal.h"

/* The largest real tokenizer.json files are ~35 MB; parsing costs ~10x the file in memory, so this bounds a hostile
 * file's cost to ~1-2 GB. */
#define MAX_TOKENIZER_JSON ((size_t)128 << 20)
#define MAX_VOCAB_TXT ((size_t)256 << 20)

struct rr_tokenizer {
    rr_tok_normalizer *norm;
    size_t n_norm;
    rr_tok_pretok *pre;
    size_t n_pre;
    const rr_tok_model_ops *ops;
    void *model;
    rr_tok_added added;
    rr_tok_template tpl;
    size_t vocab_size;
    uint8_t *special_ids; /* [vocab_size]: 1 for special added tokens, which split mode never emits */
};

/* Marks the ids of special added tokens; called once the tokenizer is complete. */
static rerank_status mark_special_ids(rr_tokenizer *tok) {
    tok->special_ids = calloc(tok->vocab_size ? tok->vocab_size : 1, 1);
    if (!tok->special_ids) return RERANK_ERR_NOMEM;
    for (size_t i = 0; i < tok->added.n; i++)
        if (tok->added.tok[i].special && (size_t)tok->added.tok[i].id < tok->vocab_size)
            tok->special_ids[tok->added.tok[i].id] = 1;
    return RERANK_OK;
}

/* Model types: a new model (BPE...) is one loader and one row here. */
static const struct {
    const char *type;
    rr_tok_model_loader load;
} model_table[] = {
    {"Unigram", rr_tok_unigram_load},
    {"WordPiece", rr_tok_wordpiece_load},
    {"BPE", rr_tok_bpe_load},
};

void rr_tokenizer_free(rr_tokenizer *tok) {
    if (!tok) return;
    rr_tok_normalizers_free(tok->norm, tok->n_norm);
    rr_tok_pretoks_free(tok->pre, tok->n_pre);
    if (tok->ops) tok->ops->free(tok->model);
    rr_tok_added_free(&tok->added);
    rr_tok_template_free(&tok->tpl);
    free(tok->special_ids);
    free(tok);
}

static rerank_status add_token(rr_tokenizer *tok, const char *content, size_t len, int32_t json_id, bool single_word,
                               bool lstrip, bool rstrip, bool normalized, bool special, rerank_error *err) {
    rr_tok_added *a = &tok->added;
    if (a->n >= (size_t)1 << 24) return rr_fail(err, RERANK_ERR_FORMAT, "too many added tokens");
    /* HF keeps the model's id for a token the model knows */
    int32_t mid = tok->ops->token_id(tok->model, content, len);
    int32_t id = mid >= 0 ? mid : json_id;
    rr_tok_added_token t = {NULL, 0, id, single_word, lstrip, rstrip, normalized, special};
    if (normalized && tok->n_norm) {
        rr_bytes out = {0};
        rerank_status st = rr_tok_normalize(tok->norm, tok->n_norm, content, len, &out, err);
        if (st) return st;
        t.content = out.data;
        t.len = out.n;
    } else {
        t.content = malloc(len + 1);
        if (t.content) {
            memcpy(t.content, content, len);
            t.content[len] = 0;
        }
        t.len = len;
    }
    if (!t.content) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    rr_tok_added_token *l = realloc(a->tok, (a->n + 1) * sizeof *l);
    if (!l) {
        free(t.content);
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    }
    a->tok = l;
    a->tok[a->n++] = t;
    if (rr_tok_strtab_put(&a->by_content, content, len, id)) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    if ((size_t)id + 1 > tok->vocab_size) tok->vocab_size = (size_t)id + 1;
    return RERANK_OK;
}

static rerank_status parse_added(rr_tokenizer *tok, const json_t *arr, rerank_error *err) {
    if (!arr || json_is_null(arr)) return RERANK_OK;
    if (!json_is_array(arr)) return rr_fail(err, RERANK_ERR_FORMAT, "added_tokens must be an array");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *e = json_array_get(arr, i);
        char where[64];
        snprintf(where, sizeof where, "added_tokens[%zu]", i);
        if (!json_is_object(e)) return rr_fail(err, RERANK_ERR_FORMAT, "%s must be an object", where);
        long long id;
        const char *content;
        size_t len;
        bool sw, ls, rs, norm, special;
        rerank_status st;
        if ((st = rr_json_get_int(e, "id", true, 0, &id, where, err)) ||
            (st = rr_json_get_str(e, "content", true, NULL, &content, &len, where, err)) ||
            (st = rr_json_get_bool(e, "single_word", false, false, &sw, where, err)) ||
            (st = rr_json_get_bool(e, "lstrip", false, false, &ls, where, err)) ||
            (st = rr_json_get_bool(e, "rstrip", false, false, &rs, where, err)) ||
            (st = rr_json_get_bool(e, "special", false, false, &special, where, err)) ||
            (st = rr_json_get_bool(e, "normalized", false, !special, &norm, where, err)))
            return st;
        if (id < 0 || id >= INT32_MAX) return rr_fail(err, RERANK_ERR_FORMAT, "%s.id %lld is out of range", where, id);
        if (len == 0) continue; /* HF ignores empty added tokens */
        if ((st = add_token(tok, content, len, (int32_t)id, sw, ls, rs, norm, special, err))) {
            rr_error_prefix(err, "%s", where);
            return st;
        }
    }
    return RERANK_OK;
}

static rerank_status build_from_json(rr_tokenizer *tok, const json_t *root, rerank_error *err) {
    if (!json_is_object(root)) return rr_fail(err, RERANK_ERR_FORMAT, "the document must be a JSON object");
    rerank_status st;
    const json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) return rr_fail(err, RERANK_ERR_FORMAT, "model must be an object");
    const char *type = NULL;
    /* HF infers an untagged model from its fields; files written by tokenizers always carry "type" */
    if ((st = rr_json_get_str(model, "type", false, NULL, &type, NULL, "model", err))) return st;
    if (!type) {
        const json_t *v = json_object_get(model, "vocab");
        type = json_is_array(v) ? "Unigram" : json_object_get(model, "merges") ? "BPE" : "WordPiece";
    }
    size_t m = 0;
    while (m < sizeof model_table / sizeof model_table[0] && strcmp(model_table[m].type, type)) m++;
    if (m == sizeof model_table / sizeof model_table[0])
        return rr_fail(err, RERANK_ERR_UNSUPPORTED, "model.type '%s' is not supported", type);
    if ((st = model_table[m].load(model, "model", &tok->model, &tok->ops, err))) return st;
    tok->vocab_size = tok->ops->vocab_size(tok->model);

    const json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm) && (st = rr_tok_normalizer_parse(norm, "normalizer", &tok->norm, &tok->n_norm, err)))
        return st;
    const json_t *pre = json_object_get(root, "pre_tokenizer");
    if (pre && !json_is_null(pre) && (st = rr_tok_pretok_parse(pre, "pre_tokenizer", &tok->pre, &tok->n_pre, err)))
        return st;
    if ((st = rr_tok_template_parse(json_object_get(root, "post_processor"), "post_processor", &tok->tpl, err)))
        return st;
    if (rr_tok_strtab_init(&tok->added.by_content, 16)) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    if ((st = parse_added(tok, json_object_get(root, "added_tokens"), err))) return st;
    if (rr_tok_added_finish(&tok->added) || mark_special_ids(tok))
        return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
    return RERANK_OK;
}

rerank_status rr_tokenizer_load_json(const char *buf, size_t len, const char *name, rr_tokenizer **out,
                                     rerank_error *err) {
    *out = NULL;
    json_t *root;
    rerank_status st = rr_json_parse(buf, len, name, &root, err);
    if (st) return st;
    rr_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        json_decref(root);
        return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", name);
    }
    st = build_from_json(tok, root, err);
    json_decref(root);
    if (st) {
        rr_error_prefix(err, "%s", name);
        rr_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return RERANK_OK;
}

/* BasicTokenizer options of tokenizer_config.json, as transformers' BertConverter maps them. */
typedef struct {
    bool lowercase, strip_accents, chinese_chars;
} bert_opts;

static rerank_status load_vocab_txt(const char *path, bert_opts o, rr_tokenizer **out, rerank_error *err) {
    *out = NULL;
    char *buf;
    size_t len;
    rerank_status st = rr_file_read(path, MAX_VOCAB_TXT, &buf, &len, err);
    if (st) return st;
    rr_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        free(buf);
        return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
    }
    st = rr_tok_wordpiece_from_vocab_txt(buf, len, path, &tok->model, &tok->ops, err);
    free(buf);
    if (st) goto fail;
    tok->vocab_size = tok->ops->vocab_size(tok->model);
    /* BertTokenizerFast as transformers converts it: BertNormalizer, BertPreTokenizer, [CLS] A [SEP] B [SEP] */
    tok->norm = calloc(1, sizeof *tok->norm);
    tok->pre = calloc(1, sizeof *tok->pre);
    if (!tok->norm || !tok->pre || rr_tok_strtab_init(&tok->added.by_content, 16)) {
        st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    tok->norm[0] = (rr_tok_normalizer){.kind = RR_NORM_BERT, .clean_text = true, .chinese_chars = o.chinese_chars,
                                       .strip_accents = o.strip_accents, .lowercase = o.lowercase};
    tok->n_norm = 1;
    tok->pre[0] = (rr_tok_pretok){.kind = RR_PRE_BERT};
    tok->n_pre = 1;
    static const char *specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (size_t i = 0; i < 5; i++) {
        int32_t id = tok->ops->token_id(tok->model, specials[i], strlen(specials[i]));
        if (id < 0) {
            if (i == 0 || i == 4) continue; /* only [UNK], [CLS] and [SEP] are needed */
            st = rr_fail(err, RERANK_ERR_FORMAT, "%s: the vocabulary has no %s", path, specials[i]);
            goto fail;
        }
        if ((st = add_token(tok, specials[i], strlen(specials[i]), id, false, false, false, false, true, err))) goto fail;
    }
    if (rr_tok_added_finish(&tok->added) || mark_special_ids(tok) ||
        rr_tok_template_bert(&tok->tpl, rr_tok_strtab_get(&tok->added.by_content, "[CLS]", 5),
                             rr_tok_strtab_get(&tok->added.by_content, "[SEP]", 5))) {
        st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    *out = tok;
    return RERANK_OK;
fail:
    rr_tokenizer_free(tok);
    return st;
}

rerank_status rr_tokenizer_load_vocab_txt(const char *path, bool lowercase, rr_tokenizer **out, rerank_error *err) {
    return load_vocab_txt(path, (bert_opts){lowercase, lowercase, true}, out, err);
}

rerank_status rr_tokenizer_load_spm(const void *buf, size_t len, const char *name, bool add_bos, bool add_eos,
                                    int prepend, rr_tokenizer **out, rerank_error *err) {
    *out = NULL;
    rr_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", name);
    const rr_tok_spm_info *info;
    rerank_status st = rr_tok_spm_load(buf, len, name, &tok->model, &tok->ops, &info, err);
    if (st) {
        free(tok);
        return st;
    }
    tok->vocab_size = tok->ops->vocab_size(tok->model);
    static const char meta[] = "\xE2\x96\x81";
    tok->norm = calloc(2, sizeof *tok->norm);
    if (!tok->norm || rr_tok_strtab_init(&tok->added.by_content, 16)) goto nomem;
    if (prepend > 0 || (prepend < 0 && info->add_dummy_prefix)) {
        tok->norm[tok->n_norm] = (rr_tok_normalizer){.kind = RR_NORM_PREPEND, .content = strdup(meta), .content_len = 3};
        if (!tok->norm[tok->n_norm++].content) goto nomem;
    }
    tok->norm[tok->n_norm] = (rr_tok_normalizer){.kind = RR_NORM_REPLACE, .pattern = strdup(" "), .pattern_len = 1,
                                                 .content = strdup(meta), .content_len = 3};
    if (!tok->norm[tok->n_norm++].content || !tok->norm[tok->n_norm - 1].pattern) goto nomem;
    size_t n = rr_tok_spm_n_pieces(tok->model);
    for (size_t i = 0; i < n; i++) {
        size_t plen;
        int type;
        const char *p = rr_tok_spm_piece(tok->model, i, &plen, &type);
        /* user-defined pieces (type 4) stay model pieces: as added tokens they would restart the "▁" prefix
         * after every "\n" (MiniCPM defines "\n" and "\t" so) */
        if ((type == 2 || type == 3) && plen > 0 &&
            (st = add_token(tok, p, plen, (int32_t)i, false, false, false, false, true, err))) {
            rr_error_prefix(err, "%s", name);
            goto fail;
        }
    }
    if ((add_bos && info->bos_id < 0) || (add_eos && info->eos_id < 0)) {
        st = rr_fail(err, RERANK_ERR_FORMAT, "%s: add_bos_token/add_eos_token without a bos_id/eos_id", name);
        goto fail;
    }
    if (rr_tok_added_finish(&tok->added) || mark_special_ids(tok) ||
        rr_tok_template_llama(&tok->tpl, info->bos_id, info->eos_id, add_bos, add_eos))
        goto nomem;
    *out = tok;
    return RERANK_OK;
nomem:
    st = rr_fail(err, RERANK_ERR_NOMEM, "%s: out of memory", name);
fail:
    rr_tokenizer_free(tok);
    return st;
}

/* tokenizer_config.json: read as JSON with big integers as reals (transformers writes model_max_length as
 * 1000000000000000019884624838656 when it has none); only its booleans and strings are used. */
static rerank_status load_config(const char *path, json_t **out, rerank_error *err) {
    char *buf;
    size_t len;
    rerank_status st = rr_file_read(path, 16 << 20, &buf, &len, err);
    if (st) return st;
    json_error_t je;
    *out = json_loadb(buf, len, JSON_DECODE_INT_AS_REAL, &je);
    free(buf);
    if (!*out) return rr_fail(err, RERANK_ERR_FORMAT, "%s: invalid JSON at line %d column %d: %s", path, je.line, je.column, je.text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        return rr_fail(err, RERANK_ERR_FORMAT, "%s: must be a JSON object", path);
    }
    return RERANK_OK;
}

static rerank_status load_spm_dir(const char *dir, const char *path, rr_tokenizer **out, rerank_error *err) {
    bool add_bos = true, add_eos = false, legacy = true, prefix_space = true;
    int prepend = -1;
    char cfg_path[4096];
    if (rr_path_join(cfg_path, sizeof cfg_path, dir, "tokenizer_config.json") && rr_file_exists(cfg_path)) {
        json_t *cfg;
        const char *cls = NULL;
        rerank_status st = load_config(cfg_path, &cfg, err);
        if (st) return st;
        st = rr_json_get_bool(cfg, "add_bos_token", false, true, &add_bos, cfg_path, err);
        if (!st) st = rr_json_get_bool(cfg, "add_eos_token", false, false, &add_eos, cfg_path, err);
        if (!st) st = rr_json_get_bool(cfg, "legacy", false, true, &legacy, cfg_path, err);
        if (!st) st = rr_json_get_bool(cfg, "add_prefix_space", false, true, &prefix_space, cfg_path, err);
        if (!st) st = rr_json_get_str(cfg, "tokenizer_class", false, NULL, &cls, NULL, cfg_path, err);
        /* transformers' LlamaConverter (legacy): Prepend("▁") per add_prefix_space, whatever the model says */
        if (!st && cls && !strncmp(cls, "Llama", 5) && legacy) prepend = prefix_space;
        json_decref(cfg);
        if (st) return st;
    }
    char *buf;
    size_t len;
    rerank_status st = rr_file_read(path, MAX_TOKENIZER_JSON, &buf, &len, err);
    if (st) return st;
    st = rr_tokenizer_load_spm(buf, len, path, add_bos, add_eos, prepend, out, err);
    free(buf);
    return st;
}

rerank_status rr_tokenizer_load(const char *dir, rr_tokenizer **out, rerank_error *err) {
    char path[4096];
    *out = NULL;
    if (!rr_path_join(path, sizeof path, dir, "tokenizer.json"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
    if (rr_file_exists(path)) {
        char *buf;
        size_t len;
        rerank_status st = rr_file_read(path, MAX_TOKENIZER_JSON, &buf, &len, err);
        if (st) return st;
        st = rr_tokenizer_load_json(buf, len, path, out, err);
        free(buf);
        return st;
    }
    if (rr_path_join(path, sizeof path, dir, "tokenizer.model") && rr_file_exists(path))
        return load_spm_dir(dir, path, out, err);
    bert_opts o = {true, true, true};
    if (rr_path_join(path, sizeof path, dir, "tokenizer_config.json") && rr_file_exists(path)) {
        json_t *cfg;
        rerank_status st = rr_json_load_file(path, 16 << 20, &cfg, err);
        if (st) return st;
        if (!json_is_object(cfg)) st = rr_fail(err, RERANK_ERR_FORMAT, "%s: must be a JSON object", path);
        if (!st) st = rr_json_get_bool(cfg, "do_lower_case", false, true, &o.lowercase, path, err);
        /* strip_accents null (the default) follows do_lower_case */
        if (!st) st = rr_json_get_bool(cfg, "strip_accents", false, o.lowercase, &o.strip_accents, path, err);
        if (!st) st = rr_json_get_bool(cfg, "tokenize_chinese_chars", false, true, &o.chinese_chars, path, err);
        json_decref(cfg);
        if (st) return st;
    }
    if (!rr_path_join(path, sizeof path, dir, "vocab.txt"))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
    if (!rr_file_exists(path))
        return rr_fail(err, RERANK_ERR_IO, "%s: no tokenizer.json, tokenizer.model or vocab.txt", dir);
    return load_vocab_txt(path, o, out, err);
}

typedef struct {
    rr_tok_split *s1, *s2;
    size_t n1, c1, n2, c2;
    rr_bytes norm;
    rr_tok_words words, wtmp;
} scratch;

static void scratch_free(scratch *s) {
    free(s->s1);
    free(s->s2);
    rr_bytes_free(&s->norm);
    rr_tok_words_free(&s->words);
    rr_tok_words_free(&s->wtmp);
}

static rerank_status encode_text(const rr_tokenizer *tok, const char *text, size_t len, bool split_special,
                                 rr_i32vec *out, scratch *sc, rerank_error *err) {
    rerank_status st;
    if (rr_tok_added_split(&tok->added, false, split_special, text, len, &sc->s1, &sc->n1, &sc->c1))
        return rr_fail(err, RERANK_ERR_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < sc->n1; i++) {
        rr_tok_split a = sc->s1[i];
        if (a.id >= 0) {
            if (rr_i32vec_push(out, a.id)) return rr_fail(err, RERANK_ERR_NOMEM, "tokenizer: out of memory");
            continue;
        }
        if ((st = rr_tok_normalize(tok->norm, tok->n_norm, text + a.off, a.len, &sc->norm, err))) return st;
        if (rr_tok_added_split(&tok->added, true, split_special, sc->norm.data, sc->norm.n, &sc->s2, &sc->n2, &sc->c2))
            return rr_fail(err, RERANK_ERR_NOMEM, "tokenizer: out of memory");
        for (size_t k = 0; k < sc->n2; k++) {
            rr_tok_split b = sc->s2[k];
            if (b.id >= 0) {
                if (rr_i32vec_push(out, b.id)) return rr_fail(err, RERANK_ERR_NOMEM, "tokenizer: out of memory");
                continue;
            }
            if ((st = rr_tok_pretokenize(tok->pre, tok->n_pre, sc->norm.data + b.off, b.len, a.off == 0 && b.off == 0,
                                         &sc->words, &sc->wtmp, err)))
                return st;
            for (size_t w = 0; w < sc->words.n; w++) {
                rr_tok_span sp = sc->words.spans[w];
                if ((st = tok->ops->encode(tok->model, sc->words.text.data + sp.off, sp.len,
                                           split_special ? tok->special_ids : NULL, out, err)))
                    return st;
            }
        }
    }
    return RERANK_OK;
}

rerank_status rr_tokenizer_encode_ex(const rr_tokenizer *tok, const char *text, size_t len,
                                     const rr_tok_encode_opts *opts, rr_i32vec *out, rerank_error *err) {
    if (!tok || !out || (!text && len)) return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "tokenizer: NULL argument");
    size_t bad;
    if (!rr_utf8_valid(text, len, &bad)) return rr_fail(err, RERANK_ERR_INPUT, "text: invalid UTF-8 at byte %zu", bad);
    if (len == 0) return RERANK_OK;
    scratch sc;
    memset(&sc, 0, sizeof sc);
    size_t n0 = out->n;
    rerank_status st = encode_text(tok, text, len, opts && opts->split_special_tokens, out, &sc, err);
    scratch_free(&sc);
    if (st) out->n = n0;
    return st;
}

rerank_status rr_tokenizer_encode(const rr_tokenizer *tok, const char *text, size_t len, rr_i32vec *out,
                                  rerank_error *err) {
    return rr_tokenizer_encode_ex(tok, text, len, NULL, out, err);
}

size_t rr_tokenizer_n_special(const rr_tokenizer *tok, bool pair) { return rr_tok_template_n_special(&tok->tpl, pair); }

rerank_status rr_tokenizer_build(const rr_tokenizer *tok, bool pair, const int32_t *a, size_t na, const int32_t *b,
                                 size_t nb, rr_i32vec *ids, rr_i32vec *type_ids) {
    static const int32_t none[1];
    /* the template code tells a pair by b != NULL; an empty vector's data is NULL */
    if (!a) a = none;
    b = pair ? (b ? b : none) : NULL;
    return rr_tok_template_apply(&tok->tpl, a, na, b, pair ? nb : 0, ids, type_ids);
}

int32_t rr_tokenizer_token_id(const rr_tokenizer *tok, const char *token, size_t len) {
    int32_t id = rr_tok_strtab_get(&tok->added.by_content, token, len);
    return id >= 0 ? id : tok->ops->token_id(tok->model, token, len);
}

size_t rr_tokenizer_vocab_size(const rr_tokenizer *tok) { return tok->vocab_size; }

rerank_status rr_tokenizer_config_bos_pad(const char *dir, const rr_tokenizer *tok, int32_t *bos, int32_t *pad,
                                          rerank_error *err) {
    char path[4096];
    if (!rr_path_join(path, sizeof path, dir, "tokenizer_config.json") || !rr_file_exists(path)) return RERANK_OK;
    json_t *cfg;
    rerank_status st = rr_json_load_file(path, 16u << 20, &cfg, err);
    if (st) return st;
    const char *keys[2] = {"bos_token", "pad_token"};
    int32_t *dst[2] = {bos, pad};
    for (int k = 0; k < 2; k++) {
        const json_t *v = json_object_get(cfg, keys[k]);
        if (!v) continue;
        if (json_is_object(v)) v = json_object_get(v, "content");
        *dst[k] = json_is_string(v) ? rr_tokenizer_token_id(tok, json_string_value(v), json_string_length(v)) : -1;
    }
    json_decref(cfg);
    return RERANK_OK;
}
