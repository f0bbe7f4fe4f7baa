/* template.c - post-processors (TemplateProcessing, RobertaProcessing, BertProcessing) as one template of
 * pieces: special-token ids or sequence A/B, each with its type id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/json.h"
#include "tok/tok_internal.h"

void rr_tok_template_free(rr_tok_template *t) {
    for (size_t i = 0; i < t->n_single; i++) free(t->single[i].ids);
    for (size_t i = 0; i < t->n_pair; i++) free(t->pair[i].ids);
    free(t->single);
    free(t->pair);
    memset(t, 0, sizeof *t);
}

static rerank_status add_piece(rr_tok_tpl_piece **list, size_t *n, int seq, const int32_t *ids, size_t n_ids,
                               int32_t type_id) {
    rr_tok_tpl_piece *l = realloc(*list, (*n + 1) * sizeof *l);
    if (!l) return RERANK_ERR_NOMEM;
    *list = l;
    rr_tok_tpl_piece *p = &l[*n];
    memset(p, 0, sizeof *p);
    p->seq = seq;
    p->type_id = type_id;
    if (n_ids) {
        p->ids = malloc(n_ids * sizeof *ids);
        if (!p->ids) return RERANK_ERR_NOMEM;
        memcpy(p->ids, ids, n_ids * sizeof *ids);
        p->n_ids = n_ids;
    }
    (*n)++;
    return RERANK_OK;
}

rerank_status rr_tok_template_bert(rr_tok_template *t, int32_t cls, int32_t sep) {
    if (add_piece(&t->single, &t->n_single, -1, &cls, 1, 0) || add_piece(&t->single, &t->n_single, 0, NULL, 0, 0) ||
        add_piece(&t->single, &t->n_single, -1, &sep, 1, 0) || add_piece(&t->pair, &t->n_pair, -1, &cls, 1, 0) ||
        add_piece(&t->pair, &t->n_pair, 0, NULL, 0, 0) || add_piece(&t->pair, &t->n_pair, -1, &sep, 1, 0) ||
        add_piece(&t->pair, &t->n_pair, 1, NULL, 0, 1) || add_piece(&t->pair, &t->n_pair, -1, &sep, 1, 1))
        return RERANK_ERR_NOMEM;
    return RERANK_OK;
}

/* RobertaProcessing/BertProcessing store ["<s>", 0] pairs */
static rerank_status token_pair(const json_t *j, const char *key, const char *path, int32_t *id, rerank_error *err) {
    const json_t *v = json_object_get(j, key);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_string(json_array_get(v, 0)) ||
        !json_is_integer(json_array_get(v, 1)) || json_integer_value(json_array_get(v, 1)) < 0 ||
        json_integer_value(json_array_get(v, 1)) > INT32_MAX)
        return rr_fail(err, RERANK_ERR_FORMAT, "%s.%s must be [token, id]", path, key);
    *id = (int32_t)json_integer_value(json_array_get(v, 1));
    return RERANK_OK;
}

static rerank_status parse_list(const json_t *spec, const json_t *specials, const char *path, rr_tok_tpl_piece **list,
                                size_t *n, rerank_error *err) {
    if (!json_is_array(spec)) return rr_fail(err, RERANK_ERR_FORMAT, "%s must be an array", path);
    for (size_t i = 0; i < json_array_size(spec); i++) {
        const json_t *e = json_array_get(spec, i);
        const json_t *sp = json_object_get(e, "SpecialToken"), *sq = json_object_get(e, "Sequence");
        const json_t *body = sp ? sp : sq;
        char where[256];
        snprintf(where, sizeof where, "%s[%zu]", path, i);
        if (!json_is_object(body))
            return rr_fail(err, RERANK_ERR_FORMAT, "%s must be {\"SpecialToken\": ...} or {\"Sequence\": ...}", where);
        const char *id;
        long long type_id;
        rerank_status st;
        if ((st = rr_json_get_str(body, "id", true, NULL, &id, NULL, where, err)) ||
            (st = rr_json_get_int(body, "type_id", false, 0, &type_id, where, err)))
            return st;
        if (type_id < 0 || type_id > INT32_MAX) return rr_fail(err, RERANK_ERR_FORMAT, "%s.type_id out of range", where);
        if (sq) {
            int seq = !strcmp(id, "A") ? 0 : !strcmp(id, "B") ? 1 : -1;
            if (seq < 0) return rr_fail(err, RERANK_ERR_FORMAT, "%s.id '%s' must be A or B", where, id);
            if (add_piece(list, n, seq, NULL, 0, (int32_t)type_id)) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
        } else {
            const json_t *tok = json_object_get(specials, id);
            const json_t *ids = json_object_get(tok, "ids");
            if (!json_is_array(ids))
                return rr_fail(err, RERANK_ERR_FORMAT, "%s: special token '%.64s' has no ids in special_tokens", where, id);
            size_t m = json_array_size(ids);
            int32_t buf[16];
            if (m > 16) return rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s: special token '%.64s' has over 16 ids", where, id);
            for (size_t k = 0; k < m; k++) {
                const json_t *x = json_array_get(ids, k);
                if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > INT32_MAX)
                    return rr_fail(err, RERANK_ERR_FORMAT, "%s: special token '%.64s' ids[%zu] is not an id", where, id, k);
                buf[k] = (int32_t)json_integer_value(x);
            }
            if (add_piece(list, n, -1, buf, m, (int32_t)type_id)) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
        }
    }
    return RERANK_OK;
}

rerank_status rr_tok_template_parse(const json_t *j, const char *path, rr_tok_template *t, rerank_error *err) {
    memset(t, 0, sizeof *t);
    if (!j || json_is_null(j)) { /* no post-processor: the sequences as they are */
        if (add_piece(&t->single, &t->n_single, 0, NULL, 0, 0) || add_piece(&t->pair, &t->n_pair, 0, NULL, 0, 0) ||
            add_piece(&t->pair, &t->n_pair, 1, NULL, 0, 1))
            return rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
        return RERANK_OK;
    }
    if (!json_is_object(j)) return rr_fail(err, RERANK_ERR_FORMAT, "%s must be an object", path);
    const char *type;
    rerank_status st = rr_json_get_str(j, "type", true, NULL, &type, NULL, path, err);
    if (st) return st;
    char sub[256];
    if (!strcmp(type, "TemplateProcessing")) {
        const json_t *specials = json_object_get(j, "special_tokens");
        snprintf(sub, sizeof sub, "%s.single", path);
        if ((st = parse_list(json_object_get(j, "single"), specials, sub, &t->single, &t->n_single, err))) goto fail;
        snprintf(sub, sizeof sub, "%s.pair", path);
        if ((st = parse_list(json_object_get(j, "pair"), specials, sub, &t->pair, &t->n_pair, err))) goto fail;
        return RERANK_OK;
    }
    int32_t cls, sep;
    if ((st = token_pair(j, "cls", path, &cls, err)) || (st = token_pair(j, "sep", path, &sep, err))) goto fail;
    if (!strcmp(type, "BertProcessing")) {
        if (rr_tok_template_bert(t, cls, sep)) goto nomem;
        return RERANK_OK;
    }
    if (!strcmp(type, "RobertaProcessing")) {
        /* <s> A </s> and <s> A </s> </s> B </s>, all type id 0 (RoBERTa has one token type) */
        if (add_piece(&t->single, &t->n_single, -1, &cls, 1, 0) || add_piece(&t->single, &t->n_single, 0, NULL, 0, 0) ||
            add_piece(&t->single, &t->n_single, -1, &sep, 1, 0) || add_piece(&t->pair, &t->n_pair, -1, &cls, 1, 0) ||
            add_piece(&t->pair, &t->n_pair, 0, NULL, 0, 0) || add_piece(&t->pair, &t->n_pair, -1, &sep, 1, 0) ||
            add_piece(&t->pair, &t->n_pair, -1, &sep, 1, 0) || add_piece(&t->pair, &t->n_pair, 1, NULL, 0, 0) ||
            add_piece(&t->pair, &t->n_pair, -1, &sep, 1, 0))
            goto nomem;
        return RERANK_OK;
    }
    st = rr_fail(err, RERANK_ERR_UNSUPPORTED, "%s.type '%s' is not supported", path, type);
    goto fail;
nomem:
    st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory");
fail:
    rr_tok_template_free(t);
    return st;
}

size_t rr_tok_template_n_special(const rr_tok_template *t, bool pair) {
    const rr_tok_tpl_piece *l = pair ? t->pair : t->single;
    size_t n = pair ? t->n_pair : t->n_single, k = 0;
    for (size_t i = 0; i < n; i++) k += l[i].n_ids;
    return k;
}

rerank_status rr_tok_template_apply(const rr_tok_template *t, const int32_t *a, size_t na, const int32_t *b,
                                    size_t nb, rr_i32vec *ids, rr_i32vec *type_ids) {
    const rr_tok_tpl_piece *l = b ? t->pair : t->single;
    size_t n = b ? t->n_pair : t->n_single;
    for (size_t i = 0; i < n; i++) {
        const int32_t *src = l[i].seq < 0 ? l[i].ids : l[i].seq == 0 ? a : b;
        size_t m = l[i].seq < 0 ? l[i].n_ids : l[i].seq == 0 ? na : nb;
        if (m == 0) continue;
        if (rr_i32vec_append(ids, src, m)) return RERANK_ERR_NOMEM;
        if (type_ids) {
            if (rr_i32vec_reserve(type_ids, m)) return RERANK_ERR_NOMEM;
            for (size_t k = 0; k < m; k++) type_ids->data[type_ids->n++] = l[i].type_id;
        }
    }
    return RERANK_OK;
}
