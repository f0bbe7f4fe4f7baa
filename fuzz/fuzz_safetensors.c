/* fuzz_safetensors.c - libFuzzer target: arbitrary bytes parsed as a safetensors file; every tensor the
 * parser accepts must lie inside the input (its first and last bytes are read). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rr_safetensors *st;
    rerank_error err;
    if (rr_safetensors_parse(data, size, "fuzz", &st, &err) != RERANK_OK) {
        rr_fuzz_rejected("safetensors", err.message);
        return 0;
    }
    volatile unsigned sum = 0;
    for (size_t i = 0; i < rr_safetensors_count(st); i++) {
        const rr_st_tensor *t = rr_safetensors_at(st, i);
        if (rr_safetensors_find(st, t->name) != t) __builtin_trap();
        if (t->n_bytes) {
            if (t->data < data || t->data + t->n_bytes > data + size) __builtin_trap();
            sum += t->data[0] + t->data[t->n_bytes - 1];
        }
    }
    rr_safetensors_free(st);
    return 0;
}
