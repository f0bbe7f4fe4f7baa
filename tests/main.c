/* main.c - the test runner: runs every registered test (or those whose name or file contains one of the
 * arguments: `make test T="golden tok_"`) and ends with the line "N passed, N failed". A test that makes no
 * check counts as failed. */
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

typedef struct {
    const char *name, *file;
    rr_test_fn fn;
} test_entry;

static test_entry *tests;
static size_t n_tests, cap_tests;
static int current_failures;
static long current_checks;

void rr_test_register(const char *name, const char *file, rr_test_fn fn) {
    if (n_tests == cap_tests) {
        cap_tests = cap_tests ? 2 * cap_tests : 64;
        tests = realloc(tests, cap_tests * sizeof *tests);
        if (!tests) abort();
    }
    tests[n_tests++] = (test_entry){name, file, fn};
}

void rr_test_count_check(void) { current_checks++; }

void rr_test_fail(const char *file, int line, const char *what, const char *fmt, ...) {
    if (current_failures < 10) {
        fprintf(stderr, "    %s:%d: %s ", file, line, what);
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    current_failures++;
}

/* The repository's own copy (tests/data, laid out as ../shared is) first: a fresh clone runs its tests. */
const char *rr_shared_path(const char *rel) {
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", RR_TEST_DATA, rel);
    if (access(b, F_OK) == 0) return b;
    const char *root = getenv("RERANK_SHARED");
    if (!root || !*root) root = "../shared";
    snprintf(b, sizeof bufs[0], "%s/%s", root, rel);
    return b;
}

bool rr_shared_only(const char *rel, const char *why) {
    char in_repo[1024];
    snprintf(in_repo, sizeof in_repo, "%s/%s", RR_TEST_DATA, rel);
    rr_test_count_check();
    if (access(in_repo, F_OK) == 0)
        rr_test_fail(__FILE__, __LINE__, "rr_shared_only", "%s is in the repository, but may not be shipped (%s)",
                     in_repo, why);
    const char *path = rr_shared_path(rel);
    if (access(path, F_OK) == 0) return true;
    printf("skip %s absent (%s; point RERANK_SHARED at a folder that has it)\n", path, why);
    return false;
}

static int by_file_then_name(const void *a, const void *b) {
    const test_entry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

static bool selected(const test_entry *t, int argc, char **argv) {
    for (int a = 1; a < argc; a++)
        if (strstr(t->name, argv[a]) || strstr(t->file, argv[a])) return true;
    return argc < 2;
}

int main(int argc, char **argv) {
    qsort(tests, n_tests, sizeof *tests, by_file_then_name);
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n_tests; i++) {
        if (!selected(&tests[i], argc, argv)) continue;
        current_failures = 0;
        current_checks = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (current_checks == 0) {
            fprintf(stderr, "    test made no checks\n");
            current_failures++;
        }
        if (current_failures) {
            failed++;
            printf("FAIL %s (%s, %d failures)\n", tests[i].name, tests[i].file, current_failures);
        } else {
            passed++;
            printf("ok   %s (%ld checks, %.0f ms)\n", tests[i].name, current_checks, ms);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
