#!/usr/bin/env python3
"""PyTorch baseline for bench/bench_train.c: one training step (forward, group-wise cross-entropy, backward,
gradient clipping, AdamW) of an XLMRobertaForSequenceClassification-shaped model written with plain torch.nn
(transformers is not installed), on random weights and random token ids of the same shapes.

  torch_train_baseline.py [--layers 12] [--threads 2] [--steps 2] [--warmup 1] [--group 8] [--groups 1]
                          [--seq 256] [--dropout 1]

Prints one line "key=value ..." like bench_train run."""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HIDDEN, HEADS, FFN, VOCAB, POSITIONS, PAD = 768, 12, 3072, 250002, 514, 1


class Layer(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, HIDDEN)
        self.o, self.ln1 = nn.Linear(HIDDEN, HIDDEN), nn.LayerNorm(HIDDEN, eps=1e-5)
        self.up, self.down, self.ln2 = nn.Linear(HIDDEN, FFN), nn.Linear(FFN, HIDDEN), nn.LayerNorm(HIDDEN, eps=1e-5)
        self.drop = nn.Dropout(p)

    def forward(self, x):
        b, t, _ = x.shape
        heads = lambda y: y.view(b, t, HEADS, HIDDEN // HEADS).transpose(1, 2)
        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        probs = self.drop(torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS), dim=-1))
        ctx = (probs @ v).transpose(1, 2).reshape(b, t, HIDDEN)
        h = self.ln1(self.drop(self.o(ctx)) + x)
        return self.ln2(self.drop(self.down(F.gelu(self.up(h)))) + h)


class Model(nn.Module):
    def __init__(self, layers, p):
        super().__init__()
        self.word = nn.Embedding(VOCAB, HIDDEN, padding_idx=PAD)
        self.pos = nn.Embedding(POSITIONS, HIDDEN, padding_idx=PAD)
        self.types = nn.Embedding(1, HIDDEN)
        self.ln, self.drop = nn.LayerNorm(HIDDEN, eps=1e-5), nn.Dropout(p)
        self.layers = nn.ModuleList(Layer(p) for _ in range(layers))
        self.dense, self.out = nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, 1)

    def forward(self, ids):
        mask = (ids != PAD).long()
        pos = torch.cumsum(mask, dim=1) * mask + PAD  # RoBERTa's position ids
        x = self.drop(self.ln(self.word(ids) + self.types(torch.zeros_like(ids)) + self.pos(pos)))
        for layer in self.layers:
            x = layer(x)
        x = torch.tanh(self.dense(self.drop(x[:, 0])))
        return self.out(self.drop(x)).squeeze(-1)


def main():
    ap = argparse.ArgumentParser()
    for k, v in dict(layers=12, threads=2, steps=2, warmup=1, group=8, groups=1, seq=256, dropout=1).items():
        ap.add_argument("--" + k, type=int, default=v)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Model(a.layers, 0.1 if a.dropout else 0.0)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01)
    n = a.group * a.groups
    ids = torch.randint(3, VOCAB, (n, a.seq))
    ids[:, 0], ids[:, -1] = 0, 2
    target = torch.zeros(a.groups, dtype=torch.long)
    fb = step_opt = 0.0
    first = last = float("nan")
    for s in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(ids).view(a.groups, a.group), target)
        loss.backward()
        t1 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        t2 = time.perf_counter()
        if s >= a.warmup:
            fb, step_opt = fb + t1 - t0, step_opt + t2 - t1
        first = loss.item() if s == 0 else first
        last = loss.item()
    per = (fb + step_opt) / a.steps
    print(f"torch={torch.__version__} layers={a.layers} threads={a.threads} dropout={a.dropout} "
          f"tokens_per_step={n * a.seq} steps={a.steps} tokens_per_s={n * a.seq / per:.1f} step_s={per:.3f} "
          f"fwd_bwd_s={fb / a.steps:.3f} adamw_s={step_opt / a.steps:.3f} loss_first={first:.6f} loss_last={last:.6f}")


if __name__ == "__main__":
    main()
