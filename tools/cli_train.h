/* cli_train.h - the `train`, `eval` and `merge-lora` commands of the CLI (cli_train.c). */
#ifndef RR_CLI_TRAIN_H
#define RR_CLI_TRAIN_H

/* argv[0] is the command name, argv[1..] its options; returns the exit status. */
int rr_cli_train(int argc, char **argv);
int rr_cli_eval(int argc, char **argv);
int rr_cli_merge_lora(int argc, char **argv);

#endif
