/* heads.c - output heads that turn final hidden states into scores. */
#include <stdio.h>

#include "arch/arch.h"
#include "base/error.h"
#include "kernels/kernels.h"

static rerank_status linear(rr_weights *w, const char *base, int64_t out, int64_t in, const float **wt,
                            const float **b, rerank_error *err) {
    char name[256];
    snprintf(name, sizeof name, "%s.weight", base);
    rerank_status st = RR_WEIGHTS_REQUIRE(w, name, wt, err, out, in);
    if (st) return st;
    snprintf(name, sizeof name, "%s.bias", base);
    return RR_WEIGHTS_REQUIRE(w, name, b, err, out);
}

rerank_status rr_cls_head_load(rr_weights *w, const char *dense, const char *out, int hidden, rr_cls_head *head,
                               rerank_error *err) {
    head->hidden = hidden;
    rerank_status st = linear(w, dense, hidden, hidden, &head->dense_w, &head->dense_b, err);
    if (st) return st;
    return linear(w, out, 1, hidden, &head->out_w, &head->out_b, err);
}

float rr_cls_head_fwd(const rr_cls_head *head, const float *x, float *scratch) {
    float logit;
    rr_matmul_fwd(scratch, x, head->dense_w, head->dense_b, 1, head->hidden, head->hidden);
    rr_tanh_fwd(scratch, scratch, (size_t)head->hidden);
    rr_matmul_fwd(&logit, scratch, head->out_w, head->out_b, 1, head->hidden, 1);
    return logit;
}
