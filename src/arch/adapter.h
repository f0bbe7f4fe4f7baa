/* adapter.h - PEFT LoRA adapter directories (adapter_config.json + adapter_model.safetensors) applied to a
 * model at load: every adapted matrix becomes W + (alpha / r) B A in a private fp32 copy (PEFT's
 * merge_and_unload, the same arithmetic as `rerank merge-lora`) and every modules_to_save tensor (the layerwise
 * model's heads) replaces the base one, through rr_weights_override, before the family binds its tensors. So
 * the rest of the model, --dtype conversion included, never knows an adapter was there. Also used by
 * src/train (merge-lora, --lora-init), which shares the config checks and the merge. */
#ifndef RR_ARCH_ADAPTER_H
#define RR_ARCH_ADAPTER_H

#include <jansson.h>
#include <stdbool.h>

#include "base/threadpool.h"
#include "io/weights.h"
#include "rerank.h"

/* What adapter_config.json says, after the checks every user of an adapter needs. */
typedef struct rr_lora_config {
    char path[4200];   /* .../adapter_config.json, for messages */
    json_t *json;      /* the parsed file (owned) */
    int rank;          /* r */
    double alpha;      /* lora_alpha: the update is scaled by alpha / r */
    char targets[512]; /* target_modules as "q_proj,v_proj" (a string there, PEFT's regex, is kept as it is) */
    bool targets_regex; /* target_modules was one string rather than a list of names */
    const json_t *modules_to_save; /* a list of module names or NULL (borrowed from json) */
    const char *base;  /* base_model_name_or_path, or NULL (borrowed from json) */
} rr_lora_config;

/* Reads DIR/adapter_config.json. Errors name the field: peft_type other than "LORA" (IA3, LoHa, ...), the
 * LoRA variants whose arithmetic differs (use_dora, use_rslora, fan_in_fan_out, rank_pattern, alpha_pattern,
 * layer_replication, bias other than "none"), a missing or bad r / lora_alpha / target_modules. */
rerank_status rr_lora_config_read(const char *adapter_dir, rr_lora_config *c, rerank_error *err);
void rr_lora_config_free(rr_lora_config *c);

/* Checks the adapter was made for a model of `architecture` (config.json architectures[0]): its
 * auto_mapping.base_model_class, and base_model_name_or_path's config.json when that is a local directory (a
 * hub name cannot be checked here; the tensor shapes still are). */
rerank_status rr_lora_config_check_base(const rr_lora_config *c, const char *architecture, rerank_error *err);

/* w[out,in] += scale * b[out,r] a[r,in]: one merged projection (scale = alpha / r). */
void rr_lora_merge(rr_pool *pool, float *w, int out, int in, const float *a, const float *b, int r, float scale);

/* Applies the adapter in adapter_dir to the weights w of a model of `architecture` (rr_weights_override):
 * checks the config as above, that every target module exists in the base, and that every tensor of
 * adapter_model.safetensors is a lora_A / lora_B pair of a base matrix with matching shapes or a
 * modules_to_save tensor of the base's shape; errors name the tensor. */
rerank_status rr_adapter_apply(const char *adapter_dir, rr_weights *w, const char *architecture, rerank_error *err);

#endif
