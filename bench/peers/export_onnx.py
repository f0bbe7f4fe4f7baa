#!/usr/bin/python3
"""Exports a synthetic XLM-R cross-encoder checkpoint (bench_rerank synth) to ONNX for bench/run_peers.sh, with
Debian's python3-torch: the forward pass of bench/torch_baseline.py written as a torch.nn.Module (weights as
parameters, so they become ONNX initializers and the dense layers MatMul nodes with a constant B).

usage: export_onnx.py MODEL_DIR OUT.onnx
inputs: input_ids, attention_mask (int64, [batch, tokens]); output: logits (float, [batch]).
"""
import json, math, os, sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from torch_baseline import load_safetensors  # noqa: E402  (one safetensors reader for both baselines)


class CrossEncoder(torch.nn.Module):
    """XLM-R sequence classification: embeddings, post-norm encoder layers, tanh head on the first token."""

    def __init__(self, cfg, weights):
        super().__init__()
        self.H, self.L, self.NH = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
        self.eps, self.pad = cfg["layer_norm_eps"], cfg["pad_token_id"]
        self.w = torch.nn.ParameterDict()
        for name, t in weights.items():  # ParameterDict keys may not contain dots
            self.w[name.replace(".", "__")] = torch.nn.Parameter(t, requires_grad=False)

    def p(self, name):
        return self.w[name.replace(".", "__")]

    def ln(self, x, name):
        return torch.nn.functional.layer_norm(x, (self.H,), self.p(name + ".weight"), self.p(name + ".bias"), self.eps)

    def lin(self, x, name):
        return torch.nn.functional.linear(x, self.p(name + ".weight"), self.p(name + ".bias"))

    def forward(self, ids, mask):
        H, NH = self.H, self.NH
        pos = torch.cumsum(mask, 1) * mask + self.pad  # RoBERTa position ids: padding keeps pad_token_id
        x = self.p("roberta.embeddings.word_embeddings.weight")[ids] + \
            self.p("roberta.embeddings.position_embeddings.weight")[pos] + \
            self.p("roberta.embeddings.token_type_embeddings.weight")[0]
        x = self.ln(x, "roberta.embeddings.LayerNorm")
        B, T = ids.shape[0], ids.shape[1]
        bias = (1.0 - mask[:, None, None, :].float()) * -1e9
        for l in range(self.L):
            p = f"roberta.encoder.layer.{l}."
            q = self.lin(x, p + "attention.self.query").view(B, T, NH, H // NH).transpose(1, 2)
            k = self.lin(x, p + "attention.self.key").view(B, T, NH, H // NH).transpose(1, 2)
            v = self.lin(x, p + "attention.self.value").view(B, T, NH, H // NH).transpose(1, 2)
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(H // NH) + bias, -1) @ v
            a = a.transpose(1, 2).reshape(B, T, H)
            x = self.ln(self.lin(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            f = torch.nn.functional.gelu(self.lin(x, p + "intermediate.dense"))
            x = self.ln(self.lin(f, p + "output.dense") + x, p + "output.LayerNorm")
        c = torch.tanh(self.lin(x[:, 0], "classifier.dense"))
        return self.lin(c, "classifier.out_proj").view(-1)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, out = sys.argv[1], sys.argv[2]
    cfg = json.load(open(model_dir + "/config.json"))
    model = CrossEncoder(cfg, load_safetensors(model_dir + "/model.safetensors")).eval()
    ids = torch.tensor([[0, 100, 200, 300, 2, 2, 400, 500, 2]])
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        want = model(ids, mask)
    torch.onnx.export(model, (ids, mask), out, input_names=["input_ids", "attention_mask"], output_names=["logits"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                                    "logits": {0: "batch"}},
                      opset_version=17, do_constant_folding=True)
    print(f"exported {out} ({os.path.getsize(out) / 2**20:.0f} MiB), logit of a 9-token probe {float(want[0]):.6f}")


if __name__ == "__main__":
    main()
