/* fast_decoder.c - the decoder fast paths: threaded drivers of RMSNorm, RoPE, gated activations, scaled
 * residual adds and causal grouped-query attention after a cached prefix, over row operations chosen by
 * instruction set (portable ones here, SIMD ones in fast_decoder_avx2.c / fast_decoder_avx512.c).
 *
 * Attention: one task is (sequence, key/value head, block of QB query rows). It packs that head's keys
 * (prefix then own, up to the block's last causal position) once as K^T panels, then for every query head
 * of the group computes the score block, the softmax rows (entries past a row's causal end zeroed) and
 * P·V from the unpacked value rows, prefix part then own part. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/fast_decoder_impl.h"
#include "kernels/fast_impl.h"

/* ---- portable row operations: the reference's arithmetic ---- */

static void rmsnorm_c(float *y, const float *x, const float *w, float off, int dim, float eps) {
    float sq = 0.0f;
    for (int i = 0; i < dim; i++) sq += x[i] * x[i];
    float rstd = 1.0f / sqrtf(sq / (float)dim + eps);
    for (int i = 0; i < dim; i++) y[i] = (x[i] * rstd) * (w[i] + off);
}

static void rope_c(float *x, const float *c, const float *s, int n_heads, int hd) {
    int half = hd / 2;
    for (int h = 0; h < n_heads; h++, x += hd)
        for (int i = 0; i < half; i++) {
            float a = x[i], b = x[i + half];
            x[i] = a * c[i] - b * s[i];
            x[i + half] = b * c[i] + a * s[i];
        }
}

static void glu_c(float *y, const float *g, const float *u, size_t n, rr_glu act) {
    const float beta = (float)(M_SQRT2 * M_2_SQRTPI * 0.5), kappa = 0.044715f;
    for (size_t i = 0; i < n; i++) {
        float v = g[i], a;
        if (act == RR_GLU_SILU)
            a = v / (1.0f + expf(-v));
        else if (act == RR_GLU_GELU_TANH)
            a = 0.5f * v * (1.0f + tanhf(beta * (v + kappa * (v * v * v))));
        else
            a = v * 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
        y[i] = a * u[i];
    }
}

static void add_scaled_c(float *y, const float *a, const float *b, float s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float t = b[i] * s;
        y[i] = a[i] + t;
    }
}

static void pack_panel_c(float *kt, const float *const *rows, int hd) {
    for (int j = 0; j < RR_KT_NR; j++)
        for (int e = 0; e < hd; e++) kt[e * RR_KT_NR + j] = rows[j] ? rows[j][e] : 0.0f;
}

static void scores_c(float *S, int lds, const float *q, int ldq, int m, const float *kt, int hd, int n_panels) {
    for (int r = 0; r < m; r++)
        for (int p = 0; p < n_panels; p++) {
            const float *pk = kt + (size_t)p * (size_t)hd * RR_KT_NR;
            float acc[RR_KT_NR] = {0};
            for (int e = 0; e < hd; e++)
                for (int j = 0; j < RR_KT_NR; j++) acc[j] += q[(size_t)r * (size_t)ldq + (size_t)e] * pk[e * RR_KT_NR + j];
            memcpy(S + (size_t)r * (size_t)lds + (size_t)p * RR_KT_NR, acc, sizeof acc);
        }
}

static void softmax_c(float *x, int n, float scale) {
    float mx = -INFINITY, sum = 0.0f;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++) sum += (x[i] = expf((x[i] - mx) * scale));
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

static void pv_c(float *out, int ldo, const float *P, int ldp, int m, const float *v, int ldv, int nk, int hd,
                 bool accumulate) {
    for (int r = 0; r < m; r++) {
        float *o = out + (size_t)r * (size_t)ldo;
        if (!accumulate) memset(o, 0, (size_t)hd * sizeof *o);
        for (int j = 0; j < nk; j++) {
            float p = P[(size_t)r * (size_t)ldp + (size_t)j];
            const float *vj = v + (size_t)j * (size_t)ldv;
            for (int e = 0; e < hd; e++) o[e] += p * vj[e];
        }
    }
}

const rr_dec_ops rr_dec_ops_c = {rmsnorm_c, rope_c, glu_c, add_scaled_c, pack_panel_c, scores_c, softmax_c, pv_c};

static const rr_dec_ops *ops_get(void) { return rr_ops_get()->dec; }

/* ---- element-wise and per-row drivers ---- */

enum { CHUNK = 8192 }; /* floats per element-wise task: big enough to hide the pool's hand-off */

typedef struct row_job {
    const rr_dec_ops *ops;
    float *y;
    uint16_t *ybf; /* also y in bf16 (RMSNorm, GLU) */
    const float *x, *w;
    const float *b;
    float off, eps, s;
    size_t n;
    int dim, rows_per_task;
    rr_glu act;
} row_job;

static int ceil_div(size_t a, size_t b) { return (int)((a + b - 1) / b); }

static void rmsnorm_task(void *ctx, int task, int thread) {
    const row_job *j = ctx;
    size_t r0 = (size_t)task * (size_t)j->rows_per_task, r1 = r0 + (size_t)j->rows_per_task;
    if (r1 > j->n) r1 = j->n;
    for (size_t r = r0; r < r1; r++) {
        float *yr = j->y + r * (size_t)j->dim;
        j->ops->rmsnorm(yr, j->x + r * (size_t)j->dim, j->w, j->off, j->dim, j->eps);
        if (j->ybf) rr_to_bf16_row(j->ybf + r * (size_t)j->dim, yr, j->dim); /* the row is still in L1 */
    }
}

void rr_rmsnorm_fast(rr_pool *pool, float *y, const float *x, const float *w, float w_offset, int n, int dim,
                     float eps) {
    rr_rmsnorm_fast_bf16(pool, y, NULL, x, w, w_offset, n, dim, eps);
}

void rr_rmsnorm_fast_bf16(rr_pool *pool, float *y, uint16_t *ybf, const float *x, const float *w, float w_offset,
                          int n, int dim, float eps) {
    if (n <= 0) return;
    int per = dim >= CHUNK ? 1 : CHUNK / dim;
    row_job j = {.ops = ops_get(), .y = y, .ybf = ybf, .x = x, .w = w, .off = w_offset, .eps = eps, .n = (size_t)n,
                 .dim = dim, .rows_per_task = per};
    rr_pool_run(pool, rmsnorm_task, &j, ceil_div((size_t)n, (size_t)per));
}

static void glu_task(void *ctx, int task, int thread) {
    const row_job *j = ctx;
    size_t i0 = (size_t)task * CHUNK, n = j->n - i0 < CHUNK ? j->n - i0 : CHUNK;
    if (j->act == RR_GLU_GELU)
        glu_c(j->y + i0, j->x + i0, j->b + i0, n, j->act);
    else
        j->ops->glu(j->y + i0, j->x + i0, j->b + i0, n, j->act);
    if (j->ybf) rr_to_bf16_row(j->ybf + i0, j->y + i0, (int)n);
}

void rr_glu_fast(rr_pool *pool, float *y, const float *gate, const float *up, size_t n, rr_glu act) {
    rr_glu_fast_bf16(pool, y, NULL, gate, up, n, act);
}

void rr_glu_fast_bf16(rr_pool *pool, float *y, uint16_t *ybf, const float *gate, const float *up, size_t n, rr_glu act) {
    row_job j = {.ops = ops_get(), .y = y, .ybf = ybf, .x = gate, .b = up, .n = n, .act = act};
    if (n) rr_pool_run(pool, glu_task, &j, ceil_div(n, CHUNK));
}

static void add_task(void *ctx, int task, int thread) {
    const row_job *j = ctx;
    size_t i0 = (size_t)task * CHUNK, n = j->n - i0 < CHUNK ? j->n - i0 : CHUNK;
    j->ops->add_scaled(j->y + i0, j->x + i0, j->b + i0, j->s, n);
}

void rr_add_scaled_fast(rr_pool *pool, float *y, const float *a, const float *b, float s, size_t n) {
    row_job j = {.ops = ops_get(), .y = y, .x = a, .b = b, .s = s, .n = n};
    if (n) rr_pool_run(pool, add_task, &j, ceil_div(n, CHUNK));
}

/* ---- RoPE over a packed batch ---- */

typedef struct rope_job {
    const rr_dec_ops *ops;
    float *x;
    const float *cos_t, *sin_t;
    const size_t *offsets;
    size_t n_seqs, pos0, rows_per_task;
    int n_heads, hd, ld;
} rope_job;

static void rope_task(void *ctx, int task, int thread) {
    const rope_job *j = ctx;
    size_t r0 = (size_t)task * j->rows_per_task, r1 = r0 + j->rows_per_task, half = (size_t)(j->hd / 2);
    if (r1 > j->offsets[j->n_seqs]) r1 = j->offsets[j->n_seqs];
    size_t lo = 0, hi = j->n_seqs; /* the sequence holding row r0: offsets[lo] <= r0 < offsets[lo + 1] */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (j->offsets[mid] <= r0) lo = mid;
        else hi = mid;
    }
    for (size_t r = r0, s = lo; r < r1; r++) {
        while (r >= j->offsets[s + 1]) s++;
        size_t pos = j->pos0 + (r - j->offsets[s]);
        j->ops->rope(j->x + r * (size_t)j->ld, j->cos_t + pos * half, j->sin_t + pos * half, j->n_heads, j->hd);
    }
}

void rr_rope_seqs_fast(rr_pool *pool, float *x, const float *cos_t, const float *sin_t, const size_t *offsets,
                       size_t n_seqs, size_t pos0, int n_heads, int head_dim, int ld) {
    size_t rows = n_seqs ? offsets[n_seqs] : 0, width = (size_t)n_heads * (size_t)head_dim;
    size_t per = width >= CHUNK ? 1 : CHUNK / width;
    rope_job j = {ops_get(), x, cos_t, sin_t, offsets, n_seqs, pos0, per, n_heads, head_dim, ld};
    if (rows) rr_pool_run(pool, rope_task, &j, ceil_div(rows, per));
}

/* ---- attention after a cached prefix ---- */

enum { QB = 64, TR = 8, PAD = 16 }; /* query rows per task and per causal tile; alignment slack in floats */

static size_t round16(size_t a) { return (a + RR_KT_NR - 1) / RR_KT_NR * RR_KT_NR; }
static float *align64(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

static size_t att_per_thread(int n_keys, int hd) {
    size_t nk = round16((size_t)(n_keys > 0 ? n_keys : 1)), fp32 = nk * (size_t)hd + (size_t)QB * nk + 2 * PAD;
    size_t amx = rr_att_amx_scratch(n_keys > 0 ? n_keys : 1, QB, hd) + 2 * PAD; /* whether or not AMX runs */
    return amx > fp32 ? amx : fp32;
}

size_t rr_attention_past_scratch(int n_threads, int n_keys, int head_dim) {
    return (size_t)(n_threads > 0 ? n_threads : 1) * att_per_thread(n_keys, head_dim);
}

typedef struct att_job {
    const rr_dec_ops *ops;
    float *out, *scratch;
    const float *q, *k_past, *v_past, *k, *v;
    const size_t *offsets;
    size_t n_seqs, per_thread;
    int n_past;
    const rr_attn_shape *s;
    bool last_only;
    const rr_att_amx_ops *amx; /* bf16 attention on AMX, or NULL */
} att_job;

static int n_qblocks(const att_job *j, size_t seq) {
    return j->last_only ? 1 : ceil_div(j->offsets[seq + 1] - j->offsets[seq], QB);
}

/* Keys [0, nk) of key/value head kvh (prefix rows, then the sequence's own from `own`) as K^T panels. */
static void pack_kt(float *kt, const att_job *j, const float *own, int kvh, int nk) {
    int hd = j->s->head_dim;
    size_t ld = (size_t)j->s->ld_kv, kvo = (size_t)kvh * (size_t)hd;
    for (int p = 0; p * RR_KT_NR < nk; p++) {
        const float *rows[RR_KT_NR];
        for (int jj = 0; jj < RR_KT_NR; jj++) {
            int key = p * RR_KT_NR + jj;
            rows[jj] = key >= nk ? NULL
                     : key < j->n_past ? j->k_past + (size_t)key * ld + kvo
                                       : own + (size_t)(key - j->n_past) * ld + kvo;
        }
        j->ops->pack_panel(kt + (size_t)p * (size_t)hd * RR_KT_NR, rows, hd);
    }
}

static void att_task(void *ctx, int task, int thread) {
    const att_job *j = ctx;
    const rr_attn_shape *s = j->s;
    size_t seq = 0;
    int per_seq;
    for (;; seq++) { /* task -> (sequence, key/value head, query block) */
        per_seq = s->n_kv_heads * n_qblocks(j, seq);
        if (task < per_seq) break;
        task -= per_seq;
    }
    int nqb = n_qblocks(j, seq), kvh = task / nqb, qb = task % nqb, hd = s->head_dim;
    int group = s->n_heads / s->n_kv_heads, T = (int)(j->offsets[seq + 1] - j->offsets[seq]);
    int q0 = j->last_only ? T - 1 : qb * QB, qn = j->last_only ? 1 : (T - q0 < QB ? T - q0 : QB);
    int nk = j->n_past + (s->causal ? q0 + qn : T), lds = (int)round16((size_t)nk);
    size_t first = j->offsets[seq], kvo = (size_t)kvh * (size_t)hd;
    float *kt = align64(j->scratch + (size_t)thread * j->per_thread);
    float *S = align64(kt + (size_t)lds * (size_t)hd);
    const float *own_k = j->k + first * (size_t)s->ld_kv, *own_v = j->v + first * (size_t)s->ld_kv + kvo;
    size_t qrow = j->last_only ? seq : first + (size_t)q0;
    if (j->amx) { /* the head's keys and values packed once for the whole group of query heads */
        j->amx->pack(kt, j->k_past ? j->k_past + kvo : NULL, j->v_past ? j->v_past + kvo : NULL, j->n_past,
                        own_k + kvo, own_v, (size_t)s->ld_kv, nk, hd);
        for (int g = 0; g < group; g++) {
            int h = kvh * group + g;
            j->amx->block(j->out + qrow * (size_t)s->ld_out + (size_t)h * (size_t)hd, (size_t)s->ld_out,
                             j->q + qrow * (size_t)s->ld_q + (size_t)h * (size_t)hd, (size_t)s->ld_q, qn,
                             s->causal ? j->n_past + q0 : -1, nk, hd, kt);
        }
        return;
    }
    pack_kt(kt, j, own_k, kvh, nk);
    float scale = 1.0f / sqrtf((float)hd);
    for (int g = 0; g < group; g++) {
        int h = kvh * group + g;
        const float *qh = j->q + qrow * (size_t)s->ld_q + (size_t)h * (size_t)hd;
        float *oh = j->out + qrow * (size_t)s->ld_out + (size_t)h * (size_t)hd;
        /* tiles of TR rows: a causal tile needs keys only up to its last row's position, not the block's */
        for (int r0 = 0; r0 < qn; r0 += TR) {
            int mr = qn - r0 < TR ? qn - r0 : TR, tk = s->causal ? j->n_past + q0 + r0 + mr : nk;
            float *St = S + (size_t)r0 * (size_t)lds;
            j->ops->scores(St, lds, qh + (size_t)r0 * (size_t)s->ld_q, s->ld_q, mr, kt, hd, (int)round16((size_t)tk) / RR_KT_NR);
            for (int r = 0; r < mr; r++) {
                float *row = St + (size_t)r * (size_t)lds;
                int nj = s->causal ? j->n_past + q0 + r0 + r + 1 : nk;
                j->ops->softmax(row, nj, scale);
                for (int c = nj; c < tk; c++) row[c] = 0.0f;
            }
            float *ot = oh + (size_t)r0 * (size_t)s->ld_out;
            if (j->n_past) j->ops->pv(ot, s->ld_out, St, lds, mr, j->v_past + kvo, s->ld_kv, j->n_past, hd, false);
            j->ops->pv(ot, s->ld_out, St + j->n_past, lds, mr, own_v, s->ld_kv, tk - j->n_past, hd, j->n_past > 0);
        }
    }
}

void rr_attention_past_seqs_fwd(rr_pool *pool, float *scratch, float *out, const float *q, const float *k_past,
                                const float *v_past, int n_past, const float *k, const float *v,
                                const size_t *offsets, size_t n_seqs, const rr_attn_shape *s, bool last_only) {
    int longest = 0;
    for (size_t i = 0; i < n_seqs; i++)
        if ((int)(offsets[i + 1] - offsets[i]) > longest) longest = (int)(offsets[i + 1] - offsets[i]);
    att_job j = {ops_get(), out, scratch, q, k_past, v_past, k, v, offsets, n_seqs,
                 att_per_thread(n_past + longest, s->head_dim), n_past, s, last_only, NULL};
    j.amx = s->bf16 && s->head_dim % 32 == 0 ? rr_ops_get()->att_amx : NULL;
    int n_tasks = 0;
    for (size_t i = 0; i < n_seqs; i++) n_tasks += s->n_kv_heads * n_qblocks(&j, i);
    if (n_tasks) rr_pool_run(pool, att_task, &j, n_tasks);
}
