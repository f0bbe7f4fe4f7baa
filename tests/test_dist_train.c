/* test_dist_train.c - data parallelism end to end: `mpirun -np 2 rerank train --batch-size 1` follows the loss
 * curve of one process with `--batch-size 2` (the same global batch; dropout off, so only the order of the
 * float reductions differs) and saves the same weights. Without Open MPI only the single-process run is
 * checked. */
#include <stdlib.h>
#include <unistd.h>

#include "golden.h"
#include "io/safetensors.h"
#include "test.h"

#define TOY "data/flagembedding/old_examples_reranker_toy_finetune_data.jsonl"
enum { STEPS = 4 };

static bool on_path(const char *prog) {
    const char *path = getenv("PATH");
    char buf[4096];
    for (const char *p = path ? path : "/usr/bin"; *p;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)len, p, prog);
        if (access(buf, X_OK) == 0) return true;
        p += len + (e != NULL);
    }
    return false;
}

/* The losses of the "step k/N loss X" progress lines; returns how many were found. */
static int parse_losses(const char *err, double *loss, double *norm) {
    int n = 0;
    for (const char *s = strstr(err, "step "); s && n < STEPS; s = strstr(s + 1, "step ")) {
        int k, of;
        double l, g;
        if (sscanf(s, "step %d/%d loss %lf lr %*s grad_norm %lf", &k, &of, &l, &g) == 4 && k == n + 1)
            loss[n] = l, norm[n] = g, n++;
    }
    return n;
}

/* Runs `prefix rerank train ... --batch-size B --grad-accum A --output-dir DIR`, with or without dropout; fills
 * the per-step losses. */
static bool train_ex(const char *prefix, int batch, int accum, bool dropout, const char *dir, double *loss,
                     double *norm) {
    const char *cli = getenv("RERANK_CLI");
    char cmd[4096], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd,
             "%s%s train --model %s --train-data %s --output-dir %s --batch-size %d --train-group-size 4 "
             "--max-steps %d --query-max-len 16 --passage-max-len 32 --learning-rate 1e-3 --warmup-ratio 0 "
             "--save-steps 0 --grad-accum %d %s --seed 7",
             prefix, cli && *cli ? cli : "build/rerank", rr_shared_path("testdata/xlmr-seqcls-tiny"),
             rr_shared_path(TOY), dir, batch, STEPS, accum, dropout ? "" : "--no-dropout");
    int rc = run_command(cmd, NULL, &out, &err);
    int n = parse_losses(err, loss, norm);
    CHECK(rc == 0 && n == STEPS, "%s: exit %d, %d steps: %s", cmd, rc, n, err);
    free(out), free(err);
    return rc == 0 && n == STEPS;
}
static bool train(const char *prefix, int batch, const char *dir, double *loss, double *norm) {
    return train_ex(prefix, batch, 1, false, dir, loss, norm);
}

/* Largest |a - b| over the tensors of two model.safetensors; *n_far counts elements more than 1e-5 apart. */
static double max_weight_diff(const char *dir_a, const char *dir_b, size_t *n_far, size_t *n_all) {
    char pa[1024], pb[1024];
    snprintf(pa, sizeof pa, "%s/model.safetensors", dir_a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", dir_b);
    rr_safetensors *a = NULL, *b = NULL;
    rerank_error err;
    double worst = INFINITY;
    if (rr_safetensors_open(pa, &a, &err) || rr_safetensors_open(pb, &b, &err)) goto done;
    worst = 0.0;
    for (size_t i = 0; i < rr_safetensors_count(a); i++) {
        const rr_st_tensor *ta = rr_safetensors_at(a, i), *tb = rr_safetensors_find(b, ta->name);
        if (!tb || tb->n_elems != ta->n_elems || ta->dtype != RR_ST_F32 || tb->dtype != RR_ST_F32) {
            worst = INFINITY;
            break;
        }
        for (size_t k = 0; k < ta->n_elems; k++) {
            float x, y;
            memcpy(&x, ta->data + 4 * k, 4);
            memcpy(&y, tb->data + 4 * k, 4);
            worst = fabs((double)x - y) > worst ? fabs((double)x - y) : worst;
            *n_far += fabs((double)x - y) > 1e-5;
            ++*n_all;
        }
    }
done:
    rr_safetensors_free(a), rr_safetensors_free(b);
    return worst;
}

TEST(dist_train_matches_single_process) {
    char one[] = "/tmp/rr_dist_train1XXXXXX", two[] = "/tmp/rr_dist_train2XXXXXX", cmd[256];
    REQUIRE(mkdtemp(one) && mkdtemp(two));
    double l1[STEPS], g1[STEPS], l2[STEPS], g2[STEPS];
    if (train("", 2, one, l1, g1)) {
        CHECK(isfinite(l1[0]) && isfinite(l1[STEPS - 1]) && l1[0] > 0);
        char shim[1024];
        const char *cli = getenv("RERANK_CLI"), *slash = cli ? strrchr(cli, '/') : NULL;
        snprintf(shim, sizeof shim, "%.*s/librerank_mpi.so", slash ? (int)(slash - cli) : 5, slash ? cli : "build");
        if (!on_path("mpirun") || access(shim, F_OK) != 0) {
            printf("     (mpirun or %s missing: the 2-process run is skipped)\n", shim);
        } else {
            char prefix[512];
            snprintf(prefix, sizeof prefix,
                     "ASAN_OPTIONS=detect_leaks=0 OMPI_MCA_btl_vader_single_copy_mechanism=none timeout 300 "
                     "mpirun %s--oversubscribe -np 2 -x ASAN_OPTIONS ",
                     getuid() == 0 ? "--allow-run-as-root " : "");
            if (train(prefix, 1, two, l2, g2)) {
                for (int s = 0; s < STEPS; s++) {
                    CHECK(fabs(l2[s] - l1[s]) <= 2e-6 + 1e-5 * fabs(l1[s]), "step %d: loss %.6f on 2 processes, %.6f on one",
                          s + 1, l2[s], l1[s]);
                    CHECK(fabs(g2[s] - g1[s]) <= 1e-4 + 1e-4 * g1[s], "step %d: grad norm %.4f vs %.4f", s + 1, g2[s], g1[s]);
                }
                /* AdamW turns float noise in a near-zero gradient into a step of up to lr: few weights may move
                 * apart by that much, the rest stay together. */
                size_t far = 0, all = 0;
                double d = max_weight_diff(one, two, &far, &all);
                CHECK(all > 0 && d <= 2e-3 * STEPS && far * 1000 < all, "saved weights: max |d| %.3g, %zu of %zu > 1e-5", d,
                      far, all);
                printf("     2 processes x batch 1 vs 1 x batch 2: loss %.6f -> %.6f; weights: max |d| %.2g, %zu of %zu "
                       "beyond 1e-5\n", l2[0], l2[STEPS - 1], d, far, all);
            }
        }
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", one, two);
    CHECK(system(cmd) == 0);
}

/* With dropout on, the masks are keyed by a sequence's place in the step's global batch: one process with
 * batch 2, one with batch 1 x 2 micro-batches and (with Open MPI) two processes with batch 1 draw the same
 * masks and follow the same loss curve. */
TEST(dist_train_dropout_independent_of_split) {
    char one[] = "/tmp/rr_dist_drop1XXXXXX", acc[] = "/tmp/rr_dist_drop2XXXXXX", two[] = "/tmp/rr_dist_drop3XXXXXX";
    char cmd[256];
    REQUIRE(mkdtemp(one) && mkdtemp(acc) && mkdtemp(two));
    double l1[STEPS], g1[STEPS], la[STEPS], ga[STEPS], l2[STEPS], g2[STEPS], l0[STEPS], g0[STEPS];
    if (train_ex("", 2, 1, true, one, l1, g1) && train_ex("", 1, 2, true, acc, la, ga) &&
        train_ex("", 2, 1, false, two, l0, g0)) {
        CHECK(fabs(l1[0] - l0[0]) > 1e-4, "dropout did not change the loss (%.6f vs %.6f)", l1[0], l0[0]);
        for (int s = 0; s < STEPS; s++)
            CHECK(fabs(la[s] - l1[s]) <= 2e-6 + 1e-5 * fabs(l1[s]), "step %d: loss %.6f with 2 micro-batches, %.6f with one",
                  s + 1, la[s], l1[s]);
        char shim[1024];
        const char *cli = getenv("RERANK_CLI"), *slash = cli ? strrchr(cli, '/') : NULL;
        snprintf(shim, sizeof shim, "%.*s/librerank_mpi.so", slash ? (int)(slash - cli) : 5, slash ? cli : "build");
        if (on_path("mpirun") && access(shim, F_OK) == 0) {
            char prefix[512];
            snprintf(prefix, sizeof prefix,
                     "ASAN_OPTIONS=detect_leaks=0 OMPI_MCA_btl_vader_single_copy_mechanism=none timeout 300 "
                     "mpirun %s--oversubscribe -np 2 -x ASAN_OPTIONS ",
                     getuid() == 0 ? "--allow-run-as-root " : "");
            if (train_ex(prefix, 1, 1, true, two, l2, g2))
                for (int s = 0; s < STEPS; s++)
                    CHECK(fabs(l2[s] - l1[s]) <= 2e-6 + 1e-5 * fabs(l1[s]),
                          "step %d: loss %.6f on 2 processes, %.6f on one (dropout on)", s + 1, l2[s], l1[s]);
            printf("     dropout on: loss %.6f -> %.6f on 1 process, %.6f -> %.6f on 2\n", l1[0], l1[STEPS - 1], l2[0],
                   l2[STEPS - 1]);
        } else printf("     (mpirun or %s missing: the 2-process run is skipped)\n", shim);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s'", one, acc, two);
    CHECK(system(cmd) == 0);
}
