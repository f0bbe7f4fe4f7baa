/* cli_eval.h - `rerank eval --qrels --run` (cli_eval.c): trec_eval's measures of a TREC run. */
#ifndef RR_CLI_EVAL_H
#define RR_CLI_EVAL_H

#include <stdbool.h>

extern const char *const rr_cli_trec_eval_usage;

/* True when the eval options select the TREC mode (--qrels or --run) rather than --model --data. */
bool rr_cli_eval_is_trec(int argc, char **argv);
/* argv holds the options after "eval"; returns the exit status (0, 1 input error, 2 usage error). */
int rr_cli_trec_eval(int argc, char **argv);

#endif
