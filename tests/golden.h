/* golden.h - reading the reference outputs in testdata/<model>/golden*.jsonl (tests/data, else ../shared). */
#ifndef RR_TEST_GOLDEN_H
#define RR_TEST_GOLDEN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Loads every line of a JSONL file as a JSON array of objects (NULL if unreadable). */
json_t *golden_load(const char *path);

/* Copies an integer array field into a new malloc'd int32 array; *n gets its length. */
int32_t *golden_ints(const json_t *row, const char *key, size_t *n);

/* First element of a numeric array field (e.g. "logits"), or NAN. */
double golden_first(const json_t *row, const char *key);

/* Runs `cmd` with sh, feeding `input` on stdin; captures stdout and stderr (malloc'd, NUL-terminated).
 * Returns the exit status, or -1 if it could not run. */
int run_command(const char *cmd, const char *input, char **out, char **errout);

#endif
