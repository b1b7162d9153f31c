"""What every request may carry: identifier patterns, text rules and quantity limits.

One place for the rules of the HTTP edge, used by every request model and parameter (and
so by the hot path too, which validates with the same models). Ids and codes are checked
by patterns (pydantic-core's regex, no Python call per field); free text by one small
validator that names the offending character. The limits keep every number inside the
database's 32-bit columns with room to spare: what does not fit is a 422, never a 500.
README.md, "Identifiers and limits", documents them for clients.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

# ---------------------------------------------------------------- quantities

MAX_QTY = 1_000_000
"""Units of one inventory event: receipts and sales 1..MAX_QTY, adjustments +-MAX_QTY (not 0)."""
MAX_LINE_QTY = 10_000
"""Units of one order line."""
MAX_ORDER_UNITS = 100_000
"""Units of one order: the sum of its lines' quantities."""
MAX_SEED = 2**31 - 1
"""Largest simulation seed (a 32-bit column)."""

# ---------------------------------------------------------------- strings

MAX_ID_LENGTH = 100
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:~@-]{0,99}$"
"""Order and event ids: 1-100 characters, URL-path safe, starting with a letter or digit.

100, not the columns' 120: the ledger records an order's moves with references such as
"ready_for_pickup <id>" or "reject <id>: no_capacity" in 120 characters.
"""
CODE_PATTERN = r"^[A-Za-z0-9_.\-]{1,40}$"
"""Node and SKU codes."""
KEY_PATTERN = r"^[\x21-\x7E]{1,200}$"
"""Idempotency keys: 1-200 visible ASCII characters (no space, no control character)."""
TEXT_PATTERN = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
"""Free text: anything but control characters (tab, newline and carriage return are fine)."""

ID_RULE = f"1-{MAX_ID_LENGTH} characters matching {ID_PATTERN}"
KEY_RULE = f"1-200 visible ASCII characters ({KEY_PATTERN})"
KEY_RE = re.compile(KEY_PATTERN)

# C0 and C1 controls but tab, LF and CR; lone surrogates (json.loads lets "\ud800" through,
# and neither database can store one).
_CONTROL = re.compile(r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\uD800-\uDFFF]")


def _no_control(value: str) -> str:
    bad = _CONTROL.search(value)
    if bad is not None:
        what = "lone surrogate" if "\uD800" <= bad.group() <= "\uDFFF" else "control character"
        raise ValueError(f"{what} U+{ord(bad.group()):04X} at position {bad.start()}: text "
                         "may not contain control characters (tab, newline and carriage "
                         "return are allowed)")
    return value


def text(max_length: int, min_length: int = 0) -> Any:
    """Free text of `min_length`..`max_length` characters without control characters.

    A type for annotations (`Note = text(500)`); the JSON schema shows TEXT_PATTERN, the
    check itself names the offending character.
    """
    return Annotated[str, Field(min_length=min_length, max_length=max_length,
                                json_schema_extra={"pattern": TEXT_PATTERN}),
                     AfterValidator(_no_control)]


Id = Annotated[str, Field(pattern=ID_PATTERN, description=f"An id: {ID_RULE}.")]
Code = Annotated[str, Field(min_length=1, max_length=40, pattern=CODE_PATTERN,
                            description="A node or SKU code.")]
IdempotencyKey = Annotated[str, Field(pattern=KEY_PATTERN, description=f"{KEY_RULE}.")]
Zip = Annotated[str, Field(pattern=r"^[0-9]{5}$", description="A 5-digit US ZIP code.")]
Text = text(120)

# Parameters (FastAPI's Path/Query/Header take the same rules as keyword arguments).
KEY_HEADER = {"pattern": KEY_PATTERN, "description": f"Replays return the first answer: "
              f"{KEY_RULE}."}
CODE_PARAM = {"min_length": 1, "max_length": 40, "pattern": CODE_PATTERN}
