/* server.h - entry point of `rerank serve`, the HTTP reranking server (a client of rerank.h only).
 * The CLI calls rr_serve_main with the arguments after "serve"; it returns the process exit code. */
#ifndef RR_SERVER_H
#define RR_SERVER_H

int rr_serve_main(int argc, char **argv);

#endif
