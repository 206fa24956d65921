"""CI's check of `make table-quick`: every technique in conf/technique/ has a record, none failed.

A technique that cannot run a cell records it unsupported (with its reason), which passes; a run that
crashed records it failed, which fails CI with the reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nesabench.records import read_records

ROOT = Path(__file__).resolve().parents[1]


def main(results: str) -> int:
    records = read_records(Path(results) / "runs", warn=lambda msg: print(f"check_table: {msg}"))
    techniques = sorted(p.stem for p in (ROOT / "conf" / "technique").glob("*.yaml"))
    seen = {r["technique"] for r in records}
    problems = [f"no record of technique {t}" for t in techniques if t not in seen]
    problems += [f"{r['technique']} / {r['workload']} failed: {r.get('reason', '')} ({r['record_file']})"
                 for r in records if r["status"] == "failed"]
    for p in problems:
        print(f"check_table: {p}", file=sys.stderr)
    print(f"check_table: {len(records)} records in {results}, {len(seen)} techniques, "
          f"{'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "results/quick"))
