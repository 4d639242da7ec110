"""Lowering each TFLite operator to a call into the C kernel library.

`lower_op` turns one operator into C: constant arrays (weights, biases,
folded biases, per-channel multipliers and shifts), a ``const`` parameter
struct, the init-time check and the invoke-time call, with every shape a
constant. Everything an op needs is validated here, and whatever the C
kernels cannot compute bit-exactly raises `Unsupported` naming the op and the
reason: `check_c_supported` runs the same lowering with no memory plan, so a
model is refused before anything is written and never emitted wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgedeploy.firmware_export.c_runtime._cgen import (
    c_array,
    c_comment,
    c_double,
    c_float,
    c_identifier,
    c_struct,
)
from edgedeploy.firmware_export.c_runtime._quant import (
    SINGLE_ROUNDING,
    activation_range,
    calculate_input_radius,
    f32,
    quantize_multiplier,
    round_away,
)
from edgedeploy.modelfile import ModelFile, OperatorInfo, TensorInfo

__all__ = ["ALIAS_OPS", "SUPPORTED_OPS", "LoweredOp", "Unsupported", "lower_op"]

#: Ops whose output is the input's bytes under another shape.
ALIAS_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
MAX_DIMS = 6


class Unsupported(Exception):
    """An op (kind "op"), tensor type (kind "dtype") or parameter (kind "params") we cannot run."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass
class LoweredOp:
    """The C an operator becomes."""

    headers: set[str] = field(default_factory=set)
    constants: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    const_bytes: int = 0


PtrFn = Callable[[int, str], str]


class _Ctx:
    """Helpers one op's lowering shares: tensors, quantization, names and output."""

    def __init__(self, model: ModelFile, op: OperatorInfo, ptr: PtrFn) -> None:
        self.model = model
        self.op = op
        self.ptr = ptr
        self.prefix = f"op{op.index}_{c_identifier(op.op.lower())}"
        self.out = LoweredOp()

    # tensors -----------------------------------------------------------------
    def tensor(self, idx: int) -> TensorInfo:
        return self.model.tensors[idx]

    def input(self, pos: int, required: bool = True) -> TensorInfo | None:
        ins = self.op.inputs
        if pos >= len(ins) or ins[pos] < 0:
            if required:
                raise Unsupported("params", f"{self.op.op} lacks input {pos}")
            return None
        return self.tensor(ins[pos])

    def output(self, pos: int = 0) -> TensorInfo:
        if pos >= len(self.op.outputs):
            raise Unsupported("params", f"{self.op.op} lacks output {pos}")
        return self.tensor(self.op.outputs[pos])

    def expect_dtype(self, t: TensorInfo, dtype: str, role: str) -> None:
        if t.dtype != dtype:
            raise Unsupported("dtype", f"{t.dtype} {role} of {self.op.op}")

    def activation(self, t: TensorInfo, role: str) -> tuple[float, int]:
        """An int8 tensor with one scale and zero point: (scale, zero_point)."""
        self.expect_dtype(t, "int8", role)
        q = t.quant
        if q is None or len(q.scales) != 1:
            raise Unsupported("params", f"{self.op.op} {role} needs per-tensor int8 quantization")
        if not np.isfinite(q.scales[0]) or q.scales[0] <= 0:
            raise Unsupported("params", f"{self.op.op} {role} has scale {q.scales[0]}")
        zp = q.zero_points[0] if q.zero_points else 0
        return float(f32(q.scales[0])), int(zp)

    def constant(self, t: TensorInfo, role: str) -> np.ndarray:
        if not t.is_constant:
            raise Unsupported("params", f"{self.op.op} with a non-constant {role}")
        return self.model.constant(t.index)

    def rank(self, t: TensorInfo, rank: int, role: str) -> tuple[int, ...]:
        if len(t.shape) != rank:
            raise Unsupported(
                "params", f"{self.op.op} {role} of rank {len(t.shape)} (expected {rank})"
            )
        return t.shape

    def options(self, key: str, default: Any = None) -> Any:
        return self.op.options.get(key, default)

    def fused(self, scale: float, zp: int) -> tuple[int, int]:
        act = int(self.options("fusedActivationFunction", 0) or 0)
        try:
            return activation_range(act, scale, zp)
        except ValueError as exc:
            raise Unsupported("params", f"{self.op.op} with {exc}") from exc

    def p(self, idx: int, ctype: str = "int8_t") -> str:
        return self.ptr(idx, ctype)

    # output ------------------------------------------------------------------
    def array(self, suffix: str, ctype: str, values: Any) -> str:
        name = f"{self.prefix}_{suffix}"
        flat = np.asarray(values).reshape(-1)
        self.out.constants.append(c_array(name, ctype, flat.tolist()))
        self.out.const_bytes += flat.size * {"int8_t": 1, "int32_t": 4}[ctype]
        return name

    def struct(self, ctype: str, fields: dict[str, object], header: str) -> str:
        name = f"{self.prefix}_params"
        self.out.params.append(c_struct(ctype, name, fields))
        self.out.headers.add(header)
        self.out.const_bytes += 4 * _count_ints(fields)
        return name

    def check(self, expr: str) -> None:
        self.out.checks.append(expr)

    def call(self, line: str) -> None:
        self.out.calls.append(line)


def _count_ints(fields: dict[str, object]) -> int:
    n = 0
    for v in fields.values():
        if isinstance(v, dict):
            n += _count_ints(v)
        elif isinstance(v, list | tuple):
            n += len(v)
        else:
            n += 1
    return n


def _elements(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


# padding ----------------------------------------------------------------------
def _out_size(padding: int, size: int, filt: int, stride: int, dilation: int) -> int:
    eff = (filt - 1) * dilation + 1
    if padding == 0:  # SAME
        return (size + stride - 1) // stride
    return (size + stride - eff) // stride


def _pad(stride: int, dilation: int, size: int, filt: int, out: int) -> int:
    eff = (filt - 1) * dilation + 1
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2


def _spatial(
    ctx: _Ctx, in_hw: tuple[int, int], f_hw: tuple[int, int], out_hw: tuple[int, int], dilated: bool
) -> dict[str, int]:
    padding = int(ctx.options("padding", 0) or 0)
    if padding not in (0, 1):
        raise Unsupported("params", f"{ctx.op.op} padding {padding}")
    sh, sw = int(ctx.options("strideH", 1)), int(ctx.options("strideW", 1))
    dh = int(ctx.options("dilationHFactor", 1) or 1) if dilated else 1
    dw = int(ctx.options("dilationWFactor", 1) or 1) if dilated else 1
    if min(sh, sw, dh, dw) < 1:
        raise Unsupported("params", f"{ctx.op.op} stride or dilation below 1")
    expect = (
        _out_size(padding, in_hw[0], f_hw[0], sh, dh),
        _out_size(padding, in_hw[1], f_hw[1], sw, dw),
    )
    if expect != tuple(out_hw):
        raise Unsupported(
            "params",
            f"{ctx.op.op} output {list(out_hw)} disagrees with its padding ({list(expect)})",
        )
    return {
        "stride_h": sh,
        "stride_w": sw,
        "dilation_h": dh,
        "dilation_w": dw,
        "pad_h": _pad(sh, dh, in_hw[0], f_hw[0], out_hw[0]),
        "pad_w": _pad(sw, dw, in_hw[1], f_hw[1], out_hw[1]),
    }


def _all_inside(
    sp: dict[str, int], in_hw: tuple[int, int], f_hw: tuple[int, int], out_hw: tuple[int, int]
) -> bool:
    if sp["pad_h"] or sp["pad_w"]:
        return False
    eff_h = (f_hw[0] - 1) * sp["dilation_h"] + 1
    eff_w = (f_hw[1] - 1) * sp["dilation_w"] + 1
    return (out_hw[0] - 1) * sp["stride_h"] + eff_h <= in_hw[0] and (
        (out_hw[1] - 1) * sp["stride_w"] + eff_w <= in_hw[1]
    )


# conv-like ops ----------------------------------------------------------------
def _filter_quant(ctx: _Ctx, w: TensorInfo, channels: int, qdim: int) -> list[float]:
    ctx.expect_dtype(w, "int8", "weights")
    q = w.quant
    if q is None or not q.scales:
        raise Unsupported("params", f"{ctx.op.op} weights are not quantized")
    if any(z != 0 for z in q.zero_points):
        raise Unsupported("params", f"{ctx.op.op} weights with a non-zero zero point")
    if len(q.scales) > 1 and (len(q.scales) != channels or q.quantized_dimension != qdim):
        raise Unsupported("params", f"{ctx.op.op} weights quantized along an unexpected axis")
    return [float(f32(s)) for s in q.scales]


def _bias(ctx: _Ctx, channels: int) -> np.ndarray | None:
    b = ctx.input(2, required=False)
    if b is None:
        return None
    ctx.expect_dtype(b, "int32", "bias")
    data = ctx.constant(b, "bias").astype(np.int64).reshape(-1)
    if data.size != channels:
        raise Unsupported(
            "params", f"{ctx.op.op} bias of {data.size} values for {channels} channels"
        )
    return data


def _multipliers(
    in_scale: float, filter_scales: list[float], out_scale: float
) -> tuple[list[int], list[int]]:
    """PopulateConvolutionQuantizationParams: double(in) * double(filter) / double(out)."""
    mults, shifts = [], []
    for fs in filter_scales:
        m, s = quantize_multiplier(in_scale * fs / out_scale)
        mults.append(m)
        shifts.append(s)
    return mults, shifts


def _int32(values: np.ndarray, what: str, op: str) -> np.ndarray:
    if values.min(initial=0) < -(1 << 31) or values.max(initial=0) >= 1 << 31:
        raise Unsupported("params", f"{op} {what} overflows int32")
    return values


def _lower_conv(ctx: _Ctx, depthwise: bool) -> None:
    x, w, y = ctx.input(0), ctx.input(1), ctx.output()
    assert x is not None and w is not None
    in_s, in_zp = ctx.activation(x, "input")
    out_s, out_zp = ctx.activation(y, "output")
    n, ih, iw, ic = ctx.rank(x, 4, "input")
    on, oh, ow, oc = ctx.rank(y, 4, "output")
    wshape = ctx.rank(w, 4, "weights")
    weights = ctx.constant(w, "weights").astype(np.int64)
    if n != on:
        raise Unsupported("params", f"{ctx.op.op} batch {n} -> {on}")
    if depthwise:
        _, fh, fw, wc = wshape
        dm = int(ctx.options("depthMultiplier", 1) or 0)
        if wshape[0] != 1 or wc != oc or oc != ic * dm:
            raise Unsupported("params", f"{ctx.op.op} weights {list(wshape)} do not fit")
        scales = _filter_quant(ctx, w, oc, 3)
        taps = weights.reshape(fh * fw, oc).sum(axis=0)
    else:
        wo, fh, fw, fc = wshape
        if wo != oc or fc < 1 or ic % fc or oc % (ic // fc):
            raise Unsupported("params", f"{ctx.op.op} weights {list(wshape)} do not fit")
        scales = _filter_quant(ctx, w, oc, 0)
        taps = weights.reshape(oc, -1).sum(axis=1)
    bias = _bias(ctx, oc)
    sp = _spatial(ctx, (ih, iw), (fh, fw), (oh, ow), dilated=True)
    act_min, act_max = ctx.fused(out_s, out_zp)
    mults, shifts = _multipliers(in_s, scales, out_s)
    input_offset = -in_zp
    base_bias = bias if bias is not None else np.zeros(oc, dtype=np.int64)
    folded = _int32(base_bias + input_offset * taps, "folded bias", ctx.op.op)
    inside = _all_inside(sp, (ih, iw), (fh, fw), (oh, ow))
    grouped = not depthwise and wshape[3] != ic
    # The kernels read the weights channel-last: [h][w][c][out] (depthwise already is).
    layout = weights if depthwise else weights.transpose(1, 2, 3, 0)
    w_name = ctx.array("weights", "int8_t", layout)
    f_name = ctx.array("folded_bias", "int32_t", folded)
    needs_bias = bias is not None and (grouped or not inside)
    b_name = ctx.array("bias", "int32_t", bias) if needs_bias else "NULL"
    m_name = ctx.array("multiplier", "int32_t", mults)
    s_name = ctx.array("shift", "int32_t", shifts)
    fields: dict[str, object] = {
        "batches": n,
        "in_h": ih,
        "in_w": iw,
        "in_c": ic,
        "out_h": oh,
        "out_w": ow,
        "out_c": oc,
        "filter_h": fh,
        "filter_w": fw,
    }
    if depthwise:
        fields["depth_multiplier"] = oc // ic
    else:
        fields["filter_c"] = wshape[3]
    fields.update(sp)
    fields.update(
        {
            "input_offset": input_offset,
            "output_offset": out_zp,
            "act_min": act_min,
            "act_max": act_max,
            "per_channel": int(len(scales) > 1),
        }
    )
    kind = "depthwise_conv2d" if depthwise else "conv2d"
    params = ctx.struct(f"ed_{kind}_params", fields, f"ed_{kind}.h")
    ctx.check(f"ed_{kind}_check(&{params})")
    ctx.call(
        f"ed_{kind}_s8(&{params}, {ctx.p(x.index)}, {w_name}, {b_name}, {f_name}, "
        f"{m_name}, {s_name}, {ctx.p(y.index)});"
    )


def _lower_fully_connected(ctx: _Ctx) -> None:
    x, w, y = ctx.input(0), ctx.input(1), ctx.output()
    assert x is not None and w is not None
    in_s, in_zp = ctx.activation(x, "input")
    out_s, out_zp = ctx.activation(y, "output")
    if int(ctx.options("weightsFormat", 0) or 0) != 0:
        raise Unsupported("params", "FULLY_CONNECTED with shuffled weights")
    oc, depth = ctx.rank(w, 2, "weights")
    weights = ctx.constant(w, "weights").astype(np.int64)
    scales = _filter_quant(ctx, w, oc, 0)
    out_depth = y.shape[-1] if y.shape else 1
    batches = _elements(y.shape) // max(out_depth, 1)
    if out_depth != oc or _elements(x.shape) != batches * depth:
        raise Unsupported(
            "params", f"FULLY_CONNECTED shapes {list(x.shape)} x {list(w.shape)} -> {list(y.shape)}"
        )
    bias = _bias(ctx, oc)
    act_min, act_max = ctx.fused(out_s, out_zp)
    if len(scales) > 1:
        mults, shifts = _multipliers(in_s, scales, out_s)
    else:
        # One multiplier from the double product; the tflite-micro build we verify against
        # computes it so (a float32 product differs in the last bit, tested on ad01_int8).
        mults, shifts = _multipliers(in_s, scales, out_s)
    base_bias = bias if bias is not None else np.zeros(oc, dtype=np.int64)
    folded = _int32(base_bias + (-in_zp) * weights.sum(axis=1), "folded bias", "FULLY_CONNECTED")
    w_name = ctx.array("weights", "int8_t", weights.T)  # [depth][out], as the kernel reads it
    f_name = ctx.array("folded_bias", "int32_t", folded)
    m_name = ctx.array("multiplier", "int32_t", mults)
    s_name = ctx.array("shift", "int32_t", shifts)
    params = ctx.struct(
        "ed_fully_connected_params",
        {
            "batches": batches,
            "accum_depth": depth,
            "out_depth": oc,
            "output_offset": out_zp,
            "act_min": act_min,
            "act_max": act_max,
            "per_channel": int(len(scales) > 1),
        },
        "ed_fully_connected.h",
    )
    ctx.check(f"ed_fully_connected_check(&{params})")
    ctx.call(
        f"ed_fully_connected_s8(&{params}, {ctx.p(x.index)}, {w_name}, {f_name}, {m_name}, "
        f"{s_name}, {ctx.p(y.index)});"
    )


def _lower_pool(ctx: _Ctx, kind: str) -> None:
    x, y = ctx.input(0), ctx.output()
    assert x is not None
    in_s, in_zp = ctx.activation(x, "input")
    out_s, out_zp = ctx.activation(y, "output")
    if float(abs(f32(in_s) - f32(out_s))) > 1.0e-6 or in_zp != out_zp:
        raise Unsupported("params", f"{ctx.op.op} whose output is quantized unlike its input")
    n, ih, iw, c = ctx.rank(x, 4, "input")
    on, oh, ow, oc = ctx.rank(y, 4, "output")
    if (n, c) != (on, oc):
        raise Unsupported("params", f"{ctx.op.op} shapes {list(x.shape)} -> {list(y.shape)}")
    fh, fw = int(ctx.options("filterHeight", 1)), int(ctx.options("filterWidth", 1))
    if min(fh, fw) < 1:
        raise Unsupported("params", f"{ctx.op.op} filter below 1")
    sp = _spatial(ctx, (ih, iw), (fh, fw), (oh, ow), dilated=False)
    act_min, act_max = ctx.fused(out_s, out_zp)
    fields = {
        "batches": n,
        "in_h": ih,
        "in_w": iw,
        "channels": c,
        "out_h": oh,
        "out_w": ow,
        "filter_h": fh,
        "filter_w": fw,
        "stride_h": sp["stride_h"],
        "stride_w": sp["stride_w"],
        "pad_h": sp["pad_h"],
        "pad_w": sp["pad_w"],
        "act_min": act_min,
        "act_max": act_max,
    }
    params = ctx.struct("ed_pool_params", fields, f"ed_{kind}.h")
    ctx.check(f"ed_pool_check(&{params})")
    if kind == "average_pool2d":
        ctx.call(f"ED_TRY(ed_average_pool2d_s8(&{params}, {ctx.p(x.index)}, {ctx.p(y.index)}));")
    else:
        ctx.call(f"ed_max_pool2d_s8(&{params}, {ctx.p(x.index)}, {ctx.p(y.index)});")


def _lower_alias(ctx: _Ctx) -> None:
    x, y = ctx.input(0), ctx.output()
    assert x is not None
    if x.dtype != y.dtype or x.dtype not in ("int8",):
        raise Unsupported("dtype", f"{x.dtype} input of {ctx.op.op}")
    if _elements(x.shape) != _elements(y.shape):
        raise Unsupported("params", f"{ctx.op.op} changes the element count")
    ctx.out.headers.add("ed_reshape.h")
    if x.is_constant:
        data = ctx.constant(x, "input").astype(np.int64)
        name = ctx.array("data", "int8_t", data)
        ctx.call(f"ed_reshape_copy({name}, {ctx.p(y.index)}, {_elements(y.shape)});")
    else:
        ctx.call("/* nothing to run: the planner gave the output the input's bytes */")


def _lower_softmax(ctx: _Ctx) -> None:
    x, y = ctx.input(0), ctx.output()
    assert x is not None
    in_s, _ = ctx.activation(x, "input")
    out_s, out_zp = ctx.activation(y, "output")
    if out_zp != -128 or f32(out_s) != f32(1.0 / 256):
        raise Unsupported("params", "SOFTMAX output not quantized as scale 1/256, zero point -128")
    if x.shape != y.shape or not x.shape:
        raise Unsupported("params", "SOFTMAX shapes differ")
    beta = float(f32(ctx.options("beta", 1.0)))
    max_real = float((1 << 30) - 1) if SINGLE_ROUNDING else float((1 << 31) - 1)
    real = min(beta * in_s * float(1 << (31 - 5)), max_real)
    if real <= 1.0:
        raise Unsupported("params", "SOFTMAX with beta * input scale too small")
    mult, shift = quantize_multiplier(real)
    diff_min = -calculate_input_radius(5, shift)
    depth = x.shape[-1]
    params = ctx.struct(
        "ed_softmax_params",
        {
            "outer": _elements(x.shape) // depth,
            "depth": depth,
            "input_multiplier": mult,
            "input_left_shift": shift,
            "diff_min": diff_min,
        },
        "ed_softmax.h",
    )
    ctx.check(f"ed_softmax_check(&{params})")
    ctx.call(f"ed_softmax_s8(&{params}, {ctx.p(x.index)}, {ctx.p(y.index)});")


def _broadcast(ctx: _Ctx, a: TensorInfo, b: TensorInfo, y: TensorInfo) -> dict[str, object]:
    out = tuple(y.shape)
    if len(out) > MAX_DIMS or len(a.shape) > len(out) or len(b.shape) > len(out):
        raise Unsupported("params", f"{ctx.op.op} of rank above {MAX_DIMS} or mismatched ranks")
    if tuple(a.shape) == out and tuple(b.shape) == out:
        dims = [1] * (MAX_DIMS - len(out)) + list(out)
        return {
            "elementwise": 1,
            "size": _elements(out),
            "dims": dims,
            "stride1": [0] * MAX_DIMS,
            "stride2": [0] * MAX_DIMS,
        }

    def strides(shape: tuple[int, ...]) -> list[int]:
        padded = [1] * (MAX_DIMS - len(shape)) + list(shape)
        target = [1] * (MAX_DIMS - len(out)) + list(out)
        result, step = [0] * MAX_DIMS, 1
        for k in range(MAX_DIMS - 1, -1, -1):
            if padded[k] == target[k]:
                result[k] = step if target[k] > 1 else 0
            elif padded[k] == 1:
                result[k] = 0
            else:
                raise Unsupported(
                    "params", f"{ctx.op.op} cannot broadcast {list(shape)} to {list(out)}"
                )
            step *= padded[k]
        return result

    dims = [1] * (MAX_DIMS - len(out)) + list(out)
    return {
        "elementwise": 0,
        "size": _elements(out),
        "dims": dims,
        "stride1": strides(tuple(a.shape)),
        "stride2": strides(tuple(b.shape)),
    }


def _operand(ctx: _Ctx, t: TensorInfo, suffix: str) -> str:
    if t.is_constant:
        return ctx.array(suffix, "int8_t", ctx.constant(t, suffix).astype(np.int64))
    return ctx.p(t.index)


def _lower_add(ctx: _Ctx) -> None:
    a, b, y = ctx.input(0), ctx.input(1), ctx.output()
    assert a is not None and b is not None
    s1, z1 = ctx.activation(a, "input 1")
    s2, z2 = ctx.activation(b, "input 2")
    so, zo = ctx.activation(y, "output")
    left_shift = 20
    twice_max = 2 * max(s1, s2)
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << left_shift) * so))
    if max(sh1, sh2, sho) > 0:
        raise Unsupported("params", "ADD with an output scale below the input scales / 2^20")
    act_min, act_max = ctx.fused(so, zo)
    shape = _broadcast(ctx, a, b, y)
    params = ctx.struct(
        "ed_add_params",
        {
            "shape": shape,
            "input1_offset": -z1,
            "input2_offset": -z2,
            "output_offset": zo,
            "left_shift": left_shift,
            "input1_multiplier": m1,
            "input1_shift": sh1,
            "input2_multiplier": m2,
            "input2_shift": sh2,
            "output_multiplier": mo,
            "output_shift": sho,
            "act_min": act_min,
            "act_max": act_max,
        },
        "ed_add.h",
    )
    ctx.check(f"ed_add_check(&{params})")
    ctx.call(
        f"ed_add_s8(&{params}, {_operand(ctx, a, 'input1')}, {_operand(ctx, b, 'input2')}, "
        f"{ctx.p(y.index)});"
    )


def _lower_mul(ctx: _Ctx) -> None:
    a, b, y = ctx.input(0), ctx.input(1), ctx.output()
    assert a is not None and b is not None
    s1, z1 = ctx.activation(a, "input 1")
    s2, z2 = ctx.activation(b, "input 2")
    so, zo = ctx.activation(y, "output")
    mo, sho = quantize_multiplier(s1 * s2 / so)
    act_min, act_max = ctx.fused(so, zo)
    shape = _broadcast(ctx, a, b, y)
    params = ctx.struct(
        "ed_mul_params",
        {
            "shape": shape,
            "input1_offset": -z1,
            "input2_offset": -z2,
            "output_offset": zo,
            "output_multiplier": mo,
            "output_shift": sho,
            "act_min": act_min,
            "act_max": act_max,
        },
        "ed_mul.h",
    )
    ctx.check(f"ed_mul_check(&{params})")
    ctx.call(
        f"ed_mul_s8(&{params}, {_operand(ctx, a, 'input1')}, {_operand(ctx, b, 'input2')}, "
        f"{ctx.p(y.index)});"
    )


def _lower_mean(ctx: _Ctx) -> None:
    x, axis_t, y = ctx.input(0), ctx.input(1), ctx.output()
    assert x is not None and axis_t is not None
    in_s, in_zp = ctx.activation(x, "input")
    out_s, out_zp = ctx.activation(y, "output")
    if axis_t.dtype not in ("int32", "int64"):
        raise Unsupported("dtype", f"{axis_t.dtype} axis of MEAN")
    rank = len(x.shape)
    if rank > MAX_DIMS or rank == 0:
        raise Unsupported("params", f"MEAN of rank {rank}")
    axes = sorted({int(a) % rank for a in ctx.constant(axis_t, "axis").reshape(-1)})
    strides = [int(np.prod(x.shape[k + 1 :], dtype=np.int64)) for k in range(rank)]
    kept = [k for k in range(rank) if k not in axes]
    count = _elements(tuple(x.shape[k] for k in axes))
    if _elements(y.shape) != _elements(tuple(x.shape[k] for k in kept)) or count < 1:
        raise Unsupported("params", f"MEAN output {list(y.shape)} does not fit")

    def padded(ks: list[int]) -> tuple[list[int], list[int]]:
        dims = [1] * (MAX_DIMS - len(ks)) + [int(x.shape[k]) for k in ks]
        strd = [0] * (MAX_DIMS - len(ks)) + [strides[k] for k in ks]
        return dims, strd

    mult, shift = quantize_multiplier(in_s / out_s)
    # QuantizedMeanOrSum folds the division by the count into the multiplier.
    bits = min(count.bit_length() - 1, 32, 31 + shift)
    mult = (mult << bits) // count
    shift -= bits
    kd, ks = padded(kept)
    rd, rs = padded(axes)
    params = ctx.struct(
        "ed_mean_params",
        {
            "kept_dims": kd,
            "kept_strides": ks,
            "reduced_dims": rd,
            "reduced_strides": rs,
            "count": count,
            "input_zero_point": in_zp,
            "output_zero_point": out_zp,
            "multiplier": mult,
            "shift": shift,
        },
        "ed_mean.h",
    )
    ctx.check(f"ed_mean_check(&{params})")
    ctx.call(f"ed_mean_s8(&{params}, {ctx.p(x.index)}, {ctx.p(y.index)});")


def _lower_pad(ctx: _Ctx) -> None:
    x, pads_t, y = ctx.input(0), ctx.input(1), ctx.output()
    assert x is not None and pads_t is not None
    ctx.activation(x, "input")
    _, out_zp = ctx.activation(y, "output")
    if pads_t.dtype not in ("int32", "int64"):
        raise Unsupported("dtype", f"{pads_t.dtype} paddings of {ctx.op.op}")
    rank = len(x.shape)
    pads = ctx.constant(pads_t, "paddings").reshape(-1, 2).astype(np.int64)
    if rank > MAX_DIMS or pads.shape[0] != rank or (pads < 0).any():
        raise Unsupported("params", f"{ctx.op.op} paddings {pads.tolist()}")
    expect = tuple(int(x.shape[k] + pads[k, 0] + pads[k, 1]) for k in range(rank))
    if expect != tuple(y.shape):
        raise Unsupported("params", f"{ctx.op.op} output {list(y.shape)} != {list(expect)}")
    pad_value = out_zp
    value_t = ctx.input(2, required=False)
    if ctx.op.op == "PADV2" and value_t is not None:
        ctx.expect_dtype(value_t, "int8", "constant value")
        pad_value = int(ctx.constant(value_t, "constant value").reshape(-1)[0])
    lead = MAX_DIMS - rank
    params = ctx.struct(
        "ed_pad_params",
        {
            "in_dims": [1] * lead + [int(d) for d in x.shape],
            "out_dims": [1] * lead + [int(d) for d in y.shape],
            "before": [0] * lead + [int(v) for v in pads[:, 0]],
            "pad_value": pad_value,
        },
        "ed_pad.h",
    )
    ctx.check(f"ed_pad_check(&{params})")
    ctx.call(f"ed_pad_s8(&{params}, {ctx.p(x.index)}, {ctx.p(y.index)});")


def _lower_concatenation(ctx: _Ctx) -> None:
    y = ctx.output()
    out_s, out_zp = ctx.activation(y, "output")
    if int(ctx.options("fusedActivationFunction", 0) or 0) != 0:
        raise Unsupported("params", "CONCATENATION with a fused activation")
    rank = len(y.shape)
    axis = int(ctx.options("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < max(rank, 1):
        raise Unsupported("params", f"CONCATENATION axis {axis}")
    inner = _elements(tuple(y.shape[axis + 1 :]))
    outer = _elements(tuple(y.shape[:axis]))
    pointers, sizes = [], []
    for pos, idx in enumerate(ctx.op.inputs):
        t = ctx.tensor(idx)
        s, z = ctx.activation(t, f"input {pos}")
        if f32(s) != f32(out_s) or z != out_zp:
            raise Unsupported("params", "CONCATENATION of inputs quantized unlike the output")
        if len(t.shape) != rank:
            raise Unsupported("params", "CONCATENATION of mismatched ranks")
        sizes.append(int(t.shape[axis]) * inner)
        pointers.append(_operand(ctx, t, f"input{pos}"))
    if sum(sizes) * outer != _elements(y.shape):
        raise Unsupported("params", "CONCATENATION sizes do not add up")
    ctx.out.headers.add("ed_concatenation.h")
    size_name = ctx.array("sizes", "int32_t", sizes)
    ptrs = ", ".join(pointers)
    ctx.call(
        f"{{ const int8_t *const inputs[{len(pointers)}] = {{{ptrs}}}; "
        f"ED_TRY(ed_concatenation_s8({outer}, {len(pointers)}, inputs, {size_name}, "
        f"{ctx.p(y.index)})); }}"
    )


def _lower_quantize(ctx: _Ctx, graph_inputs: set[int]) -> None:
    x, y = ctx.input(0), ctx.output()
    assert x is not None
    out_s, out_zp = ctx.activation(y, "output")
    size = _elements(y.shape)
    ctx.out.headers.add("ed_quantize.h")
    if x.dtype == "float32":
        if x.index not in graph_inputs:
            raise Unsupported("dtype", "float32 tensor inside the model (QUANTIZE input)")
        ctx.call(
            f"ed_quantize_f32_s8({size}, {c_float(out_s)}, {out_zp}, "
            f"{ctx.p(x.index, 'float')}, {ctx.p(y.index)});"
        )
        return
    in_s, in_zp = ctx.activation(x, "input")
    mult, shift = quantize_multiplier(in_s / out_s)
    params = ctx.struct(
        "ed_requantize_params",
        {
            "size": size,
            "input_zero_point": in_zp,
            "output_zero_point": out_zp,
            "multiplier": mult,
            "shift": shift,
        },
        "ed_quantize.h",
    )
    ctx.call(f"ed_requantize_s8(&{params}, {ctx.p(x.index)}, {ctx.p(y.index)});")


def _lower_dequantize(ctx: _Ctx, graph_outputs: set[int]) -> None:
    x, y = ctx.input(0), ctx.output()
    assert x is not None
    in_s, in_zp = ctx.activation(x, "input")
    if y.dtype != "float32":
        raise Unsupported("dtype", f"{y.dtype} output of DEQUANTIZE")
    if y.index not in graph_outputs:
        raise Unsupported("dtype", "float32 tensor inside the model (DEQUANTIZE output)")
    ctx.out.headers.add("ed_dequantize.h")
    ctx.call(
        f"ed_dequantize_s8_f32({_elements(y.shape)}, {c_double(in_s)}, {in_zp}, "
        f"{ctx.p(x.index)}, {ctx.p(y.index, 'float')});"
    )


def _unary(ctx: _Ctx) -> tuple[TensorInfo, TensorInfo, float, int, float, int]:
    x, y = ctx.input(0), ctx.output()
    assert x is not None
    in_s, in_zp = ctx.activation(x, "input")
    out_s, out_zp = ctx.activation(y, "output")
    if _elements(x.shape) != _elements(y.shape):
        raise Unsupported("params", f"{ctx.op.op} changes the element count")
    return x, y, in_s, in_zp, out_s, out_zp


def _fixed_point_input(scale: float) -> tuple[int, int, int]:
    """LOGISTIC and TANH Prepare: input scale * 2^27 as frexp, and the input radius."""
    q, left_shift = math.frexp(scale * float(1 << (31 - 4)))
    mult = round_away(q * (1 << 31))
    if mult == 1 << 31:  # what static_cast<int32_t> of 2^31 gives in TFLite Micro
        mult = -(1 << 31)
    return mult, left_shift, calculate_input_radius(4, left_shift, 31)


def _lower_logistic_tanh(ctx: _Ctx, kind: str) -> None:
    x, y, in_s, in_zp, _, out_zp = _unary(ctx)
    if kind == "logistic" and out_zp != -128:
        raise Unsupported("params", "LOGISTIC output zero point is not -128")
    mult, shift, radius = _fixed_point_input(in_s)
    if not 0 <= shift <= 31:
        raise Unsupported("params", f"{ctx.op.op} input scale {in_s} out of range")
    params = ctx.struct(
        f"ed_{kind}_params",
        {
            "size": _elements(x.shape),
            "input_zero_point": in_zp,
            "input_range_radius": radius,
            "input_multiplier": mult,
            "input_left_shift": shift,
        },
        f"ed_{kind}.h",
    )
    ctx.call(f"ed_{kind}_s8(&{params}, {ctx.p(x.index)}, {ctx.p(y.index)});")


def _downscale_to_int16(m: int) -> int:
    if m >= (1 << 31) - 1 - (1 << 15):
        return 32767
    return (m + (1 << 15)) >> 16


def _lower_hard_swish(ctx: _Ctx) -> None:
    x, y, in_s, in_zp, out_s, out_zp = _unary(ctx)
    hires = f32(1.0 / 128.0) * f32(in_s)
    out_m, out_e = quantize_multiplier(float(hires / f32(out_s)))
    relu_m, relu_e = quantize_multiplier(float(hires / f32(3.0 / 32768.0)))
    if out_e > 0:
        raise Unsupported("params", "HARD_SWISH with output scale below input scale / 128")
    params = ctx.struct(
        "ed_hard_swish_params",
        {
            "size": _elements(x.shape),
            "input_zero_point": in_zp,
            "output_zero_point": out_zp,
            "output_multiplier_q15": _downscale_to_int16(out_m),
            "output_multiplier_exponent": out_e,
            "reluish_multiplier_q15": _downscale_to_int16(relu_m),
            "reluish_multiplier_exponent": relu_e,
        },
        "ed_hard_swish.h",
    )
    ctx.call(f"ed_hard_swish_s8(&{params}, {ctx.p(x.index)}, {ctx.p(y.index)});")


def _lower_relu(ctx: _Ctx) -> None:
    x, y, in_s, in_zp, out_s, out_zp = _unary(ctx)
    mult, shift = quantize_multiplier(float(f32(in_s) / f32(out_s)))
    act_min = max(-128, out_zp + round_away(float(np.float32(0.0) / f32(out_s))))
    params = ctx.struct(
        "ed_relu_params",
        {
            "size": _elements(x.shape),
            "input_zero_point": in_zp,
            "output_zero_point": out_zp,
            "multiplier": mult,
            "shift": shift,
            "act_min": act_min,
            "act_max": 127,
        },
        "ed_relu.h",
    )
    ctx.call(f"ed_relu_s8(&{params}, {ctx.p(x.index)}, {ctx.p(y.index)});")


def _lower_relu6(ctx: _Ctx) -> None:
    x, y, in_s, in_zp, _, _ = _unary(ctx)
    six = min(127, max(-128, round_away(float(np.float32(6.0) / f32(in_s))) + in_zp))
    ctx.out.headers.add("ed_relu6.h")
    ctx.call(
        f"ed_relu6_s8({_elements(x.shape)}, {in_zp}, {six}, {ctx.p(x.index)}, {ctx.p(y.index)});"
    )


SUPPORTED_OPS = (
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "DEQUANTIZE",
    "EXPAND_DIMS",
    "FULLY_CONNECTED",
    "HARD_SWISH",
    "LOGISTIC",
    "MAX_POOL_2D",
    "MEAN",
    "MUL",
    "PAD",
    "PADV2",
    "QUANTIZE",
    "RELU",
    "RELU6",
    "RESHAPE",
    "SOFTMAX",
    "SQUEEZE",
    "TANH",
)


def lower_op(model: ModelFile, op: OperatorInfo, ptr: PtrFn) -> LoweredOp:
    """Lower one operator; raises `Unsupported` for anything the kernels cannot run exactly."""
    ctx = _Ctx(model, op, ptr)
    name = op.op
    if name not in SUPPORTED_OPS:
        raise Unsupported("op", name)
    ctx.out.calls.append(f"/* {c_comment(_describe(model, op))} */")
    if name == "CONV_2D":
        _lower_conv(ctx, depthwise=False)
    elif name == "DEPTHWISE_CONV_2D":
        _lower_conv(ctx, depthwise=True)
    elif name == "FULLY_CONNECTED":
        _lower_fully_connected(ctx)
    elif name == "AVERAGE_POOL_2D":
        _lower_pool(ctx, "average_pool2d")
    elif name == "MAX_POOL_2D":
        _lower_pool(ctx, "max_pool2d")
    elif name in ALIAS_OPS:
        _lower_alias(ctx)
    elif name == "SOFTMAX":
        _lower_softmax(ctx)
    elif name == "ADD":
        _lower_add(ctx)
    elif name == "MUL":
        _lower_mul(ctx)
    elif name == "MEAN":
        _lower_mean(ctx)
    elif name in ("PAD", "PADV2"):
        _lower_pad(ctx)
    elif name == "CONCATENATION":
        _lower_concatenation(ctx)
    elif name == "QUANTIZE":
        _lower_quantize(ctx, set(model.inputs))
    elif name == "DEQUANTIZE":
        _lower_dequantize(ctx, set(model.outputs))
    elif name == "LOGISTIC":
        _lower_logistic_tanh(ctx, "logistic")
    elif name == "TANH":
        _lower_logistic_tanh(ctx, "tanh")
    elif name == "HARD_SWISH":
        _lower_hard_swish(ctx)
    elif name == "RELU":
        _lower_relu(ctx)
    elif name == "RELU6":
        _lower_relu6(ctx)
    return ctx.out


def _describe(model: ModelFile, op: OperatorInfo) -> str:
    outs = [model.tensors[i] for i in op.outputs]
    text = ", ".join(f"{t.name} {list(t.shape)}" for t in outs)
    return f"op {op.index}: {op.op} -> {text}"
