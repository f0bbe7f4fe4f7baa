/* cli_download.c - `rerank download ORG/NAME[@REV]`: fetches a model from the Hugging Face Hub into the shared
 * cache and prints its snapshot directory on stdout; and the progress line (bytes, rate, ETA) that every command
 * draws on stderr while a hub id downloads, when stderr is a terminal. */
#include "cli_download.h"

#include <stdbool.h>

#include <stdio.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "options.h"

static struct {
    double start, last;
    int drawn;
} progress;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void human(double bytes, char *out, size_t cap) {
    const char *unit[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000 && u < 4) bytes /= 1000, u++;
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
}

static void draw(const rerank_download_progress *p, void *user) {
    double t = now();
    if (progress.start == 0) progress.start = t;
    bool finished = p->bytes_done >= p->bytes_total && p->files_done == p->files_total;
    if (p->bytes_total == 0 || (t - progress.last < 0.2 && !finished)) return;
    progress.last = t;
    double el = t - progress.start, rate = el > 0 ? (double)p->bytes_done / el : 0;
    char done[32], total[32], speed[32], eta[32] = "--:--";
    human((double)p->bytes_done, done, sizeof done);
    human((double)p->bytes_total, total, sizeof total);
    human(rate, speed, sizeof speed);
    if (rate > 0 && p->bytes_total >= p->bytes_done) {
        long s = (long)((double)(p->bytes_total - p->bytes_done) / rate);
        snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    }
    fprintf(stderr, "\r\033[Kdownloading %.40s [%d/%d files] %s / %s  %s/s  eta %s", p->file ? p->file : "",
            p->files_done, p->files_total, done, total, speed, eta);
    fflush(stderr);
    progress.drawn = 1;
}

rerank_progress_fn rr_cli_progress_fn(void) { return isatty(STDERR_FILENO) ? draw : NULL; }

void rr_cli_progress_done(void) {
    if (progress.drawn) fputc('\n', stderr);
    progress.drawn = 0;
}

const char *rr_cli_prefetch(const char *spec, char *buf, size_t cap, int *rc) {
    struct stat st;
    if (!spec || stat(spec, &st) == 0 || !strchr(spec, '/')) return spec;
    rerank_error err;
    rerank_status s = rerank_hub_download(spec, rr_cli_progress_fn(), NULL, buf, cap, &err);
    rr_cli_progress_done();
    if (s == RERANK_ERR_INVALID_ARGUMENT) return spec; /* not a hub id: the command reports the missing path */
    if (s) {
        fprintf(stderr, "rerank: error: %s\n", err.message);
        *rc = 1;
        return NULL;
    }
    return buf;
}

int rr_cli_download(int argc, char **argv) {
    /* `rerank download ORG/NAME[@REV]`: the id may come first, or as --model like every other command */
    const char *id = NULL;
    char *rest[256];
    int n = 0;
    for (int i = 0; i < argc && n < 256; i++) {
        if (i > 0 && !id && argv[i][0] != '-' && (i < 2 || strcmp(argv[i - 1], "--model"))) id = argv[i];
        else rest[n++] = argv[i];
    }
    rr_cli_args a;
    rr_cli_args_init(&a);
    int rc = rr_cli_parse("download", n, rest, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (id && a.model) return rr_cli_usage_error("download", "give the hub id once (as ORG/NAME or --model)");
    if (!id) id = a.model;
    if (!id) return rr_cli_usage_error("download", "ORG/NAME[@REVISION] is required");
    char dir[4096];
    rerank_error err;
    rerank_status st = rerank_hub_download(id, rr_cli_progress_fn(), NULL, dir, sizeof dir, &err);
    rr_cli_progress_done();
    if (st == RERANK_ERR_INVALID_ARGUMENT) return rr_cli_usage_error("download", "%s", err.message);
    if (st) return rr_cli_runtime_error("%s", err.message);
    printf("%s\n", dir);
    return 0;
}
