"""Shared fixtures of the Python package tests: the golden test data (../shared/testdata or $RERANK_SHARED)
and the CLI (build/rerank or $RERANK_CLI), whose scores the package must reproduce exactly."""
import json
import os
import struct
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("RERANK_SHARED", os.path.join(REPO, "..", "shared"))
CLI = os.environ.get("RERANK_CLI", os.path.join(REPO, "build", "rerank"))


def model_dir(name):
    path = os.path.join(SHARED, "testdata", name)
    if not os.path.isdir(path):
        pytest.fail("test data missing: %s (set RERANK_SHARED)" % path)
    return path


def golden(name, file="golden_fast.jsonl", max_length=None):
    with open(os.path.join(model_dir(name), file), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if max_length is None or r["max_length"] == max_length]


def f32(x):
    """x rounded to float32, as a Python float (the CLI prints 9 significant digits: an exact round trip)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def cli_scores(model, pairs, *args):
    """`rerank score --model MODEL ARGS` on the pairs: a list of floats, or of per-layer lists."""
    if not os.access(CLI, os.X_OK):
        pytest.fail("CLI missing: %s (run make, or set RERANK_CLI)" % CLI)
    text = "".join(json.dumps({"query": q, "passage": p}) + "\n" for q, p in pairs)
    res = subprocess.run([CLI, "score", "--model", model] + list(args), input=text.encode(), capture_output=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    out = []
    for line in res.stdout.decode().splitlines():
        obj = json.loads(line)
        out.append(f32(obj["score"]) if "score" in obj else [f32(s) for s in obj["scores"]])
    assert len(out) == len(pairs)
    return out
