"""Prove time vs logrows, measured on a small probe circuit, and the extrapolation from it.

A halo2 prover's work is set by the domain size 2^logrows (FFTs and multi-exponentiations over
every row), so the probe pins one small circuit to several logrows and times setup and prove at
each. The fit ``log(t) = a + b * logrows`` over the FIT_POINTS largest sizes then extrapolates to
circuits too large to build here (the growth per logrow rises with size, as FFTs and multi-
exponentiations grow as n log n, so the small sizes would bias the slope low).
The measurement is cached per ezkl version and probe sizes under ``cache_dir/zk``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import ezkl
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from nesabench.zk.circuit import Circuit
from nesabench.zk.srs import get_or_make_srs
from nesabench.zk.visibility import Visibility

PROBE_WIDTH = 16
#: Below this EZKL's calibration finds no parameters for the probe (its range checks need the rows).
MIN_PROBE_LOGROWS = 12
#: The fit uses this many of the largest measured sizes.
FIT_POINTS = 3


@dataclass(frozen=True)
class ScalingPoint:
    logrows: int
    setup_s: float
    prove_s: float
    verify_s: float
    pk_bytes: int
    proof_bytes: int


@dataclass(frozen=True)
class Scaling:
    """Measured points plus the probe's rows per multiply-accumulate (for models EZKL cannot size)."""

    points: list[ScalingPoint]
    rows_per_mac: float
    ezkl_version: str

    def fit(self, key: str) -> tuple[float, float]:
        """Least-squares ``log(t) = a + b * logrows`` over the FIT_POINTS largest measured points."""
        points = sorted(self.points, key=lambda p: p.logrows)[-FIT_POINTS:]
        k = np.array([p.logrows for p in points], dtype=float)
        t = np.log([max(getattr(p, key), 1e-9) for p in points])
        b, a = np.polyfit(k, t, 1)
        return float(a), float(b)

    def predict(self, key: str, logrows: int) -> float:
        a, b = self.fit(key)
        return math.exp(a + b * logrows)

    def to_json(self) -> str:
        return json.dumps({"points": [asdict(p) for p in self.points], "rows_per_mac": self.rows_per_mac,
                           "ezkl_version": self.ezkl_version}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Scaling:
        raw = json.loads(text)
        return cls([ScalingPoint(**p) for p in raw["points"]], raw["rows_per_mac"], raw["ezkl_version"])


def count_macs(model: torch.nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass on one sample (matmuls, convolutions, attention)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(example[:1])
    return counter.get_total_flops() // 2


def probe_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(PROBE_WIDTH, PROBE_WIDTH), torch.nn.ReLU(),
                               torch.nn.Linear(PROBE_WIDTH, 4)).eval()


def measure_scaling(cache_dir: str | Path, logrows: Sequence[int]) -> Scaling:
    """Time setup/prove/verify of the probe circuit at each logrows (cached after the first time)."""
    ks = sorted({int(k) for k in logrows})
    if len(ks) < 2:
        raise ValueError(f"scaling_logrows needs at least two sizes to fit a slope, got {list(logrows)}")
    cache = Path(cache_dir) / "zk" / f"scaling-ezkl{ezkl.__version__}-k{'-'.join(map(str, ks))}.json"
    if cache.exists():
        return Scaling.from_json(cache.read_text())
    model, x = probe_model(), torch.rand(1, PROBE_WIDTH)
    work = Path(tempfile.mkdtemp(prefix="nesabench-zk-scaling-"))
    try:
        circuit = Circuit(work, Visibility(input="private", params="fixed"))
        circuit.export(model, x)
        circuit.gen_settings()
        circuit.calibrate(torch.rand(8, PROBE_WIDTH), "resources", max_logrows=ks[0])
        rows_per_mac = circuit.settings()["num_rows"] / count_macs(model, x)
        points = []
        for k in ks:
            circuit.set_logrows(k)
            circuit.compile()
            srs = get_or_make_srs(cache_dir, k)
            t0 = time.perf_counter()
            circuit.setup(srs)
            setup_s = time.perf_counter() - t0
            _, wpath = circuit.witness(x, "probe")
            t0 = time.perf_counter()
            proof = circuit.prove(wpath, "probe")
            prove_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            ok, detail = circuit.verify(proof.data)
            verify_s = time.perf_counter() - t0
            if not ok:
                raise RuntimeError(f"scaling probe proof at logrows {k} did not verify: {detail}")
            points.append(ScalingPoint(k, setup_s, prove_s, verify_s, circuit.pk.stat().st_size,
                                       proof.proof_bytes))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    scaling = Scaling(points, rows_per_mac, ezkl.__version__)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(scaling.to_json())
    os.replace(tmp, cache)
    return scaling
