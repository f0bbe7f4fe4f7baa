#!/usr/bin/python3
"""PyTorch baseline for bench/run.sh: the same XLM-R cross-encoder forward pass in plain torch (Debian's
python3-torch), batched as FlagReranker does (sort by length descending, batches of 32, right padding with
an attention mask, RoBERTa position ids), on the token ids written by `bench_rerank run --ids`.

usage: torch_baseline.py MODEL_DIR IDS_JSONL THREADS [SCORES_OUT]
prints: seconds=... pairs_per_s=... tokens_per_s=... sampled=K/N
TORCH_SAMPLE=K runs every (N/K)-th pair only (a sample spread over the lengths) and reports its rates (for W2 /
W4, or on Debian's reference BLAS, ~1 GFLOP/s: scripts/install-deps.sh --bench installs OpenBLAS, which takes
over the libblas.so.3 alternative that python3-torch uses). SCORES_OUT then has "nan" for the pairs not run.
"""
import json, math, mmap, os, struct, sys, time

import numpy as np
import torch


def load_safetensors(path):
    f = open(path, "rb")
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    n = struct.unpack("<Q", mm[:8])[0]
    header = json.loads(mm[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", "the baseline reads F32 checkpoints"
        b, e = t["data_offsets"]
        arr = np.frombuffer(mm, dtype=np.float32, count=(e - b) // 4, offset=8 + n + b)
        out[name] = torch.from_numpy(arr.reshape(t["shape"]).copy())
    return out


def main():
    model_dir, ids_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads)
    cfg = json.load(open(model_dir + "/config.json"))
    w = load_safetensors(model_dir + "/model.safetensors")
    H, L, NH = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
    eps, pad = cfg["layer_norm_eps"], cfg["pad_token_id"]
    seqs = [json.loads(line) for line in open(ids_path)]
    n_all = len(seqs)
    sample = int(os.environ.get("TORCH_SAMPLE", "0") or 0)
    picked = list(range(n_all))
    if 0 < sample < n_all:
        picked = [i * n_all // sample for i in range(sample)]
    seqs = [seqs[i] for i in picked]

    def ln(x, p):
        return torch.nn.functional.layer_norm(x, (H,), w[p + ".weight"], w[p + ".bias"], eps)

    def lin(x, p):
        return torch.nn.functional.linear(x, w[p + ".weight"], w[p + ".bias"])

    def forward(ids, mask):
        pos = torch.cumsum(mask, 1) * mask + pad
        x = w["roberta.embeddings.word_embeddings.weight"][ids] + \
            w["roberta.embeddings.position_embeddings.weight"][pos] + \
            w["roberta.embeddings.token_type_embeddings.weight"][0]
        x = ln(x, "roberta.embeddings.LayerNorm")
        B, T = ids.shape
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for l in range(L):
            p = f"roberta.encoder.layer.{l}."
            q = lin(x, p + "attention.self.query").view(B, T, NH, -1).transpose(1, 2)
            k = lin(x, p + "attention.self.key").view(B, T, NH, -1).transpose(1, 2)
            v = lin(x, p + "attention.self.value").view(B, T, NH, -1).transpose(1, 2)
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(H // NH) + bias, -1) @ v
            a = a.transpose(1, 2).reshape(B, T, H)
            x = ln(lin(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            f = torch.nn.functional.gelu(lin(x, p + "intermediate.dense"))
            x = ln(lin(f, p + "output.dense") + x, p + "output.LayerNorm")
        c = torch.tanh(lin(x[:, 0], "classifier.dense"))
        return lin(c, "classifier.out_proj").view(-1)

    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    scores = [0.0] * len(seqs)
    t0 = time.time()
    with torch.inference_mode():
        for s in range(0, len(order), 32):
            idx = order[s:s + 32]
            T = max(len(seqs[i]) for i in idx)
            ids = torch.full((len(idx), T), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), T), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
                mask[r, :len(seqs[i])] = 1
            out = forward(ids, mask)
            for r, i in enumerate(idx):
                scores[i] = float(out[r])
    dt = time.time() - t0
    n_tok = sum(len(s) for s in seqs)
    print(f"seconds={dt:.3f} pairs_per_s={len(seqs) / dt:.2f} tokens_per_s={n_tok / dt:.0f} sampled={len(seqs)}/{n_all}")
    if len(sys.argv) > 4:
        full = [float("nan")] * n_all
        for j, i in enumerate(picked):
            full[i] = scores[j]
        with open(sys.argv[4], "w") as f:
            f.write("".join(f"{x:.9g}\n" for x in full))


if __name__ == "__main__":
    main()
