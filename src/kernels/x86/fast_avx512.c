/* fast_avx512.c - AVX-512 kernels: the packed-GEMM micro-kernel (14 x 32 fp32 tile) with the fused
 * bias/GELU/residual epilogue, a vectorised softmax row, and the bf16 / int8 blocks (AVX512_BF16 / VNNI,
 * and AMX tiles where present). */
#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernels/x86/x86.h"
#include "kernels/x86/simd_avx512.h"

enum { NR = 32, MR = 8 };

/* x * 0.5 * (1 + erf(x / sqrt 2)) = x * Phi(x), Phi from erfc(|x| / sqrt 2) (Numerical Recipes erfcc,
 * relative error < 1.2e-7): Phi = 1 - erfc/2 for x >= 0, erfc/2 below. */
static inline __m512 gelu16(__m512 x) {
    __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps((float)M_SQRT1_2));
    /* t = 1 / d from the 14-bit reciprocal and one Newton step (~1 ulp): a division would cost ~16 cycles per
     * vector, which bounds an AMX epilogue */
    __m512 d = _mm512_fmadd_ps(z, _mm512_set1_ps(0.5f), _mm512_set1_ps(1.0f)), t = _mm512_rcp14_ps(d);
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(d, t, _mm512_set1_ps(2.0f)));
    static const float c[] = {0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                              -0.18628806f, 0.09678418f, 0.37409196f, 1.00002368f, -1.26551223f};
    __m512 p = _mm512_set1_ps(c[0]);
    for (int i = 1; i < 10; i++) p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(c[i]));
    __m512 half_erfc = _mm512_mul_ps(_mm512_mul_ps(t, exp16(_mm512_fnmadd_ps(z, z, p))), _mm512_set1_ps(0.5f));
    __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
    __m512 phi = _mm512_mask_sub_ps(half_erfc, pos, _mm512_set1_ps(1.0f), half_erfc);
    return _mm512_mul_ps(x, phi);
}

static inline __m512 epilogue(__m512 v, float *y, __mmask16 m, const rr_epi *e, int col, const float *res) {
    if (!e->first) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, y));
    if (e->last) {
        if (e->bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->bias + col));
        if (e->act == RR_ACT_GELU) v = gelu16(v);
        if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + col));
    }
    return v;
}

/* One row's 16 results: fp32 to yr, or bf16 to br when the epilogue asks for bf16 output. */
static inline void put16(float *yr, uint16_t *br, __mmask16 m, __m512 v) {
    if (br) _mm256_mask_storeu_epi16(br, m, (__m256i)_mm512_cvtneps_pbh(v));
    else _mm512_mask_storeu_ps(yr, m, v);
}

/* ---- packed-GEMM micro-kernel: 14 rows x 32 columns = 28 zmm accumulators, 2 for the B row; the A value
 * is a broadcast memory operand of each FMA ---- */

enum { UMR = 14, UNR = 32 };

static inline __m512 uepilogue(__m512 acc, float *c, __mmask16 m, const rr_uepi *e, int col, const float *res) {
    __m512 v = e->alpha == 1.0f ? acc : _mm512_mul_ps(acc, _mm512_set1_ps(e->alpha));
    if (!e->first) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c));
    else if (e->beta != 0.0f) v = _mm512_fmadd_ps(_mm512_set1_ps(e->beta), _mm512_maskz_loadu_ps(m, c), v);
    if (e->last) {
        if (e->bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->bias + col));
        if (e->act == RR_ACT_GELU) v = gelu16(v);
        if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + col));
    }
    return v;
}

void rr_ukernel_avx512(float *c, int ldc, const float *pa, const float *pb, int kc, int mr, int nr, const rr_uepi *e) {
    /* scalar: acc[r][j] = sum_k pa[k*14 + r] * pb[k*32 + j] */
    __m512 acc[UMR][2];
#pragma GCC unroll 14
    for (int r = 0; r < UMR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int r = 0; r < mr; r++) { /* the tile of C the epilogue reads: its lines arrive during the k loop */
        _mm_prefetch((const char *)(c + (size_t)r * (size_t)ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (size_t)r * (size_t)ldc + 16), _MM_HINT_T0);
    }
    for (int k = 0; k < kc; k++, pa += UMR, pb += UNR) {
        __m512 b0 = _mm512_load_ps(pb), b1 = _mm512_load_ps(pb + 16);
#pragma GCC unroll 14
        for (int r = 0; r < UMR; r++) {
            __m512 a = _mm512_set1_ps(pa[r]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
#pragma GCC unroll 14
    for (int r = 0; r < UMR; r++) {
        if (r >= mr) break;
        float *cr = c + (size_t)r * (size_t)ldc;
        const float *res = e->res ? e->res + (size_t)r * (size_t)e->ldr : NULL;
        _mm512_mask_storeu_ps(cr, m0, uepilogue(acc[r][0], cr, m0, e, 0, res));
        if (m1) _mm512_mask_storeu_ps(cr + 16, m1, uepilogue(acc[r][1], cr + 16, m1, e, 16, res));
    }
}

/* In place 16 x 16 transpose of r[i] = row i: 8 unpacks, 8 shuffles within 128-bit lanes, 16 lane shuffles. */
static inline __attribute__((always_inline)) void tr16(__m512 r[16]) {
    __m512 a[16], b[16];
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        b[4 * i + 0] = _mm512_shuffle_ps(a[4 * i + 0], a[4 * i + 2], 0x44);
        b[4 * i + 1] = _mm512_shuffle_ps(a[4 * i + 0], a[4 * i + 2], 0xEE);
        b[4 * i + 2] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
        b[4 * i + 3] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xEE);
    }
    /* now lane L of b[4i+j] holds rows 4i..4i+3 of column 4L+j: gather the four lanes of each column */
    for (int j = 0; j < 4; j++) {
        __m512 c0 = _mm512_shuffle_f32x4(b[j], b[4 + j], 0x88);
        __m512 c1 = _mm512_shuffle_f32x4(b[j], b[4 + j], 0xDD);
        __m512 c2 = _mm512_shuffle_f32x4(b[8 + j], b[12 + j], 0x88);
        __m512 c3 = _mm512_shuffle_f32x4(b[8 + j], b[12 + j], 0xDD);
        r[j] = _mm512_shuffle_f32x4(c0, c2, 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(c0, c2, 0xDD);
        r[4 + j] = _mm512_shuffle_f32x4(c1, c3, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(c1, c3, 0xDD);
    }
}
/* rr_pack_a for cs == 1 and MR = 14: 16 steps of k of the 14 rows at a time, transposed in registers. */
void rr_pack_a_avx512(float *dst, const float *a, size_t rs, int m, int kc) {
    for (int t = 0; t * UMR < m; t++, dst += (size_t)kc * UMR) {
        int rows = m - t * UMR < UMR ? m - t * UMR : UMR;
        const float *at = a + (size_t)t * UMR * rs;
        for (int k0 = 0; k0 < kc; k0 += 16) {
            int kn = kc - k0 < 16 ? kc - k0 : 16;
            __mmask16 km = (__mmask16)((1u << kn) - 1);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < rows ? _mm512_maskz_loadu_ps(km, at + (size_t)i * rs + (size_t)k0) : _mm512_setzero_ps();
            tr16(r);
            for (int i = 0; i < kn; i++) _mm512_mask_storeu_ps(dst + (size_t)(k0 + i) * UMR, 0x3fff, r[i]);
        }
    }
}

/* pack_b of W[col, k] rows (ld) into one 32-column panel [k*32 + c], cols <= 32 of them, zero past cols. */
void rr_pack_bt_avx512(float *dst, const float *w, size_t ld, int kc, int cols) {
    for (int h = 0; h < 2; h++)
        for (int k0 = 0; k0 < kc; k0 += 16) {
            int kn = kc - k0 < 16 ? kc - k0 : 16;
            __mmask16 km = (__mmask16)((1u << kn) - 1);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = h * 16 + i < cols ? _mm512_maskz_loadu_ps(km, w + (size_t)(h * 16 + i) * ld + (size_t)k0)
                                         : _mm512_setzero_ps();
            tr16(r);
            for (int i = 0; i < kn; i++) _mm512_store_ps(dst + (size_t)(k0 + i) * UNR + h * 16, r[i]);
        }
}

void rr_softmax_avx512(float *x, int n, float scale) {
    /* scalar: x[i] = exp(scale*x[i] - scale*max) / sum */
    __m512 mx = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(x + i));
    float m = _mm512_reduce_max_ps(mx);
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    __m512 vs = _mm512_set1_ps(scale), vm = _mm512_set1_ps(scale * m), sum = _mm512_setzero_ps();
    for (i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = exp16(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(k, x + i), vs, vm));
        v = _mm512_maskz_mov_ps(k, v);
        sum = _mm512_add_ps(sum, v);
        _mm512_mask_storeu_ps(x + i, k, v);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inv));
    }
}

/* ---- bf16 (vdpbf16ps) and int8 (vpdpbusd) blocks: 8 rows x 32 columns, whole K in one pass ---- */

static inline __attribute__((always_inline)) void tile_bf16(int mr, float *y, int ldy, const uint16_t *x, int ldx,
                                                            const uint16_t *p, int kc, int ncr, const rr_epi *e,
                                                            int col, int row) {
    /* scalar: acc[r][c] = sum_k bf16(x[r*ldx + k]) * bf16(W[c, k]), pairs (k, k+1) per dot-product step */
    __m512 acc[MR][2];
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k += 2) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(p + (size_t)k * NR), b1 = (__m512bh)_mm512_loadu_si512(p + (size_t)k * NR + 32);
        /* unrolled (mr is a constant, at most MR): a kept row loop loads and stores every accumulator per k */
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++) {
            int32_t pair;
            __builtin_memcpy(&pair, x + (size_t)r * (size_t)ldx + (size_t)k, sizeof pair);
            __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
        }
    }
    __mmask16 m0 = ncr >= 16 ? 0xffff : (__mmask16)((1u << ncr) - 1);
    __mmask16 m1 = ncr >= 32 ? 0xffff : ncr <= 16 ? 0 : (__mmask16)((1u << (ncr - 16)) - 1);
    for (int r = 0; r < mr; r++) {
        float *yr = y + (size_t)r * (size_t)ldy;
        uint16_t *br = e->ybf ? e->ybf + (size_t)r * (size_t)e->ldbf : NULL;
        const float *res = e->res ? e->res + (size_t)(row + r) * (size_t)e->ldr : NULL;
        put16(yr, br, m0, epilogue(acc[r][0], yr, m0, e, col, res));
        if (m1) put16(yr + 16, br ? br + 16 : NULL, m1, epilogue(acc[r][1], yr + 16, m1, e, col + 16, res));
    }
}

/* ---- AMX (Sapphire Rapids tiles): 32 x 32 output blocks, the same bf16 products with fp32 accumulation ---- */

static int amx_state; /* 1 usable, 0 not; set once */
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void amx_probe(void) {
    unsigned a, b, c, d;
    const char *env = getenv("RERANK_AMX");
    if (env && !strcmp(env, "0")) return;
    /* AMX-TILE (bit 24), AMX-BF16 (22), AMX-INT8 (25) */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 22)) || !(d & (1u << 25))) return;
    /* Linux hands out the tile data state on request (ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) */
    amx_state = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
}

bool rr_amx_usable(void) {
    pthread_once(&amx_once, amx_probe);
    return amx_state == 1;
}

typedef struct tile_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_cfg;

/* A finished 32 x 32 block of C waiting for its epilogue, run a few rows at a time between the tile products of
 * the next block: the vector units then work while the AMX unit does (a GELU epilogue alone cost 25% of a bf16
 * product, 45% of an int8 one). int8 blocks hold int32 sums and are scaled first. */
typedef struct pending {
    const void *buf; /* [32][32] fp32 (bf16 blocks) or int32 (int8 blocks) */
    int r0, c0, next;
    __mmask16 m0, m1;
    rr_epi ee;       /* bias at the block's first column */
    bool live;
    /* int8 only */
    const float *xscale;
    __m512i c128_0, c128_1;
    __m512 ws0, ws1;
} pending;

static inline pending pending_block(const void *buf, int r0, int c0, int nc, const rr_epi *e) {
    int ncr = nc - c0 < NR ? nc - c0 : NR;
    pending p = {buf, r0, c0, 0, ncr >= 16 ? 0xffff : (__mmask16)((1u << ncr) - 1),
                 ncr >= 32 ? 0xffff : ncr <= 16 ? 0 : (__mmask16)((1u << (ncr - 16)) - 1), *e, true, NULL,
                 _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    p.ee.bias = e->bias ? e->bias + c0 : NULL;
    return p;
}

/* Rows [p->next, upto) of a pending block (upto <= 32) through the epilogue into y / ybf. */
static inline void pending_rows(pending *p, float *y, int ldy, const rr_epi *e, int upto, bool int8) {
    for (; p->next < upto; p->next++) {
        int r = p->next, row = p->r0 + r;
        float *yr = y + (size_t)row * (size_t)ldy + p->c0;
        uint16_t *br = e->ybf ? e->ybf + (size_t)row * (size_t)e->ldbf + p->c0 : NULL;
        const float *res = e->res ? e->res + (size_t)row * (size_t)e->ldr + p->c0 : NULL;
        __m512 v0, v1 = _mm512_setzero_ps();
        if (int8) {
            const int32_t *acc = (const int32_t *)p->buf + r * 32;
            __m512 xs = _mm512_set1_ps(p->xscale[row]);
            v0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_load_si512(acc), p->c128_0)), _mm512_mul_ps(p->ws0, xs));
            if (p->m1)
                v1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_load_si512(acc + 16), p->c128_1)),
                                   _mm512_mul_ps(p->ws1, xs));
        } else {
            const float *acc = (const float *)p->buf + r * 32;
            v0 = _mm512_load_ps(acc);
            if (p->m1) v1 = _mm512_load_ps(acc + 16);
        }
        put16(yr, br, p->m0, epilogue(v0, yr, p->m0, &p->ee, 0, res));
        if (p->m1) put16(yr + 16, br ? br + 16 : NULL, p->m1, epilogue(v1, yr + 16, p->m1, &p->ee, 16, res));
    }
}

/* Rows [0, 32*(m/32)) of the block: C tiles 0-3 (2 x 2 of 16 x 16 fp32), A tiles 4-5 (16 rows x 32 bf16),
 * B tiles 6-7 (16 pairs x 16 columns); kc % 32 == 0. */
__attribute__((target("amx-tile,amx-bf16"))) static void amx_rows(float *y, int ldy, const uint16_t *x, int ldx,
                                                                     const uint16_t *pb, size_t pstride, int m,
                                                                     int kc, int nc, const rr_epi *e) {
    /* scalar: C[r][c] = sum_k bf16(x[r,k]) * bf16(W[c,k]) as in tile_bf16 */
    tile_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
    _tile_loadconfig(&cfg);
    float buf[2][32 * 32] __attribute__((aligned(64)));
    pending p = {0};
    int which = 0, steps = kc / 32, per = (32 + steps - 1) / steps;
    for (int r0 = 0; r0 + 32 <= m; r0 += 32) {
        const uint16_t *x0 = x + (size_t)r0 * (size_t)ldx, *x1 = x0 + (size_t)16 * (size_t)ldx;
        for (int c0 = 0; c0 < nc; c0 += NR) {
            const uint16_t *pp = pb + (size_t)(c0 / NR) * pstride;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (int k = 0, s = 1; k < kc; k += 32, s++) {
                _tile_loadd(4, x0 + k, ldx * 2);
                _tile_loadd(5, x1 + k, ldx * 2);
                _tile_loadd(6, pp + (size_t)k * NR, NR * 4);
                _tile_loadd(7, pp + (size_t)k * NR + 32, NR * 4);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
                if (p.live) pending_rows(&p, y, ldy, e, s * per < 32 ? s * per : 32, false);
            }
            if (p.live) pending_rows(&p, y, ldy, e, 32, false);
            _tile_stored(0, buf[which], 128);
            _tile_stored(1, buf[which] + 16, 128);
            _tile_stored(2, buf[which] + 16 * 32, 128);
            _tile_stored(3, buf[which] + 16 * 32 + 16, 128);
            p = pending_block(buf[which], r0, c0, nc, e);
            which ^= 1;
        }
    }
    if (p.live) pending_rows(&p, y, ldy, e, 32, false);
    _tile_release();
}

/* Packed bf16 panels hold column c's pair at [k*32 + 2c]: lanes 0-15 of a 64-byte load are columns 0-15.
 * Whole 32-row groups go to AMX where the CPU and kernel allow it. */
void rr_block_bf16_avx512(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *pb, size_t pstride, int m,
                          int kc, int nc, const rr_epi *e) {
    int done = 0;
    if (m >= 32 && kc % 32 == 0 && rr_amx_usable()) {
        amx_rows(y, ldy, x, ldx, pb, pstride, m, kc, nc, e);
        done = m / 32 * 32;
    }
    for (int r0 = done; r0 < m; r0 += MR) {
        int mr = m - r0 < MR ? m - r0 : MR;
        const uint16_t *xr = x + (size_t)r0 * (size_t)ldx;
        for (int c0 = 0; c0 < nc; c0 += NR) {
            float *yt = y + (size_t)r0 * (size_t)ldy + c0;
            const uint16_t *p = pb + (size_t)(c0 / NR) * pstride;
            int ncr = nc - c0 < NR ? nc - c0 : NR;
            const rr_epi *ee = e;
            rr_epi shifted = *e; /* bias/res columns relative to this panel */
            shifted.bias = e->bias ? e->bias + c0 : NULL;
            shifted.res = e->res ? e->res + c0 : NULL;
            shifted.ybf = e->ybf ? e->ybf + (size_t)r0 * (size_t)e->ldbf + c0 : NULL;
            ee = &shifted;
            switch (mr) {
            case 8: tile_bf16(8, yt, ldy, xr, ldx, p, kc, ncr, ee, 0, r0); break;
            case 7: tile_bf16(7, yt, ldy, xr, ldx, p, kc, ncr, ee, 0, r0); break;
            case 6: tile_bf16(6, yt, ldy, xr, ldx, p, kc, ncr, ee, 0, r0); break;
            case 5: tile_bf16(5, yt, ldy, xr, ldx, p, kc, ncr, ee, 0, r0); break;
            case 4: tile_bf16(4, yt, ldy, xr, ldx, p, kc, ncr, ee, 0, r0); break;
            case 3: tile_bf16(3, yt, ldy, xr, ldx, p, kc, ncr, ee, 0, r0); break;
            case 2: tile_bf16(2, yt, ldy, xr, ldx, p, kc, ncr, ee, 0, r0); break;
            default: tile_bf16(1, yt, ldy, xr, ldx, p, kc, ncr, ee, 0, r0); break;
            }
        }
    }
}

static inline __attribute__((always_inline)) void tile_int8(int mr, float *y, int ldy, const uint8_t *x, int ldx,
                                                            const float *xscale, const int8_t *p, const float *wscale,
                                                            const int32_t *colsum, int kc, int ncr, const rr_epi *e,
                                                            int row) {
    /* scalar: acc[r][c] = sum_k (q(x)[r,k] + 128) * q(W)[c,k]; y = (acc - 128*colsum[c]) * xs[r] * ws[c] */
    __m512i acc[MR][2];
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
    for (int k = 0; k < kc; k += 4) {
        __m512i b0 = _mm512_loadu_si512(p + (size_t)k * NR), b1 = _mm512_loadu_si512(p + (size_t)k * NR + 64);
        /* unrolled as in tile_bf16 */
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++) {
            int32_t quad;
            __builtin_memcpy(&quad, x + (size_t)r * (size_t)ldx + (size_t)k, sizeof quad);
            __m512i a = _mm512_set1_epi32(quad);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], a, b0);
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], a, b1);
        }
    }
    __mmask16 m0 = ncr >= 16 ? 0xffff : (__mmask16)((1u << ncr) - 1);
    __mmask16 m1 = ncr >= 32 ? 0xffff : ncr <= 16 ? 0 : (__mmask16)((1u << (ncr - 16)) - 1);
    __m512i sums[MR][2]; /* a copy for the epilogue: indexed by its row loop, acc went through memory at every k */
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) sums[r][0] = acc[r][0], sums[r][1] = acc[r][1];
    __m512i c128_0 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m0, colsum), 7);
    __m512i c128_1 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m1, colsum + 16), 7);
    __m512 ws0 = _mm512_maskz_loadu_ps(m0, wscale), ws1 = _mm512_maskz_loadu_ps(m1, wscale + 16);
    for (int r = 0; r < mr; r++) {
        float *yr = y + (size_t)r * (size_t)ldy;
        uint16_t *br = e->ybf ? e->ybf + (size_t)r * (size_t)e->ldbf : NULL;
        const float *res = e->res ? e->res + (size_t)(row + r) * (size_t)e->ldr : NULL;
        __m512 xs = _mm512_set1_ps(xscale[r]);
        __m512 v0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(sums[r][0], c128_0)), _mm512_mul_ps(ws0, xs));
        put16(yr, br, m0, epilogue(v0, yr, m0, e, 0, res));
        if (m1) {
            __m512 v1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(sums[r][1], c128_1)), _mm512_mul_ps(ws1, xs));
            put16(yr + 16, br ? br + 16 : NULL, m1, epilogue(v1, yr + 16, m1, e, 16, res));
        }
    }
}

/* AMX-INT8 (tdpbusd) over whole 32-row groups: tiles as in amx_rows with 64 int8 per A row / B quad row;
 * kc % 64 == 0. */
__attribute__((target("amx-tile,amx-int8"))) static void amx_rows_int8(float *y, int ldy, const uint8_t *x, int ldx,
                                                                         const float *xscale, const int8_t *pb,
                                                                         size_t pstride, const float *wscale,
                                                                         const int32_t *colsum, int m, int kc, int nc,
                                                                         const rr_epi *e) {
    /* scalar: as tile_int8 */
    tile_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
    _tile_loadconfig(&cfg);
    int32_t buf[2][32 * 32] __attribute__((aligned(64)));
    pending p = {0};
    int which = 0, steps = kc / 64, per = (32 + steps - 1) / steps;
    for (int r0 = 0; r0 + 32 <= m; r0 += 32) {
        const uint8_t *x0 = x + (size_t)r0 * (size_t)ldx, *x1 = x0 + (size_t)16 * (size_t)ldx;
        for (int c0 = 0; c0 < nc; c0 += NR) {
            const int8_t *pp = pb + (size_t)(c0 / NR) * pstride;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (int k = 0, s = 1; k < kc; k += 64, s++) {
                _tile_loadd(4, x0 + k, ldx);
                _tile_loadd(5, x1 + k, ldx);
                _tile_loadd(6, pp + (size_t)k * NR, NR * 4);
                _tile_loadd(7, pp + (size_t)k * NR + 64, NR * 4);
                _tile_dpbusd(0, 4, 6);
                _tile_dpbusd(1, 4, 7);
                _tile_dpbusd(2, 5, 6);
                _tile_dpbusd(3, 5, 7);
                if (p.live) pending_rows(&p, y, ldy, e, s * per < 32 ? s * per : 32, true);
            }
            if (p.live) pending_rows(&p, y, ldy, e, 32, true);
            _tile_stored(0, buf[which], 128);
            _tile_stored(1, buf[which] + 16, 128);
            _tile_stored(2, buf[which] + 16 * 32, 128);
            _tile_stored(3, buf[which] + 16 * 32 + 16, 128);
            p = pending_block(buf[which], r0, c0, nc, e);
            p.xscale = xscale;
            p.c128_0 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(p.m0, colsum + c0), 7);
            p.c128_1 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(p.m1, colsum + c0 + 16), 7);
            p.ws0 = _mm512_maskz_loadu_ps(p.m0, wscale + c0);
            p.ws1 = _mm512_maskz_loadu_ps(p.m1, wscale + c0 + 16);
            which ^= 1;
        }
    }
    if (p.live) pending_rows(&p, y, ldy, e, 32, true);
    _tile_release();
}

void rr_block_int8_avx512(float *y, int ldy, const uint8_t *x, int ldx, const float *xscale, const int8_t *pb,
                          size_t pstride, const float *wscale, const int32_t *colsum, int m, int kc, int nc,
                          const rr_epi *e) {
    int done = 0;
    if (m >= 32 && kc % 64 == 0 && rr_amx_usable()) {
        amx_rows_int8(y, ldy, x, ldx, xscale, pb, pstride, wscale, colsum, m, kc, nc, e);
        done = m / 32 * 32;
    }
    for (int r0 = done; r0 < m; r0 += MR) {
        int mr = m - r0 < MR ? m - r0 : MR;
        const uint8_t *xr = x + (size_t)r0 * (size_t)ldx;
        for (int c0 = 0; c0 < nc; c0 += NR) {
            float *yt = y + (size_t)r0 * (size_t)ldy + c0;
            const int8_t *p = pb + (size_t)(c0 / NR) * pstride;
            int ncr = nc - c0 < NR ? nc - c0 : NR;
            rr_epi ee = *e;
            ee.bias = e->bias ? e->bias + c0 : NULL;
            ee.res = e->res ? e->res + c0 : NULL;
            ee.ybf = e->ybf ? e->ybf + (size_t)r0 * (size_t)e->ldbf + c0 : NULL;
            const float *xs = xscale + r0, *ws = wscale + c0;
            const int32_t *cs = colsum + c0;
            switch (mr) {
            case 8: tile_int8(8, yt, ldy, xr, ldx, xs, p, ws, cs, kc, ncr, &ee, r0); break;
            case 7: tile_int8(7, yt, ldy, xr, ldx, xs, p, ws, cs, kc, ncr, &ee, r0); break;
            case 6: tile_int8(6, yt, ldy, xr, ldx, xs, p, ws, cs, kc, ncr, &ee, r0); break;
            case 5: tile_int8(5, yt, ldy, xr, ldx, xs, p, ws, cs, kc, ncr, &ee, r0); break;
            case 4: tile_int8(4, yt, ldy, xr, ldx, xs, p, ws, cs, kc, ncr, &ee, r0); break;
            case 3: tile_int8(3, yt, ldy, xr, ldx, xs, p, ws, cs, kc, ncr, &ee, r0); break;
            case 2: tile_int8(2, yt, ldy, xr, ldx, xs, p, ws, cs, kc, ncr, &ee, r0); break;
            default: tile_int8(1, yt, ldy, xr, ldx, xs, p, ws, cs, kc, ncr, &ee, r0); break;
            }
        }
    }
}

/* ---- row conversions for the low-precision blocks, and LayerNorm ---- */

void rr_to_bf16_avx512(uint16_t *dst, const float *x, int n) {
    int i = 0;
    for (; i + 32 <= n; i += 32)
        _mm512_storeu_si512(dst + i, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i)));
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(dst + i, k, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(k, x + i)));
    }
}

float rr_quant_row_avx512(uint8_t *dst, const float *x, int n, int kq) {
    __m512 mx = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_maskz_loadu_ps(k, x + i)));
    }
    float amax = _mm512_reduce_max_ps(mx);
    float sc = amax > 0 ? amax / 127.0f : 1.0f, inv = 127.0f / (amax > 0 ? amax : 127.0f);
    __m512 vinv = _mm512_set1_ps(inv);
    __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127), off = _mm512_set1_epi32(128);
    for (int i = 0; i < n; i += 16) { /* cvtps rounds to nearest even, as nearbyintf */
        __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), vinv));
        q = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q, lo), hi), off);
        _mm_mask_storeu_epi8(dst + i, k, _mm512_cvtepi32_epi8(q));
    }
    for (int i = n; i < kq; i++) dst[i] = 128;
    return sc;
}

void rr_layernorm_row_avx512(float *y, const float *x, const float *w, const float *b, int dim, float eps) {
    /* scalar: mean, then the centred sum of squares (two passes, as the reference), in 16 fp32 lanes */
    __m512 s = _mm512_setzero_ps();
    for (int i = 0; i < dim; i += 16) {
        __mmask16 k = dim - i >= 16 ? 0xffff : (__mmask16)((1u << (dim - i)) - 1);
        s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(k, x + i));
    }
    float mean = _mm512_reduce_add_ps(s) / (float)dim;
    __m512 vm = _mm512_set1_ps(mean), q = _mm512_setzero_ps();
    for (int i = 0; i < dim; i += 16) {
        __mmask16 k = dim - i >= 16 ? 0xffff : (__mmask16)((1u << (dim - i)) - 1);
        __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, x + i), vm);
        q = _mm512_fmadd_ps(d, d, q);
    }
    __m512 rstd = _mm512_set1_ps(1.0f / sqrtf(_mm512_reduce_add_ps(q) / (float)dim + eps));
    for (int i = 0; i < dim; i += 16) {
        __mmask16 k = dim - i >= 16 ? 0xffff : (__mmask16)((1u << (dim - i)) - 1);
        __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm), rstd);
        _mm512_mask_storeu_ps(y + i, k, _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(k, w + i), _mm512_maskz_loadu_ps(k, b + i)));
    }
}

/* ---- attention on AMX-BF16: one query block of one head (see rr_att_block_amx in fast_impl.h) ---- */

/* Tiles 0-7 all 16 rows x 64 bytes. */
__attribute__((target("amx-tile"))) static void amx_config16(void) {
    tile_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
    _tile_loadconfig(&cfg);
}


/* Key j of the two segments: the cached prefix's rows first, then the sequence's own. */
static inline const float *key_row(const float *past, int n_past, const float *own, size_t ld, int j) {
    return j < n_past ? past + (size_t)j * ld : own + (size_t)(j - n_past) * ld;
}

void rr_att_amx_pack(float *scratch, const float *k_past, const float *v_past, int n_past, const float *k,
                     const float *v, size_t ld_kv, int nk, int hd) {
    int tp = (nk + 31) / 32 * 32, pairs = hd / 2;
    uint16_t *kp = (uint16_t *)scratch;                /* K^T: 16-key panels of [pairs][16 keys][2] */
    uint16_t *vp = kp + (size_t)tp * (size_t)hd;       /* V: [tp / 2 key pairs][hd][2] */
    /* K rows in bf16 (in vp for now), then each 16 keys x 16 pairs block transposed into its panel */
    for (int j = 0; j < tp; j++) {
        uint16_t *d = vp + (size_t)j * (size_t)hd;
        if (j < nk) rr_to_bf16_avx512(d, key_row(k_past, n_past, k, ld_kv, j), hd);
        else memset(d, 0, (size_t)hd * sizeof *d);
    }
    for (int p = 0; p < tp / 16; p++)
        for (int g = 0; g < pairs / 16; g++) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps((const float *)(vp + (size_t)(p * 16 + i) * (size_t)hd) + g * 16);
            tr16(r);
            float *panel = (float *)(kp + (size_t)p * 16 * (size_t)hd);
            for (int i = 0; i < 16; i++) _mm512_store_ps(panel + (size_t)(g * 16 + i) * 16, r[i]);
        }
    /* V: the two keys of a pair interleaved per column */
    const __m512i inter = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37,
                                           5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    for (int kq = 0; kq < tp / 2; kq++) {
        int j0 = 2 * kq, j1 = 2 * kq + 1;
        const float *a0 = j0 < nk ? key_row(v_past, n_past, v, ld_kv, j0) : NULL;
        const float *b0 = j1 < nk ? key_row(v_past, n_past, v, ld_kv, j1) : NULL;
        uint16_t *d = vp + (size_t)kq * (size_t)hd * 2;
        for (int c = 0; c < hd; c += 16) {
            __m512 a = a0 ? _mm512_loadu_ps(a0 + c) : _mm512_setzero_ps();
            __m512 b = b0 ? _mm512_loadu_ps(b0 + c) : _mm512_setzero_ps();
            __m512i ab = _mm512_permutex2var_epi16(_mm512_castsi256_si512((__m256i)_mm512_cvtneps_pbh(a)), inter,
                                                   _mm512_castsi256_si512((__m256i)_mm512_cvtneps_pbh(b)));
            _mm512_storeu_si512(d + (size_t)c * 2, ab);
        }
    }
}

/* softmax(scale * row[0, n)) rounded to bf16, written over the row's own memory as tp bf16 (zeros past n):
 * max, then exp and sum (kept in place), then scale by 1 / sum while rounding (rr_softmax_avx512's arithmetic,
 * one pass fewer). */
static void softmax_row_bf16(float *row, int n, int tp, float scale) {
    uint16_t *prow = (uint16_t *)row;
    __m512 inv = _mm512_setzero_ps();
    if (n > 0) {
        __m512 mx = _mm512_set1_ps(-INFINITY);
        for (int i = 0; i < n; i += 16) {
            __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
            mx = _mm512_mask_max_ps(mx, k, mx, _mm512_maskz_loadu_ps(k, row + i));
        }
        __m512 vs = _mm512_set1_ps(scale), vm = _mm512_set1_ps(scale * _mm512_reduce_max_ps(mx)), sum = _mm512_setzero_ps();
        for (int i = 0; i < n; i += 16) {
            __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
            __m512 v = _mm512_maskz_mov_ps(k, exp16(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(k, row + i), vs, vm)));
            sum = _mm512_add_ps(sum, v);
            _mm512_mask_storeu_ps(row + i, k, v);
        }
        inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    }
    /* in place: the bf16 store of elements [c, c+32) covers bytes of fp32 elements below c only */
    for (int c = 0; c < tp; c += 32) {
        __mmask16 m0 = n - c >= 16 ? 0xffff : n - c <= 0 ? 0 : (__mmask16)((1u << (n - c)) - 1);
        __mmask16 m1 = n - c >= 32 ? 0xffff : n - c <= 16 ? 0 : (__mmask16)((1u << (n - c - 16)) - 1);
        __m512 a = _mm512_mul_ps(_mm512_maskz_loadu_ps(m0, row + c), inv);
        __m512 b = _mm512_mul_ps(_mm512_maskz_loadu_ps(m1, row + c + 16), inv);
        _mm512_storeu_si512(prow + c, (__m512i)_mm512_cvtne2ps_pbh(b, a));
    }
}

__attribute__((target("amx-tile,amx-bf16"))) void rr_att_amx_block(float *out, size_t ld_out, const float *q, size_t ld_q,
                                                                     int qn, int q_pos, int nk, int hd, float *scratch) {
    /* scalar: out[r] = sum_j softmax_j(bf16(q[r]) . bf16(k[j]) / sqrt(hd)) rounded to bf16 * bf16(v[j]) */
    int tp = (nk + 31) / 32 * 32, qp = (qn + 15) / 16 * 16;
    const uint16_t *kp = (const uint16_t *)scratch, *vp = kp + (size_t)tp * (size_t)hd;
    float *S = scratch + (size_t)tp * (size_t)hd;       /* [qp, tp] scores; row r's P in bf16 in place */
    uint16_t *qb = (uint16_t *)(S + (size_t)qp * (size_t)tp);
    float *ob = (float *)(qb + (size_t)qp * (size_t)hd);
    for (int r = 0; r < qp; r++) {
        uint16_t *d = qb + (size_t)r * (size_t)hd;
        if (r < qn) rr_to_bf16_avx512(d, q + (size_t)r * ld_q, hd);
        else memset(d, 0, (size_t)hd * sizeof *d);
    }
    amx_config16();
    /* S = Q K^T: 16 query rows x 32 keys per block (tiles 0-1), 32 dims per step */
    for (int r0 = 0; r0 < qp; r0 += 16) {
        int kend = q_pos < 0 ? tp : (q_pos + r0 + 16 + 31) / 32 * 32; /* causal: keys past the block's last row unused */
        for (int j0 = 0; j0 < tp && j0 < kend; j0 += 32) {
            _tile_zero(0);
            _tile_zero(1);
            const uint16_t *p0 = kp + (size_t)j0 * (size_t)hd, *p1 = p0 + (size_t)16 * (size_t)hd;
            for (int d = 0; d < hd; d += 32) {
                _tile_loadd(2, qb + (size_t)r0 * (size_t)hd + (size_t)d, hd * 2);
                _tile_loadd(3, p0 + (size_t)d * 16, 64);
                _tile_loadd(4, p1 + (size_t)d * 16, 64);
                _tile_dpbf16ps(0, 2, 3);
                _tile_dpbf16ps(1, 2, 4);
            }
            _tile_stored(0, S + (size_t)r0 * (size_t)tp + (size_t)j0, tp * 4);
            _tile_stored(1, S + (size_t)r0 * (size_t)tp + (size_t)j0 + 16, tp * 4);
        }
    }
    /* softmax over each row's visible keys, then the row as bf16 in place (zeros past them and past nk) */
    float scale = 1.0f / sqrtf((float)hd);
    for (int r = 0; r < qp; r++) {
        float *row = S + (size_t)r * (size_t)tp;
        int n = r >= qn ? 0 : q_pos >= 0 && q_pos + r + 1 < nk ? q_pos + r + 1 : nk;
        softmax_row_bf16(row, n, tp, scale);
    }
    /* out = P V: 16 rows x up to 64 columns per pass (tiles 0-3), 32 keys per step */
    for (int r0 = 0; r0 < qp; r0 += 16) {
        int kend = q_pos < 0 ? tp : (q_pos + r0 + 16 + 31) / 32 * 32;
        for (int c0 = 0; c0 < hd; c0 += 64) {
            int nt = hd - c0 >= 64 ? 4 : (hd - c0) / 16;
            _tile_zero(0); /* tile numbers must be constants: nt <= 4 tiles by hand */
            if (nt > 1) _tile_zero(1);
            if (nt > 2) _tile_zero(2);
            if (nt > 3) _tile_zero(3);
            for (int j0 = 0; j0 < tp && j0 < kend; j0 += 32) {
                _tile_loadd(4, (const uint16_t *)(S + (size_t)r0 * (size_t)tp) + j0, tp * 4);
                const uint16_t *vb = vp + (size_t)(j0 / 2) * (size_t)hd * 2 + (size_t)c0 * 2;
                _tile_loadd(5, vb, hd * 4);
                _tile_dpbf16ps(0, 4, 5);
                if (nt > 1) {
                    _tile_loadd(6, vb + 32, hd * 4);
                    _tile_dpbf16ps(1, 4, 6);
                }
                if (nt > 2) {
                    _tile_loadd(7, vb + 64, hd * 4);
                    _tile_dpbf16ps(2, 4, 7);
                }
                if (nt > 3) {
                    _tile_loadd(5, vb + 96, hd * 4);
                    _tile_dpbf16ps(3, 4, 5);
                }
            }
            _tile_stored(0, ob + c0, hd * 4);
            if (nt > 1) _tile_stored(1, ob + c0 + 16, hd * 4);
            if (nt > 2) _tile_stored(2, ob + c0 + 32, hd * 4);
            if (nt > 3) _tile_stored(3, ob + c0 + 48, hd * 4);
        }
        for (int r = r0; r < qn && r < r0 + 16; r++)
            memcpy(out + (size_t)r * ld_out, ob + (size_t)(r - r0) * (size_t)hd, (size_t)hd * sizeof *ob);
    }
    _tile_release();
}
