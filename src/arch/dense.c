/* dense.c - a model's dense matrices in the compute precision: fp32 views of the mapped (or load-converted)
 * tensors for AUTO/F32; bf16 or int8 converted once at load, on every core (a Gemma-2b layer is 110M weights);
 * or, in a converted model, the stored panels borrowed from the memory map (packed.c). */
#include <stdatomic.h>
#include <stdlib.h>

#include "arch/arch.h"
#include "arch/packed.h"
#include "base/error.h"
#include "base/threadpool.h"

typedef struct convert_job {
    const rr_dense *list;
    rr_weights *w; /* the sources' owner: converted sources are released from it */
    rr_wtype t, down;
    atomic_bool failed;
} convert_job;

static void convert_task(void *ctx, int task, int thread) {
    convert_job *j = ctx;
    const rr_dense *d = &j->list[task];
    rr_wtype t = d->down ? j->down : j->t;
    if (!rr_wmat_init(d->mat, t, d->src, d->out, d->in)) atomic_store(&j->failed, true);
    /* the fp32 source of a converted matrix is not read again: drop its pages from the resident set */
    else if (t != RR_W_F32) rr_weights_release(j->w, d->src, (size_t)d->out * (size_t)d->in);
}

/* With int8 the FFN/MLP down-projection stays bf16: its input, the (gated) activation, has the outliers that
 * per-token int8 rounds worst (on the golden XLM-R rows, all-int8 gives Spearman 0.9949 vs fp32, this 0.9965).
 * Every CPU runs both (kernels.h), so the choice and a converted model's files are the same everywhere. */
rerank_status rr_dense_prepare(rr_model *m, rerank_error *err) {
    rr_wtype t = m->dtype == RERANK_DTYPE_BF16 ? RR_W_BF16 : m->dtype == RERANK_DTYPE_INT8 ? RR_W_INT8 : RR_W_F32;
    rr_wtype down = t != RR_W_INT8 ? t : RR_W_BF16;
    size_t n = m->row->family->dense(m, NULL);
    rr_dense *list = calloc(n ? n : 1, sizeof *list);
    if (!list) return rr_fail(err, RERANK_ERR_NOMEM, "out of memory listing %zu dense matrices", n);
    m->row->family->dense(m, list);
    rerank_status st = RERANK_OK;
    if (m->packed) {
        for (size_t i = 0; i < n && !st; i++) st = rr_packed_bind(m->weights, &list[i], list[i].down ? down : t, err);
    } else {
        convert_job j = {list, m->weights, t, down, false};
        rr_pool *pool = t == RR_W_F32 ? NULL : rr_pool_new(0); /* NULL (no threads) still converts, in the caller */
        rr_pool_run(pool, convert_task, &j, (int)n);
        rr_pool_free(pool);
        if (atomic_load(&j.failed))
            st = rr_fail(err, RERANK_ERR_NOMEM, "out of memory converting the weights to %s",
                         t == RR_W_BF16 ? "bf16" : "int8");
    }
    free(list);
    return st;
}
