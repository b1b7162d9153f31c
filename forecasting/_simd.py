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
    starts at day 0 and moves by `level += alpha * error` (a fused multiply-add).
    """
    _check_args(xt, out)
    sig = types.void(xt, types.int64, types.UniTuple(types.float64, LANES), out)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        dest = context.make_array(signature.args[3])(context, builder, args[3]).data
        alpha = [_splat(builder, builder.extract_value(args[2], k)) for k in range(LANES)]
        first = _load_day(builder, data, ir.Constant(_I64, 0))
        level = [cgutils.alloca_once_value(builder, first) for _ in range(LANES)]
        sse = [cgutils.alloca_once_value(builder, _const(0.0)) for _ in range(LANES)]
        with cgutils.for_range(builder, builder.sub(args[1], ir.Constant(_I64, 1))) as loop:
            v = _load_day(builder, data, builder.add(loop.index, ir.Constant(_I64, 1)))
            for k in range(LANES):
                lev = builder.load(level[k])
                e = builder.fsub(v, lev)
                builder.store(_fma(builder, e, e, builder.load(sse[k])), sse[k])
                builder.store(_fma(builder, alpha[k], e, lev), level[k])
        for k in range(LANES):
            _store(builder, dest, k, builder.load(sse[k]))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def ses_derivative_pass(typingctx, xt, n, alphas, out):
    """SES SSE derivatives 1-3 in alpha and the final level with its derivatives 1-3.

    Four series, each at its own alpha (`alphas`, a 4-tuple), in one pass: the level
    recursion L = a x + (1 - a) L is differentiated alongside it (D_k = d^k L / da^k).
    Writes out[4 * slot + lane] for slots dSSE, d2SSE, d3SSE, L, D1, D2, D3.
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
        acc = [cgutils.alloca_once_value(builder, _const(0.0)) for _ in range(6)]
        d1, d2, d3, g, hess, third = acc
        with cgutils.for_range(builder, builder.sub(args[1], ir.Constant(_I64, 1))) as loop:
            v = _load_day(builder, data, builder.add(loop.index, ir.Constant(_I64, 1)))
            lev, v1, v2, v3 = (builder.load(p) for p in (level, d1, d2, d3))
            e = builder.fsub(v, lev)
            builder.store(_fma(builder, e, v1, builder.load(g)), g)
            # hess += d1^2 - e d2;  third += 3 d1 d2 - e d3
            curv = _fma(builder, v1, v1, builder.fneg(builder.fmul(e, v2)))
            builder.store(builder.fadd(builder.load(hess), curv), hess)
            skew = _fma(builder, builder.fmul(_const(3.0), v1), v2,
                        builder.fneg(builder.fmul(e, v3)))
            builder.store(builder.fadd(builder.load(third), skew), third)
            builder.store(_fma(builder, c, v3, builder.fmul(_const(-3.0), v2)), d3)
            builder.store(_fma(builder, c, v2, builder.fmul(_const(-2.0), v1)), d2)
            builder.store(_fma(builder, c, v1, e), d1)
            builder.store(_fma(builder, c, lev, builder.fmul(a, v)), level)
        _store(builder, dest, 0, builder.fmul(_const(-2.0), builder.load(g)))
        _store(builder, dest, 1, builder.fmul(_const(2.0), builder.load(hess)))
        _store(builder, dest, 2, builder.fmul(_const(2.0), builder.load(third)))
        for slot, ptr in enumerate((level, d1, d2, d3), start=3):
            _store(builder, dest, slot, builder.load(ptr))
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
