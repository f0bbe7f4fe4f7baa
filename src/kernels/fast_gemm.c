/* fast_gemm.c - the packed fp32 GEMM behind rr_linear_fwd and rr_sgemm, in the GotoBLAS/BLIS loop order.
 * For each block of KC steps of K the threads first pack B[kc, N] once into shared panels of NR columns;
 * then each task packs one row block of A [mb, kc] into MR-row micro-panels (its own scratch, ~690 KiB:
 * stays in L2) and sweeps it once per B micro-panel, which stays in L1/L2 for the whole sweep. The
 * micro-kernel (rr_isa_ops.ukernel) keeps an MR x NR tile of C in registers. KC = 512 halves the passes over
 * C against 256 and measured best on AVX-512 (256/384/512 tried on 4096 x 768 -> 3072 and 4096 x 3072 -> 768). */
#include <stdint.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/fast_impl.h"

/* MB_MAX is a multiple of every MR (14, 6, 4); NR is at most 32. The shared B block is at most KC_MAX x NB_MAX
 * (16 MiB). K up to KC_MAX runs in one pass: a second pass over K re-reads and re-writes all of C, which for
 * 4096 x 3072 (the FFN up-projection at the token budget) no longer sits in any cache (an ISA opts in with
 * rr_isa_ops.kc_max; the others keep blocks of KC); a longer K runs in equal blocks of at most KC. The A block
 * keeps to about MB_MAX x KC floats whatever kc is. */
enum { KC = 512, KC_MAX = 1024, MB_MAX = 336, NB_MAX = 4096, MAX_NR = 32, PAD = 16 };

static int round_up(int a, int m) { return (a + m - 1) / m * m; }
static int min_i(int a, int b) { return a < b ? a : b; }
static float *align64(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

static size_t per_thread(void) { return (size_t)MB_MAX * KC + PAD; }
static size_t b_block(int n) { return (size_t)KC_MAX * (size_t)round_up(min_i(n, NB_MAX), MAX_NR) + PAD; }

size_t rr_gemm_scratch(int n_threads) { return b_block(NB_MAX) + (size_t)(n_threads > 0 ? n_threads : 1) * per_thread(); }

size_t rr_gemm_scratch_for(const rr_gemm *g, int n_threads) {
    return b_block(g->N) + (size_t)(n_threads > 0 ? n_threads : 1) * per_thread();
}

typedef struct gemm_job {
    const rr_gemm *g;
    const rr_isa_ops *ops;
    float *pb, *pa; /* shared B block; first thread's A block (thread t at pa + t * per_thread()) */
    int jc, nb, pc, kc; /* current column chunk and K block */
    int mb, cgroups, gpanels;
} gemm_job;

static float f32_of_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* f rounded to bf16 (nearest even, NaN kept quiet) and back: as fast.c's bf16_of */
static float bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) u = (u | 0x00400000u) & 0xffff0000u;
    else u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* rr_isa_ops.pack_b_bf16 in plain C (nr columns) */
static void pack_b_bf16_c(float *d, const uint16_t *panel, int k0, int kc, int col_off, int cols, int nr) {
    for (int k = 0; k < kc; k++)
        for (int c = 0; c < nr; c++) {
            int kk = k0 + k;
            d[(size_t)k * (size_t)nr + (size_t)c] =
                c < cols ? f32_of_bf16(panel[(size_t)(kk / 2) * 64 + (size_t)(col_off + c) * 2 + (size_t)(kk % 2)]) : 0.0f;
        }
}

/* rr_isa_ops.pack_a_bf16 in plain C (mr-row micro-panels) */
static void pack_a_bf16_c(float *dst, const uint16_t *a16, const float *a32, size_t rs, int m, int kc, int mr) {
    for (int t = 0; t * mr < m; t++, dst += (size_t)kc * (size_t)mr)
        for (int k = 0; k < kc; k++)
            for (int r = 0; r < mr; r++) {
                int i = t * mr + r;
                float v = 0.0f;
                if (i < m) v = a16 ? f32_of_bf16(a16[(size_t)i * rs + (size_t)k]) : bf16_round(a32[(size_t)i * rs + (size_t)k]);
                dst[(size_t)k * (size_t)mr + (size_t)r] = v;
            }
}

/* B micro-panel p of the current block: [k * NR + j] = B(pc + k, jc + p*NR + j), zero past N. */
static void pack_b_task(void *ctx, int p, int thread) {
    (void)thread;
    const gemm_job *j = ctx;
    const rr_gemm *g = j->g;
    int nr = j->ops->unr, c0 = j->jc + p * nr, cols = min_i(nr, g->N - c0), kc = j->kc;
    float *d = j->pb + (size_t)p * (size_t)kc * (size_t)nr;
    if (g->B16) {
        const uint16_t *panel = g->B16 + (size_t)(c0 / 32) * g->b16_ps;
        if (j->ops->pack_b_bf16) j->ops->pack_b_bf16(d, panel, j->pc, kc, c0 % 32, cols);
        else pack_b_bf16_c(d, panel, j->pc, kc, c0 % 32, cols, nr);
        return;
    }
    if (g->b_cs == 1) {
        for (int k = 0; k < kc; k++) {
            const float *src = g->B + (size_t)(j->pc + k) * g->b_rs + (size_t)c0;
            memcpy(d + (size_t)k * (size_t)nr, src, (size_t)cols * sizeof *src);
            for (int c = cols; c < nr; c++) d[(size_t)k * (size_t)nr + (size_t)c] = 0.0f;
        }
        return;
    }
    if (j->ops->pack_bt) {
        j->ops->pack_bt(d, g->B + (size_t)c0 * g->b_cs + (size_t)j->pc, g->b_cs, kc, cols);
        return;
    }
    /* columns are rows of W: read each contiguously, 16 steps of k at a time so the lines written (16 x NR
     * floats) stay in L1 (a whole column at once spread its stores over kc lines and missed L1) */
    for (int k0 = 0; k0 < kc; k0 += 16) {
        int kn = min_i(16, kc - k0);
        for (int c = 0; c < cols; c++) {
            const float *src = g->B + (size_t)(c0 + c) * g->b_cs + (size_t)(j->pc + k0);
            float *dc = d + (size_t)k0 * (size_t)nr + (size_t)c;
            for (int k = 0; k < kn; k++) dc[(size_t)k * (size_t)nr] = src[k];
        }
    }
    for (int c = cols; c < nr; c++)
        for (int k = 0; k < kc; k++) d[(size_t)k * (size_t)nr + (size_t)c] = 0.0f;
}

void rr_pack_a(const rr_isa_ops *ops, float *dst, const float *a, size_t rs, size_t cs, int m, int kc) {
    int mr = ops->umr;
    if (cs == 1 && ops->pack_a_rows) {
        ops->pack_a_rows(dst, a, rs, m, kc);
        return;
    }
    for (int t = 0; t * mr < m; t++, dst += (size_t)kc * (size_t)mr) {
        int rows = min_i(mr, m - t * mr);
        const float *at = a + (size_t)t * (size_t)mr * rs;
        if (cs == 1) { /* 16 steps of k at a time, as in pack_b_task */
            for (int k0 = 0; k0 < kc; k0 += 16) {
                int kn = min_i(16, kc - k0);
                for (int r = 0; r < rows; r++) {
                    const float *src = at + (size_t)r * rs + (size_t)k0;
                    float *dr = dst + (size_t)k0 * (size_t)mr + (size_t)r;
                    for (int k = 0; k < kn; k++) dr[(size_t)k * (size_t)mr] = src[k];
                }
            }
        } else {
            for (int k = 0; k < kc; k++) memcpy(dst + (size_t)k * (size_t)mr, at + (size_t)k * cs, (size_t)rows * sizeof *dst);
        }
        for (int r = rows; r < mr; r++)
            for (int k = 0; k < kc; k++) dst[(size_t)k * (size_t)mr + (size_t)r] = 0.0f;
    }
}

void rr_gemm_packed(const rr_isa_ops *ops, float *c, int ldc, const float *pa, const float *pb, size_t pstride, int m,
                    int n, int kc, const rr_uepi *e) {
    int mr = ops->umr, nr = ops->unr;
    for (int p = 0; p * nr < n; p++)
        for (int t = 0; t * mr < m; t++)
            ops->ukernel(c + (size_t)t * (size_t)mr * (size_t)ldc + (size_t)p * (size_t)nr, ldc,
                         pa + (size_t)t * (size_t)kc * (size_t)mr, pb + (size_t)p * pstride, kc, min_i(mr, m - t * mr),
                         min_i(nr, n - p * nr), e);
}

/* One task: a row block of A against a group of B micro-panels. */
static void compute_task(void *ctx, int task, int thread) {
    const gemm_job *j = ctx;
    const rr_gemm *g = j->g;
    int mr = j->ops->umr, nr = j->ops->unr, kc = j->kc;
    int rb = task / j->cgroups, cg = task % j->cgroups, r0 = rb * j->mb, m = min_i(j->mb, g->M - r0);
    int np = (j->nb + nr - 1) / nr, p0 = cg * j->gpanels, p1 = min_i(np, p0 + j->gpanels);
    float *pa = j->pa + (size_t)thread * per_thread();
    if (g->A16 || g->a_round_bf16) {
        const uint16_t *a16 = g->A16 ? g->A16 + (size_t)r0 * g->a_rs + (size_t)j->pc : NULL;
        const float *a32 = g->A16 ? NULL : g->A + (size_t)r0 * g->a_rs + (size_t)j->pc;
        if (j->ops->pack_a_bf16) j->ops->pack_a_bf16(pa, a16, a32, g->a_rs, m, kc);
        else pack_a_bf16_c(pa, a16, a32, g->a_rs, m, kc, mr);
    } else {
        rr_pack_a(j->ops, pa, g->A + (size_t)r0 * g->a_rs + (size_t)j->pc * g->a_cs, g->a_rs, g->a_cs, m, kc);
    }
    rr_uepi e = {NULL, NULL, g->ldr, g->act, j->pc == 0, j->pc + kc == g->K, g->alpha, g->beta};
    for (int p = p0; p < p1; p++) {
        const float *pbp = j->pb + (size_t)p * (size_t)kc * (size_t)nr;
        int c0 = j->jc + p * nr, ncr = min_i(nr, g->N - c0);
        e.bias = g->bias ? g->bias + c0 : NULL;
        for (int t = 0; t * mr < m; t++) {
            int i0 = r0 + t * mr;
            e.res = g->res ? g->res + (size_t)i0 * (size_t)g->ldr + (size_t)c0 : NULL;
            j->ops->ukernel(g->C + (size_t)i0 * (size_t)g->ldc + (size_t)c0, g->ldc, pa + (size_t)t * (size_t)kc * (size_t)mr,
                            pbp, kc, min_i(mr, m - t * mr), ncr, &e);
        }
    }
}

void rr_gemm_run(rr_pool *pool, float *scratch, const rr_gemm *g) {
    if (g->M <= 0 || g->N <= 0 || g->K <= 0) return;
    const rr_isa_ops *ops = rr_ops_get();
    int threads = rr_pool_size(pool), mr = ops->umr, nr = ops->unr;
    gemm_job j = {g, ops, align64(scratch), NULL, 0, 0, 0, 0, 0, 1, 0};
    j.pa = align64(scratch + b_block(g->N));
    /* K blocks: one when K <= the ISA's kc_max, else equal ones of at most KC */
    int kc_max = ops->kc_max > 0 ? min_i(ops->kc_max, KC_MAX) : KC;
    int kblocks = g->K <= kc_max ? 1 : (g->K + KC - 1) / KC, kstep = round_up((g->K + kblocks - 1) / kblocks, 16);
    /* row blocks: at most MB_MAX * KC / kstep rows (a multiple of MR), at least two per thread when M allows */
    int mb_max = (int)((size_t)MB_MAX * KC / (size_t)kstep) / mr * mr;
    j.mb = min_i(mb_max > mr ? mb_max : mr, round_up((g->M + 2 * threads - 1) / (2 * threads), mr));
    int rblocks = (g->M + j.mb - 1) / j.mb;
    for (j.jc = 0; j.jc < g->N; j.jc += NB_MAX) {
        j.nb = min_i(NB_MAX, g->N - j.jc);
        int np = (j.nb + nr - 1) / nr;
        /* too few row blocks to keep every thread busy: split the columns too */
        j.cgroups = rblocks >= 4 * threads ? 1 : min_i(np, (4 * threads + rblocks - 1) / rblocks);
        j.gpanels = (np + j.cgroups - 1) / j.cgroups;
        j.cgroups = (np + j.gpanels - 1) / j.gpanels;
        for (j.pc = 0; j.pc < g->K; j.pc += kstep) {
            j.kc = min_i(kstep, g->K - j.pc);
            rr_pool_run(pool, pack_b_task, &j, np);
            rr_pool_run(pool, compute_task, &j, rblocks * j.cgroups);
        }
    }
}
