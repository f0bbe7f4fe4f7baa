"""rerank - FlagEmbedding / sentence-transformers compatible rerankers on librerank, without PyTorch.

    from rerank import FlagReranker          # was: from FlagEmbedding import FlagReranker
    reranker = FlagReranker("BAAI/bge-reranker-v2-m3")
    reranker.compute_score([["what is panda?", "The giant panda is a bear."]], normalize=True)
"""
from .cross_encoder import CrossEncoder
from .flag import FlagAutoReranker, FlagLLMReranker, FlagReranker, LayerWiseFlagLLMReranker, Qwen3Reranker

__version__ = "0.1.0"
__all__ = ["FlagReranker", "FlagLLMReranker", "LayerWiseFlagLLMReranker", "FlagAutoReranker", "Qwen3Reranker",
           "CrossEncoder"]
