#!/usr/bin/python3
"""Compares two score files (one float per line, as bench_rerank --scores writes) over the rows both have:
prints "rows=N max_abs=... spearman=..." (Spearman: Pearson correlation of the ranks, ties averaged).

usage: compare.py SCORES_A SCORES_B
"""
import math, sys


def ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i])
    r, i = [0.0] * len(v), 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2
        i = j + 1
    return r


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va, vb = sum((x - ma) ** 2 for x in ra), sum((y - mb) ** 2 for y in rb)
    return cov / math.sqrt(va * vb) if va > 0 and vb > 0 else 1.0


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a = [float(x) for x in open(sys.argv[1])]
    b = [float(x) for x in open(sys.argv[2])]
    pairs = [(x, y) for x, y in zip(a, b) if not (math.isnan(x) or math.isnan(y))]
    if len(a) != len(b) or not pairs:
        sys.exit(f"compare.py: {sys.argv[1]} has {len(a)} scores, {sys.argv[2]} {len(b)}")
    xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
    print(f"rows={len(pairs)} max_abs={max(abs(x - y) for x, y in pairs):.2g} spearman={spearman(xs, ys):.4f}")


if __name__ == "__main__":
    main()
