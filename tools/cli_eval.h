/* cli_eval.h - `rerank eval --qrels --run` (cli_eval.c): trec_eval's measures of a TREC run. */
#ifndef RR_CLI_EVAL_H
#define RR_CLI_EVAL_H

#include "options.h"

/* Runs the TREC mode of `rerank eval` on parsed options (rr_cli_eval calls it when --qrels or --run is
 * given); returns the exit status (0, 1 input error, 2 usage error). */
int rr_cli_trec_eval(const rr_cli_args *args);

#endif
