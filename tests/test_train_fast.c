/* test_train_fast.c - the encoder training step's fast path and train-mode dropout on the tiny checkpoints:
 * fast against reference kernels, thread-count independence, dropout determinism per seed, p = 0 dropout as
 * no dropout, and the gradients with dropout against finite differences of the same masked loss. */
#include "train/train.h"
#include "test.h"

/* Two groups of three sequences (types for BERT), lengths 4..9, ids inside the tiny vocabularies. */
static const int32_t ids[] = {0, 5, 9, 2, 0, 7, 8, 11, 12, 2, 0, 6, 2, 0, 13, 14, 15, 16, 17, 18, 2,
                              0, 21, 22, 2, 0, 30, 31, 32, 2, 0, 40, 41, 2};
static const size_t offsets[] = {0, 4, 10, 13, 21, 25, 34};
enum { N_SEQS = 6, GROUP = 3 };

static rr_train_model *load(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "testdata/%s", name);
    rr_train_model *m = NULL;
    rerank_error err;
    if (rr_train_model_load(rr_shared_path(rel), &m, &err)) {
        fprintf(stderr, "    %s\n", err.message);
        return NULL;
    }
    return m;
}

static rr_batch batch(void) { return (rr_batch){.ids = ids, .offsets = offsets, .n_seqs = N_SEQS}; }

static double step(rr_train_model *m) {
    rr_batch b = batch();
    rr_train_loss loss = {0};
    rerank_error err;
    if (rr_train_step(m, &b, GROUP, NULL, NULL, &loss, &err) != RERANK_OK) {
        fprintf(stderr, "    %s\n", err.message);
        return NAN;
    }
    return loss.loss;
}

static double grad_rel(const float *a, const float *b, size_t n) { /* ||a - b|| / ||b|| */
    double d = 0.0, g = 0.0;
    for (size_t i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), g += (double)b[i] * b[i];
    return sqrt(d / (g > 0 ? g : 1));
}

TEST(train_fast_matches_reference) {
    const char *models[2] = {"xlmr-seqcls-tiny", "bert-seqcls-tiny"};
    for (int i = 0; i < 2; i++) {
        rr_train_model *m = load(models[i]);
        REQUIRE(m);
        for (int drop = 0; drop < 2; drop++) {
            m->dropout = drop, m->dropout_seed = 77;
            m->reference = true;
            double l0 = step(m);
            float *g0 = malloc(m->n_floats * 4);
            memcpy(g0, m->grad, m->n_floats * 4);
            m->reference = false;
            double l1 = step(m);
            CHECK(isfinite(l0) && fabs(l1 - l0) < 1e-5, "%s dropout %d: loss %.8f vs %.8f", models[i], drop, l1, l0);
            CHECK(grad_rel(m->grad, g0, m->n_floats) < 1e-5, "%s dropout %d: %.3g", models[i], drop,
                  grad_rel(m->grad, g0, m->n_floats));
            free(g0);
        }
        rr_train_model_free(m);
    }
}

/* Results do not depend on the thread count; dropout masks neither. */
TEST(train_fast_thread_independent) {
    float *g[2] = {NULL, NULL};
    double l[2];
    size_t n = 0;
    for (int t = 0; t < 2; t++) {
        rr_train_model *m = load("xlmr-seqcls-tiny");
        REQUIRE(m);
        m->n_threads = t ? 3 : 1;
        m->dropout = true, m->dropout_seed = 5;
        l[t] = step(m);
        n = m->n_floats;
        g[t] = malloc(n * 4);
        memcpy(g[t], m->grad, n * 4);
        rr_train_model_free(m);
    }
    CHECK(l[0] == l[1], "loss %.9g on 1 thread, %.9g on 3", l[0], l[1]);
    CHECK(grad_rel(g[1], g[0], n) < 1e-6, "%.3g", grad_rel(g[1], g[0], n));
    free(g[0]), free(g[1]);
}

TEST(train_dropout_step) {
    rr_train_model *m = load("xlmr-seqcls-tiny");
    REQUIRE(m);
    double off = step(m);
    float *g_off = malloc(m->n_floats * 4), *g_a = malloc(m->n_floats * 4);
    memcpy(g_off, m->grad, m->n_floats * 4);
    /* Probabilities 0: dropout on is the step without it (up to where the residual add rounds). */
    float ph = m->d.p_hidden, pa = m->d.p_attn;
    CHECK(ph > 0 && pa > 0, "config.json dropout %g %g", ph, pa);
    m->dropout = true, m->dropout_seed = 1;
    m->d.p_hidden = m->d.p_attn = 0.0f;
    CHECK_NEAR(step(m), off, 1e-6);
    CHECK(grad_rel(m->grad, g_off, m->n_floats) < 1e-5);
    m->d.p_hidden = ph, m->d.p_attn = pa;
    /* Same seed: the same step, bit for bit; another seed: another one. */
    double a = step(m);
    memcpy(g_a, m->grad, m->n_floats * 4);
    CHECK(a != off && isfinite(a), "dropout changes the loss: %.9g vs %.9g", a, off);
    CHECK(step(m) == a && memcmp(g_a, m->grad, m->n_floats * 4) == 0);
    m->dropout_seed = 2;
    double c = step(m);
    CHECK(c != a && isfinite(c), "seeds 1 and 2: %.9g, %.9g", a, c);
    /* Dropout off again: exactly the first step. */
    m->dropout = false;
    CHECK(step(m) == off && memcmp(g_off, m->grad, m->n_floats * 4) == 0);
    free(g_off), free(g_a);
    rr_train_model_free(m);
}

/* With dropout, d loss / d w against central differences of the same (fixed-mask) loss, on the elements with
 * the largest gradient in tensors spread through the model: the embeddings, attention, FFN, LayerNorm, head. */
static void fd_model(const char *model) {
    rr_train_model *m = load(model);
    REQUIRE(m);
    m->dropout = true, m->dropout_seed = 31;
    m->d.p_hidden = 0.2f, m->d.p_attn = 0.2f;
    double l0 = step(m);
    REQUIRE(isfinite(l0));
    float *g = malloc(m->n_floats * 4);
    memcpy(g, m->grad, m->n_floats * 4);
    int checked = 0;
    double worst = 0.0;
    for (size_t k = 0; k < m->n_params; k++) {
        const rr_train_param *p = &m->params[k];
        if (k % 3 && k + 4 < m->n_params) continue; /* every third tensor and the whole head */
        size_t best = 0;
        for (size_t i = 1; i < p->size; i++)
            if (fabs(g[p->offset + i]) > fabs(g[p->offset + best])) best = i;
        float *w = m->w + p->offset + best, w0 = *w, gi = g[p->offset + best];
        if (fabs(gi) < 1e-3) continue; /* too small for float finite differences */
        float h = 2e-3f * (fabsf(w0) > 1.0f ? fabsf(w0) : 1.0f);
        *w = w0 + h;
        double hi = (double)*w - w0, lp = step(m);
        *w = w0 - h;
        double lo = w0 - (double)*w, lm = step(m);
        *w = w0;
        double num = (lp - lm) / (hi + lo), err = fabs(gi - num) / fabs(num);
        worst = err > worst ? err : worst;
        CHECK(err < 2e-2, "%s %s[%zu]: analytic %.6g, numeric %.6g", model, p->name, best, gi, num);
        checked++;
    }
    printf("     %s: %d parameters, worst relative difference %.3g\n", model, checked, worst);
    CHECK(checked >= 10, "only %d parameters checked", checked);
    free(g);
    rr_train_model_free(m);
}

TEST(train_dropout_fd_xlmr) { fd_model("xlmr-seqcls-tiny"); }
TEST(train_dropout_fd_bert) { fd_model("bert-seqcls-tiny"); }

/* A shard of a batch with dropout_seq0 = its first sequence draws the batch's masks: its logits are the
 * batch's (what lets processes and micro-batches reproduce one process's dropout). */
TEST(train_dropout_shard) {
    rr_train_model *m = load("xlmr-seqcls-tiny");
    REQUIRE(m);
    m->dropout = true, m->dropout_seed = 9;
    rr_batch b = batch();
    rr_train_loss loss;
    rerank_error err;
    float all[N_SEQS], part[GROUP], other[GROUP];
    REQUIRE(rr_train_step(m, &b, GROUP, NULL, all, &loss, &err) == RERANK_OK, "%s", err.message);
    size_t off[GROUP + 1];
    for (int i = 0; i <= GROUP; i++) off[i] = offsets[GROUP + i] - offsets[GROUP];
    rr_batch second = {.ids = ids + offsets[GROUP], .offsets = off, .n_seqs = GROUP};
    m->dropout_seq0 = GROUP;
    REQUIRE(rr_train_step(m, &second, GROUP, NULL, part, &loss, &err) == RERANK_OK, "%s", err.message);
    m->dropout_seq0 = 0;
    REQUIRE(rr_train_step(m, &second, GROUP, NULL, other, &loss, &err) == RERANK_OK, "%s", err.message);
    double same = 0.0, differ = 0.0;
    for (int i = 0; i < GROUP; i++) {
        same = fmax(same, fabs((double)part[i] - all[GROUP + i]));
        differ = fmax(differ, fabs((double)other[i] - all[GROUP + i]));
    }
    CHECK(same <= 1e-5, "shard logits differ from the batch's by %.3g", same);
    CHECK(differ > 1e-4, "without the offset the shard should draw other masks (%.3g)", differ);
    rr_train_model_free(m);
}
