/* cli_trec.h - `rerank trec` (cli_trec.c) and `rerank merge` (cli_merge.c): reranking TREC runs offline,
 * sharded over a scheduler's array of processes, and joining the shards' outputs. Options: options.h. */
#ifndef RR_CLI_TREC_H
#define RR_CLI_TREC_H

/* argv[0] is the command name; returns the exit status (0, 1 runtime/input, 2 usage). */
int rr_cli_trec(int argc, char **argv);
int rr_cli_merge(int argc, char **argv);

#endif
