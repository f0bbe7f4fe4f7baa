/* fuzz_config.c - libFuzzer target: arbitrary bytes as config.json through the model's config checks
 * (registry lookup and every architecture's hyper-parameter parsing, no weights). */
#include <stddef.h>
#include <stdint.h>

#include "arch/model.h"
#include "base/json.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *config;
    rerank_error err;
    if (rr_json_parse((const char *)data, size, "config.json", &config, &err) != RERANK_OK) {
        rr_fuzz_rejected("config.json", err.message);
        return 0;
    }
    rr_model_desc desc;
    if (rr_model_check_config(config, &desc, &err) == RERANK_OK) {
        if (desc.max_tokens < 1 || desc.hidden_size < 1) __builtin_trap();
    } else {
        rr_fuzz_rejected("config.json", err.message);
    }
    json_decref(config);
    return 0;
}
