/* test.h - a minimal test harness. Each TEST(name) registers itself at start-up; CHECK records a failure
 * and continues, REQUIRE stops the test. The runner (tests/main.c) prints "N passed, N failed". */
#ifndef RR_TEST_H
#define RR_TEST_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*rr_test_fn)(void);
void rr_test_register(const char *name, const char *file, rr_test_fn fn);
void rr_test_fail(const char *file, int line, const char *what, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void rr_test_count_check(void);
/* Path of a test-data file, `rel` as laid out in ../shared (e.g. "testdata/xlmr-seqcls-tiny"): the
 * repository's copy under tests/data when it has one, else $RERANK_SHARED/rel (default ../shared/rel). The
 * result lives in a rotating static buffer: use it before calling rr_shared_path 8 more times. */
#define RR_TEST_DATA "tests/data"
const char *rr_shared_path(const char *rel);
/* For data the repository may not ship (e.g. tokenizers under model licences, see tests/data/README.md):
 * checks that tests/data does not hold `rel`; true when the shared copy is there, else prints one skip line
 * naming the path and `why` and returns false. */
bool rr_shared_only(const char *rel, const char *why);
#define SKIP_UNLESS_SHARED(rel, why)                                               \
    do {                                                                           \
        if (!rr_shared_only(rel, why)) return;                                     \
    } while (0)

#define TEST(name)                                                                 \
    static void test_##name(void);                                                 \
    __attribute__((constructor)) static void register_##name(void) {               \
        rr_test_register(#name, __FILE__, test_##name);                            \
    }                                                                              \
    static void test_##name(void)

#define CHECK(cond, ...)                                                           \
    do {                                                                           \
        rr_test_count_check();                                                     \
        if (!(cond)) rr_test_fail(__FILE__, __LINE__, "CHECK(" #cond ")", "" __VA_ARGS__); \
    } while (0)

#define REQUIRE(cond, ...)                                                         \
    do {                                                                           \
        rr_test_count_check();                                                     \
        if (!(cond)) {                                                             \
            rr_test_fail(__FILE__, __LINE__, "REQUIRE(" #cond ")", "" __VA_ARGS__);   \
            return;                                                                \
        }                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                      \
    do {                                                                           \
        double a_ = (a), b_ = (b);                                                 \
        rr_test_count_check();                                                     \
        if (!(fabs(a_ - b_) <= (tol)))                                             \
            rr_test_fail(__FILE__, __LINE__, "CHECK_NEAR", "%s = %.9g, expected %s = %.9g (tol %g)", #a, a_, #b, b_, (double)(tol)); \
    } while (0)

#endif
