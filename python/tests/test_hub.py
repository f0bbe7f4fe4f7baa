"""Models by hub id from Python: FlagReranker("ORG/NAME") loads what huggingface_hub put in its cache (the engine
reads HF_HUB_CACHE / HF_HUB_OFFLINE itself), and hub failures are OSError subclasses with one-line messages."""
import hashlib
import os

import pytest

from conftest import model_dir
from rerank import FlagReranker

COMMIT = "0123456789abcdef0123456789abcdef01234567"
FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
         "vocab.txt"]


def write_cache(cache, repo, src):
    """huggingface_hub's layout, by hand: blobs named by sha256, relative symlinks, refs/main without newline."""
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "blobs").mkdir(parents=True)
    (root / "refs").mkdir()
    snap = root / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    for name in FILES:
        data = open(os.path.join(src, name), "rb").read()
        digest = hashlib.sha256(data).hexdigest()
        (root / "blobs" / digest).write_bytes(data)
        os.symlink("../../blobs/" + digest, snap / name)
    (root / "refs" / "main").write_text(COMMIT)


def test_hub_id_from_the_shared_cache_offline(tmp_path, monkeypatch):
    src = model_dir("bert-seqcls-tiny")
    write_cache(tmp_path, "org/tiny", src)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pairs = [["what is panda?", "The giant panda is a bear."], ["hi", "hello there"]]
    assert FlagReranker("org/tiny").compute_score(pairs) == FlagReranker(src).compute_score(pairs)
    with pytest.raises(FileNotFoundError) as e:
        FlagReranker("org/not-cached")
    msg = str(e.value)
    assert "HF_HUB_OFFLINE" in msg and "\n" not in msg


def test_unreachable_hub_is_connection_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1")  # nothing listens there: refused at once
    for var in ("HF_HUB_OFFLINE", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConnectionError) as e:
        FlagReranker("org/anything")
    assert "org/anything" in str(e.value)
