"""FlagEmbedding drop-ins: golden scores of every model family, exact equality with `rerank score`,
FlagEmbedding's return shapes and FlagAutoReranker's class choice."""
import os

import pytest

from conftest import cli_scores, golden, model_dir
from rerank import FlagAutoReranker, FlagLLMReranker, FlagReranker, LayerWiseFlagLLMReranker, Qwen3Reranker

TOL = 1e-4  # ../shared/testdata/README.md: fp32 implementation vs the PyTorch reference


def pairs_of(rows):
    return [(r["query"], r["passage"]) for r in rows]


@pytest.mark.parametrize("name", ["xlmr-seqcls-tiny", "bert-seqcls-tiny", "xlmr-seqcls-tiny-f16"])
@pytest.mark.parametrize("max_length", [64, 512])
def test_encoder_golden_and_cli(name, max_length):
    rows = golden(name, max_length=max_length)
    reranker = FlagReranker(model_dir(name), max_length=max_length, batch_size=7)
    pairs = pairs_of(rows)
    scores = reranker.compute_score(pairs)
    assert isinstance(scores, list) and all(type(s) is float for s in scores)
    for s, r in zip(scores, rows):
        assert abs(s - r["logits"][0]) <= TOL, r["case"]
    assert scores == cli_scores(model_dir(name), pairs, "--max-length", str(max_length), "--batch-size", "7")
    normalized = reranker.compute_score(pairs, normalize=True)
    for s, r in zip(normalized, rows):
        assert abs(s - r["score"]) <= TOL
    assert normalized == cli_scores(model_dir(name), pairs, "--max-length", str(max_length), "--normalize")


def test_encoder_call_overrides_and_query_budget():
    name = "xlmr-seqcls-tiny"
    pairs = pairs_of(golden(name, max_length=512))
    reranker = FlagReranker(model_dir(name), normalize=True)
    got = reranker.compute_score(pairs, max_length=48, query_max_length=10, normalize=False)
    assert got == cli_scores(model_dir(name), pairs, "--max-length", "48", "--query-max-length", "10")
    assert got != reranker.compute_score(pairs, normalize=False)  # the budgets changed something


def test_single_pair_and_empty_input_shapes():
    reranker = FlagReranker(model_dir("bert-seqcls-tiny"))
    one = reranker.compute_score(["what is panda?", "hi"])
    assert isinstance(one, list) and len(one) == 1 and type(one[0]) is float
    assert reranker.compute_score(("what is panda?", "hi")) == one
    assert reranker.compute_score([("what is panda?", "hi")]) == one
    assert reranker.compute_score([]) == []


def test_encoder_query_instruction_is_prepended():
    d = model_dir("xlmr-seqcls-tiny")
    plain = FlagReranker(d).compute_score([("Find: what is panda?", "hi")])
    instructed = FlagReranker(d, query_instruction_for_rerank="Find: ").compute_score([("what is panda?", "hi")])
    assert plain == instructed


def test_gemma_flag_llm_golden_and_cli():
    name = "gemma-causal-tiny-bf16"
    for max_length in (64, 512):
        rows = golden(name, max_length=max_length)
        pairs = pairs_of(rows)
        reranker = FlagLLMReranker(model_dir(name), max_length=max_length, batch_size=32)
        scores = reranker.compute_score(pairs)
        for s, r in zip(scores, rows):
            assert abs(s - r["logits"][0]) <= TOL, r["case"]
        assert scores == cli_scores(model_dir(name), pairs, "--max-length", str(max_length))


def test_flag_llm_prompt_reaches_the_engine():
    d = model_dir("gemma-causal-tiny-bf16")
    pairs = pairs_of(golden("gemma-causal-tiny-bf16", max_length=64))[:5]
    reranker = FlagLLMReranker(d, prompt="Is B relevant to A?")
    got = reranker.compute_score(pairs)
    assert got == cli_scores(d, pairs, "--prompt", "Is B relevant to A?")
    assert got != FlagLLMReranker(d).compute_score(pairs)
    with pytest.raises(ValueError, match="instruction"):
        FlagLLMReranker(d, query_instruction_for_rerank="Q: ").compute_score(pairs)


def test_flag_llm_layout_on_a_qwen3_checkpoint():
    name = "qwen3-causal-tiny"
    rows = golden(name, "golden_flagllm.jsonl")
    pairs = pairs_of(rows)
    scores = FlagLLMReranker(model_dir(name)).compute_score(pairs)
    for s, r in zip(scores, rows):
        assert abs(s - r["logits"][0]) <= TOL, r["case"]
    assert scores == cli_scores(model_dir(name), pairs, "--recipe", "flag-llm", "--batch-size", "128")


@pytest.mark.parametrize("name", ["qwen3-causal-tiny", "qwen2-causal-tiny"])
def test_qwen3_reranker_golden_and_cli(name):
    for max_length in (128, 8192):
        rows = golden(name, max_length=max_length)
        pairs = pairs_of(rows)
        reranker = Qwen3Reranker(model_dir(name), max_length=max_length)
        probs = reranker.compute_score(pairs)  # P(yes), the model card's score
        logodds = reranker.compute_score(pairs, normalize=False)
        for p, lo, r in zip(probs, logodds, rows):
            assert abs(p - r["score"]) <= TOL, r["case"]
            assert abs(lo - (r["logits"][1] - r["logits"][0])) <= TOL, r["case"]
        args = ["--recipe", "qwen3", "--max-length", str(max_length), "--batch-size", "128"]
        assert probs == cli_scores(model_dir(name), pairs, *args, "--normalize")
        assert logodds == cli_scores(model_dir(name), pairs, *args)
    d = model_dir(name)
    custom = Qwen3Reranker(d, instruction="Judge relevance").compute_score(pairs[:4])
    assert custom == cli_scores(d, pairs[:4], "--recipe", "qwen3", "--max-length", "8192", "--normalize",
                                "--instruction", "Judge relevance")


def test_layerwise_cutoff_layers_shapes_goldens_and_cli():
    name = "minicpm-layerwise-tiny"
    d = model_dir(name)
    for max_length in (64, 512):
        rows = golden(name, "golden.jsonl", max_length=max_length)
        pairs = pairs_of(rows)
        reranker = LayerWiseFlagLLMReranker(d, max_length=max_length)
        per_layer = reranker.compute_score(pairs, cutoff_layers=[4, 2, 3])  # returned ascending
        assert len(per_layer) == 3 and all(len(x) == len(pairs) for x in per_layer)
        for k in range(3):
            for s, r in zip(per_layer[k], rows):
                assert abs(s - r["logits_per_layer"][k]) <= TOL, (r["case"], k)
        cli = cli_scores(d, pairs, "--max-length", str(max_length), "--cutoff-layers", "2,3,4")
        assert per_layer == [[c[k] for c in cli] for k in range(3)]
        last = reranker.compute_score(pairs)  # default: the last layer, a flat list
        assert last == per_layer[2]
        assert reranker.compute_score(pairs, cutoff_layers=3) == per_layer[1]
        assert reranker.compute_score(pairs, cutoff_layers=[2, 4]) == [per_layer[0], per_layer[2]]
        assert last == cli_scores(d, pairs, "--max-length", str(max_length))
    ctor = LayerWiseFlagLLMReranker(d, cutoff_layers=[2, 3])
    two = ctor.compute_score(pairs[:3])
    assert len(two) == 2 and len(two[0]) == 3
    assert ctor.compute_score(pairs[:3][0]) == [[two[0][0]], [two[1][0]]]


def test_auto_reranker_picks_the_class_from_the_folder_name(tmp_path):
    links = {"bge-reranker-v2-m3": "xlmr-seqcls-tiny", "bge-reranker-v2-gemma": "gemma-causal-tiny-bf16",
             "bge-reranker-v2-minicpm-layerwise": "minicpm-layerwise-tiny", "Qwen3-Reranker-0.6B": "qwen3-causal-tiny"}
    want = {"bge-reranker-v2-m3": FlagReranker, "bge-reranker-v2-gemma": FlagLLMReranker,
            "bge-reranker-v2-minicpm-layerwise": LayerWiseFlagLLMReranker, "Qwen3-Reranker-0.6B": Qwen3Reranker}
    for link, target in links.items():
        os.symlink(model_dir(target), tmp_path / link)
        r = FlagAutoReranker.from_finetuned(str(tmp_path / link))
        assert type(r) is want[link]
    (tmp_path / "bge-reranker-base").mkdir()
    os.symlink(model_dir("bert-seqcls-tiny"), tmp_path / "bge-reranker-base" / "checkpoint-500")
    assert type(FlagAutoReranker.from_finetuned(str(tmp_path / "bge-reranker-base" / "checkpoint-500"))) is FlagReranker
    r = FlagAutoReranker.from_finetuned(model_dir("gemma-causal-tiny-bf16"), model_class="decoder-only-base")
    assert type(r) is FlagLLMReranker
    with pytest.raises(ValueError, match="not found in the model mapping"):
        FlagAutoReranker.from_finetuned(model_dir("gemma-causal-tiny-bf16"))
    with pytest.raises(EnvironmentError):
        FlagAutoReranker()


def test_gpu_only_arguments_are_accepted():
    d = model_dir("xlmr-seqcls-tiny")
    pairs = [("what is panda?", "hi"), ("a", "b")]
    base = FlagReranker(d).compute_score(pairs)
    r = FlagReranker(d, use_fp16=True, devices=["cuda:0", "cuda:1"], trust_remote_code=True, cache_dir="/nowhere",
                     passage_max_length=512)
    assert r.compute_score(pairs) == base
    assert r.passage_max_length == 512  # FlagEmbedding keeps unknown kwargs as attributes


def test_use_bf16_maps_to_bf16_compute_on_llm_classes():
    d = model_dir("gemma-causal-tiny-bf16")
    pairs = pairs_of(golden("gemma-causal-tiny-bf16", max_length=64))[:6]
    got = FlagLLMReranker(d, use_bf16=True).compute_score(pairs)
    assert got == cli_scores(d, pairs, "--dtype", "bf16", "--batch-size", "128")
    enc = FlagReranker(model_dir("bert-seqcls-tiny"), use_bf16=True)  # no such argument upstream: ignored
    assert enc.compute_score(pairs) == FlagReranker(model_dir("bert-seqcls-tiny")).compute_score(pairs)
