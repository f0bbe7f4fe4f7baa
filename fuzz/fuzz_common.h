/* fuzz_common.h - what several fuzz targets share: finding the test checkpoints (tests/data/testdata/<x> first, then
 * $RERANK_SHARED/testdata/<x>, then ../shared/testdata/<x>, as the tests do), run from the repository root. */
#ifndef RR_FUZZ_COMMON_H
#define RR_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Writes the first existing location of test-data entry `rel` (e.g. "xlmr-seqcls-tiny") to buf; returns buf,
 * or NULL (and says so on stderr) when none exists - a target that needs it cannot run. */
static inline const char *rr_fuzz_data_path(const char *rel, char *buf, size_t n) {
    const char *shared = getenv("RERANK_SHARED");
    const char *roots[3] = {"tests/data/testdata", NULL, "../shared/testdata"};
    char root1[1024];
    if (shared && *shared) {
        snprintf(root1, sizeof root1, "%s/testdata", shared);
        roots[1] = root1;
    }
    struct stat sb;
    for (int i = 0; i < 3; i++) {
        if (!roots[i]) continue;
        snprintf(buf, n, "%s/%s", roots[i], rel);
        if (stat(buf, &sb) == 0) return buf;
    }
    fprintf(stderr, "fuzz: test data '%s' not found under tests/data/testdata, $RERANK_SHARED/testdata or ../shared/testdata\n",
            rel);
    return NULL;
}

/* With RR_FUZZ_VERBOSE set, a target says why an input was rejected: the way to check that the seeds of
 * fuzz/corpus/ get past the parser (build/fuzz/<target> fuzz/corpus/<target>/ *). */
static inline void rr_fuzz_rejected(const char *what, const char *message) {
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("RR_FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "fuzz: %s rejected: %s\n", what, message);
}

#endif
