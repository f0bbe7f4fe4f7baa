/* strmap.h - string -> index map with borrowed keys (pointers into a mapped file or a caller's buffer), open
 * addressing: the lookup structure of qids and docids in run, query and corpus files. */
#ifndef RR_EVAL_STRMAP_H
#define RR_EVAL_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "rerank.h"

typedef struct rr_strmap_entry {
    const char *key; /* borrowed: must outlive the map */
    size_t len;
    size_t value;
} rr_strmap_entry;

typedef struct rr_strmap {
    rr_strmap_entry *entries; /* in insertion order */
    size_t n, cap;
    uint32_t *slots;          /* 0 = empty, else entry index + 1 */
    size_t mask;
} rr_strmap;

/* Inserts key -> value unless present; *index gets the entry index (new or existing), *added whether it was
 * new. */
rerank_status rr_strmap_put(rr_strmap *m, const char *key, size_t len, size_t value, size_t *index, int *added);
/* The entry of key, or NULL. */
const rr_strmap_entry *rr_strmap_get(const rr_strmap *m, const char *key, size_t len);
void rr_strmap_free(rr_strmap *m);

#endif
