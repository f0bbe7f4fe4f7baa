/* batcher.c - cross-request dynamic batching: a bounded FIFO of jobs (one per HTTP request) drained by
 * worker threads, each owning one rerank_session on the shared model.
 *
 * DESIGN: a worker builds one batch from the jobs whose score params equal the head job's, up to
 * --max-batch-tokens (estimated per pair). It first gives every compatible waiting job a fair share of the
 * budget, then fills the rest in FIFO order, so a small request queued behind a large one rides in the next
 * batch instead of waiting for the large one to drain. Pairs are taken from a job in order, so each job
 * contributes one contiguous slice. If a mixed batch fails, each slice is rescored alone so one request's
 * bad input cannot fail another's. A reaper thread fails jobs whose deadline passed while they waited. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

#define MAX_SLICES 64

typedef struct {
    rr_server_job *job;
    size_t start, count;
    uint64_t est;
    int status;
    rerank_error err;
} slice;

typedef struct worker {
    rr_server_batcher *b;
    rerank_session *session;
    pthread_t thread;
    bool started;
    rerank_pair *pairs;
    float *scores;
    size_t cap_pairs, cap_scores;
} worker;

struct rr_server_batcher {
    const rerank_model *model;
    const rr_server_config *cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv, reaper_cv;
    rr_server_job *head, *tail; /* jobs with pairs not yet handed to a worker */
    size_t queued_jobs, queued_pairs;
    bool stopping;
    int n_workers;
    worker *workers;
    pthread_t reaper;
    bool reaper_started;
};

static bool str_eq(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

/* Pairs can share a rerank_score call only when everything but the batching knobs agrees. */
static bool same_params(const rerank_score_params *a, const rerank_score_params *b) {
    return a->max_length == b->max_length && a->query_max_length == b->query_max_length &&
           a->normalize == b->normalize && a->long_doc == b->long_doc && a->chunk_overlap == b->chunk_overlap &&
           a->split_special_tokens == b->split_special_tokens &&
           str_eq(a->prompt, b->prompt) && str_eq(a->instruction, b->instruction) &&
           a->n_cutoff_layers == b->n_cutoff_layers &&
           (a->n_cutoff_layers == 0 ||
            memcmp(a->cutoff_layers, b->cutoff_layers, a->n_cutoff_layers * sizeof *a->cutoff_layers) == 0);
}

static void unlink_job(rr_server_batcher *b, rr_server_job *j) {
    if (j->prev) j->prev->nextj = j->nextj;
    else b->head = j->nextj;
    if (j->nextj) j->nextj->prev = j->prev;
    else b->tail = j->prev;
    j->prev = j->nextj = NULL;
    b->queued_jobs--;
}

/* Stops dispatching a job's remaining pairs (error or deadline); under the lock. */
static void abort_job(rr_server_batcher *b, rr_server_job *j, int status, const char *type, const char *msg) {
    if (j->http_status == 0) rr_server_fail(&j->error, status, type, "%s", msg);
    if (j->http_status == 0) j->http_status = status;
    if (j->next < j->n_pairs) {
        b->queued_pairs -= j->n_pairs - j->next;
        j->next = j->n_pairs;
        unlink_job(b, j);
    }
}

static bool job_finished(rr_server_job *j) {
    if (j->finished || j->next < j->n_pairs || j->n_in_flight) return false;
    j->finished = true;
    return true;
}

/* Picks the next batch under the lock; returns the number of slices (0 when the queue is empty). */
static size_t take_batch(rr_server_batcher *b, slice *sl) {
    rr_server_job *key = b->head;
    if (!key) return 0;
    size_t n_compat = 0;
    for (rr_server_job *j = key; j && n_compat < MAX_SLICES; j = j->nextj)
        if (same_params(&j->params, &key->params)) sl[n_compat++] = (slice){.job = j, .start = j->next};
    uint64_t budget = (uint64_t)b->cfg->max_batch_tokens, used = 0, share = budget / n_compat;
    if (share == 0) share = 1;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t s = 0; s < n_compat; s++) {
            rr_server_job *j = sl[s].job;
            uint64_t mine = 0;
            while (j->next < j->n_pairs) {
                uint64_t t = j->est_tokens[j->next];
                bool first = used == 0;
                if (!first && (used + t > budget || (pass == 0 && mine + t > share && mine > 0))) break;
                used += t;
                mine += t;
                sl[s].count++;
                sl[s].est += t;
                j->next++;
            }
        }
    }
    size_t n = 0;
    for (size_t s = 0; s < n_compat; s++) {
        rr_server_job *j = sl[s].job;
        if (sl[s].count == 0) continue;
        j->n_in_flight += sl[s].count;
        b->queued_pairs -= sl[s].count;
        if (j->next == j->n_pairs) unlink_job(b, j);
        sl[n++] = sl[s];
    }
    return n;
}

static bool grow(worker *w, size_t n_pairs, size_t n_scores) {
    if (n_pairs > w->cap_pairs) {
        rerank_pair *p = realloc(w->pairs, n_pairs * sizeof *p);
        if (!p) return false;
        w->pairs = p;
        w->cap_pairs = n_pairs;
    }
    if (n_scores > w->cap_scores) {
        float *s = realloc(w->scores, n_scores * sizeof *s);
        if (!s) return false;
        w->scores = s;
        w->cap_scores = n_scores;
    }
    return true;
}

static void run_batch(worker *w, slice *sl, size_t n_sl) {
    rr_server_batcher *b = w->b;
    rr_server_job *key = sl[0].job;
    size_t n_out = key->n_out, n = 0;
    uint64_t est_total = 0;
    for (size_t s = 0; s < n_sl; s++) n += sl[s].count, est_total += sl[s].est;
    rerank_score_params p = key->params;
    p.n_threads = b->cfg->threads;
    int cap = b->cfg->score.batch_size > 0 ? b->cfg->score.batch_size : 256;
    p.batch_size = n < (size_t)cap ? (int)n : cap;
    int64_t t0 = rr_server_now_ns();
    size_t tokens = 0;
    if (!grow(w, n, n * n_out)) {
        for (size_t s = 0; s < n_sl; s++) sl[s].status = 500, snprintf(sl[s].err.message, sizeof sl[s].err.message, "out of memory");
    } else {
        size_t k = 0;
        for (size_t s = 0; s < n_sl; s++)
            for (size_t i = 0; i < sl[s].count; i++) w->pairs[k++] = sl[s].job->pairs[sl[s].start + i];
        rerank_error err;
        rerank_score_stats st;
        rerank_status rs = rerank_score(w->session, &p, w->pairs, n, w->scores, &err);
        if (rs == RERANK_OK) {
            rerank_session_last_stats(w->session, &st);
            tokens = st.n_tokens;
        } else {
            /* rescore slice by slice so that only the faulty request fails */
            for (size_t s = 0, off = 0; s < n_sl; off += sl[s].count, s++) {
                rs = n_sl == 1 ? rs
                               : rerank_score(w->session, &p, w->pairs + off, sl[s].count, w->scores + off * n_out, &err);
                if (rs != RERANK_OK) {
                    sl[s].status = rs == RERANK_ERR_INPUT || rs == RERANK_ERR_INVALID_ARGUMENT ? 422 : 500;
                    sl[s].err = err;
                } else {
                    rerank_session_last_stats(w->session, &st);
                    tokens += st.n_tokens;
                }
            }
        }
    }
    double secs = (double)(rr_server_now_ns() - t0) / 1e9;
    rr_server_metrics_batch(n, n_sl, tokens, secs);

    rr_server_job *done[MAX_SLICES];
    size_t n_done = 0;
    pthread_mutex_lock(&b->mu);
    for (size_t s = 0, off = 0; s < n_sl; off += sl[s].count, s++) {
        rr_server_job *j = sl[s].job;
        if (sl[s].status == 0) {
            memcpy(j->scores + sl[s].start * n_out, w->scores + off * n_out, sl[s].count * n_out * sizeof(float));
            j->n_tokens += est_total ? (size_t)((uint64_t)tokens * sl[s].est / est_total) : 0;
        } else {
            abort_job(b, j, sl[s].status, sl[s].status == 422 ? "unprocessable_entity" : "internal", sl[s].err.message);
        }
        j->n_in_flight -= sl[s].count;
        j->n_finished += sl[s].count;
        if (job_finished(j)) done[n_done++] = j;
    }
    pthread_mutex_unlock(&b->mu);
    for (size_t i = 0; i < n_done; i++) done[i]->done(done[i], done[i]->user);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    rr_server_batcher *b = w->b;
    slice sl[MAX_SLICES];
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->stopping) pthread_cond_wait(&b->cv, &b->mu);
        if (!b->head) break; /* stopping and drained */
        size_t n_sl = take_batch(b, sl);
        if (b->head) pthread_cond_signal(&b->cv); /* more work: wake another worker */
        pthread_mutex_unlock(&b->mu);
        if (n_sl) run_batch(w, sl, n_sl);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void *reaper_main(void *arg) {
    rr_server_batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&b->reaper_cv, &b->mu, &ts);
        int64_t now = rr_server_now_ns();
        rr_server_job *done[MAX_SLICES];
        size_t n_done = 0;
        for (rr_server_job *j = b->head, *nx; j && n_done < MAX_SLICES; j = nx) {
            nx = j->nextj;
            if (j->deadline_ns && now > j->deadline_ns) {
                char msg[128];
                snprintf(msg, sizeof msg, "request timed out after %d ms (limit timeout_ms)", b->cfg->timeout_ms);
                abort_job(b, j, 504, "timeout", msg);
                j->error.limit = "timeout_ms";
                j->error.limit_value = b->cfg->timeout_ms;
                if (job_finished(j)) done[n_done++] = j;
            }
        }
        if (n_done) {
            pthread_mutex_unlock(&b->mu);
            for (size_t i = 0; i < n_done; i++) done[i]->done(done[i], done[i]->user);
            pthread_mutex_lock(&b->mu);
        }
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int rr_server_batcher_start(const rerank_model *model, const rr_server_config *cfg, rr_server_batcher **out,
                            char *errbuf, size_t err_size) {
    rr_server_batcher *b = calloc(1, sizeof *b);
    if (!b) return snprintf(errbuf, err_size, "out of memory"), -1;
    b->model = model;
    b->cfg = cfg;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    pthread_cond_init(&b->reaper_cv, NULL);
    b->workers = calloc((size_t)cfg->workers, sizeof *b->workers);
    if (!b->workers) return free(b), snprintf(errbuf, err_size, "out of memory"), -1;
    b->n_workers = cfg->workers;
    *out = b;
    for (int i = 0; i < cfg->workers; i++) {
        worker *w = &b->workers[i];
        w->b = b;
        rerank_error err;
        if (rerank_session_new(model, &w->session, &err) != RERANK_OK) {
            snprintf(errbuf, err_size, "cannot create session: %s", err.message);
            rr_server_batcher_free(b);
            *out = NULL;
            return -1;
        }
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            snprintf(errbuf, err_size, "cannot start worker thread");
            rr_server_batcher_free(b);
            *out = NULL;
            return -1;
        }
        w->started = true;
    }
    if (pthread_create(&b->reaper, NULL, reaper_main, b) == 0) b->reaper_started = true;
    return 0;
}

int rr_server_batcher_submit(rr_server_batcher *b, rr_server_job *job) {
    job->next = job->n_finished = job->n_in_flight = 0;
    job->finished = false;
    job->http_status = 0;
    job->n_tokens = 0;
    job->prev = job->nextj = NULL;
    pthread_mutex_lock(&b->mu);
    if (b->stopping || b->queued_pairs + job->n_pairs > b->cfg->max_queue_pairs) {
        pthread_mutex_unlock(&b->mu);
        return 503;
    }
    job->prev = b->tail;
    if (b->tail) b->tail->nextj = job;
    else b->head = job;
    b->tail = job;
    b->queued_jobs++;
    b->queued_pairs += job->n_pairs;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

void rr_server_batcher_depth(rr_server_batcher *b, size_t *jobs, size_t *pairs) {
    pthread_mutex_lock(&b->mu);
    *jobs = b->queued_jobs;
    *pairs = b->queued_pairs;
    pthread_mutex_unlock(&b->mu);
}

void rr_server_batcher_stop(rr_server_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stopping = true;
    pthread_cond_broadcast(&b->cv);
    pthread_cond_broadcast(&b->reaper_cv);
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < b->n_workers; i++) {
        worker *w = &b->workers[i];
        if (w->started) pthread_join(w->thread, NULL);
        rerank_session_free(w->session);
        free(w->pairs);
        free(w->scores);
    }
    if (b->reaper_started) pthread_join(b->reaper, NULL);
    b->n_workers = 0;
    b->reaper_started = false;
}

void rr_server_batcher_free(rr_server_batcher *b) {
    if (!b) return;
    rr_server_batcher_stop(b);
    pthread_cond_destroy(&b->cv);
    pthread_cond_destroy(&b->reaper_cv);
    pthread_mutex_destroy(&b->mu);
    free(b->workers);
    free(b);
}
