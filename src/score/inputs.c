/* inputs.c - recipe constants, per-call parameters and the input sequences of each pair (inputs.h). */
#include "score/inputs.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "score/score.h"

void rr_input_scratch_free(rr_input_scratch *sc) {
    rr_i32vec_free(&sc->q);
    rr_i32vec_free(&sc->p);
    rr_i32vec_free(&sc->prompt_buf);
    rr_bytes_free(&sc->text);
}

void rr_recipe_free(rr_recipe_consts *c) {
    rr_i32vec_free(&c->sep);
    rr_i32vec_free(&c->default_prompt);
    rr_i32vec_free(&c->prefix);
    rr_i32vec_free(&c->suffix);
}

/* Our own constant texts: special tokens in them are meant (the Qwen3 chat frame). */
static rerank_status encode_const(const rr_tokenizer *tok, const char *text, rr_i32vec *out, rerank_error *err) {
    out->n = 0;
    rerank_status s = rr_tokenizer_encode(tok, text, strlen(text), out, err);
    if (s) rr_error_prefix(err, "tokenizing the recipe text '%.20s...'", text);
    return s;
}

static rerank_status read_bos_pad(const char *dir, const rr_model_desc *d, const rr_tokenizer *tok, int32_t *bos,
                                  int32_t *pad, rerank_error *err) {
    *bos = d->bos_token_id;
    *pad = d->pad_token_id;
    return rr_tokenizer_config_bos_pad(dir, tok, bos, pad, err);
}

static rerank_status first_id(const rr_tokenizer *tok, const char *text, int32_t *out, rerank_error *err) {
    rr_i32vec v = {0};
    rerank_status s = encode_const(tok, text, &v, err);
    if (!s && v.n == 0) s = rr_fail(err, RERANK_ERR_FORMAT, "the tokenizer gives no token for '%s'", text);
    if (!s) *out = v.data[0];
    rr_i32vec_free(&v);
    return s;
}

rerank_status rr_recipe_prepare(struct rerank_model *m, const char *recipe_name, rerank_error *err) {
    rr_recipe_consts *c = &m->recipe;
    const rr_model_desc *d = rr_model_describe(m->net);
    if (recipe_name) {
        if (d->kind == RERANK_KIND_CROSS_ENCODER || d->kind == RERANK_KIND_LAYERWISE)
            return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "recipe '%s': only decoder LLM rerankers take a recipe",
                           recipe_name);
        if (!strcmp(recipe_name, "flag-llm")) c->recipe = RR_RECIPE_FLAG_LLM;
        else if (!strcmp(recipe_name, "qwen3")) c->recipe = RR_RECIPE_QWEN3;
        else return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "unknown recipe '%s' (flag-llm or qwen3)", recipe_name);
    } else {
        c->recipe = d->kind == RERANK_KIND_CROSS_ENCODER ? RR_RECIPE_CROSS_ENCODER
                    : d->kind == RERANK_KIND_QWEN3       ? RR_RECIPE_QWEN3
                                                         : RR_RECIPE_FLAG_LLM;
    }
    rerank_status s = RERANK_OK;
    if (c->recipe == RR_RECIPE_FLAG_LLM) {
        int32_t pad;
        if ((s = read_bos_pad(m->dir, d, m->tok, &c->bos, &pad, err))) return s;
        /* BaseLLMReranker: bos only when it exists and differs from pad; the layerwise one: always */
        c->add_bos = d->kind == RERANK_KIND_LAYERWISE ? c->bos >= 0 : c->bos >= 0 && c->bos != pad;
        if (d->kind == RERANK_KIND_LAYERWISE && c->bos < 0)
            return rr_fail(err, RERANK_ERR_FORMAT, "%s: the layerwise reranker needs a bos token", m->dir);
        /* inference reads the first id of "Yes" (training the last; the same when it is one token) */
        c->n_score_tokens = 1;
        if ((s = first_id(m->tok, "Yes", &c->score_tokens[0], err)) ||
            (s = encode_const(m->tok, RR_LLM_SEP, &c->sep, err)) ||
            (s = encode_const(m->tok, RR_LLM_DEFAULT_PROMPT, &c->default_prompt, err)))
            return s;
    } else if (c->recipe == RR_RECIPE_QWEN3) {
        c->n_score_tokens = 2;
        c->score_tokens[0] = rr_tokenizer_token_id(m->tok, "no", 2);
        c->score_tokens[1] = rr_tokenizer_token_id(m->tok, "yes", 3);
        if (c->score_tokens[0] < 0 || c->score_tokens[1] < 0)
            return rr_fail(err, RERANK_ERR_FORMAT, "%s: the vocabulary has no \"yes\"/\"no\" token for Qwen3-Reranker",
                           m->dir);
        if ((s = encode_const(m->tok, RR_QWEN3_PREFIX, &c->prefix, err)) ||
            (s = encode_const(m->tok, RR_QWEN3_SUFFIX, &c->suffix, err)))
            return s;
    }
    return RERANK_OK;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

rerank_status rr_call_begin(const struct rerank_model *m, const struct rerank_score_params *params,
                            rr_input_scratch *sc, rr_call *call, rerank_error *err) {
    const rr_recipe_consts *c = &m->recipe;
    const rr_model_desc *d = rr_model_describe(m->net);
    rerank_status s = rr_score_limits(m, params, &call->lim, err);
    if (s) return s;
    call->prompt = c->default_prompt.data;
    call->n_prompt = c->default_prompt.n;
    if (c->recipe == RR_RECIPE_FLAG_LLM && params->prompt) {
        sc->prompt_buf.n = 0;
        if ((s = rr_tokenizer_encode(m->tok, params->prompt, strlen(params->prompt), &sc->prompt_buf, err))) {
            rr_error_prefix(err, "prompt");
            return s;
        }
        call->prompt = sc->prompt_buf.data;
        call->n_prompt = sc->prompt_buf.n;
    }
    call->n_layers = 0;
    call->n_out = 1;
    if (params->n_cutoff_layers) {
        if (d->kind != RERANK_KIND_LAYERWISE)
            return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "cutoff layers apply only to the layerwise reranker");
        if (!params->cutoff_layers || params->n_cutoff_layers > RR_MAX_CUTOFF_LAYERS)
            return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "cutoff layers: bad list");
        for (size_t i = 0; i < params->n_cutoff_layers; i++) {
            int l = params->cutoff_layers[i];
            if (l < d->start_layer || l > d->n_layers)
                return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "cutoff layers must be in [%d, %d], got %d",
                               d->start_layer, d->n_layers, l);
            call->layers[i] = l;
        }
        /* ascending and unique: scores come back in layer order */
        qsort(call->layers, params->n_cutoff_layers, sizeof(int), cmp_int);
        size_t n = 0;
        for (size_t i = 0; i < params->n_cutoff_layers; i++)
            if (n == 0 || call->layers[n - 1] != call->layers[i]) call->layers[n++] = call->layers[i];
        call->n_layers = n;
        call->n_out = n;
    }
    return RERANK_OK;
}

static rerank_status push_end(rr_i32vec *ends, size_t n, rerank_error *err) {
    if (n > INT32_MAX || rr_i32vec_push(ends, (int32_t)n)) return rr_fail(err, RERANK_ERR_NOMEM, "inputs: out of memory");
    return RERANK_OK;
}

/* Encodes prefix+text (or just text) as one string, as FlagEmbedding formats "A: " + query. */
static rerank_status encode_field(const struct rerank_model *m, const struct rerank_score_params *params,
                                  const char *prefix, const char *text, size_t len, rr_input_scratch *sc,
                                  rr_i32vec *out, size_t index, const char *field, rerank_error *err) {
    sc->text.n = 0;
    if ((text == NULL && len) || rr_bytes_append(&sc->text, prefix, strlen(prefix)) ||
        rr_bytes_append(&sc->text, text, len))
        return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "pair %zu: %s: NULL text or out of memory", index, field);
    rr_tok_encode_opts opts = {.split_special_tokens = params->split_special_tokens};
    out->n = 0;
    rerank_status s = rr_tokenizer_encode_ex(m->tok, sc->text.data, sc->text.n, &opts, out, err);
    if (s) rr_error_prefix(err, "pair %zu: %s", index, field);
    return s;
}

rerank_status rr_inputs_add_pair(const struct rerank_model *m, const struct rerank_score_params *params,
                                 const rr_call *call, const rerank_pair *pair, size_t index, rr_input_scratch *sc,
                                 rr_i32vec *tokens, rr_i32vec *types, rr_i32vec *ends, rerank_error *err) {
    const rr_recipe_consts *c = &m->recipe;
    rerank_status s;
    if (c->recipe == RR_RECIPE_CROSS_ENCODER) {
        if ((s = encode_field(m, params, "", pair->query, pair->query_len, sc, &sc->q, index, "query", err)) ||
            (s = encode_field(m, params, "", pair->passage, pair->passage_len, sc, &sc->p, index, "passage", err)))
            return s;
        size_t room = rr_pair_passage_room(m->tok, &call->lim, sc->q.n);
        if (params->long_doc != RERANK_LONG_DOC_CHUNK || sc->p.n <= room || room == 0) {
            if (rr_pair_build(m->tok, &call->lim, sc->q.data, sc->q.n, sc->p.data, sc->p.n, tokens, types))
                return rr_fail(err, RERANK_ERR_NOMEM, "inputs: out of memory");
            return push_end(ends, tokens->n, err);
        }
        /* MaxP: overlapping windows of the passage, each beside the whole (cut) query */
        size_t overlap = params->chunk_overlap > 0 ? (size_t)params->chunk_overlap : 0;
        if (overlap >= room) overlap = room / 2;
        for (size_t start = 0;; start += room - overlap) {
            size_t len = sc->p.n - start < room ? sc->p.n - start : room;
            if (rr_pair_build(m->tok, &call->lim, sc->q.data, sc->q.n, sc->p.data + start, len, tokens, types))
                return rr_fail(err, RERANK_ERR_NOMEM, "inputs: out of memory");
            if ((s = push_end(ends, tokens->n, err))) return s;
            if (start + len >= sc->p.n) break;
        }
        return RERANK_OK;
    }
    size_t n0 = tokens->n;
    if (c->recipe == RR_RECIPE_FLAG_LLM) {
        if ((s = encode_field(m, params, RR_LLM_QUERY_INSTRUCTION, pair->query, pair->query_len, sc, &sc->q, index,
                              "query", err)) ||
            (s = encode_field(m, params, RR_LLM_PASSAGE_INSTRUCTION, pair->passage, pair->passage_len, sc, &sc->p,
                              index, "passage", err)))
            return s;
        rr_llm_frame f = {c->add_bos, c->bos, c->sep.data, c->sep.n, call->prompt, call->n_prompt};
        if (rr_llm_build(&f, &call->lim, sc->q.data, sc->q.n, sc->p.data, sc->p.n, tokens))
            return rr_fail(err, RERANK_ERR_NOMEM, "inputs: out of memory");
    } else { /* Qwen3-Reranker: "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}" */
        const char *instr = params->instruction ? params->instruction : RR_QWEN3_DEFAULT_INSTRUCTION;
        sc->text.n = 0;
        if ((!pair->query && pair->query_len) || (!pair->passage && pair->passage_len))
            return rr_fail(err, RERANK_ERR_INVALID_ARGUMENT, "pair %zu: NULL text with non-zero length", index);
        if (rr_bytes_append(&sc->text, "<Instruct>: ", 12) || rr_bytes_append(&sc->text, instr, strlen(instr)) ||
            rr_bytes_append(&sc->text, "\n<Query>: ", 10) || rr_bytes_append(&sc->text, pair->query, pair->query_len) ||
            rr_bytes_append(&sc->text, "\n<Document>: ", 13) ||
            rr_bytes_append(&sc->text, pair->passage, pair->passage_len))
            return rr_fail(err, RERANK_ERR_NOMEM, "inputs: out of memory");
        rr_tok_encode_opts opts = {.split_special_tokens = params->split_special_tokens};
        sc->q.n = 0;
        if ((s = rr_tokenizer_encode_ex(m->tok, sc->text.data, sc->text.n, &opts, &sc->q, err))) {
            rr_error_prefix(err, "pair %zu: query or passage", index);
            return s;
        }
        if (rr_qwen3_build(c->prefix.data, c->prefix.n, sc->q.data, sc->q.n, c->suffix.data, c->suffix.n,
                           call->lim.max_length, tokens))
            return rr_fail(err, RERANK_ERR_NOMEM, "inputs: out of memory");
    }
    /* decoders take no token types */
    if (rr_i32vec_reserve(types, tokens->n - n0)) return rr_fail(err, RERANK_ERR_NOMEM, "inputs: out of memory");
    memset(types->data + types->n, 0, (tokens->n - n0) * sizeof(int32_t));
    types->n += tokens->n - n0;
    return push_end(ends, tokens->n, err);
}
