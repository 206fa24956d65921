"""The EE hardening table (README block ``ee_variants``), rendered only from run records.

One row per variant a-e on minilm and on cnn_digits, from records of ``experiment=ee_variants`` (the
experiment as defined; records with extra overrides follow, labelled with them). A cell without a
record says so; nothing is typed in by hand. The README markers are ``<!-- report:ee-variants -->``
... ``<!-- /report:ee-variants -->``: the hyphen keeps them out of ``nesabench-report``'s generic
``<!-- report:NAME -->`` blocks, whose records come from another folder.

    .venv/bin/python -m nesabench.report.ee_variants_table results/reference/ee_variants --readme README.md
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from nesabench.atomic import atomic_write_text
from nesabench.leakage.suite import FOLDS, MIN_ATTACKER_SAMPLES
from nesabench.leakage.summary import privacy_cell
from nesabench.records import read_records
from nesabench.report.cell_text import clip_words

EXPERIMENT = "ee_variants"
WORKLOADS = ("minilm", "cnn_digits")
VARIANTS = ("a", "b", "c", "d", "e")
NODE = "leakage.node."
HEADER = ("workload", "variant", "status", "slowdown", "bytes to node / query", "bytes to node / setup",
          "key from weights", "key from activations alone (queries)", "input recovered after un-permuting",
          "input / model privacy (attack)")
#: Record keys of input recovery after un-permuting, and how the table names them.
RECOVERY = (
    ("weight_vocab_token_recovery", "tokens {} (vocabulary key)"),
    ("weight_embedding_inversion", "tokens {} (embedding inversion)"),
    ("weight_unpermuted_token_recovery", "tokens {} (probe on un-permuted states)"),
    ("weight_unpermuted_input", "input verbatim {}"),
    ("weight_unpermuted_r2", "input R² {} (probe)"),
    ("surrogate_unpermuted_token_recovery", "tokens {} (surrogate probe)"),
    ("surrogate_unpermuted_r2", "input R² {} (surrogate probe)"),
)
REASON_CHARS = 140  # a status cell ends at a word boundary with "…" past this
CURVE_QUERIES = ("1", "4", "16", "64")
BLOCK = re.compile(r"(<!-- report:ee-variants -->\n)(.*?)(<!-- /report:ee-variants -->)", re.S)


def _f(v: Any, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _extra(r: dict) -> str:
    """Overrides the record added beyond the experiment's own sweep ('' = the experiment as defined)."""
    return " ".join(str(o) for o in r.get("variant") or [])


def select(records: list[dict]) -> dict[tuple[str, str, str], dict]:
    """The newest nesa_ee record of experiment=ee_variants per (workload, variant, extra overrides)."""
    out: dict[tuple[str, str, str], dict] = {}
    for r in records:
        if r.get("experiment") != EXPERIMENT or r.get("technique") != "nesa_ee":
            continue
        k = (str(r.get("workload")), str(r.get("param.variant")), _extra(r))
        if k not in out or str(r.get("timestamp", "")) >= str(out[k].get("timestamp", "")):
            out[k] = r
    return out


def _curve(r: dict, stem: str) -> str:
    points = [(q, r.get(f"{NODE}{stem}{q}")) for q in CURVE_QUERIES]
    points = [(q, v) for q, v in points if v is not None]
    if not points:
        return ""
    return " / ".join(_f(v) for _, v in points) + f" at {' / '.join(q for q, _ in points)} q"


def weights_cell(r: dict) -> str:
    if r.get("attacker_knows_model") is False:
        return "not used: the attacker does not know the model"
    keys = (("hidden", "weight_key_recovery"), ("vocabulary", "weight_vocab_key"))
    parts = [f"{name} {_f(r.get(NODE + key))}" for name, key in keys if r.get(NODE + key) is not None]
    return ", ".join(parts) or "-"


def activations_cell(r: dict) -> str:
    """The key from observed activations alone: the k-query curve for a fixed key; otherwise the
    ciphertext-only matching over every evaluated query (a per-query key has no curve); then the
    known-plaintext recovery from the attacker's own (input, view) pairs."""
    parts = []
    if curve := _curve(r, "activation_only_key_q"):
        parts.append(f"{curve} (public-model statistics)")
    elif r.get(NODE + "coordinate_matching") is not None:
        parts.append(f"{_f(r.get(NODE + 'coordinate_matching'))} over {r.get('leakage_eval_samples')} q "
                     "(public-model statistics)")
    if r.get(NODE + "key_recovery") is not None:
        pairs = r.get("leakage_attacker_samples") or 0
        source = (f"{pairs} known pairs" if pairs >= MIN_ATTACKER_SAMPLES
                  else f"known pairs ({FOLDS}-fold over the evaluated queries)")
        parts.append(f"{_f(r.get(NODE + 'key_recovery'))} from {source}")
    if curve := _curve(r, "surrogate_key_q"):
        parts.append(f"{curve} (own surrogate)")
    elif r.get(NODE + "surrogate_key_recovery") is not None:
        parts.append(f"{_f(r.get(NODE + 'surrogate_key_recovery'))} per query (own surrogate)")
    return "; ".join(parts) or "-"


def recovery_cell(r: dict) -> str:
    parts = [label.format(_f(r.get(NODE + key))) for key, label in RECOVERY if r.get(NODE + key) is not None]
    if "node:plain_input" in str(r.get("view_kinds", "")):
        parts.insert(0, "input sent in the clear")
    return "; ".join(parts) or "-"


def row(workload: str, variant: str, extra: str, r: dict | None) -> list[str]:
    name = f"{variant} {extra}".strip()
    if r is None:
        return [workload, name, "no record", *["-"] * (len(HEADER) - 3)]
    if r.get("status") != "ok":
        reason = clip_words(str(r.get("reason", "")), REASON_CHARS)
        return [workload, name, f"{r.get('status')}: {reason}", *["-"] * (len(HEADER) - 3)]
    privacy = (f"{privacy_cell(r.get('input_privacy'), r.get('input_leakage_detectable'))} / "
               f"{privacy_cell(r.get('model_privacy'), r.get('model_leakage_detectable'))} "
               f"({r.get('leakage_attack', '-')})")
    slowdown = r.get("slowdown")
    return [workload, name, "ok", "-" if slowdown is None else f"{slowdown:.2f}x",
            f"{int(r.get('bytes_to_nodes') or 0):,}", f"{int(r.get('setup_bytes_to_nodes') or 0):,}",
            weights_cell(r), activations_cell(r), recovery_cell(r), privacy]


def rows(records: list[dict]) -> list[list[str]]:
    """Every (workload, variant) of the experiment, then any record with extra overrides."""
    chosen = select(records)
    out = [row(w, v, "", chosen.get((w, v, ""))) for w in WORKLOADS for v in VARIANTS]
    for (w, v, extra) in sorted(k for k in chosen if k[2]):
        out.append(row(w, v, extra, chosen[(w, v, extra)]))
    return out


def caption(records: list[dict]) -> str:
    chosen = list(select(records).values())
    if not chosen:
        return "No record of `experiment=ee_variants` yet: every cell below says so."
    stamps = sorted(str(r.get("timestamp", ""))[:10] for r in chosen)
    loads = [r["cpu_load_1m"] for r in chosen if isinstance(r.get("cpu_load_1m"), (int, float))]
    load = f", 1-minute load {min(loads):.1f}-{max(loads):.1f}" if loads else ""
    evals = sorted({r.get("leakage_eval_samples") for r in chosen if r.get("leakage_eval_samples")})
    return (f"From {len(chosen)} records of `experiment=ee_variants` ({stamps[0]} to {stamps[-1]}{load}; "
            f"attacks on {', '.join(map(str, evals)) or '-'} evaluated queries).")


def markdown(records: list[dict]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows(records)]
    return caption(records) + "\n\n" + "\n".join(lines)


def load(results_dir: str | Path) -> list[dict]:
    """Records under ``results_dir/runs`` (unreadable files are skipped with a warning)."""
    return read_records(Path(results_dir) / "runs",
                        warn=lambda m: print(f"ee_variants_table: warning: {m}", file=sys.stderr))


def render_readme(text: str, block: str) -> str:
    """``text`` with its ``<!-- report:ee-variants -->`` block holding ``block`` (other blocks untouched)."""
    return BLOCK.sub(lambda m: f"{m.group(1)}{block}\n{m.group(3)}", text)


def render_from(text: str, results_dir: str | Path) -> str:
    """``text`` with its EE block rendered from ``results_dir/runs``; unchanged if that folder is absent
    (a report over other results must not blank the committed table)."""
    if not (Path(results_dir) / "runs").is_dir():
        return text
    return render_readme(text, markdown(load(results_dir)))


def rewrite_readme(readme: str | Path, results_dir: str | Path) -> bool:
    """Rewrite the README's EE block from the records in ``results_dir``; True if it changed."""
    path = Path(readme)
    old = path.read_text()
    new = render_from(old, results_dir)
    if new != old:
        atomic_write_text(path, new)
    return new != old


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="folder holding runs/ of experiment=ee_variants")
    ap.add_argument("--readme", metavar="README.md", help="rewrite this file's report:ee-variants block")
    args = ap.parse_args(argv)
    print(markdown(load(args.results)))
    if args.readme:
        changed = rewrite_readme(args.readme, args.results)
        print(f"\n{args.readme}: {'rewritten' if changed else 'already up to date'}")


if __name__ == "__main__":
    main()
