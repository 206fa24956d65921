"""One EZKL circuit in a work folder: ONNX export, settings, calibration, compile, keys, prove, verify.

Each step is a plain call into ezkl 23 and is timed by the caller; the files stay in ``work_dir``
so a proof can be re-verified (and tampered with) after the fact.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ezkl
import numpy as np
import torch

from nesabench.zk.child import ChildError, run_ezkl
from nesabench.zk.mask import MASK_FILL, finite_mask_fill
from nesabench.zk.srs import Srs
from nesabench.zk.visibility import Visibility

CALIBRATION_TARGETS = ("resources", "accuracy")
#: Memory cap (GB) of the key-generation and proving child processes unless told otherwise.
DEFAULT_MEMORY_GB = 8.0
#: A key generation or proof taking longer than this (s) is a failure (see nesabench/zk/child.py).
CHILD_TIMEOUT_S = 3 * 3600.0
#: EZKL's own default number of inner columns per operation block (``PyRunArgs().num_inner_cols``).
DEFAULT_INNER_COLS = 2
#: Rows a halo2 circuit keeps free for blinding factors and the last-row checks.
RESERVED_ROWS = 16


class CircuitError(RuntimeError):
    """An EZKL step failed; the message carries EZKL's own reason (``machine_oom``: see ChildError)."""

    def __init__(self, message: str, machine_oom: bool = False) -> None:
        super().__init__(message)
        self.machine_oom = machine_oom


def logrows_for(num_rows: int) -> int:
    """Smallest logrows whose 2^logrows rows hold ``num_rows`` plus the reserved ones."""
    return max(1, math.ceil(math.log2(num_rows + RESERVED_ROWS)))


Inputs = torch.Tensor | tuple[torch.Tensor, ...]


def as_tuple(x: Inputs) -> tuple[torch.Tensor, ...]:
    return x if isinstance(x, tuple) else (x,)


def sample_json(x: Inputs) -> dict[str, Any]:
    """EZKL's input file: one flat list per model input (all samples of that input, in order)."""
    return {"input_data": [t.detach().reshape(-1).double().tolist() for t in as_tuple(x)]}


def _peak_from(message: str) -> float | None:
    """The peak RSS a ChildError message reports."""
    match = re.search(r"peak RSS (\d+) MB", message)
    return float(match.group(1)) if match else None


@dataclass
class Proof:
    """A proof as EZKL stores it (JSON with ``instances`` and ``proof`` bytes) and its file size."""

    data: dict[str, Any]
    file_bytes: int
    #: Wall time of the ``ezkl.prove`` call (loads the proving key and SRS, proves, writes the file).
    call_s: float = 0.0
    #: Our own file I/O around it: writing nothing, reading the proof JSON back.
    io_s: float = 0.0

    @property
    def proof_bytes(self) -> int:
        return len(self.data["proof"])

    def instances(self) -> list[str]:
        return self.data["instances"][0]


class Circuit:
    """The files of one EZKL circuit and the calls that make and use them."""

    def __init__(self, work_dir: str | Path, visibility: Visibility):
        self.dir = Path(work_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.visibility = visibility
        self.onnx = self.dir / "model.onnx"
        self.settings_path = self.dir / "settings.json"
        self.compiled = self.dir / "model.compiled"
        self.pk = self.dir / "pk.key"
        self.vk = self.dir / "vk.key"
        self.srs: Srs | None = None
        self.last_input_io_s = 0.0
        #: Values of "minus infinity" attention-mask fills made finite in the exported graph.
        self.mask_values_replaced = 0
        #: Peak resident memory of the key-generation child process (MB), once setup has run.
        self.setup_peak_rss_mb: float | None = None
        #: Largest peak resident memory of a proving child process (MB).
        self.prove_peak_rss_mb: float | None = None
        self.max_memory_gb = DEFAULT_MEMORY_GB

    # -- building -------------------------------------------------------------------------
    def export(self, model: torch.nn.Module, example: Inputs, mask_fill: float = MASK_FILL) -> None:
        """ONNX with the legacy exporter (``dynamo=False``) at opset 18, the newest tract is tested on,
        then attention-mask fills of "minus infinity" made finite (nesabench/zk/mask.py)."""
        args = tuple(t[:1] for t in as_tuple(example))
        names = ["input"] if len(args) == 1 else [f"input{i}" for i in range(len(args))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), args, str(self.onnx), input_names=names,
                              output_names=["output"], dynamo=False, opset_version=18)
        self.mask_values_replaced = finite_mask_fill(self.onnx, mask_fill)

    def gen_settings(self, num_inner_cols: int = DEFAULT_INNER_COLS,
                     decomp: tuple[int, int] | None = None) -> dict[str, Any]:
        """Settings for the exported graph; ``num_inner_cols`` is EZKL's columns per operation block
        (more columns, fewer rows: the same area, but more columns in the keys); ``decomp`` is the
        range-check decomposition (base, legs), EZKL's default when None (nesabench/zk/decomposition.py)."""
        args = ezkl.PyRunArgs()
        args.num_inner_cols = int(num_inner_cols)
        if decomp is not None:
            args.decomp_base, args.decomp_legs = int(decomp[0]), int(decomp[1])
        args.input_visibility = self.visibility.ezkl_input
        args.param_visibility = self.visibility.ezkl_params
        args.output_visibility = self.visibility.ezkl_output
        self._call("gen_settings", ezkl.gen_settings, str(self.onnx), str(self.settings_path),
                   py_run_args=args)
        return self.settings()

    def calibrate(self, calibration: Inputs, target: str, max_logrows: int,
                  scales: list[int] | None = None) -> dict[str, Any]:
        data = self.dir / "calibration.json"
        data.write_text(json.dumps(sample_json(calibration)))
        self._call("calibrate_settings", ezkl.calibrate_settings, str(data), str(self.onnx),
                   str(self.settings_path), target, max_logrows=max_logrows, scales=scales)
        return self.settings()

    def compile(self) -> None:
        self._call("compile_circuit", ezkl.compile_circuit, str(self.onnx), str(self.compiled),
                   str(self.settings_path))

    def setup(self, srs: Srs, max_memory_gb: float = DEFAULT_MEMORY_GB) -> None:
        """Proving and verification keys, made in a child process capped at ``max_memory_gb``
        (nesabench/zk/child.py): too large for the machine is a CircuitError naming the cap."""
        self.srs = srs
        self.max_memory_gb = max_memory_gb
        try:
            result = run_ezkl("setup", [str(self.compiled), str(self.vk), str(self.pk)],
                              {"srs_path": str(srs.path)}, self.dir, max_memory_gb, CHILD_TIMEOUT_S)
        except ChildError as err:
            self.setup_peak_rss_mb = _peak_from(str(err))
            raise CircuitError(str(err), err.machine_oom) from err
        self.setup_peak_rss_mb = result.peak_rss_mb

    def settings(self) -> dict[str, Any]:
        return json.loads(self.settings_path.read_text())

    def set_logrows(self, logrows: int) -> None:
        """Pin the circuit to ``logrows`` (for scaling probes: the same circuit in a bigger domain)."""
        s = self.settings()
        s["run_args"]["logrows"] = logrows
        self.settings_path.write_text(json.dumps(s))

    # -- using ----------------------------------------------------------------------------
    def witness(self, x: Inputs, tag: str) -> tuple[dict[str, Any], Path]:
        """Run the quantized circuit on one sample: the witness holds the claimed outputs."""
        inp, out = self.dir / f"input-{tag}.json", self.dir / f"witness-{tag}.json"
        t0 = time.perf_counter()
        inp.write_text(json.dumps(sample_json(x)))
        self.last_input_io_s = time.perf_counter() - t0
        w = self._call("gen_witness", ezkl.gen_witness, str(inp), str(self.compiled), str(out),
                       vk_path=str(self.vk), srs_path=str(self._srs_path()))
        return w, out

    def prove(self, witness_path: Path, tag: str) -> Proof:
        """One proof, made in a child process (memory cap, timeout: nesabench/zk/child.py)."""
        path = self.dir / f"proof-{tag}.json"
        try:
            result = run_ezkl("prove", [str(witness_path), str(self.compiled), str(self.pk), str(path)],
                              {"srs_path": str(self._srs_path())}, self.dir, self.max_memory_gb,
                              CHILD_TIMEOUT_S)
        except ChildError as err:
            raise CircuitError(str(err), err.machine_oom) from err
        self.prove_peak_rss_mb = max(self.prove_peak_rss_mb or 0.0, result.peak_rss_mb)
        t1 = time.perf_counter()
        data = json.loads(path.read_text())
        return Proof(data, path.stat().st_size, call_s=result.seconds, io_s=time.perf_counter() - t1)

    def key_load_s(self, repeats: int = 3) -> float:
        """Seconds EZKL takes to read and deserialize this circuit's proving key (median of ``repeats``).

        ``ezkl.prove`` loads the key from disk on every call; ``gen_vk_from_pk_single`` does the
        same load and writes only the small verification key, so its time is the loading share.
        """
        out = self.dir / "vk-reload.key"
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            self._call("gen_vk_from_pk_single", ezkl.gen_vk_from_pk_single, str(self.pk),
                       str(self.settings_path), str(out))
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    def verify(self, proof: dict[str, Any], tag: str = "check") -> tuple[bool, str]:
        """Verify a proof as given (possibly tampered). EZKL raises on a bad proof: that is a False."""
        path = self.dir / f"verify-{tag}.json"
        path.write_text(json.dumps(proof))
        try:
            ok = bool(ezkl.verify(str(path), str(self.settings_path), str(self.vk),
                                  srs_path=str(self._srs_path())))
        except RuntimeError as err:
            return False, str(err)
        return ok, "" if ok else "ezkl.verify returned False"

    def outputs(self, witness: dict[str, Any]) -> np.ndarray:
        """The circuit's outputs (dequantized, flat) from a witness: what the prover claims."""
        scale = self.settings()["model_output_scales"][0]
        return np.array([ezkl.felt_to_float(f, scale) for f in witness["outputs"][0]], dtype=np.float64)

    def _srs_path(self) -> Path:
        if self.srs is None:
            raise CircuitError("setup() must run before witnesses and proofs")
        return self.srs.path

    @staticmethod
    def _call(step: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RuntimeError as err:
            raise CircuitError(f"ezkl {step} failed: {err}") from err
