/* cli_download.h - `rerank download` and the download progress line every command shows (cli_download.c). */
#ifndef RR_CLI_DOWNLOAD_H
#define RR_CLI_DOWNLOAD_H

#include "rerank.h"

extern const char *const rr_cli_download_usage;

/* argv holds the options after the command name; returns the exit status. */
int rr_cli_download(int argc, char **argv);

/* The progress callback for rerank_model_params.progress: NULL unless stderr is a terminal, so that logs and
 * pipes stay clean. */
rerank_progress_fn rr_cli_progress_fn(void);
/* Ends the progress line, if one was drawn. */
void rr_cli_progress_done(void);

#endif
