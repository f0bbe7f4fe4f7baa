/* cli_download.h - `rerank download` and the download progress line every command shows (cli_download.c). */
#ifndef RR_CLI_DOWNLOAD_H
#define RR_CLI_DOWNLOAD_H

#include "rerank.h"

/* argv[0] is the command name (as every subcommand of rerank.c's dispatch table); returns the exit status. */
int rr_cli_download(int argc, char **argv);

/* The progress callback for rerank_model_params.progress: NULL unless stderr is a terminal, so that logs and
 * pipes stay clean. */
rerank_progress_fn rr_cli_progress_fn(void);
/* Ends the progress line, if one was drawn. */
void rr_cli_progress_done(void);

/* For commands whose library call takes no progress callback (convert, train, eval, merge-lora): a hub id is
 * fetched first, drawing the progress line, and its snapshot directory (in buf) returned; anything else (an
 * existing path, a name that is no hub id) comes back unchanged. On a download error it prints the one-line error,
 * sets *rc to 1 and returns NULL. */
const char *rr_cli_prefetch(const char *spec, char *buf, size_t cap, int *rc);

#endif
