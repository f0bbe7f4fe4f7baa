/* bench_ports.c - throughput of the AVX2 instruction mixes an int8 or fp32 dot product can be built from, on
 * one core: why int8 on an AVX2 CPU without VNNI runs at most ~1.5x fp32. Each loop keeps 4-8 independent
 * accumulators (more than latency x throughput needs) on loop-invariant inputs, so only the execution ports
 * bound it. Prints multiply-adds per nanosecond and per cycle (the cycle from a chain of dependent adds).
 *
 *   build/bench_ports                      (x86-64 with AVX2 only; elsewhere it says so and exits 0)
 *
 * The mixes, per 256-bit vector:
 *   fma        vfmadd231ps                          8 fp32 multiply-adds (the fp32 GEMM's inner step)
 *   exact-int8 vpsignb, vpmaddubsw, vpmaddwd, vpaddd 32 int8 multiply-adds, |x| * sign-moved w: pair sums
 *              <= 2 * 127 * 127 fit int16, so the sums equal VNNI's (rerank's avx2-maddubs kernel)
 *   sat-int8   vpmaddubsw, vpmaddwd, vpaddd          32 u8 * s8 multiply-adds whose int16 pair sums may
 *              saturate (255 * 127 * 2 > 32767): the scheme of ONNX Runtime's AVX2 u8s8 kernel
 *   int16      vpmaddwd, vpaddd                      16 int16 multiply-adds (int8 widened to int16) */
#include <stdio.h>
#include <time.h>

#if defined(__x86_64__)
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

enum { ITERS = 50000000 };

/* Clears the registers the loops use, then runs `body` ITERS times; seconds. */
#define TIMED_LOOP(body)                                                                                          \
    ({                                                                                                            \
        long n_ = ITERS;                                                                                          \
        double t_ = now();                                                                                        \
        __asm__ volatile("vpxor %%ymm0,%%ymm0,%%ymm0\n vpxor %%ymm1,%%ymm1,%%ymm1\n vpxor %%ymm2,%%ymm2,%%ymm2\n"   \
                         "vpxor %%ymm3,%%ymm3,%%ymm3\n vpxor %%ymm12,%%ymm12,%%ymm12\n"                             \
                         "1:\n" body "dec %0\n jnz 1b\n"                                                          \
                         : "+r"(n_)::"memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",    \
                           "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");                \
        now() - t_;                                                                                               \
    })

/* inputs x: ymm0-1, w: ymm2-3, ones: ymm12; accumulators ymm4-11; temporaries ymm13-15 */
#define FMA8                                                                                                       \
    "vfmadd231ps %%ymm0,%%ymm2,%%ymm4\n vfmadd231ps %%ymm0,%%ymm3,%%ymm5\n vfmadd231ps %%ymm1,%%ymm2,%%ymm6\n"     \
    "vfmadd231ps %%ymm1,%%ymm3,%%ymm7\n vfmadd231ps %%ymm0,%%ymm2,%%ymm8\n vfmadd231ps %%ymm0,%%ymm3,%%ymm9\n"     \
    "vfmadd231ps %%ymm1,%%ymm2,%%ymm10\n vfmadd231ps %%ymm1,%%ymm3,%%ymm11\n"
#define EXACT(x, w, t, acc)                                                                                        \
    "vpsignb %%" x ",%%" w ",%%" t "\n vpmaddubsw %%" t ",%%" x ",%%" t "\n vpmaddwd %%ymm12,%%" t ",%%" t         \
    "\n vpaddd %%" t ",%%" acc ",%%" acc "\n"
#define SAT(x, w, t, acc)                                                                                          \
    "vpmaddubsw %%" w ",%%" x ",%%" t "\n vpmaddwd %%ymm12,%%" t ",%%" t "\n vpaddd %%" t ",%%" acc ",%%" acc "\n"
#define I16(x, w, t, acc) "vpmaddwd %%" x ",%%" w ",%%" t "\n vpaddd %%" t ",%%" acc ",%%" acc "\n"
#define FOUR(M)                                                                                                    \
    M("ymm0", "ymm2", "ymm13", "ymm4") M("ymm0", "ymm3", "ymm14", "ymm5") M("ymm1", "ymm2", "ymm15", "ymm6")       \
        M("ymm1", "ymm3", "ymm11", "ymm7")

int main(void) {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        printf("bench_ports: this CPU has no AVX2/FMA; nothing to measure\n");
        return 0;
    }
    long n = 400000000;
    double t = now();
    __asm__ volatile("1: add $1,%%rax\n add $1,%%rax\n add $1,%%rax\n add $1,%%rax\n dec %0\n jnz 1b\n"
                     : "+r"(n)::"rax");
    double ghz = 4.0 * 400000000.0 / (now() - t) / 1e9; /* one dependent add per cycle */
    printf("clock ~%.2f GHz (a chain of dependent adds)\n", ghz);
    struct {
        const char *name;
        double seconds, macs_per_iter;
    } r[] = {
        {"fma (fp32)", TIMED_LOOP(FMA8 FMA8), 16 * 8},
        {"exact-int8 (sign+maddubs+maddwd+add)", TIMED_LOOP(FOUR(EXACT) FOUR(EXACT)), 8 * 32},
        {"sat-int8 (maddubs+maddwd+add)", TIMED_LOOP(FOUR(SAT) FOUR(SAT)), 8 * 32},
        {"int16 (maddwd+add)", TIMED_LOOP(FOUR(I16) FOUR(I16)), 8 * 16},
    };
    double fma_rate = 0;
    for (size_t i = 0; i < sizeof r / sizeof *r; i++) {
        double rate = ITERS * r[i].macs_per_iter / r[i].seconds / 1e9;
        if (i == 0) fma_rate = rate;
        printf("%-40s %6.1f multiply-adds/ns  %5.1f per cycle  %.2fx fma\n", r[i].name, rate, rate / ghz,
               rate / fma_rate);
    }
    return 0;
}
#else
int main(void) {
    printf("bench_ports: x86-64 only\n");
    return 0;
}
#endif
