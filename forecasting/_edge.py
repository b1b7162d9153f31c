"""numba passes for the pandas edge: find the series runs of a long frame in one sweep.

`forecast(df)` mostly gets rows already grouped by series in date order. Instead of a
chain of numpy temporaries (`ids[1:] != ids[:-1]`, `ds[1:] > ds[:-1]`, `isfinite(y)`,
flatnonzero, ...), one pass over integer keys (object pointers, categorical codes or
integer ids) and int64 dates finds the run starts and checks the order.

str ids held as a distinct object on every row (a frame built from a numpy string array)
would need a Python comparison per row (~15-25 ns each). On CPython the pass compares
such strings itself: two str objects are equal iff their canonical PEP 393 forms are (same
length, same kind, same bytes), which it reads from the objects. The layout is checked on
sample strings at import (`STR_LAYOUT` is None if anything differs, e.g. on another
interpreter), and any object that is not an exact, compact str hands the frame back to
the Python comparison.
"""

from __future__ import annotations

import ctypes
import struct
import sys
import sysconfig

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# Byte offsets inside a CPython str object (64-bit, release build): PyObject_HEAD
# (refcount, type), then length, hash and the state bit field (interned:2, kind:3,
# compact:1, ascii:1, ...). Verified by `_str_layout` before any use.
_TYPE, _LENGTH, _STATE = 8, 16, 32
_KIND_SHIFT, _COMPACT_BIT, _ASCII_BIT = 2, 1 << 5, 1 << 6


@intrinsic
def _load_i64(typingctx, addr):
    """The int64 at a raw address."""
    def codegen(context, builder, signature, args):
        ptr = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        return builder.load(ptr, align=1)
    return types.int64(types.intp), codegen


@intrinsic
def _load_u8(typingctx, addr):
    """The byte at a raw address (as int64)."""
    def codegen(context, builder, signature, args):
        ptr = builder.inttoptr(args[0], ir.IntType(8).as_pointer())
        return builder.zext(builder.load(ptr), ir.IntType(64))
    return types.int64(types.intp), codegen


def _str_layout() -> tuple[int, int, int] | None:
    """(address of type str, data offset of compact ASCII, of other compact) or None.

    Checks every assumption of `_same_str` on fresh (not interned) and interned strings of
    each kind: the type, length and state fields, and where the characters start.
    """
    if (sys.implementation.name != "cpython" or struct.calcsize("P") != 8
            or sysconfig.get_config_var("Py_GIL_DISABLED")
            or sysconfig.get_config_var("Py_DEBUG") or hasattr(sys, "gettotalrefcount")):
        return None
    ascii_off = sys.getsizeof("") - 1  # header + the terminating NUL of an empty string
    compact_off = sys.getsizeof("\xe9") - 2  # one 1-byte char + NUL after the header
    samples = [("".join(["ab", "cdefghijk"]), 1, True),
               (sys.intern("".join(["omni", "_probe"])), 1, True),
               ("".join(["\xe9", "x"]), 1, False),
               ("".join(["\u20ac", "xy"]), 2, False),
               ("".join(["\U0001f600", "z"]), 4, False)]
    try:
        for text, kind, is_ascii in samples:
            head = ctypes.string_at(id(text), _STATE + 1)
            tp, length = struct.unpack_from("<qq", head, _TYPE)
            state = head[_STATE]
            off = ascii_off if is_ascii else compact_off
            data = ctypes.string_at(id(text) + off, len(text) * kind)
            codec = "ascii" if is_ascii else {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind]
            if (tp != id(str) or length != len(text) or off % 8
                    or (state >> _KIND_SHIFT) & 7 != kind
                    or not state & _COMPACT_BIT or bool(state & _ASCII_BIT) != is_ascii
                    or data != text.encode(codec)
                    or sys.getsizeof(text) != off + (len(text) + 1) * kind):
                return None
    except Exception:  # any surprise means: do not read str objects
        return None
    return id(str), ascii_off, compact_off


STR_LAYOUT = _str_layout()


@njit(cache=True)
def count_nonfinite(y: np.ndarray) -> int:
    """Number of NaN or infinite values (a vectorised reduction)."""
    bad = 0
    for v in y:
        bad += (v - v) != 0.0  # NaN for NaN and +-inf, 0 for every finite value
    return bad


@njit(cache=True)
def scan_runs(keys: np.ndarray, ds: np.ndarray, y: np.ndarray, starts: np.ndarray
              ) -> tuple[int, bool, int]:
    """Starts of the runs of equal adjacent keys, whether ds rises inside every run, and the
    number of non-finite y (the same pass reads all three columns).

    Writes the run starts (0 first) to `starts` and returns (count, ordered, nonfinite).
    Gives up with count -1 (and nonfinite -1: not counted) once the runs outnumber `starts`
    (e.g. object ids that are a distinct object on every row: their pointers change on
    every row). `ordered` is False if ds does not strictly increase inside a run.
    """
    n = keys.size
    cap = starts.size
    count = 1
    starts[0] = 0
    ordered = True
    bad = 1 if (y[0] - y[0]) != 0.0 else 0
    for i in range(1, n):
        bad += (y[i] - y[i]) != 0.0
        if keys[i] != keys[i - 1]:
            if count == cap:
                return -1, ordered, -1
            starts[count] = i
            count += 1
        elif not ds[i] > ds[i - 1]:
            ordered = False
    return count, ordered, bad


@njit(cache=True)
def _same_str(p: int, q: int, str_type: int, ascii_off: int, compact_off: int) -> int:
    """1 if the str objects at p and q are equal, 0 if not, -1 if either is not handled."""
    if (p | q) & 7 or _load_i64(p + _TYPE) != str_type or _load_i64(q + _TYPE) != str_type:
        return -1
    sp = _load_u8(p + _STATE)
    sq = _load_u8(q + _STATE)
    if not (sp & _COMPACT_BIT and sq & _COMPACT_BIT):
        return -1  # a legacy (non-compact) string keeps its characters elsewhere
    length = _load_i64(p + _LENGTH)
    # CPython's own str equality: same length, same kind, same bytes (canonical forms).
    if length != _load_i64(q + _LENGTH) or (sp ^ sq) & (7 << _KIND_SHIFT):
        return 0
    nbytes = length * ((sp >> _KIND_SHIFT) & 7)
    a = p + (ascii_off if sp & _ASCII_BIT else compact_off)
    b = q + (ascii_off if sq & _ASCII_BIT else compact_off)
    j = 0
    while j + 8 <= nbytes:
        if _load_i64(a + j) != _load_i64(b + j):
            return 0
        j += 8
    if j < nbytes:
        # The tail as one word masked to its bytes. The word is 8-byte aligned (objects
        # are 16-aligned, the data offsets multiples of 8), so it never crosses a page:
        # the bytes past the string (its NUL, allocator padding) are read, never used.
        mask = (1 << (8 * (nbytes - j))) - 1
        if (_load_i64(a + j) ^ _load_i64(b + j)) & mask:
            return 0
    return 1


@njit(cache=True)
def scan_str_runs(ptr: np.ndarray, ds: np.ndarray, y: np.ndarray, str_type: int,
                  ascii_off: int, compact_off: int, starts: np.ndarray
                  ) -> tuple[int, bool, int]:
    """`scan_runs` over object ids by value: pointers first, str contents where they differ.

    Returns count -1 if the runs outnumber `starts`, -2 if an id is not an exact compact
    str (the caller then compares in Python); nonfinite is -1 (not counted) then.
    """
    n = ptr.size
    cap = starts.size
    count = 1
    starts[0] = 0
    ordered = True
    bad = 1 if (y[0] - y[0]) != 0.0 else 0
    for i in range(1, n):
        bad += (y[i] - y[i]) != 0.0
        p, q = ptr[i - 1], ptr[i]
        same = 1 if p == q else _same_str(p, q, str_type, ascii_off, compact_off)
        if same < 0:
            return -2, ordered, -1
        if same == 0:
            if count == cap:
                return -1, ordered, -1
            starts[count] = i
            count += 1
        elif not ds[i] > ds[i - 1]:
            ordered = False
    return count, ordered, bad


@njit(cache=True)
def scan_change(change: np.ndarray, ds: np.ndarray, y: np.ndarray
                ) -> tuple[np.ndarray, bool, int]:
    """Run starts from an exact `ids[1:] != ids[:-1]` mask, whether ds rises in every run,
    and the number of non-finite y."""
    n = change.size + 1
    count = 1
    for i in range(n - 1):
        count += change[i]
    starts = np.empty(count, dtype=np.int64)
    starts[0] = 0
    j = 1
    ordered = True
    bad = 1 if (y[0] - y[0]) != 0.0 else 0
    for i in range(1, n):
        bad += (y[i] - y[i]) != 0.0
        if change[i - 1]:
            starts[j] = i
            j += 1
        elif not ds[i] > ds[i - 1]:
            ordered = False
    return starts, ordered, bad


@njit(cache=True)
def rising_at(ds: np.ndarray, rows: np.ndarray) -> bool:
    """True if ds[r] > ds[r - 1] for every r in rows."""
    for r in rows:  # noqa: SIM110 - numba cannot compile all() over a generator
        if not ds[r] > ds[r - 1]:
            return False
    return True


class _PointerView:
    """numpy array interface over the object pointers of a contiguous object array."""

    def __init__(self, a: np.ndarray) -> None:
        self.owner = a  # the view's base: keeps the objects (and their addresses) alive
        self.__array_interface__ = {"data": (a.ctypes.data, True), "shape": a.shape,
                                    "typestr": np.dtype(np.intp).str, "version": 3}


def pointers(a: np.ndarray) -> np.ndarray | None:
    """The object pointers of an object array as intp (a view), None if not possible."""
    if a.dtype != object or a.itemsize != np.dtype(np.intp).itemsize:
        return None
    return np.asarray(_PointerView(np.ascontiguousarray(a)))


def warmup_edge() -> None:
    """Compile the edge passes for the key types the frame edge uses."""
    ds = np.arange(4, dtype=np.int64)
    y = np.zeros(4)
    count_nonfinite(y)
    for dtype in (np.int64, np.int8, np.int16, np.int32):
        scan_runs(np.array([0, 0, 1, 1], dtype=dtype), ds, y, np.empty(3, dtype=np.int64))
    scan_change(np.array([False, True, False]), ds, y)
    if STR_LAYOUT is not None:
        ids = np.array(["".join(["a", "b"]), "ab", "\xe9", "".join(["\xe9"])], dtype=object)
        ptr = np.asarray(_PointerView(ids))
        scan_str_runs(ptr, ds, y, *STR_LAYOUT, np.empty(3, dtype=np.int64))
    rising_at(ds, np.array([1, 3], dtype=np.int64))
