#!/usr/bin/python3
"""Dynamic int8 quantisation of an ONNX model's MatMul weights, as ONNX Runtime's quantize_dynamic does it
(its Python package is not in Debian, so this is our own script on Debian's python3-onnx), for
bench/run_peers.sh:
  - each MatMul whose B is a float initializer gets symmetric int8 weights (zero point 0, scale max|w| / 127),
    per tensor (quantize_dynamic's default) or, with --per-channel, per output column;
  - its activation A is quantised at run time by DynamicQuantizeLinear (uint8, asymmetric, per tensor), one
    node per distinct activation (the q, k and v projections share theirs);
  - MatMulInteger multiplies in integers, then Cast + Mul by (scale of A * scale of B) give the float output
    the MatMul produced. ONNX Runtime's graph optimiser fuses this pattern (with the bias Add that follows) into
    its own DynamicQuantizeMatMul / MatMulIntegerToFloat kernels at load, as for quantize_dynamic's output.
Other ops (attention products, Gemm of the head, embeddings' Gather) stay float, as quantize_dynamic leaves
MatMuls with a non-constant B (MatMulConstBOnly) and Gemm.

usage: quantize_dynamic.py IN.onnx OUT.onnx [--per-channel]
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def quantize_weight(w, per_channel):
    """int8 weights and their scale: symmetric, so the integer product needs no correction for B's zero point."""
    amax = np.abs(w).max(axis=0) if per_channel else np.abs(w).max()
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale, np.zeros(np.shape(scale), dtype=np.int8)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    per_channel = "--per-channel" in sys.argv[1:]
    if len(args) != 2:
        sys.exit(__doc__)
    model = onnx.load(args[0])
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    dynamic_q = {}  # activation name -> (quantised, scale, zero point) from its DynamicQuantizeLinear
    nodes, n_quantised, bytes_before, bytes_after = [], 0, 0, 0
    for node in g.node:
        b = inits.get(node.input[1]) if node.op_type == "MatMul" else None
        if b is None or b.data_type != TensorProto.FLOAT or len(b.dims) != 2:
            nodes.append(node)
            continue
        a, out = node.input[0], node.output[0]
        if a not in dynamic_q:
            dynamic_q[a] = (a + "_quantized", a + "_scale", a + "_zero_point")
            nodes.append(helper.make_node("DynamicQuantizeLinear", [a], list(dynamic_q[a]), a + "_QuantizeLinear"))
        a_q, a_scale, a_zp = dynamic_q[a]
        w = numpy_helper.to_array(b)
        q, scale, zp = quantize_weight(w, per_channel)
        bytes_before += w.nbytes
        bytes_after += q.nbytes
        g.initializer.extend([numpy_helper.from_array(q, b.name + "_quantized"),
                              numpy_helper.from_array(scale, b.name + "_scale"),
                              numpy_helper.from_array(zp, b.name + "_zero_point")])
        name = node.name or out
        nodes += [
            helper.make_node("MatMulInteger", [a_q, b.name + "_quantized", a_zp, b.name + "_zero_point"],
                             [out + "_int32"], name + "_quant"),
            helper.make_node("Cast", [out + "_int32"], [out + "_int32_float"], name + "_cast", to=TensorProto.FLOAT),
            helper.make_node("Mul", [a_scale, b.name + "_scale"], [name + "_scales"], name + "_scales_mul"),
            helper.make_node("Mul", [out + "_int32_float", name + "_scales"], [out], name + "_output_scale_mul"),
        ]
        n_quantised += 1
    used = {i for n in nodes for i in n.input}
    keep = [t for t in g.initializer if t.name in used]  # drop the float weights now unused
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, args[1])
    print(f"quantised {n_quantised} MatMul weights ({'per channel' if per_channel else 'per tensor'}, "
          f"{bytes_before / 2**20:.0f} -> {bytes_after / 2**20:.0f} MiB), "
          f"{len(dynamic_q)} DynamicQuantizeLinear: {args[1]}")


if __name__ == "__main__":
    main()
