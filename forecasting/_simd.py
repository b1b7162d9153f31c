"""Explicit 4-lane SIMD loops (LLVM `<4 x double>`) for the SES alpha search.

LLVM does not vectorise a recursion (each day depends on the day before), and numba has
no vector types, so these intrinsics build the loops in LLVM IR: four independent series
("lanes", stored interleaved: `xt[4 * i + lane]` is day i of lane `lane`) advance
together, one vector instruction per operation instead of four scalar ones. Every lane
is computed with exactly the operations a scalar loop would use, so a lane's results do
not depend on what the other lanes hold.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LANES = 4
_V4 = ir.VectorType(ir.DoubleType(), LANES)
_I64 = ir.IntType(64)
_I32 = ir.IntType(32)


def _fma(builder: ir.IRBuilder, a: ir.Value, b: ir.Value, c: ir.Value) -> ir.Value:
    """a * b + c with one rounding (llvm.fma on four lanes)."""
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V4, [_V4] * 3),
                                        "llvm.fma.v4f64")
    return builder.call(fn, [a, b, c])


def _splat(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    v = ir.Constant(_V4, ir.Undefined)
    for k in range(LANES):
        v = builder.insert_element(v, x, ir.Constant(_I32, k))
    return v


def _lanes_of(builder: ir.IRBuilder, tup: ir.Value) -> ir.Value:
    v = ir.Constant(_V4, ir.Undefined)
    for k in range(LANES):
        v = builder.insert_element(v, builder.extract_value(tup, k), ir.Constant(_I32, k))
    return v


def _const(value: float) -> ir.Constant:
    return ir.Constant(_V4, [value] * LANES)


def _load_day(builder: ir.IRBuilder, data: ir.Value, day: ir.Value) -> ir.Value:
    ptr = builder.gep(data, [builder.mul(day, ir.Constant(_I64, LANES))])
    return builder.load(builder.bitcast(ptr, _V4.as_pointer()), align=8)


def _store(builder: ir.IRBuilder, data: ir.Value, slot: int, v: ir.Value) -> None:
    ptr = builder.gep(data, [ir.Constant(_I64, LANES * slot)])
    builder.store(v, builder.bitcast(ptr, _V4.as_pointer()), align=8)


def _check_args(xt: types.Type, out: types.Type) -> None:
    for arr in (xt, out):
        if not (isinstance(arr, types.Array) and arr.dtype == types.float64
                and arr.ndim == 1 and arr.layout == "C"):
            raise TypeError("expected contiguous 1-D float64 arrays")


@intrinsic
def ses_grid_pass(typingctx, xt, n, alphas, out):
    """One-step SES SSEs of four series at four shared alphas, in one pass.

    `alphas`: a 4-tuple; writes out[4 * k + lane] = SSE of lane at alphas[k]. The level
    starts at day 0 and moves by `level = (1 - alpha) level + alpha x` (one fused
    multiply-add on the dependency chain).
    """
    _check_args(xt, out)
    sig = types.void(xt, types.int64, types.UniTuple(types.float64, LANES), out)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        dest = context.make_array(signature.args[3])(context, builder, args[3]).data
        alpha = [_splat(builder, builder.extract_value(args[2], k)) for k in range(LANES)]
        keep = [builder.fsub(_const(1.0), a) for a in alpha]
        first = _load_day(builder, data, ir.Constant(_I64, 0))
        level = [cgutils.alloca_once_value(builder, first) for _ in range(LANES)]
        sse = [cgutils.alloca_once_value(builder, _const(0.0)) for _ in range(LANES)]
        with cgutils.for_range(builder, builder.sub(args[1], ir.Constant(_I64, 1))) as loop:
            v = _load_day(builder, data, builder.add(loop.index, ir.Constant(_I64, 1)))
            for k in range(LANES):
                lev = builder.load(level[k])
                e = builder.fsub(v, lev)
                builder.store(_fma(builder, e, e, builder.load(sse[k])), sse[k])
                builder.store(_fma(builder, keep[k], lev, builder.fmul(alpha[k], v)), level[k])
        for k in range(LANES):
            _store(builder, dest, k, builder.load(sse[k]))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def ses_derivative_pass(typingctx, xt, n, alphas, out):
    """SES SSE derivatives 1-3 in alpha and the final level with its derivatives 1-3.

    Four series, each at its own alpha (`alphas`, a 4-tuple), in one pass: the level
    recursion L = a x + c L (c = 1 - a) is differentiated alongside it. With D_k the k-th
    derivative of L in a, D1 = (x - L) + c D1, D2 = -2 D1 + c D2 and D3 = -3 D2 + c D3; the
    pass carries u = -D2 / 2 and w = D3 / 6 instead (u = D1 + c u, w = u + c w: one
    multiply-add each) and sums the SSE's derivative terms in five accumulators: with e
    the one-step error, dSSE = -2 sum e D1, d2SSE = 2 sum (D1^2 + 2 e u) and
    d3SSE = -12 sum (D1 u + e w). Writes out[4 * slot + lane] for slots dSSE, d2SSE,
    d3SSE, L, D1, D2, D3.
    """
    _check_args(xt, out)
    sig = types.void(xt, types.int64, types.UniTuple(types.float64, LANES), out)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        dest = context.make_array(signature.args[3])(context, builder, args[3]).data
        a = _lanes_of(builder, args[2])
        c = builder.fsub(_const(1.0), a)
        first = _load_day(builder, data, ir.Constant(_I64, 0))
        level = cgutils.alloca_once_value(builder, first)
        state = [cgutils.alloca_once_value(builder, _const(0.0)) for _ in range(8)]
        d1, u, w, g, sq, eu, du, ew = state
        with cgutils.for_range(builder, builder.sub(args[1], ir.Constant(_I64, 1))) as loop:
            v = _load_day(builder, data, builder.add(loop.index, ir.Constant(_I64, 1)))
            lev, v1, vu, vw = (builder.load(p) for p in (level, d1, u, w))
            e = builder.fsub(v, lev)
            for acc, x, y in ((g, e, v1), (sq, v1, v1), (eu, e, vu), (du, v1, vu), (ew, e, vw)):
                builder.store(_fma(builder, x, y, builder.load(acc)), acc)
            builder.store(_fma(builder, c, vw, vu), w)
            builder.store(_fma(builder, c, vu, v1), u)
            builder.store(_fma(builder, c, v1, e), d1)
            builder.store(_fma(builder, c, lev, builder.fmul(a, v)), level)
        load = builder.load
        curv = _fma(builder, _const(2.0), load(eu), load(sq))
        _store(builder, dest, 0, builder.fmul(_const(-2.0), load(g)))
        _store(builder, dest, 1, builder.fmul(_const(2.0), curv))
        _store(builder, dest, 2, builder.fmul(_const(-12.0), builder.fadd(load(du), load(ew))))
        _store(builder, dest, 3, load(level))
        _store(builder, dest, 4, load(d1))
        _store(builder, dest, 5, builder.fmul(_const(-2.0), load(u)))
        _store(builder, dest, 6, builder.fmul(_const(6.0), load(w)))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with one rounding, on scalars: the same operation wherever it is used.

    (`fastmath={"contract"}` lets LLVM choose which product of `a*b + c*d` to fuse, and the
    choice may differ between two loops that should agree to the last bit.)
    """
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        dbl = ir.DoubleType()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(dbl, [dbl] * 3),
                                            "llvm.fma.f64")
        return builder.call(fn, list(args))

    return sig, codegen
