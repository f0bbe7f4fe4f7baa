#include <stdio.h>
#include "rerank.h"
int main(void) { printf("rerank %s\n", RERANK_VERSION); return 0; }
