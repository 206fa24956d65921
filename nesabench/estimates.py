"""How an estimated cell is printed: "≥" for a lower bound, "~" for an extrapolation.

Estimators put ``estimate_kind`` (one of ESTIMATE_KINDS) and ``estimate_method`` (one line for
the footnote) into the record next to ``estimated: true``; tables print the value with the
kind's mark and the method in a footnote.
"""

from __future__ import annotations

import math

#: estimate_kind -> the mark a table puts before the number.
ESTIMATE_KINDS = {"lower_bound": "≥", "extrapolation": "~"}


def estimate_mark(kind: str | None) -> str:
    """The mark for ``kind``; an estimate of unknown kind is still marked as an extrapolation."""
    if kind is not None and kind not in ESTIMATE_KINDS:
        raise ValueError(f"estimate_kind={kind!r} is not accepted; accepted: {', '.join(ESTIMATE_KINDS)}")
    return ESTIMATE_KINDS[kind or "extrapolation"]


def estimate_cell(value: float | None, kind: str | None, fmt: str = "{:.3g}") -> str:
    """``≥1.2e+03`` / ``~3.4``: an estimated number as a table shows it ("—" when there is none)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return estimate_mark(kind) + fmt.format(value)
