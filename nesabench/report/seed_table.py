"""The seed's comparison table, each claimed mark set beside the mark the records give.

The claims, their quotes, the reading of the seed's lost headers and the thresholds live in
``seed_claims.yaml``; families map to techniques in ``reader_order.yaml``. Here only the rules:
a technique earns a column's mark from its headline records (one per workload, see
``tables.headline_cells``); a family earns it when any of its techniques does. Without ok records
a mark is "not measured" (estimates are shown, marked, and never count as measured).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from statistics import median
from typing import Any

import pandas as pd
import yaml

from nesabench.estimates import estimate_mark
from nesabench.report.order import order_workloads, reader_order

CLAIMS_FILE = Path(__file__).with_name("seed_claims.yaml")

YES, NO, NOT_MEASURED, NO_CLAIM = "✅", "❌", "not measured", "no claim"


@dataclass
class Mark:
    """A technique's (or family's) measured mark for one column: True, False or None (not measured),
    and the figures it rests on."""

    value: bool | None
    figures: str

    @property
    def text(self) -> str:
        return NOT_MEASURED if self.value is None else (YES if self.value else NO)


@dataclass
class SeedRow:
    family: str
    label: str
    short: str
    techniques: tuple[str, ...]
    claims: dict[str, dict[str, Any]]
    marks: dict[str, Mark] = field(default_factory=dict)
    note: str = ""
    slowdown: str = ""
    caveat: str = ""

    def claimed(self, column: str) -> str:
        claim = self.claims.get(column)
        return claim["mark"] if claim else "—"

    def verdict(self, column: str) -> str:
        claim, mark = self.claims.get(column), self.marks[column]
        if not claim:
            return NO_CLAIM
        if mark.value is None:
            return NOT_MEASURED
        return "agrees" if claim["mark"].startswith(YES) == mark.value else "disagrees"


@cache
def seed_claims(path: Path = CLAIMS_FILE) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def _num(v) -> float | None:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
        return None
    return float(v)


def _x(v: float) -> str:
    return f"{v:.2g}".replace("e+0", "e").replace("e+", "e") + "×" if v >= 100 else f"{v:.3g}×"


def _span(values: list[float], fmt: Callable[[float], str], mark: str = "") -> str:
    lo, hi = fmt(min(values)), fmt(max(values))
    if lo == hi:
        return f"{mark}{lo}"
    return f"{mark}{lo.removesuffix('×') if hi.endswith('×') else lo}–{mark}{hi}"


def _ok(runs: pd.DataFrame) -> pd.DataFrame:
    return runs if runs.empty else runs[runs["status"] == "ok"]


def _none_ok(tech: str, runs: pd.DataFrame) -> Mark:
    if runs.empty:
        return Mark(None, f"{tech}: no records")
    statuses = ", ".join(f"{w} {s}" for w, s in zip(runs["workload"], runs["status"], strict=True))
    return Mark(None, f"{tech}: no ok run ({statuses})")


def input_privacy_mark(tech: str, runs: pd.DataFrame, column: dict[str, Any]) -> Mark:
    """Every ok run scored at >= min_privacy with accuracy loss <= max_accuracy_loss."""
    ok = _ok(runs)
    if ok.empty:
        return _none_ok(tech, runs)
    scores, losses, unscored, bad = [], [], [], []
    for _, r in ok.iterrows():
        p, loss = _num(r.get("input_privacy")), _num(r.get("accuracy_loss"))
        if loss is not None:
            losses.append(loss)
        if p is None:
            unscored.append(r["workload"])
            continue
        scores.append(p)
        if p < column["min_privacy"] or (loss is not None and loss > column["max_accuracy_loss"]):
            bad.append(r["workload"])
    parts = [f"{tech}: input privacy {_span(scores, lambda v: f'{v:.2f}')}" if scores
             else f"{tech}: input privacy not scored"]
    if losses:
        parts.append(f"accuracy loss ≤ {max(losses):.2f}")
    if unscored and scores:
        parts.append(f"not scored on {', '.join(order_workloads(unscored))}")
    text = ", ".join(parts)
    if bad:
        return Mark(False, text)
    return Mark(None if unscored else True, text)


def verifiability_mark(tech: str, runs: pd.DataFrame, column: dict[str, Any]) -> Mark:
    """Every ok run verified, catching >= min_tamper_detection of its tampering cases; an ok run
    with no verification at all (``verified`` empty) is a measured "no"."""
    ok = _ok(runs)
    if ok.empty:
        return _none_ok(tech, runs)
    rates = [_num(r.get("tamper_detection_rate")) for _, r in ok.iterrows()]
    verified = [r.get("verified") for _, r in ok.iterrows()]
    checked = [v for v in verified if isinstance(v, bool)]
    if not checked:
        return Mark(False, f"{tech}: no verification step ({len(ok)} ok runs)")
    known = [x for x in rates if x is not None]
    text = f"{tech}: verified {sum(checked)}/{len(ok)}" + (
        f", tamper detection {_span(known, lambda v: f'{v:.2f}')}" if known else ", tampering not tested")
    good = (len(checked) == len(ok) and all(checked) and len(known) == len(ok)
            and min(known) >= column["min_tamper_detection"])
    return Mark(good, text)


def scale_mark(tech: str, runs: pd.DataFrame, column: dict[str, Any]) -> Mark:
    """Measured ok on every listed workload with median slowdown <= max_slowdown. A workload the
    technique refuses (unsupported, estimates included) is a "no"; one not run leaves it open."""
    ok = _ok(runs)
    if ok.empty:
        return _none_ok(tech, runs)
    slow = [s for s in (_num(v) for v in ok["slowdown"]) if s is not None]
    need = list(column["workloads"])
    refused = [w for w in need if w in set(runs.loc[runs["status"] == "unsupported", "workload"])]
    missing = [w for w in need if w not in set(ok["workload"]) and w not in refused]
    med = median(slow) if slow else None
    parts = [f"{tech}: median {_x(med)} on {len(ok)}/{len(need)} workloads" if med is not None
             else f"{tech}: no slowdown recorded"]
    if refused:
        parts.append(f"unsupported on {', '.join(refused)}")
    if missing:
        parts.append(f"not measured on {', '.join(missing)}")
    text = ", ".join(parts)
    if refused or (med is not None and med > column["max_slowdown"]):
        return Mark(False, text)
    if missing or med is None:
        return Mark(None, text)
    return Mark(True, text)


#: ``measure:`` names in seed_claims.yaml -> the rule that derives a technique's mark.
MEASURES: dict[str, Callable[[str, pd.DataFrame, dict[str, Any]], Mark]] = {
    "input_privacy": input_privacy_mark,
    "verifiability": verifiability_mark,
    "scale": scale_mark,
}


def family_mark(marks: list[Mark]) -> Mark:
    """A family earns a mark when any of its techniques does; "no" only when one is measured no."""
    values = [m.value for m in marks]
    value = True if True in values else (False if False in values else None)
    return Mark(value, "; ".join(m.figures for m in marks))


def slowdown_range(tech: str, runs: pd.DataFrame) -> str:
    """Measured slowdowns of a technique, then its estimates with their marks ("~", "≥")."""
    if runs.empty:
        return f"{tech} not measured"
    ok = [s for s in (_num(v) for v in _ok(runs)["slowdown"]) if s is not None]
    est = runs[(runs["status"] == "unsupported") & runs["estimated"].fillna(False).astype(bool)] \
        if "estimated" in runs.columns else runs.iloc[:0]
    parts = []
    if ok:
        parts.append(_span(ok, _x))
    for kind, rows in est.groupby(est.get("estimate_kind", pd.Series(index=est.index, dtype=object))
                                  .fillna("extrapolation")):
        values = [s for s in (_num(v) for v in rows["slowdown"]) if s is not None]
        if values:
            parts.append(f"{_span(values, _x, estimate_mark(kind))} estimated")
    return f"{tech} " + (", ".join(parts) if parts else "not measured")


def seed_rows(cells: pd.DataFrame, claims: dict[str, Any] | None = None) -> list[SeedRow]:
    """One row per family of ``seed_claims.yaml`` from the headline cells (one record per
    technique and workload)."""
    claims = claims or seed_claims()
    order = reader_order()
    columns = claims["columns"]
    out = []
    for row in claims["rows"]:
        fam = next(f for f in order.families if f.key == row["family"])
        seed = SeedRow(fam.key, fam.label, fam.short, fam.techniques, row.get("claims") or {},
                       note=row.get("note", ""))
        per_tech = {t: cells[cells["technique"] == t] if not cells.empty else cells for t in fam.techniques}
        for col in columns:
            rule = MEASURES[col["measure"]]
            seed.marks[col["key"]] = family_mark([rule(t, r, col) for t, r in per_tech.items()])
        seed.slowdown = "; ".join(slowdown_range(t, r) for t, r in per_tech.items())
        seed.caveat = row.get("caveat") or ""
        out.append(seed)
    return out


def footnote(claims: dict[str, Any] | None = None) -> str:
    claims = claims or seed_claims()
    c = {col["key"]: col for col in claims["columns"]}
    ip, vf, sc = c["input_privacy"], c["verifiability"], c["scale"]
    return (
        f"Seed: {claims['source']}. Each cell: the seed's mark → the measured mark, and the verdict. "
        f"Measured marks come from the headline records, a family earning a mark when any of its "
        f"techniques does: *{ip['header']}* ✅ = every ok run's input privacy scored ≥ {ip['min_privacy']} "
        f"(an attack that could see a leak found none bigger) with accuracy loss "
        f"≤ {ip['max_accuracy_loss']}; "
        f"*{vf['header']}* ✅ = every ok run verified with tamper detection ≥ {vf['min_tamper_detection']}, "
        f"❌ also when the technique has no check; *{sc['header']}* ✅ = measured ok on all "
        f"{len(sc['workloads'])} workloads with median slowdown ≤ {sc['max_slowdown']}×, ❌ when one is "
        f"unsupported or the median is higher. No ok record → not measured; estimates (~ extrapolated, "
        f"≥ lower bound) are shown but never count as measured."
    )


def seed_table(rows: list[SeedRow], claims: dict[str, Any] | None = None) -> pd.DataFrame:
    """The wide table (one row per family): per column "seed → measured, verdict"."""
    claims = claims or seed_claims()
    out = []
    for r in rows:
        line = {"family": r.label, "techniques": ", ".join(r.techniques)}
        for col in claims["columns"]:
            k = col["key"]
            line[col["header"]] = f"{r.claimed(k)} → {r.marks[k].text}: {r.verdict(k)}"
        line["seed's note"] = f"“{r.note}”" if r.note else "—"
        line["measured slowdown"] = r.slowdown + (f" ({r.caveat})" if r.caveat else "")
        out.append(line)
    return pd.DataFrame(out)


def evidence_table(rows: list[SeedRow], claims: dict[str, Any] | None = None) -> pd.DataFrame:
    """The long table: what each claimed mark quotes and what each measured mark rests on."""
    claims = claims or seed_claims()
    out = []
    for r in rows:
        for col in claims["columns"]:
            k = col["key"]
            claim = r.claims.get(k) or {}
            quote = claim.get("quote")
            out.append({
                "family": r.label, "column": col["header"], "seed": r.claimed(k),
                "seed's words": f"“{quote}”" if quote else ("(the table's mark; the prose is silent)"
                                                            if claim else "—"),
                "measured": r.marks[k].text, "verdict": r.verdict(k), "measured figures": r.marks[k].figures,
            })
    return pd.DataFrame(out)


def flat_table(rows: list[SeedRow], claims: dict[str, Any] | None = None) -> pd.DataFrame:
    """Every field in its own column, for the CSV."""
    claims = claims or seed_claims()
    out = []
    for r in rows:
        line: dict[str, Any] = {"family": r.family, "label": r.label, "techniques": " ".join(r.techniques)}
        for col in claims["columns"]:
            k = col["key"]
            claim = r.claims.get(k) or {}
            line.update({f"{k}.seed": claim.get("mark", ""), f"{k}.quote": claim.get("quote") or "",
                         f"{k}.measured": r.marks[k].text, f"{k}.verdict": r.verdict(k),
                         f"{k}.figures": r.marks[k].figures})
        line.update({"seed_note": r.note, "measured_slowdown": r.slowdown, "caveat": r.caveat})
        out.append(line)
    return pd.DataFrame(out)


def held_sentence(rows: list[SeedRow], claims: dict[str, Any] | None = None) -> str:
    """Which of the seed's claims the records bear out, in a few sentences."""
    claims = claims or seed_claims()
    columns = claims["columns"]
    held, failed, unmeasured = [], [], []
    for r in rows:
        verdicts = {c["key"]: r.verdict(c["key"]) for c in columns}
        names = {c["key"]: c["header"].lower() for c in columns}
        agreed = [names[k] for k, v in verdicts.items() if v == "agrees"]
        if agreed:
            held.append(f"{r.short} on all {len(columns)}" if len(agreed) == len(columns)
                        else f"{r.short} {', '.join(agreed)}")
        for k, v in verdicts.items():
            if v == "disagrees":
                failed.append(f"{r.short} {names[k]} (claimed {r.claimed(k)}, measured {r.marks[k].text})")
            elif v == NOT_MEASURED:
                unmeasured.append(f"{r.short} {names[k]}")
    n_held = sum(r.verdict(c["key"]) == "agrees" for r in rows for c in columns)
    total = n_held + len(failed) + len(unmeasured)
    text = f"**{n_held} of the seed's {total} claimed marks held against these records**"
    text += f" ({'; '.join(held)})." if held else "."
    if failed:
        text += f" {len(failed)} did not: " + "; ".join(failed) + "."
    if unmeasured:
        text += f" {len(unmeasured)} could not be measured: " + "; ".join(unmeasured) + "."
    return text
