/* test_model_config.c - one description of a model for scoring and training: config.json parsed once
 * (arch/config.h) into what the loaders describe, the table row that says how an architecture trains, and
 * rr_trainer_open choosing its trainer by that row alone. */
#include <math.h>

#include "arch/config.h"
#include "arch/decoder.h"
#include "arch/model.h"
#include "base/json.h"
#include "test.h"
#include "train/trainer.h"

typedef struct model_case {
    const char *rel;
    rr_train_method train;
    rerank_model_kind trainer_kind; /* the layout the trainer tokenizes for */
} model_case;

static const model_case cases[] = {
    {"testdata/xlmr-seqcls-tiny", RR_TRAIN_FULL, RERANK_KIND_CROSS_ENCODER},
    {"testdata/bert-seqcls-tiny", RR_TRAIN_FULL, RERANK_KIND_CROSS_ENCODER},
    {"testdata/gemma-causal-tiny-bf16", RR_TRAIN_LORA, RERANK_KIND_LLM},
    {"testdata/qwen2-causal-tiny", RR_TRAIN_LORA, RERANK_KIND_LLM},
    {"testdata/qwen3-causal-tiny", RR_TRAIN_LORA, RERANK_KIND_LLM},
    {"testdata/minicpm-layerwise-tiny", RR_TRAIN_LORA, RERANK_KIND_LAYERWISE},
};

TEST(model_config_is_what_scoring_describes_and_training_opens) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const model_case *mc = &cases[i];
        char dir[4096], path[4200];
        snprintf(dir, sizeof dir, "%s", rr_shared_path(mc->rel));
        rerank_error err;
        rr_model_config c;
        REQUIRE(rr_model_config_load(dir, &c, &err) == RERANK_OK, "%s: %s", mc->rel, err.message);
        /* the loaders' description comes from the same parse */
        snprintf(path, sizeof path, "%s/config.json", dir);
        json_t *j;
        REQUIRE(rr_json_load_file(path, 1 << 20, &j, &err) == RERANK_OK, "%s", err.message);
        rr_model_desc d;
        CHECK(rr_model_check_config(j, &d, &err) == RERANK_OK, "%s: %s", mc->rel, err.message);
        CHECK(strcmp(d.architecture, c.row->architecture) == 0 && d.kind == c.row->kind, "%s", mc->rel);
        CHECK(d.n_layers == c.n_layers && d.hidden_size == c.hidden && d.vocab_size == c.vocab &&
                  d.max_tokens == c.max_tokens && d.pad_token_id == c.pad_id && d.bos_token_id == c.bos_id &&
                  d.start_layer == c.start_layer && d.type_vocab_size == c.type_vocab,
              "%s", mc->rel);
        json_decref(j);
        /* the table row says how it trains, and the trainer that opens is that row's */
        CHECK(c.row->train == mc->train, "%s: train column %d", mc->rel, (int)c.row->train);
        rr_trainer_opts o = {.lora = {4, 8, 0.0, NULL, false}, .seed = 1};
        rr_trainer *t = NULL;
        CHECK(rr_trainer_open(dir, &o, &t, &err) == RERANK_OK && t, "%s: %s", mc->rel, err.message);
        if (t) CHECK(t->kind == mc->trainer_kind && t->n_params > 0, "%s: kind %d", mc->rel, (int)t->kind);
        rr_trainer_free(t);
    }
}

/* What a spec steers lands in the typed config, for scoring and training alike. */
TEST(model_config_fields_from_the_spec) {
    rerank_error err;
    rr_model_config c;
    REQUIRE(rr_model_config_load(rr_shared_path("testdata/gemma-causal-tiny-bf16"), &c, &err) == RERANK_OK, "%s",
            err.message);
    CHECK(c.tied && !c.qk_norm && c.act == RR_GLU_GELU_TANH);
    CHECK(c.emb_scale == (float)sqrt((double)c.hidden), "emb_scale %g", (double)c.emb_scale);
    CHECK(((const rr_decoder_spec *)c.row->spec)->norm_offset == 1.0f);
    REQUIRE(rr_model_config_load(rr_shared_path("testdata/qwen3-causal-tiny"), &c, &err) == RERANK_OK, "%s",
            err.message);
    CHECK(c.qk_norm && c.emb_scale == 1.0f && c.res_scale == 1.0f && c.act == RR_GLU_SILU);
    REQUIRE(rr_model_config_load(rr_shared_path("testdata/qwen2-causal-tiny"), &c, &err) == RERANK_OK, "%s",
            err.message);
    CHECK(c.qkv_bias && !c.qk_norm);
    REQUIRE(rr_model_config_load(rr_shared_path("testdata/minicpm-layerwise-tiny"), &c, &err) == RERANK_OK, "%s",
            err.message);
    CHECK(c.res_scale != 1.0f && c.start_layer > 0 && c.start_layer <= c.n_layers, "res %g start %d",
          (double)c.res_scale, c.start_layer);
    REQUIRE(rr_model_config_load(rr_shared_path("testdata/xlmr-seqcls-tiny"), &c, &err) == RERANK_OK, "%s",
            err.message);
    const rr_encoder_spec *xs = c.row->spec;
    CHECK(xs->positions == RR_POS_ROBERTA && xs->head_input_dropout && c.max_tokens == c.max_pos - c.pad_id - 1);
    CHECK(c.p_hidden >= 0.0f && c.p_hidden < 1.0f && c.act == RR_GLU_GELU);
    REQUIRE(rr_model_config_load(rr_shared_path("testdata/bert-seqcls-tiny"), &c, &err) == RERANK_OK, "%s",
            err.message);
    const rr_encoder_spec *bs = c.row->spec;
    CHECK(bs->positions == RR_POS_ABSOLUTE && !bs->head_input_dropout && c.max_tokens == c.max_pos);
}

/* One parser, one-line errors naming config.json and the field; training reads no field scoring does not. */
TEST(model_config_errors_name_the_field) {
    rerank_error err;
    rr_model_config c;
    json_t *j;
    const char *bad = "{\"architectures\": [\"XLMRobertaForSequenceClassification\"], \"hidden_size\": 64, "
                      "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 128, "
                      "\"vocab_size\": 100, \"max_position_embeddings\": 66, \"pad_token_id\": 1, \"num_labels\": 1, "
                      "\"hidden_dropout_prob\": \"high\"}";
    REQUIRE(rr_json_parse(bad, strlen(bad), "config.json", &j, &err) == RERANK_OK, "%s", err.message);
    CHECK(rr_model_config_parse(j, &c, &err) == RERANK_ERR_FORMAT);
    CHECK(strstr(err.message, "config.json") && strstr(err.message, "hidden_dropout_prob") &&
              !strchr(err.message, '\n'),
          "%s", err.message);
    json_decref(j);
    CHECK(rr_model_config_load("/nonexistent-model-dir", &c, &err) != RERANK_OK && strstr(err.message, "config.json"),
          "%s", err.message);
}
