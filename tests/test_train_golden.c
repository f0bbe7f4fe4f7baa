/* test_train_golden.c - one FlagEmbedding training step on xlmr-seqcls-tiny and bert-seqcls-tiny against the
 * PyTorch goldens in shared/testdata/train/ (CE and KD): loss, logits, the gradient of every parameter and
 * the parameters after one AdamW step (torch.optim.AdamW, and the HF Trainer's clip + no-decay groups), with
 * the tolerances of compare_train.py. Set RERANK_TRAIN_DUMP=dir to write grads/params for compare_train.py. */
#include <stdbool.h>

#include "base/json.h"
#include "io/safetensors.h"
#include "train/train.h"
#include "test.h"

typedef struct golden_batch {
    int32_t *ids, *types;
    size_t *offsets, n_seqs;
    float teacher[64];
} golden_batch;

static bool read_batch(const json_t *g, golden_batch *b) {
    const json_t *seqs = json_object_get(g, "sequence_input_ids"), *types = json_object_get(g, "sequence_token_type_ids");
    const json_t *teacher = json_object_get(g, "teacher_scores");
    b->n_seqs = json_array_size(seqs);
    if (b->n_seqs == 0 || json_array_size(teacher) != b->n_seqs || b->n_seqs > 64) return false;
    size_t n = 0;
    for (size_t s = 0; s < b->n_seqs; s++) n += json_array_size(json_array_get(seqs, s));
    b->ids = calloc(n, sizeof *b->ids);
    b->types = json_is_array(types) ? calloc(n, sizeof *b->types) : NULL;
    b->offsets = calloc(b->n_seqs + 1, sizeof *b->offsets);
    size_t at = 0;
    for (size_t s = 0; s < b->n_seqs; s++) {
        const json_t *row = json_array_get(seqs, s);
        for (size_t i = 0; i < json_array_size(row); i++, at++) {
            b->ids[at] = (int32_t)json_integer_value(json_array_get(row, i));
            if (b->types) b->types[at] = (int32_t)json_integer_value(json_array_get(json_array_get(types, s), i));
        }
        b->offsets[s + 1] = at;
        b->teacher[s] = (float)json_number_value(json_array_get(teacher, s));
    }
    return true;
}

static void write_dump(const rr_train_model *m, const float *buf, const char *dir, const char *file) {
    rr_st_write_tensor *t = calloc(m->n_params, sizeof *t);
    for (size_t i = 0; i < m->n_params; i++) {
        const rr_train_param *p = &m->params[i];
        t[i] = (rr_st_write_tensor){p->name, RR_ST_F32, p->n_dims, {p->shape[0], p->shape[1]}, buf + p->offset};
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    rerank_error err;
    CHECK(rr_safetensors_write(path, t, m->n_params, &err) == RERANK_OK, "%s", err.message);
    free(t);
}

/* Every golden gradient tensor against ours (compare_train.py's rules); returns the worst relative L2 error. */
static double check_grads(const rr_train_model *m, const rr_safetensors *gold, const json_t *zero_list) {
    double worst = 0.0;
    CHECK(rr_safetensors_count(gold) == m->n_params, "%zu golden tensors, %zu parameters", rr_safetensors_count(gold),
          m->n_params);
    for (size_t i = 0; i < rr_safetensors_count(gold); i++) {
        const rr_st_tensor *t = rr_safetensors_at(gold, i);
        const rr_train_param *p = rr_train_find(m, t->name);
        CHECK(p && t->dtype == RR_ST_F32 && t->n_elems == p->size && t->n_dims == p->n_dims, "grad %s", t->name);
        if (!p || t->dtype != RR_ST_F32 || t->n_elems != p->size) continue;
        const float *g = m->grad + p->offset;
        bool zero = false;
        for (size_t z = 0; z < json_array_size(zero_list); z++)
            if (strcmp(json_string_value(json_array_get(zero_list, z)), t->name) == 0) zero = true;
        double dmax = 0.0, dn = 0.0, gn = 0.0, cmax = 0.0;
        for (size_t k = 0; k < t->n_elems; k++) {
            float gv;
            memcpy(&gv, t->data + 4 * k, 4);
            double dd = fabs((double)g[k] - gv);
            dmax = dd > dmax ? dd : dmax;
            cmax = fabs(g[k]) > cmax ? fabs(g[k]) : cmax;
            dn += dd * dd;
            gn += (double)gv * gv;
        }
        if (zero) {
            CHECK(cmax <= 1e-6, "grad %s (exactly 0 in exact arithmetic) max|g| %.3g", t->name, cmax);
            continue;
        }
        double rel = gn > 0 ? sqrt(dn / gn) : sqrt(dn);
        worst = rel > worst ? rel : worst;
        CHECK(dmax <= 2e-5 && sqrt(dn) <= 1e-4 * sqrt(gn) + 1e-12, "grad %s max|d| %.3g, rel %.3g", t->name, dmax, rel);
    }
    return worst;
}

/* Parameters against a params_after_* file, with the classes of compare_train.py (by the golden gradient). */
static void check_params(const rr_train_model *m, const rr_safetensors *gold, const rr_safetensors *grads, double lr,
                         const char *what) {
    double worst[3] = {0, 0, 0}; /* |g| >= 1e-6, g == 0, 0 < |g| < 1e-6 */
    for (size_t i = 0; i < m->n_params; i++) {
        const rr_train_param *p = &m->params[i];
        const rr_st_tensor *t = rr_safetensors_find(gold, p->name), *g = rr_safetensors_find(grads, p->name);
        CHECK(t && g && t->n_elems == p->size && g->n_elems == p->size && t->dtype == RR_ST_F32, "%s %s", what, p->name);
        if (!t || !g || t->n_elems != p->size || g->n_elems != p->size) continue;
        for (size_t k = 0; k < p->size; k++) {
            float tv, gv;
            memcpy(&tv, t->data + 4 * k, 4);
            memcpy(&gv, g->data + 4 * k, 4);
            double d = fabs((double)m->w[p->offset + k] - tv);
            int c = gv == 0.0f ? 1 : fabs(gv) >= 1e-6 ? 0 : 2;
            worst[c] = d > worst[c] ? d : worst[c];
        }
    }
    CHECK(worst[0] <= 5e-6, "%s: max|d| where |g|>=1e-6: %.3g", what, worst[0]);
    CHECK(worst[1] <= 1e-6, "%s: max|d| where g==0: %.3g", what, worst[1]);
    CHECK(worst[2] <= 2.05 * lr, "%s: max|d| where 0<|g|<1e-6: %.3g", what, worst[2]);
}

static rr_safetensors *open_st(const char *model, const json_t *files, const char *key) {
    char rel[512];
    snprintf(rel, sizeof rel, "testdata/train/%s/%s", model,
             json_string_value(json_object_get(json_object_get(files, key), "name")));
    rr_safetensors *st = NULL;
    rerank_error err;
    if (rr_safetensors_open(rr_shared_path(rel), &st, &err)) return NULL;
    return st;
}

static void check_model(const char *model) {
    char rel[512];
    rerank_error err;
    json_t *g = NULL;
    snprintf(rel, sizeof rel, "testdata/train/%s/golden.json", model);
    REQUIRE(rr_json_load_file(rr_shared_path(rel), 1 << 24, &g, &err) == RERANK_OK, "%s", err.message);
    golden_batch b = {0};
    REQUIRE(read_batch(g, &b));
    size_t group = (size_t)json_integer_value(json_object_get(g, "train_group_size"));
    const json_t *opt = json_object_get(g, "optimizer");
    double lr = json_number_value(json_object_get(opt, "lr"));
    rr_train_adamw_opts o = {lr, json_number_value(json_array_get(json_object_get(opt, "betas"), 0)),
                             json_number_value(json_array_get(json_object_get(opt, "betas"), 1)),
                             json_number_value(json_object_get(opt, "eps")),
                             json_number_value(json_object_get(opt, "weight_decay")), true};
    double max_norm = json_number_value(json_object_get(opt, "hf_trainer_max_grad_norm"));
    snprintf(rel, sizeof rel, "testdata/%s", model);
    rr_train_model *m = NULL;
    REQUIRE(rr_train_model_load(rr_shared_path(rel), &m, &err) == RERANK_OK, "%s", err.message);
    /* The parameter table is exactly the golden's list of parameters (and the no-decay list). */
    const json_t *names = json_object_get(g, "parameter_names"), *nd = json_object_get(opt, "hf_trainer_no_decay_parameters");
    CHECK(json_array_size(names) == m->n_params);
    for (size_t i = 0; i < json_array_size(names); i++) {
        const rr_train_param *p = rr_train_find(m, json_string_value(json_array_get(names, i)));
        CHECK(p != NULL, "%s", json_string_value(json_array_get(names, i)));
        bool in_nd = false;
        for (size_t k = 0; k < json_array_size(nd); k++)
            if (strcmp(json_string_value(json_array_get(nd, k)), json_string_value(json_array_get(names, i))) == 0)
                in_nd = true;
        if (p) CHECK(p->no_decay == in_nd, "no_decay of %s", p->name);
    }
    float *w0 = malloc(m->n_floats * sizeof *w0);
    memcpy(w0, m->w, m->n_floats * sizeof *w0);
    const char *dump = getenv("RERANK_TRAIN_DUMP");
    const char *variants[2] = {"ce", "kd"};
    for (int vi = 0; vi < 2; vi++) {
        const json_t *var = json_object_get(json_object_get(g, "variants"), variants[vi]);
        const json_t *files = json_object_get(var, "files");
        memcpy(m->w, w0, m->n_floats * sizeof *w0);
        free(m->m), free(m->v);
        m->m = m->v = NULL;
        m->step = 0;
        rr_batch batch = {.ids = b.ids, .type_ids = b.types, .offsets = b.offsets, .n_seqs = b.n_seqs};
        float logits[64];
        rr_train_loss loss;
        REQUIRE(rr_train_step(m, &batch, group, vi ? b.teacher : NULL, logits, &loss, &err) == RERANK_OK, "%s",
                err.message);
        CHECK_NEAR(loss.loss, json_number_value(json_object_get(var, "loss")), 1e-5);
        CHECK_NEAR(loss.ce, json_number_value(json_object_get(var, "ce_term")), 1e-5);
        CHECK_NEAR(loss.kd, json_number_value(json_object_get(var, "kd_term")), 1e-5);
        for (size_t s = 0; s < b.n_seqs; s++)
            CHECK_NEAR(logits[s], json_number_value(json_array_get(json_object_get(var, "logits"), s)), 1e-4);
        double norm = 0.0;
        for (size_t i = 0; i < m->n_floats; i++) norm += (double)m->grad[i] * m->grad[i];
        double gn = json_number_value(json_object_get(var, "grad_global_l2_norm"));
        CHECK(fabs(sqrt(norm) - gn) <= 1e-4 * gn, "grad norm %.8g vs %.8g", sqrt(norm), gn);
        rr_safetensors *grads = open_st(model, files, "grads");
        rr_safetensors *after = open_st(model, files, "params_after_adamw");
        rr_safetensors *after_hf = open_st(model, files, "params_after_hf_trainer");
        REQUIRE(grads && after && after_hf);
        double worst_rel = check_grads(m, grads, json_object_get(json_object_get(var, "fp32_vs_fp64"), "analytically_zero_grad_tensors"));
        printf("     %s %s: loss %.8f, max per-tensor relative gradient error %.3g\n", model, variants[vi], loss.loss, worst_rel);
        if (dump) write_dump(m, m->grad, dump, vi ? "grads_kd.safetensors" : "grads_ce.safetensors");
        /* torch.optim.AdamW, one group: decay on every parameter. */
        float *grad = malloc(m->n_floats * sizeof *grad);
        memcpy(grad, m->grad, m->n_floats * sizeof *grad);
        o.decay_all = true;
        CHECK(rr_train_adamw(m, &o, &err) == RERANK_OK);
        check_params(m, after, grads, lr, "params_after_adamw");
        if (dump) write_dump(m, m->w, dump, vi ? "adamw_kd.safetensors" : "adamw_ce.safetensors");
        /* HF Trainer: clip to max_norm, no decay on biases and LayerNorm. */
        memcpy(m->w, w0, m->n_floats * sizeof *w0);
        memcpy(m->grad, grad, m->n_floats * sizeof *grad);
        free(m->m), free(m->v);
        m->m = m->v = NULL;
        m->step = 0;
        CHECK(fabs(rr_train_clip_grad_norm(m, max_norm) - gn) <= 1e-4 * gn);
        o.decay_all = false;
        CHECK(rr_train_adamw(m, &o, &err) == RERANK_OK);
        check_params(m, after_hf, grads, lr, "params_after_hf_trainer");
        free(grad);
        rr_safetensors_free(grads), rr_safetensors_free(after), rr_safetensors_free(after_hf);
    }
    free(w0);
    rr_train_model_free(m);
    free(b.ids), free(b.types), free(b.offsets);
    json_decref(g);
}

TEST(train_golden_xlmr) { check_model("xlmr-seqcls-tiny"); }
TEST(train_golden_bert) { check_model("bert-seqcls-tiny"); }

/* The group loss: finite differences of CE and CE + KD in the logits, and a hand-computed value. */
TEST(train_group_loss) {
    float z[6] = {0.3f, -1.2f, 0.8f, 2.0f, 0.1f, -0.4f}, t[6] = {1.0f, 0.0f, -2.0f, 0.5f, 1.5f, -1.0f}, dz[6];
    rr_train_loss l, lp, lm;
    rerank_error err;
    for (int kd = 0; kd < 2; kd++) {
        REQUIRE(rr_train_group_loss(z, kd ? t : NULL, 2, 3, dz, &l, &err) == RERANK_OK);
        for (int i = 0; i < 6; i++) {
            float z0 = z[i];
            z[i] = z0 + 1e-2f;
            rr_train_group_loss(z, kd ? t : NULL, 2, 3, NULL, &lp, &err);
            z[i] = z0 - 1e-2f;
            rr_train_group_loss(z, kd ? t : NULL, 2, 3, NULL, &lm, &err);
            z[i] = z0;
            CHECK_NEAR(dz[i], (lp.loss - lm.loss) / 2e-2, 1e-4);
        }
    }
    /* One group of two equal logits: CE = log 2; with a one-hot teacher on the positive, KD adds log 2. */
    float e[2] = {0.5f, 0.5f}, th[2] = {100.0f, -100.0f};
    REQUIRE(rr_train_group_loss(e, th, 1, 2, NULL, &l, &err) == RERANK_OK);
    CHECK_NEAR(l.ce, log(2.0), 1e-12);
    CHECK_NEAR(l.kd, log(2.0), 1e-9);
    CHECK(rr_train_group_loss(e, NULL, 1, 1, NULL, &l, &err) == RERANK_ERR_INVALID_ARGUMENT);
    CHECK(rr_train_group_loss(e, NULL, 0, 2, NULL, &l, &err) == RERANK_ERR_INVALID_ARGUMENT);
}

/* Bad inputs are errors, not crashes; non-encoder models are refused. */
TEST(train_errors) {
    rerank_error err;
    rr_train_model *m = NULL;
    CHECK(rr_train_model_load(rr_shared_path("testdata/no-such-model"), &m, &err) != RERANK_OK && !m);
    REQUIRE(rr_train_model_load(rr_shared_path("testdata/xlmr-seqcls-tiny"), &m, &err) == RERANK_OK, "%s", err.message);
    int32_t ids[6] = {0, 5, 2, 0, 6, 2};
    size_t off[3] = {0, 3, 6}, off_bad[3] = {0, 3, 3};
    rr_batch b = {.ids = ids, .offsets = off, .n_seqs = 2};
    rr_train_loss loss;
    CHECK(rr_train_step(m, &b, 3, NULL, NULL, &loss, &err) == RERANK_ERR_INVALID_ARGUMENT); /* 2 seqs, groups of 3 */
    CHECK(rr_train_step(m, &b, 1, NULL, NULL, &loss, &err) == RERANK_ERR_INVALID_ARGUMENT); /* groups of 1 */
    b.offsets = off_bad;
    CHECK(rr_train_step(m, &b, 2, NULL, NULL, &loss, &err) == RERANK_ERR_INPUT); /* empty sequence */
    b.offsets = off;
    ids[4] = 1 << 20;
    CHECK(rr_train_step(m, &b, 2, NULL, NULL, &loss, &err) == RERANK_ERR_INPUT); /* id outside the vocabulary */
    ids[4] = 6;
    float logits[2];
    CHECK(rr_train_step(m, &b, 2, NULL, logits, &loss, &err) == RERANK_OK, "%s", err.message);
    CHECK(loss.loss > 0 && isfinite(loss.loss));
    rr_train_adamw_opts bad = {-1.0, 0.9, 0.999, 1e-8, 0.0, false};
    CHECK(rr_train_adamw(m, &bad, &err) == RERANK_ERR_INVALID_ARGUMENT);
    rr_train_model_free(m);
}

TEST(train_refuses_decoders) {
    rerank_error err;
    rr_train_model *m = NULL;
    CHECK(rr_train_model_load(rr_shared_path("testdata/qwen2-causal-tiny"), &m, &err) == RERANK_ERR_UNSUPPORTED && !m,
          "%s", err.message);
}
