"""Text shortened for a table cell without cutting a word: run modes and reasons.

A technique's run mode must be short enough that a row of four workloads fits.

The record (and the CSV/Parquet copy) keeps the full ``metrics["mode"]``; only the Markdown/LaTeX
cell shows this shorter form. Known phrases are abbreviated; anything still longer than
``MAX_CHARS`` ends at a comma with "…" so no word is cut. "measured per layer x N" is never
dropped, since it says how a cost was obtained.
"""

from __future__ import annotations

import re

MAX_CHARS = 40

#: Phrase -> abbreviation, applied in order (whole phrases between commas only).
ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    ("client non-linear", "client NL"),
    ("client attention", "client attn"),
    ("permuted weights", "permuted W"),
    ("shared weights", "shared W"),
    ("reveal permuted non-linear", "revealed NL"),
    ("linear in FHE", "lin. FHE"),
)

#: Said under a table whose modes were shortened.
SHORTENED_NOTE = ("Modes shortened for the table (NL = non-linear layers, attn = attention, W = weights, "
                  "… = more); the records and tables/overhead.csv hold them in full.")

_PER_LAYER = re.compile(r"measured per layer x \d+")


def short_mode(mode: str, max_chars: int = MAX_CHARS) -> str:
    """The table form of ``mode``: unchanged when it fits, else abbreviated, then cut at a comma."""
    mode = str(mode).strip()
    if len(mode) <= max_chars:
        return mode
    parts = [p.strip() for p in mode.split(",")]
    table = dict(ABBREVIATIONS)
    parts = [table.get(p, p) for p in parts]
    # "client NL, client attn" -> "client NL+attn"
    merged: list[str] = []
    for p in parts:
        if merged and merged[-1].startswith("client ") and p.startswith("client "):
            merged[-1] = f"{merged[-1]}+{p[len('client '):]}"
        else:
            merged.append(p)
    text = ", ".join(merged)
    if len(text) <= max_chars:
        return text
    keep = [p for p in merged if _PER_LAYER.fullmatch(p)]  # never lose how the cost was obtained
    rest = [p for p in merged if p not in keep]
    out: list[str] = []
    for p in rest:
        if len(", ".join([*out, p, "…", *keep])) > max_chars:
            break
        out.append(p)
    return ", ".join([*out, "…", *keep]) if len(out) < len(rest) else ", ".join([*out, *keep])

def clip_words(text: str, limit: int) -> str:
    """``text`` with its whitespace collapsed, cut to at most ``limit`` characters at a word boundary
    and ended with "…" when anything was cut (a word longer than ``limit`` is the one exception)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if " " in head and text[limit - 1] != " ":
        head = head[: head.rfind(" ")]
    return head.rstrip(" ,;:.-") + "…"
