"""Errors are Python exceptions with the engine's one-line message, never a crash of the interpreter."""
import shutil

import pytest

from conftest import model_dir
from rerank import CrossEncoder, FlagLLMReranker, FlagReranker, LayerWiseFlagLLMReranker


def one_line(exc):
    msg = str(exc.value)
    assert msg and "\n" not in msg
    return msg


def test_missing_model_is_file_not_found(tmp_path):
    missing = str(tmp_path / "no-such-model")
    for cls in (FlagReranker, FlagLLMReranker, CrossEncoder):
        with pytest.raises(FileNotFoundError) as e:
            cls(missing)
        assert missing in one_line(e)


def test_malformed_model_is_os_error(tmp_path):
    (tmp_path / "config.json").write_text("{ not json")
    with pytest.raises(OSError) as e:
        FlagReranker(str(tmp_path))
    assert "config.json" in one_line(e)
    src = model_dir("bert-seqcls-tiny")
    bad = tmp_path / "truncated"
    shutil.copytree(src, bad)
    with open(bad / "model.safetensors", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(OSError) as e:
        FlagReranker(str(bad))
    assert "model.safetensors" in one_line(e)


def test_bad_input_is_value_or_type_error():
    r = FlagReranker(model_dir("xlmr-seqcls-tiny"))
    with pytest.raises(ValueError) as e:
        r.compute_score([("ok", "fine"), ("bad \udc80 text", "x")])  # a lone surrogate: not valid UTF-8
    assert "pair 1" in one_line(e) and "query" in str(e.value)
    with pytest.raises(TypeError):
        r.compute_score([("ok", 3)])
    with pytest.raises(TypeError):
        r.compute_score([("a", "b", "c")])
    with pytest.raises(TypeError):
        r.compute_score("just a string")
    with pytest.raises(TypeError):
        r.compute_score(42)
    with pytest.raises(TypeError):
        r.compute_score([("a", "b")], max_length="64")
    with pytest.raises(ValueError) as e:
        r.compute_score([("a", "b")], max_length=2)  # the engine: no room beside the special tokens
    assert "max_length" in one_line(e)
    with pytest.raises(ValueError):
        r.compute_score([("a", "b")], batch_size=-1)
    with pytest.raises(ValueError):
        CrossEncoder(model_dir("xlmr-seqcls-tiny")).predict([("a", "b")], batch_size=0)


def test_wrong_class_for_the_model_and_bad_layers():
    with pytest.raises(ValueError, match="FlagLLMReranker"):
        FlagReranker(model_dir("gemma-causal-tiny-bf16"))
    with pytest.raises(ValueError, match="cross-encoder"):
        CrossEncoder(model_dir("gemma-causal-tiny-bf16"))
    r = LayerWiseFlagLLMReranker(model_dir("minicpm-layerwise-tiny"))
    with pytest.raises(ValueError) as e:
        r.compute_score([("a", "b")], cutoff_layers=[1])  # below start_layer 2: the engine names the range
    assert "2" in one_line(e) and "4" in str(e.value)
    with pytest.raises(TypeError):
        r.compute_score([("a", "b")], cutoff_layers=["4"])


def test_the_interpreter_survives_a_burst_of_bad_calls():
    r = FlagReranker(model_dir("bert-seqcls-tiny"))
    for bad in (["\ud800", "x"], ["x", "\udfff"], ["", ""], ["\x00", "\x00\x00"]):
        try:
            r.compute_score(bad)
        except ValueError:
            pass
    assert r.compute_score(["what is panda?", "hi"])[0] == r.compute_score([["what is panda?", "hi"]])[0]
