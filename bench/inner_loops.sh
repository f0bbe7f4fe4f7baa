#!/usr/bin/env bash
# bench/inner_loops.sh: the dense-layer kernels' innermost loops, read from the compiled objects (objdump), for
# every instruction set: instructions per iteration by class and multiply-adds per instruction. No timing: it
# describes what ARM64 would execute next to AVX2/AVX-512, since no ARM machine is at hand (issue 11).
# Run from anywhere in the tree; it (re)builds the kernel objects it reads (build/ native, build-arm64/ cross).
set -euo pipefail
cd "$(dirname "$0")/.."

X86_OBJS=(build/src/kernels/x86/fast_avx2.o build/src/kernels/x86/fast_avx512.o)
ARM_OBJS=(build-arm64/src/kernels/arm64/fast_neon.o build-arm64/src/kernels/arm64/fast_neon_dot.o
          build-arm64/src/kernels/arm64/fast_neon_i8mm.o build-arm64/src/kernels/arm64/fast_neon_bf16.o)
if ! command -v "${ARM64_CC:-aarch64-linux-gnu-gcc}" >/dev/null ||
   ! command -v "${ARM_OBJDUMP:-aarch64-linux-gnu-objdump}" >/dev/null; then
  echo "inner_loops.sh: needs the ARM64 cross toolchain: bash scripts/install-deps.sh --arm64" >&2
  exit 1
fi
# make rebuilds only what changed since (no-op when up to date); the cross build's pkg-config setting is
# `make check-arm64-build`'s
make -s -j2 "${X86_OBJS[@]}" >&2
PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig PKG_CONFIG_PATH='' \
  make -s -j2 CC="${ARM64_CC:-aarch64-linux-gnu-gcc}" BUILD=build-arm64 "${ARM_OBJS[@]}" >&2
X86_OBJDUMP=${X86_OBJDUMP:-objdump} ARM_OBJDUMP=${ARM_OBJDUMP:-aarch64-linux-gnu-objdump} python3 - <<'PY'
import os, re, subprocess, sys

# Multiply-adds of one instruction, per 128 bits of its destination (scaled by xmm/ymm/zmm or the ARM
# arrangement's width); AMX tile products are whole tiles, given directly. A multiply-add is one product
# added into a sum: an instruction that only adds products already formed (vpmaddwd by ones after vpmaddubsw,
# sadalp after smull/smlal) counts none and is listed as ALU.
MACS_PER_128 = {
    # x86
    'vfmadd231ps': 4, 'vfmadd213ps': 4, 'vfmadd132ps': 4,  # 4 fp32 lanes
    'vpmaddubsw': 16,                                        # 16 u8 x s8 products, pairs summed to int16
    'vpdpbusd': 16, 'vpdpbusds': 16,                         # 4 lanes x 4 u8 x s8 products
    'vdpbf16ps': 8,                                          # 4 lanes x 2 bf16 products
    # ARM64 (per 128-bit destination: .4s / .8h)
    'fmla': 4,                                               # 4 fp32 lanes (.2s: 2)
    'smull': 8, 'smull2': 8, 'smlal': 8, 'smlal2': 8,        # 8 int8 products widened to int16 lanes
    'sdot': 16, 'udot': 16, 'usdot': 16,                     # 4 lanes x 4 int8 products
    'smmla': 32, 'ummla': 32, 'usmmla': 32,                  # (2 x 8) . (8 x 2) int8 -> 2 x 2 int32
    'bfmmla': 16,                                            # (2 x 4) . (4 x 2) bf16 -> 2 x 2 fp32
    'bfdot': 8,                                              # 4 lanes x 2 bf16 products
}
# AMX, by the tile shape fast_avx512.c configures (16 rows x 64 bytes for every tile): C 16 x 16 fp32/int32,
# K = 32 bf16 pairs' worth (16 x 2) or 64 int8 (16 x 4) per instruction.
MACS_WHOLE = {'tdpbf16ps': 16 * 16 * 32, 'tdpbusd': 16 * 16 * 64}
# Per function, instructions that are its multiply-adds there only: vpdpbusd emulated in AVX2 forms each
# product in one of two vpmaddwd on bytes widened to int16 (4 int32 lanes x 2 products per 128 bits).
FUNC_MACS = {'int8_sums_emulated': {'vpmaddwd': 8}}
extra_macs = {}  # FUNC_MACS of the function being read

# (kernel symbol, function to search, object, ISA, dtype, tile rows x cols x k per iteration as the C source
# states it (checked against the multiply-adds counted), note)
KERNELS = [
    ('rr_ukernel_avx2', 'rr_ukernel_avx2', 'build/src/kernels/x86/fast_avx2.o', 'avx2', 'fp32', (6, 16, 1), ''),
    ('rr_ukernel_avx512', 'rr_ukernel_avx512', 'build/src/kernels/x86/fast_avx512.o', 'avx512', 'fp32', (14, 32, 1), ''),
    ('rr_ukernel_neon', 'rr_ukernel_neon', 'build-arm64/src/kernels/arm64/fast_neon.o', 'neon', 'fp32', (6, 16, 1), ''),
    ('rr_block_int8_avx2', 'int8_sums_pre', 'build/src/kernels/x86/fast_avx2.o', 'avx2', 'int8', (4, 16, 4),
     'K <= 4096: rows pre-signed'),
    ('rr_block_int8_avx2', 'int8_sums', 'build/src/kernels/x86/fast_avx2.o', 'avx2', 'int8', (4, 16, 4),
     'K > 4096: xor+abs in loop'),
    ('rr_block_int8_avxvnni', 'int8_sums_vnni', 'build/src/kernels/x86/fast_avx2.o', 'avxvnni', 'int8', (4, 16, 4),
     '{vex} vpdpbusd ymm'),
    ('rr_block_int8_avxvnni_emulated', 'int8_sums_emulated', 'build/src/kernels/x86/fast_avx2.o', 'avx2', 'int8',
     (4, 16, 4), 'tests only: the VNNI loop, vpdpbusd spelt in AVX2'),
    ('rr_block_int8_avx512', 'rr_block_int8_avx512', 'build/src/kernels/x86/fast_avx512.o', 'avx512vnni', 'int8',
     (8, 32, 4), ''),
    ('rr_block_int8_avx512', 'amx_rows_int8', 'build/src/kernels/x86/fast_avx512.o', 'amx', 'int8', (32, 32, 64),
     '32-row groups'),
    ('rr_block_int8_neon', 'rr_block_int8_neon', 'build-arm64/src/kernels/arm64/fast_neon.o', 'neon', 'int8',
     (4, 8, 8), ''),
    ('rr_block_int8_neon_dot', 'rr_block_int8_neon_dot', 'build-arm64/src/kernels/arm64/fast_neon_dot.o',
     'neon_dot', 'int8', (4, 16, 16), ''),
    ('rr_block_int8_neon_i8mm', 'tile2', 'build-arm64/src/kernels/arm64/fast_neon_i8mm.o', 'neon_i8mm', 'int8',
     (2, 16, 8), ''),
    ('rr_block_bf16_avx2', 'rr_block_bf16_avx2', 'build/src/kernels/x86/fast_avx2.o', 'avx2', 'bf16', (2, 32, 2),
     'bf16 out only'),
    ('rr_block_bf16_avx512', 'rr_block_bf16_avx512', 'build/src/kernels/x86/fast_avx512.o', 'avx512bf16', 'bf16',
     (8, 32, 2), ''),
    ('rr_block_bf16_avx512', 'amx_rows', 'build/src/kernels/x86/fast_avx512.o', 'amx', 'bf16', (32, 32, 32),
     '32-row groups'),
    ('rr_block_bf16_neon', 'rr_block_bf16_neon', 'build-arm64/src/kernels/arm64/fast_neon.o', 'neon', 'bf16',
     (4, 16, 2), 'widened in registers'),
    ('rr_block_bf16_neon_bf16', 'tile2', 'build-arm64/src/kernels/arm64/fast_neon_bf16.o', 'neon_i8mm', 'bf16',
     (2, 16, 4), ''),
]
NOTES = [
    ('avx2', 'bf16', 'fp32 outputs run on rr_ukernel_avx2 (row above): weights widened to fp32 while packed'),
    ('avx512 w/o BF16', 'bf16', 'the same on rr_ukernel_avx512; without VNNI, int8 keeps the avx2 block'),
]

X86_BRANCH = re.compile(r'^j[a-z]+$')
ARM_BRANCH = re.compile(r'^(b(\.[a-z]+)?|cbn?z|tbn?z)$')
TARGET = re.compile(r'^([0-9a-f]+) <')


def disassemble(obj, arm):
    """{function: [(addr, mnemonic, operands)]} of every symbol in obj"""
    tool = os.environ['ARM_OBJDUMP' if arm else 'X86_OBJDUMP']
    args = [tool, '-d', '--no-show-raw-insn'] + ([] if arm else ['-M', 'intel']) + [obj]
    funcs, cur = {}, None
    for line in subprocess.run(args, check=True, capture_output=True, text=True).stdout.splitlines():
        m = re.match(r'^[0-9a-f]+ <([^>]+)>:$', line)
        if m:
            cur = funcs.setdefault(m.group(1), [])
            continue
        m = re.match(r'^\s+([0-9a-f]+):\s+(?:\{e?vex\}\s+)?(\S+)\s*(.*)$', line)  # {vex}: the AVX-VNNI encoding
        if m and cur is not None:
            ops = m.group(3).split('//')[0].split('#')[0] if arm else m.group(3)
            if arm and m.group(2) in ('tbz', 'tbnz'):
                ops = m.group(3)  # its bit number is an immediate written #n
            cur.append((int(m.group(1), 16), m.group(2), ops.strip()))
    return funcs


def dest_bits(mn, ops, arm):
    first = ops.split(',')[0].strip()
    if arm:
        m = re.match(r'v\d+\.(\d+)([bhsd])', first)
        return int(m.group(1)) * {'b': 8, 'h': 16, 's': 32, 'd': 64}[m.group(2)] if m else 128
    return {'x': 128, 'y': 256, 'z': 512}.get(first[:1], 128)


def macs(mn, ops, arm):
    if mn in extra_macs:
        return extra_macs[mn] * dest_bits(mn, ops, arm) // 128
    if mn in MACS_WHOLE:
        return MACS_WHOLE[mn]
    if mn in MACS_PER_128:
        return MACS_PER_128[mn] * dest_bits(mn, ops, arm) // 128
    return 0


def is_branch(mn, arm):
    return bool(ARM_BRANCH.match(mn)) if arm else bool(X86_BRANCH.match(mn))


def classify(mn, ops, arm):
    """one of mac, ld, bcast, st, alu (vector work), loop (scalar integer: counters, pointers, branches)"""
    if macs(mn, ops, arm) or mn in MACS_PER_128 or mn in MACS_WHOLE or mn in extra_macs:
        return 'mac'
    if arm:
        if mn in ('ld1r', 'ld2r', 'ld4r', 'dup'):
            return 'bcast'
        if mn.startswith('ld'):
            return 'ld'
        if mn.startswith('st'):
            return 'st'
        if is_branch(mn, arm) or not re.search(r'\b[vqdshb]\d+\b', ops):
            return 'loop'
        return 'alu'
    if 'broadcast' in mn:
        return 'bcast'
    if mn.startswith('tileload'):
        return 'ld'
    mem = 'PTR' in ops or re.search(r'\[', ops)
    if mem and mn not in ('lea', 'nop') and not mn.startswith('prefetch'):
        dst = ops.split(',')[0]
        return 'st' if ('PTR' in dst or '[' in dst) else 'ld'
    if is_branch(mn, arm) or not re.search(r'\b[xyzt]mm\d+\b', ops):
        return 'loop'
    return 'alu'


def loops(code, arm):
    """(start, end) index ranges of the backward branches' loops in one function"""
    index = {a: i for i, (a, _, _) in enumerate(code)}
    out = []
    for i, (a, mn, ops) in enumerate(code):
        if not is_branch(mn, arm):
            continue
        tok = ops.split(',')[-1].strip() if arm else ops
        m = TARGET.match(tok)
        if m and int(m.group(1), 16) <= a and int(m.group(1), 16) in index:
            out.append((index[int(m.group(1), 16)], i))
    return out


def loop_macs(code, rng, arm):
    return sum(macs(mn, ops, arm) for _, mn, ops in code[rng[0]:rng[1] + 1])


def inner_loop(code, arm, tile):
    """The loop of one k step of the source's full tile (rows x cols x k multiply-adds), as compiled:
    (a) an innermost loop that does all of them (the tile unrolled into registers), else (b) a loop whose only
    multiply instructions sit in nested innermost loops doing one row's share (gcc kept the row loop: `rows`
    trips per k step), else (c) the innermost loop doing the most multiply-adds (flagged as a mismatch).
    Returns (loop, nested loops, the count of innermost multiply loops in the function)."""
    want = tile[0] * tile[1] * tile[2]
    cand = [r for r in loops(code, arm) if loop_macs(code, r, arm)]
    inside = lambda a, b: a != b and b[0] <= a[0] and a[1] <= b[1]
    inner = [r for r in cand if not any(inside(o, r) for o in cand)]
    if not inner:
        return None, [], 0
    for r in inner:  # (a)
        if loop_macs(code, r, arm) == want:
            return r, [], len(inner)
    for r in sorted(cand):  # (b): the first of the identical copies gcc may emit
        nested = [o for o in inner if inside(o, r)]
        if not nested or any(inside(o, r) and o not in inner for o in cand):
            continue  # more than one level of loops inside r
        if tile[0] * sum(loop_macs(code, n, arm) for n in nested) == want and \
                loop_macs(code, r, arm) == sum(loop_macs(code, n, arm) for n in nested):
            return r, nested, len(inner)
    return max(inner, key=lambda r: (loop_macs(code, r, arm), r[0] - r[1])), [], len(inner)  # (c)


rows, cache = [], {}
for kernel, func, obj, isa, dtype, tile, note in KERNELS:
    arm = 'arm64' in obj
    if obj not in cache:
        cache[obj] = disassemble(obj, arm)
    code = cache[obj].get(func)
    extra_macs = FUNC_MACS.get(func, {})
    if code is None:
        sys.exit(f'inner_loops: {func} not found in {obj}')
    loop, nested, n_inner = inner_loop(code, arm, tile)
    if loop is None:
        sys.exit(f'inner_loops: no loop with multiply instructions in {func} ({obj})')
    s, e = loop
    # one k step: the loop's own instructions, and those of its nested row loops `rows` times over
    trips = [1] * (e - s + 1)
    for ns, ne in nested:
        for i in range(ns, ne + 1):
            trips[i - s] = tile[0]
    body = code[s:e + 1]
    cls = {k: 0 for k in ('mac', 'ld', 'bcast', 'st', 'alu', 'loop')}
    for (_, mn, ops), t in zip(body, trips):
        cls[classify(mn, ops, arm)] += t
    n = sum(trips)
    mac = sum(macs(mn, ops, arm) * t for (_, mn, ops), t in zip(body, trips))
    mnems = sorted({mn for _, mn, ops in body if classify(mn, ops, arm) == 'mac'})
    want = tile[0] * tile[1] * tile[2]
    off = lambda i: f'{code[i][0] - code[0][0]:#x}'
    where = f'{func}+{off(s)}..{off(e)}'
    if nested:
        sizes = '/'.join(str(b - a + 1) for a, b in nested)
        note = (note + '; ' if note else '') + f'row loop kept: {len(nested)} loop(s) of {sizes} insns ' \
            f'at {", ".join(off(a) for a, _ in nested)}, {tile[0]} trips each per k step'
    rows.append((kernel, isa, dtype, '/'.join(mnems), 'x'.join(map(str, tile)), where, n_inner, n, cls, mac,
                 want, note))

head = ('kernel', 'ISA', 'dtype', 'multiply insn', 'tile r x c x k', 'loop (offsets)', 'loops', 'insns', 'mul', 'ld',
        'bcast', 'alu', 'st', 'loop', 'MAC/iter', 'MAC/insn', 'mul insns/32 MAC', 'insns/32 MAC', 'note')
print('| ' + ' | '.join(head) + ' |')
print('|' + '---|' * len(head))
for kernel, isa, dtype, mn, tile, where, n_inner, n, cls, mac, want, note in rows:
    check = '' if mac == want else f' (source says {want}: MISMATCH)'
    print(f'| {kernel} | {isa} | {dtype} | {mn} | {tile} | {where} | {n_inner} | {n} | {cls["mac"]} | {cls["ld"]} | '
          f'{cls["bcast"]} | {cls["alu"]} | {cls["st"]} | {cls["loop"]} | {mac}{check} | {mac / n:.1f} | '
          f'{cls["mac"] * 32 / mac:.3g} | {n * 32 / mac:.3g} | {note} |')
for isa, dtype, note in NOTES:
    print('| ' + ' | '.join(['(note)', isa, dtype] + [''] * (len(head) - 4) + [note]) + ' |')
PY
echo
echo "One row per kernel: the loop of one k step of the source's full tile (rows x cols x k), as compiled." \
     "loops = innermost loops with multiply instructions in that function (the others: smaller row counts, K tails)." \
     "Where gcc kept the tile's row loop, the k step counts the row loop's body once per row." \
     "Classes: mul = multiply-add instructions (MAC = multiply-adds, their semantics in the script);" \
     "ld = other instructions reading memory (AMX tile loads, a vpand with a memory operand); bcast = broadcasts/dup; alu = other vector work (sign, widen," \
     "pair-add, zip, shift); st = stores (accumulators or operands through the stack); loop = scalar counters," \
     "pointers, compares, branches. $(${X86_CC:-cc} --version | head -n 1); $(${ARM64_CC:-aarch64-linux-gnu-gcc} --version | head -n 1)"
