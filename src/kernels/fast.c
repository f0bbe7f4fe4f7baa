/* fast.c - run-time choice of the instruction set, B-panel packing, the portable micro-kernel, and the
 * threaded drivers of the dense layers (rr_linear_fwd, on fast_gemm.c) and attention (rr_attention_seqs_fwd). The SIMD
 * kernels of each instruction set live in an architecture's folder (x86/, ...) and reach the drivers through
 * rr_isa_ops; a build without one (generic/) runs the portable path below. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/fast_decoder_impl.h"
#include "kernels/fast_impl.h"

/* ---- portable path: plain C, the reference's arithmetic (erff, expf) ---- */

enum { C_NR = 16, C_MR = 4 };

static float gelu1(float x) { return x * 0.5f * (1.0f + erff(x * (float)M_SQRT1_2)); }

/* C_MR x C_NR micro-tile from packed panels (see rr_ukernel_fn); the compiler vectorises the column loop. */
static void ukernel_c(float *c, int ldc, const float *pa, const float *pb, int kc, int mr, int nr, const rr_uepi *e) {
    float acc[C_MR][C_NR] = {{0}};
    for (int k = 0; k < kc; k++, pa += C_MR, pb += C_NR)
        for (int r = 0; r < C_MR; r++)
            for (int j = 0; j < C_NR; j++) acc[r][j] += pa[r] * pb[j];
    for (int r = 0; r < mr; r++) {
        float *cr = c + (size_t)r * (size_t)ldc;
        for (int j = 0; j < nr; j++) {
            float v = e->alpha * acc[r][j];
            if (!e->first) v += cr[j];
            else if (e->beta != 0.0f) v += e->beta * cr[j];
            if (e->last) {
                if (e->bias) v += e->bias[j];
                if (e->act == RR_ACT_GELU) v = gelu1(v);
                if (e->res) v += e->res[(size_t)r * (size_t)e->ldr + (size_t)j];
            }
            cr[j] = v;
        }
    }
}

static void softmax_c(float *x, int n, float scale) {
    float mx = -INFINITY, sum = 0.0f;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++) sum += (x[i] = expf(scale * x[i] - scale * mx));
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

static void layernorm_c(float *y, const float *x, const float *w, const float *b, int dim, float eps) {
    rr_layernorm_fwd(y, x, w, b, 1, dim, eps);
}

/* ---- dispatch: one table per instruction set, resolved once (see rr_isa_desc) ---- */

static void block_bf16_c(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride, int m,
                         int kc, int nc, const rr_epi *e);
static void block_int8_c(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                         size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                         const rr_epi *e);
static void to_bf16_c(uint16_t *dst, const float *x, int n);
static float quant_row(uint8_t *dst, const float *x, int in, int kq);

static const char *const isa_names[RR_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon", "neon_dot", "neon_i8mm"};
static rr_isa_ops ops_table[RR_ISA_COUNT];
static bool isa_ok[RR_ISA_COUNT];
static pthread_once_t ops_once = PTHREAD_ONCE_INIT;

static void ops_resolve(void) {
    for (int i = 0; i < RR_ISA_COUNT; i++) {
        ops_table[i] = (rr_isa_ops){.nr = C_NR, .softmax = softmax_c, .umr = C_MR, .unr = C_NR, .ukernel = ukernel_c,
                                    .layernorm = layernorm_c, .block_bf16 = block_bf16_c, .block_int8 = block_int8_c,
                                    .to_bf16 = to_bf16_c, .quant_row = quant_row, .dec = &rr_dec_ops_c,
                                    .name_f32 = "c", .name_bf16 = "c", .name_int8 = "c"};
        isa_ok[i] = i == RR_ISA_SCALAR || (rr_isa_descs[i] && rr_isa_descs[i]->supported());
        if (i != RR_ISA_SCALAR && isa_ok[i]) rr_isa_descs[i]->fill(&ops_table[i]);
    }
}

const char *rr_isa_name(rr_isa isa) { return isa >= 0 && isa < RR_ISA_COUNT ? isa_names[isa] : "?"; }

bool rr_isa_supported(rr_isa isa) {
    if (isa < 0 || isa >= RR_ISA_COUNT) return false;
    pthread_once(&ops_once, ops_resolve);
    return isa_ok[isa];
}

static atomic_int active_isa = -1;

rr_isa rr_isa_get(void) {
    int isa = atomic_load_explicit(&active_isa, memory_order_relaxed);
    if (isa >= 0) return (rr_isa)isa;
    rr_isa best = RR_ISA_SCALAR;
    for (int i = RR_ISA_COUNT - 1; i > 0; i--)
        if (rr_isa_supported((rr_isa)i)) {
            best = (rr_isa)i;
            break;
        }
    const char *env = getenv("RERANK_ISA");
    for (int i = 0; env && i < RR_ISA_COUNT; i++)
        if (!strcmp(env, isa_names[i]) && rr_isa_supported((rr_isa)i)) best = (rr_isa)i;
    int expected = -1; /* the first caller wins; later ones see its choice */
    atomic_compare_exchange_strong(&active_isa, &expected, (int)best);
    return (rr_isa)atomic_load(&active_isa);
}

bool rr_isa_set(rr_isa isa) {
    if (!rr_isa_supported(isa)) return false;
    atomic_store(&active_isa, (int)isa);
    return true;
}

static const rr_isa_ops *ops_get(void) {
    rr_isa isa = rr_isa_get(); /* resolves the tables */
    return &ops_table[isa];
}
const rr_isa_ops *rr_ops_get(void) { return ops_get(); }

/* The name of the kernel that last ran for each weight type (tests check that an instruction set's pass ran its
 * own kernels). */
static _Atomic(const char *) last_kernel[3];
const char *rr_kernels_last(rr_wtype type) {
    return type >= 0 && type < 3 ? atomic_load_explicit(&last_kernel[type], memory_order_relaxed) : NULL;
}

rr_kernel_names rr_kernels_active(void) {
    const rr_isa_ops *o = ops_get();
    return (rr_kernel_names){rr_isa_name(rr_isa_get()), o->name_f32, o->name_bf16, o->name_int8};
}

/* ---- packing ---- */

/* Packs columns [c0, c0+nc) and rows [k0, k0+kc) of B into panels of nr columns: panel p at dst + p*kc*nr,
 * element [k*nr + j] = B[k0+k, c0+p*nr+j], zero past nc. B is W[col, k] (ld) when !trans, B[k, col] (ld)
 * when trans. */
static void pack_b(float *dst, const float *w, size_t ld, bool trans, int k0, int kc, int c0, int nc, int nr) {
    for (int p = 0; p * nr < nc; p++) {
        float *d = dst + (size_t)p * (size_t)kc * (size_t)nr;
        int cols = nc - p * nr < nr ? nc - p * nr : nr;
        if (!trans) {
            for (int j = 0; j < cols; j++) {
                const float *src = w + (size_t)(c0 + p * nr + j) * ld + (size_t)k0;
                for (int k = 0; k < kc; k++) d[(size_t)k * (size_t)nr + (size_t)j] = src[k];
            }
        } else {
            for (int k = 0; k < kc; k++) {
                const float *src = w + (size_t)(k0 + k) * ld + (size_t)(c0 + p * nr);
                memcpy(d + (size_t)k * (size_t)nr, src, (size_t)cols * sizeof *src);
            }
        }
        for (int j = cols; j < nr; j++)
            for (int k = 0; k < kc; k++) d[(size_t)k * (size_t)nr + (size_t)j] = 0.0f;
    }
}

static float *align64(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }
static int round_up(int a, int m) { return (a + m - 1) / m * m; }

/* ---- dense layers ---- */

enum { NC_MAX = RR_LP_NC_MAX, MAX_NR = 32, PAD = 16 };

size_t rr_linear_scratch(int n_threads) { return rr_gemm_scratch(n_threads); }

void rr_linear_fwd(rr_pool *pool, float *scratch, float *y, const float *x, const float *w, const float *b,
                   const float *res, int n, int in, int out, rr_act act) {
    if (n <= 0 || out <= 0) return;
    atomic_store_explicit(&last_kernel[RR_W_F32], ops_get()->name_f32, memory_order_relaxed);
    /* B(k, j) = W[j, k]: the packed GEMM reads W's rows contiguously */
    rr_gemm g = {n, out, in, x, w, (size_t)in, 1, 1, (size_t)in, y, out, 1.0f, 0.0f, b, res, out, act, NULL, false, NULL, 0};
    rr_gemm_run(pool, scratch, &g);
}

/* ---- LayerNorm: rows in tasks of ~8k floats ---- */

typedef struct ln_job {
    const rr_isa_ops *ops;
    float *y;
    uint16_t *ybf;
    const float *x, *w, *b;
    float eps;
    int n, dim, per;
} ln_job;


static void ln_task(void *ctx, int task, int thread) {
    (void)thread;
    const ln_job *j = ctx;
    int r0 = task * j->per, r1 = r0 + j->per < j->n ? r0 + j->per : j->n;
    for (int r = r0; r < r1; r++) {
        float *yr = j->y + (size_t)r * (size_t)j->dim;
        j->ops->layernorm(yr, j->x + (size_t)r * (size_t)j->dim, j->w, j->b, j->dim, j->eps);
        if (j->ybf) rr_to_bf16_row(j->ybf + (size_t)r * (size_t)j->dim, yr, j->dim); /* the row is still in L1 */
    }
}

void rr_layernorm_fast(rr_pool *pool, float *y, const float *x, const float *w, const float *b, int n, int dim,
                       float eps) {
    rr_layernorm_fast_bf16(pool, y, NULL, x, w, b, n, dim, eps);
}

void rr_layernorm_fast_bf16(rr_pool *pool, float *y, uint16_t *ybf, const float *x, const float *w, const float *b,
                            int n, int dim, float eps) {
    if (n <= 0 || dim <= 0) return;
    ln_job j = {ops_get(), y, ybf, x, w, b, eps, n, dim, dim >= 8192 ? 1 : 8192 / dim};
    rr_pool_run(pool, ln_task, &j, (n + j.per - 1) / j.per);
}

/* ---- attention ---- */

enum { QB = 256, PKC = 512, MR_PAD = 16 }; /* query rows per task; keys per packed block of P; MR <= 16 */

static size_t att_per_thread(int longest, int hd) {
    size_t t = (size_t)round_up(longest, MAX_NR);
    return (size_t)QB * t + t * (size_t)round_up(hd, MAX_NR) * 2 + (size_t)(QB + MR_PAD) * ((size_t)hd + PKC) + 5 * PAD;
}

size_t rr_attention_scratch(int n_threads, int longest, int head_dim) {
    return (size_t)(n_threads > 0 ? n_threads : 1) * att_per_thread(longest, head_dim);
}

typedef struct att_job {
    const rr_isa_ops *ops;
    float *out, *scratch;
    const float *q, *k, *v;
    const size_t *offsets;
    size_t n_seqs, per_thread;
    const rr_attn_shape *s;
    bool first_only;
    const rr_att_amx_ops *amx; /* bf16 attention on AMX, or NULL */
} att_job;

static int n_qblocks(const att_job *j, size_t seq) {
    return j->first_only ? 1 : (int)((j->offsets[seq + 1] - j->offsets[seq] + QB - 1) / QB);
}

/* One task: one query block of one head of one sequence, as two products on the packed micro-kernel: K and V
 * of that head packed as B panels, Q and then P (in blocks of PKC keys) packed as A micro-panels. */
static void att_task(void *ctx, int task, int thread) {
    const att_job *j = ctx;
    const rr_attn_shape *s = j->s;
    size_t seq = 0;
    int per_seq;
    for (;; seq++) { /* task -> (sequence, head, query block) */
        per_seq = s->n_heads * n_qblocks(j, seq);
        if (task < per_seq) break;
        task -= per_seq;
    }
    const rr_isa_ops *ops = j->ops;
    int nqb = n_qblocks(j, seq), h = task / nqb, qb = task % nqb, nr = ops->nr;
    int T = (int)(j->offsets[seq + 1] - j->offsets[seq]), hd = s->head_dim, kvh = h / (s->n_heads / s->n_kv_heads);
    int q0 = qb * QB, qn = j->first_only ? 1 : (T - q0 < QB ? T - q0 : QB), tp = round_up(T, MAX_NR);
    size_t first = j->offsets[seq];
    float *S = align64(j->scratch + (size_t)thread * j->per_thread);
    float *pk = align64(S + (size_t)QB * (size_t)tp), *pv = align64(pk + (size_t)tp * (size_t)round_up(hd, MAX_NR));
    float *pq = align64(pv + (size_t)tp * (size_t)round_up(hd, MAX_NR)), *pp = align64(pq + (size_t)(QB + MR_PAD) * (size_t)hd);
    const float *kh = j->k + first * (size_t)s->ld_kv + (size_t)kvh * (size_t)hd;
    const float *vh = j->v + first * (size_t)s->ld_kv + (size_t)kvh * (size_t)hd;
    size_t qrow = j->first_only ? seq : first + (size_t)q0;
    const float *qh = j->q + qrow * (size_t)s->ld_q + (size_t)h * (size_t)hd;
    float *oh = j->out + qrow * (size_t)s->ld_out + (size_t)h * (size_t)hd;
    if (j->amx) {
        j->amx->pack(S, NULL, NULL, 0, kh, vh, (size_t)s->ld_kv, T, hd);
        j->amx->block(oh, (size_t)s->ld_out, qh, (size_t)s->ld_q, qn, s->causal ? q0 : -1, T, hd, S);
        return;
    }
    rr_uepi plain = {NULL, NULL, 0, RR_ACT_NONE, true, true, 1.0f, 0.0f};
    /* S[qn, T] = Q K^T, then softmax(S / sqrt(hd)) per row */
    if (ops->pack_bt)
        for (int p = 0; p * nr < T; p++)
            ops->pack_bt(pk + (size_t)p * (size_t)hd * (size_t)nr, kh + (size_t)p * (size_t)nr * (size_t)s->ld_kv,
                         (size_t)s->ld_kv, hd, T - p * nr < nr ? T - p * nr : nr);
    else
        pack_b(pk, kh, (size_t)s->ld_kv, false, 0, hd, 0, T, nr);
    rr_pack_a(ops, pq, qh, (size_t)s->ld_q, 1, qn, hd);
    rr_gemm_packed(ops, S, T, pq, pk, (size_t)hd * (size_t)nr, qn, T, hd, &plain);
    float scale = 1.0f / sqrtf((float)hd);
    for (int r = 0; r < qn; r++) {
        float *row = S + (size_t)r * (size_t)T;
        int nj = s->causal ? q0 + r + 1 : T;
        for (int c = nj; c < T; c++) row[c] = -INFINITY;
        ops->softmax(row, T, scale);
    }
    /* out[qn, hd] = P V, accumulated over blocks of PKC keys */
    pack_b(pv, vh, (size_t)s->ld_kv, true, 0, T, 0, hd, nr);
    for (int k0 = 0; k0 < T; k0 += PKC) {
        int kc = T - k0 < PKC ? T - k0 : PKC;
        rr_uepi e = {NULL, NULL, 0, RR_ACT_NONE, k0 == 0, k0 + kc == T, 1.0f, 0.0f};
        rr_pack_a(ops, pp, S + k0, (size_t)T, 1, qn, kc);
        rr_gemm_packed(ops, oh, s->ld_out, pp, pv + (size_t)k0 * (size_t)nr, (size_t)T * (size_t)nr, qn, hd, kc, &e);
    }
}

void rr_attention_seqs_fwd(rr_pool *pool, float *scratch, float *out, const float *q, const float *k,
                           const float *v, const size_t *offsets, size_t n_seqs, const rr_attn_shape *s,
                           bool first_only) {
    int longest = 0;
    for (size_t i = 0; i < n_seqs; i++)
        if ((int)(offsets[i + 1] - offsets[i]) > longest) longest = (int)(offsets[i + 1] - offsets[i]);
    att_job j = {ops_get(), out, scratch, q, k, v, offsets, n_seqs, att_per_thread(longest, s->head_dim), s,
                 first_only, NULL};
    /* its scratch fits in att_per_thread's: tp * hd + QB * tp + QB * hd / 2 + 16 * hd + 64 (first-only: qn = 1) */
    j.amx = s->bf16 && s->head_dim % 32 == 0 ? j.ops->att_amx : NULL;
    int n_tasks = 0;
    for (size_t i = 0; i < n_seqs; i++) n_tasks += s->n_heads * n_qblocks(&j, i);
    rr_pool_run(pool, att_task, &j, n_tasks);
}

/* ---- low-precision weights: bf16 pairs and int8 quads in panels of LP_NR output columns ---- */

enum { LP_NR = RR_WMAT_PANEL };

static uint16_t bf16_of(float f) { /* round to nearest even, as vcvtneps2bf16 */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
static void to_bf16_c(uint16_t *dst, const float *x, int n) {
    for (int k = 0; k < n; k++) dst[k] = bf16_of(x[k]);
}
void rr_to_bf16_row(uint16_t *dst, const float *x, int n) { ops_get()->to_bf16(dst, x, n); }

static float f32_of_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}


/* Zeroed, 64-byte aligned (AMX tile rows of a panel then never straddle cache lines); free() releases it. */
static void *zalloc64(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 1)) return NULL;
    return memset(p, 0, bytes);
}

/* bf16: panel p, pair kk: [c*2 + j] = W[p*32 + c, 2*kk + j]. int8: panel p, quad kq: [c*4 + j] = q[p*32 + c,
 * 4*kq + j]. Past `in` and `out`: zeros. */
bool rr_wmat_init(rr_wmat *m, rr_wtype type, const float *w, int out, int in) {
    *m = (rr_wmat){type, out, in, NULL, NULL, NULL, NULL, false};
    if (type == RR_W_F32) {
        m->f32 = w;
        return true;
    }
    size_t panels = (size_t)(out + LP_NR - 1) / LP_NR;
    if (type == RR_W_BF16) {
        size_t kp = (size_t)round_up(in, 2);
        uint16_t *p = zalloc64(panels * kp * LP_NR * sizeof *p);
        if (!p) return false;
        for (int o = 0; o < out; o++)
            for (int k = 0; k < in; k++)
                p[(size_t)(o / LP_NR) * kp * LP_NR + (size_t)(k / 2) * 2 * LP_NR + (size_t)(o % LP_NR) * 2 + (size_t)(k % 2)] =
                    bf16_of(w[(size_t)o * (size_t)in + (size_t)k]);
        m->packed = p;
        return true;
    }
    size_t kq = (size_t)round_up(in, 4);
    int8_t *p = zalloc64(panels * kq * LP_NR * sizeof *p);
    m->scale = calloc(panels * LP_NR, sizeof *m->scale);
    m->colsum = calloc(panels * LP_NR, sizeof *m->colsum);
    m->packed = p;
    if (!p || !m->scale || !m->colsum) {
        rr_wmat_free(m);
        return false;
    }
    for (int o = 0; o < out; o++) {
        const float *row = w + (size_t)o * (size_t)in;
        float amax = 0.0f;
        for (int k = 0; k < in; k++) amax = fabsf(row[k]) > amax ? fabsf(row[k]) : amax;
        float sc = amax > 0 ? amax / 127.0f : 1.0f, inv = 1.0f / sc;
        int32_t sum = 0;
        for (int k = 0; k < in; k++) {
            int q = rr_q8_level(row[k] * inv);
            p[(size_t)(o / LP_NR) * kq * LP_NR + (size_t)(k / 4) * 4 * LP_NR + (size_t)(o % LP_NR) * 4 + (size_t)(k % 4)] =
                (int8_t)q;
            sum += q;
        }
        m->scale[o] = sc;
        m->colsum[o] = sum;
    }
    return true;
}

void rr_wmat_borrow(rr_wmat *m, rr_wtype type, int out, int in, const void *packed, const float *scale,
                    const int32_t *colsum) {
    /* the casts drop const only to share the struct with owned panels: the kernels never write them */
    *m = (rr_wmat){type, out, in, NULL, (void *)packed, (float *)scale, (int32_t *)colsum, true};
}

void rr_wmat_free(rr_wmat *m) {
    if (!m) return;
    if (!m->borrowed) {
        free(m->packed);
        free(m->scale);
        free(m->colsum);
    }
    *m = (rr_wmat){0};
}

static void epi_c(float *yr, int c, float v, const rr_epi *e, int row) {
    if (e->bias) v += e->bias[c];
    if (e->act == RR_ACT_GELU) v = gelu1(v);
    if (e->res) v += e->res[(size_t)row * (size_t)e->ldr + (size_t)c];
    if (e->ybf) e->ybf[(size_t)row * (size_t)e->ldbf + (size_t)c] = bf16_of(v);
    else yr[c] = v;
}

static void block_bf16_c(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride, int m,
                         int kc, int nc, const rr_epi *e) {
    for (int r = 0; r < m; r++)
        for (int c = 0; c < nc; c++) {
            const uint16_t *p = pb + (size_t)(c / LP_NR) * pstride + (size_t)(c % LP_NR) * 2;
            const uint16_t *xr = x + (size_t)r * (size_t)ldx;
            float acc = 0.0f;
            for (int k = 0; k < kc; k += 2)
                acc += f32_of_bf16(xr[k]) * f32_of_bf16(p[(size_t)k * LP_NR]) +
                       f32_of_bf16(xr[k + 1]) * f32_of_bf16(p[(size_t)k * LP_NR + 1]);
            epi_c(y + (size_t)r * (size_t)ldy, c, acc, e, r);
        }
}

static void block_int8_c(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                         size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                         const rr_epi *e) {
    for (int r = 0; r < m; r++)
        for (int c = 0; c < nc; c++) {
            const int8_t *p = pb + (size_t)(c / LP_NR) * pstride + (size_t)(c % LP_NR) * 4;
            const uint8_t *xr = x + (size_t)r * (size_t)ldx;
            int32_t acc = 0;
            for (int k = 0; k < kc; k += 4)
                for (int j = 0; j < 4; j++) acc += (int32_t)xr[k + j] * p[(size_t)k * LP_NR + (size_t)j];
            epi_c(y + (size_t)r * (size_t)ldy, c, (float)(acc - 128 * colsum[c]) * xscale[r] * wscale[c], e, r);
        }
}

/* Row r of x as unsigned int8: q = round(x * 127 / max|x|) + 128, zero-padded to kq; returns the scale. */
static float quant_row(uint8_t *dst, const float *x, int in, int kq) {
    float amax = 0.0f;
    for (int k = 0; k < in; k++) amax = fabsf(x[k]) > amax ? fabsf(x[k]) : amax;
    float sc = amax > 0 ? amax / 127.0f : 1.0f, inv = 127.0f / (amax > 0 ? amax : 127.0f);
    for (int k = 0; k < in; k++) {
        dst[k] = (uint8_t)(rr_q8_level(x[k] * inv) + 128);
    }
    for (int k = in; k < kq; k++) dst[k] = 128;
    return sc;
}

size_t rr_linear_w_scratch(const rr_wmat *w, int n_threads, int n) {
    if (w->type == RR_W_F32) return rr_linear_scratch(n_threads);
    size_t rows = (size_t)(n > 0 ? n : 1);
    if (w->type == RR_W_BF16) {
        size_t blocks = rows * (size_t)round_up(w->in, 2) / 2 + PAD, gemm = rr_gemm_scratch(n_threads);
        return ops_get()->bf16_gemm && gemm > blocks ? gemm : blocks;
    }
    return rows * (size_t)round_up(w->in, 4) / 4 + rows + 2 * PAD;
}

typedef struct lp_job {
    const rr_linear_out *outs; /* every output shares x (its weights' type and `in`) */
    int n_outs;
    float *xscale;
    const float *x;
    void *xq;
    int n, ldq, nc, in;
    rr_wtype type;
    int chunks[RR_LINEAR_MAX_OUTS + 1]; /* first task of each output; the last entry is the total */
    const rr_isa_ops *ops;
} lp_job;

enum { CONV_ROWS = 32 };

static void lp_convert_task(void *ctx, int task, int thread) {
    const lp_job *j = ctx;
    int r0 = task * CONV_ROWS, r1 = r0 + CONV_ROWS < j->n ? r0 + CONV_ROWS : j->n, in = j->in;
    for (int r = r0; r < r1; r++) {
        const float *xr = j->x + (size_t)r * (size_t)in;
        if (j->type == RR_W_BF16) {
            uint16_t *d = (uint16_t *)j->xq + (size_t)r * (size_t)j->ldq;
            j->ops->to_bf16(d, xr, in);
            if (in < j->ldq) d[in] = 0;
        } else {
            uint8_t *d = (uint8_t *)j->xq + (size_t)r * (size_t)j->ldq;
            j->xscale[r] = j->ops->quant_row(d, xr, in, j->ldq);
        }
    }
}

static void lp_task(void *ctx, int task, int thread) {
    const lp_job *j = ctx;
    int o = 0;
    while (task >= j->chunks[o + 1]) o++;
    const rr_linear_out *out = &j->outs[o];
    const rr_wmat *w = out->w;
    int c0 = (task - j->chunks[o]) * j->nc, nc = w->out - c0 < j->nc ? w->out - c0 : j->nc;
    rr_epi e = {out->b ? out->b + c0 : NULL, out->res ? out->res + c0 : NULL, w->out, out->act, true, true,
                out->y_bf16 ? out->y_bf16 + c0 : NULL, round_up(w->out, 2)};
    size_t pstride = (size_t)j->ldq * LP_NR;
    float *y = out->y + c0;
    if (w->type == RR_W_BF16) {
        const uint16_t *pb = (const uint16_t *)w->packed + (size_t)(c0 / LP_NR) * pstride;
        atomic_store_explicit(&last_kernel[RR_W_BF16], j->ops->name_bf16, memory_order_relaxed);
        j->ops->block_bf16(y, w->out, j->xq, j->ldq, pb, pstride, j->n, j->ldq, nc, &e);
    } else {
        const int8_t *pb = (const int8_t *)w->packed + (size_t)(c0 / LP_NR) * pstride;
        atomic_store_explicit(&last_kernel[RR_W_INT8], j->ops->name_int8, memory_order_relaxed);
        j->ops->block_int8(y, w->out, j->xq, j->ldq, j->xscale, pb, pstride, w->scale + c0, w->colsum + c0, j->n, j->ldq, nc, &e);
    }
}

bool rr_linear_bf16_out_native(void) { return !ops_get()->bf16_gemm; }

/* bf16 weights on the fp32 GEMM (ops->bf16_gemm): x from fp32 rows rounded to bf16 (x32) or from bf16 rows (x16,
 * row stride ldx), the weights widened while their panels are packed; the products and their rounding are
 * those of the blocks (sums in another order). Only for fp32 outputs. */
static bool bf16_by_gemm(rr_pool *pool, float *scratch, const float *x32, const uint16_t *x16, int ldx, int n,
                         const rr_linear_out *outs, int count) {
    if (!ops_get()->bf16_gemm || !scratch) return false;
    for (int i = 0; i < count; i++)
        if (outs[i].y_bf16 || outs[i].w->type != RR_W_BF16) return false;
    atomic_store_explicit(&last_kernel[RR_W_BF16], ops_get()->name_bf16, memory_order_relaxed);
    for (int i = 0; i < count; i++) {
        const rr_wmat *w = outs[i].w;
        rr_gemm g = {n, w->out, w->in, x32, NULL, (size_t)ldx, 1, 1, (size_t)w->in, outs[i].y, w->out, 1.0f, 0.0f,
                     outs[i].b, outs[i].res, w->out, outs[i].act, x16, x16 == NULL, w->packed,
                     (size_t)round_up(w->in, 2) * LP_NR};
        rr_gemm_run(pool, scratch, &g);
    }
    return true;
}

void rr_linear_w_fwd(rr_pool *pool, float *scratch, float *y, const float *x, const rr_wmat *w, const float *b,
                     const float *res, int n, rr_act act) {
    rr_linear_out out = {y, w, b, res, act, NULL};
    rr_linear_w_multi(pool, scratch, x, n, &out, 1);
}

bool rr_linear_outs_share(const rr_linear_out *outs, int count) {
    for (int i = 1; i < count; i++)
        if (outs[i].w->type != outs[0].w->type || outs[i].w->in != outs[0].w->in) return false;
    return count >= 1 && count <= RR_LINEAR_MAX_OUTS;
}

void rr_linear_w_multi(rr_pool *pool, float *scratch, const float *x, int n, const rr_linear_out *outs, int count) {
    if (!rr_linear_outs_share(outs, count)) { /* nothing to share: one at a time */
        for (int i = 0; i < count; i++) rr_linear_w_fwd(pool, scratch, outs[i].y, x, outs[i].w, outs[i].b, outs[i].res, n, outs[i].act);
        return;
    }
    const rr_wmat *w0 = outs[0].w;
    if (w0->type == RR_W_F32) {
        for (int i = 0; i < count; i++)
            rr_linear_fwd(pool, scratch, outs[i].y, x, outs[i].w->f32, outs[i].b, outs[i].res, n, w0->in, outs[i].w->out,
                          outs[i].act);
        return;
    }
    if (n <= 0) return;
    if (w0->type == RR_W_BF16 && bf16_by_gemm(pool, scratch, x, NULL, w0->in, n, outs, count)) return;
    int threads = rr_pool_size(pool), total_out = 0;
    for (int i = 0; i < count; i++) total_out += outs[i].w->out;
    if (total_out <= 0) return;
    lp_job j = {outs, count, NULL, x, align64(scratch), n, round_up(w0->in, w0->type == RR_W_BF16 ? 2 : 4), 0, w0->in,
                w0->type, {0}, ops_get()};
    if (w0->type == RR_W_INT8) j.xscale = align64(scratch + (size_t)n * (size_t)j.ldq / 4 + PAD);
    /* the input once in the weights' precision, for every output */
    rr_pool_run(pool, lp_convert_task, &j, (n + CONV_ROWS - 1) / CONV_ROWS);
    int nc = round_up((total_out + 3 * threads - 1) / (3 * threads), LP_NR);
    j.nc = nc > NC_MAX ? NC_MAX : nc;
    for (int i = 0; i < count; i++) j.chunks[i + 1] = j.chunks[i] + (outs[i].w->out + j.nc - 1) / j.nc;
    rr_pool_run(pool, lp_task, &j, j.chunks[count]);
}

void rr_linear_w_bf16_input(rr_pool *pool, float *scratch, const uint16_t *xq, int n, const rr_linear_out *outs,
                            int count) {
    if (n <= 0 || count <= 0 || count > RR_LINEAR_MAX_OUTS) return;
    if (bf16_by_gemm(pool, scratch, NULL, xq, round_up(outs[0].w->in, 2), n, outs, count)) return;
    int threads = rr_pool_size(pool), total_out = 0;
    for (int i = 0; i < count; i++) total_out += outs[i].w->out;
    lp_job j = {outs, count, NULL, NULL, (void *)(uintptr_t)xq, n, round_up(outs[0].w->in, 2), 0, outs[0].w->in,
                RR_W_BF16, {0}, ops_get()};
    int nc = round_up((total_out + 3 * threads - 1) / (3 * threads), LP_NR);
    j.nc = nc > NC_MAX ? NC_MAX : nc;
    for (int i = 0; i < count; i++) j.chunks[i + 1] = j.chunks[i] + (outs[i].w->out + j.nc - 1) / j.nc;
    if (total_out > 0) rr_pool_run(pool, lp_task, &j, j.chunks[count]);
}
