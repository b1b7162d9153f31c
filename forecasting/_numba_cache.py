"""Keep numba's on-disk cache of the kernels consistent across kernel modules.

numba (`cache=True`) checks a cached function against the source of its own file only,
but the cached machine code also holds every function it calls: after a change to
`_intermittent.py` alone, `_kernels.fit_batch` would still load with the old TSB inside.
`install()` (run by `forecasting/__init__` before any kernel is defined) makes the stamp
of every function in this package include a digest of all its numba modules, so a change
to any of them recompiles them all. Without numba's locator classes (another numba
version) it does nothing and numba's own rule applies.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_IMPORTS_NUMBA = re.compile(rb"^\s*(from|import) (numba|llvmlite)\b", re.MULTILINE)


def _kernel_digest() -> bytes:
    """SHA-256 over the names and contents of the package's modules that import numba."""
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.glob("*.py")):
        text = path.read_bytes()
        if _IMPORTS_NUMBA.search(text):
            h.update(path.name.encode())
            h.update(hashlib.sha256(text).digest())
    return h.digest()


def install() -> None:
    """Register the package-wide stamp with numba's cache locators (idempotent)."""
    try:
        from numba.core import caching

        impl = caching.CacheImpl
        bases = (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator,
                 caching.UserWideCacheLocator)
    except (ImportError, AttributeError):
        return
    if any(getattr(cls, "_omni_forecasting", False) for cls in impl._locator_classes):
        return
    digest = _kernel_digest()

    def locator(base: type) -> type:
        class PackageStampLocator(base):
            _omni_forecasting = True

            def get_source_stamp(self) -> object:
                return (super().get_source_stamp(), digest)

            @classmethod
            def from_function(cls, py_func: object, py_file: str) -> object:
                try:
                    ours = Path(py_file).resolve().parent == _PACKAGE
                except (OSError, ValueError):
                    ours = False
                return super().from_function(py_func, py_file) if ours else None

        PackageStampLocator.__name__ = f"Forecasting{base.__name__}"
        return PackageStampLocator

    # numba's own order: a user-provided NUMBA_CACHE_DIR, __pycache__, the user-wide cache.
    impl._locator_classes[:0] = [locator(base) for base in bases]
