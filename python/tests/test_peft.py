"""peft_path: a PEFT LoRA adapter (here one `rerank train` writes) applied at load by FlagLLMReranker and
LayerWiseFlagLLMReranker, with the scores of `rerank score --adapter` and of the merged model."""
import os
import subprocess

import pytest

from conftest import CLI, SHARED, cli_scores, model_dir
from rerank import FlagLLMReranker, LayerWiseFlagLLMReranker

PAIRS = [("what is panda?", "The giant panda is a bear species endemic to China."),
         ("what is panda?", "Paris is the capital of France."),
         ("how to cook rice", "Rinse the rice, add water and simmer for 15 minutes.")]


def train_adapter(name, out, *extra):
    data = os.path.join(SHARED, "data", "flagembedding", "llm_reranker_toy_finetune_data.jsonl")
    args = [CLI, "train", "--model", model_dir(name), "--train-data", data, "--output-dir", out, "--batch-size", "2",
            "--train-group-size", "2", "--max-steps", "2", "--query-max-len", "16", "--passage-max-len", "32",
            "--learning-rate", "2e-2", "--warmup-ratio", "0", "--lora-rank", "4", "--lora-alpha", "8",
            "--save-steps", "0", "--no-dropout", "--threads", "2", "--merge"] + list(extra)
    res = subprocess.run(args, capture_output=True, timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    return out


def test_flag_llm_peft_path(tmp_path):
    adapter = train_adapter("gemma-causal-tiny-bf16", str(tmp_path / "gemma"))
    base = FlagLLMReranker(model_dir("gemma-causal-tiny-bf16")).compute_score(PAIRS)
    with_adapter = FlagLLMReranker(model_dir("gemma-causal-tiny-bf16"), peft_path=adapter).compute_score(PAIRS)
    assert with_adapter == cli_scores(model_dir("gemma-causal-tiny-bf16"), PAIRS, "--adapter", adapter)
    assert max(abs(a - b) for a, b in zip(with_adapter, base)) > 0.05
    bf16 = FlagLLMReranker(model_dir("gemma-causal-tiny-bf16"), peft_path=adapter, use_bf16=True).compute_score(PAIRS)
    assert bf16 == cli_scores(os.path.join(adapter, "merged_model"), PAIRS, "--dtype", "bf16")  # merged: the same


def test_layerwise_peft_path_with_heads(tmp_path):
    name = "minicpm-layerwise-tiny"
    adapter = train_adapter(name, str(tmp_path / "minicpm"), "--lora-targets", "q_proj,v_proj", "--lora-train-heads")
    scores = LayerWiseFlagLLMReranker(model_dir(name), peft_path=adapter).compute_score(PAIRS, cutoff_layers=[2, 4])
    merged = cli_scores(os.path.join(adapter, "merged_model"), PAIRS, "--cutoff-layers", "2,4")
    assert scores == [[m[k] for m in merged] for k in range(2)]


def test_bad_peft_path_is_one_error(tmp_path):
    with pytest.raises(Exception) as e:
        FlagLLMReranker(model_dir("gemma-causal-tiny-bf16"), peft_path=str(tmp_path / "missing"))
    assert "adapter_config.json" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(TypeError):
        FlagLLMReranker(model_dir("gemma-causal-tiny-bf16"), peft_path=3)
