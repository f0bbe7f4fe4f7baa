"""parallel.py - one model per worker process for Dask, Ray, Spark or multiprocessing.

A task scores a shard with the process's cached reranker, so the model is loaded once per worker, not once per
task, and nothing but texts and floats crosses process boundaries. The functions live in this package (not in
user scripts) so that workers can unpickle them by reference.
"""
import os
import threading

from . import flag
from .cross_encoder import CrossEncoder

_CLASSES = {"FlagReranker": flag.FlagReranker, "FlagLLMReranker": flag.FlagLLMReranker,
            "LayerWiseFlagLLMReranker": flag.LayerWiseFlagLLMReranker, "Qwen3Reranker": flag.Qwen3Reranker,
            "CrossEncoder": CrossEncoder}
_cache = {}
_lock = threading.Lock()


def shared_reranker(model_name_or_path, cls="FlagReranker", **kwargs):
    """The process's reranker for these arguments, loaded on first use (thread-safe)."""
    if cls not in _CLASSES:
        raise ValueError("cls must be one of %s, got %r" % (", ".join(_CLASSES), cls))
    key = (os.getpid(), cls, os.fspath(model_name_or_path), repr(sorted(kwargs.items())))  # lists allowed
    with _lock:
        model = _cache.get(key)
        if model is None:
            model = _cache[key] = _CLASSES[cls](model_name_or_path, **kwargs)
    return model


def score_shard(pairs, model_name_or_path, cls="FlagReranker", score_kwargs=None, **kwargs):
    """Scores one shard of (query, passage) pairs with the worker's shared model; a list in shard order."""
    model = shared_reranker(model_name_or_path, cls, **kwargs)
    pairs = [tuple(p) for p in pairs]
    if not pairs:
        return []
    if cls == "CrossEncoder":
        scores = model.predict(pairs, **(score_kwargs or {}))
        return [float(s) for s in scores]
    return model.compute_score(pairs, **(score_kwargs or {}))


def worker_info(model_name_or_path, cls="FlagReranker", **kwargs):
    """(pid, id of the cached model): lets a test check that each worker holds exactly one model."""
    return os.getpid(), id(shared_reranker(model_name_or_path, cls, **kwargs))
