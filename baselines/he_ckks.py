"""TenSEAL CKKS: the client encrypts, an untrusted node evaluates with public keys, the client decrypts.

Tuned as TenSEAL's MNIST tutorial: im2col encoding for the convolution, square activations (or a
degree-2 fit of the model's own), N=8192 with one rescaling prime per multiplicative level. Several
samples share a ciphertext where the slots allow (see nesabench/he/ckks_encoding.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

import numpy as np
import torch

from nesabench.he.circuit import CNNCircuit, MLPCircuit, UnsupportedModel, extract_circuit
from nesabench.he.ckks_encoding import cnn_capacity, mlp_capacity
from nesabench.he.ckks_params import SECURITY_BITS, CKKSParams
from nesabench.he.ckks_parties import CKKSClient, CKKSNode
from nesabench.he.estimate import ckks_estimate
from nesabench.he.opcount import count_ops
from nesabench.he.polynomial import PolyRecipe, polynomial_model, square_activations
from nesabench.parameters import Range
from nesabench.pipeline import PartyView, Unsupported
from nesabench.quality import accuracy, agreement
from nesabench.workloads.workload import Workload


@dataclass
class CallStats:
    """Per-infer-call costs, summed over calls so metrics() can report means."""

    calls: int = 0
    samples: int = 0
    encrypt_s: float = 0.0
    eval_s: float = 0.0
    decrypt_s: float = 0.0
    bytes_up: int = 0
    bytes_down: int = 0
    ciphertexts_up: int = 0
    fidelity: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


class CKKSPipeline:
    """Private inference of a polynomial version of the workload's model under CKKS."""

    def __init__(
        self,
        poly_modulus_degree: Literal[1024, 2048, 4096, 8192, 16384, 32768] = 8192,
        coeff_mod_bit_sizes: Sequence[Annotated[int, Range(ge=10, le=60)]] = (43, 33, 33, 33, 33, 43),
        global_scale: Annotated[float, Range(gt=1)] = 2.0**33,
        activation: Literal["square", "fit2"] = "fit2",
        finetune_epochs: Annotated[int, Range(ge=0)] = 30,
        finetune_lr: Annotated[float, Range(gt=0)] = 1e-3,
        samples_per_ciphertext: Annotated[int, Range(ge=0)] = 0,
        max_eval_samples: Annotated[int, Range(ge=1)] | None = None,
    ) -> None:
        self.params = CKKSParams(int(poly_modulus_degree), tuple(int(b) for b in coeff_mod_bit_sizes),
                                 float(global_scale))
        self.params.validate()
        self.recipe = PolyRecipe(activation, int(finetune_epochs), float(finetune_lr))
        if samples_per_ciphertext < 0:
            raise ValueError(f"samples_per_ciphertext={samples_per_ciphertext} must be >= 0 "
                             "(0 = as many as the slots hold)")
        self.samples_per_ciphertext = int(samples_per_ciphertext)
        if max_eval_samples is not None and max_eval_samples < 1:
            raise ValueError(f"max_eval_samples={max_eval_samples} must be >= 1 or null")
        self.max_eval_samples = max_eval_samples
        self.circuit: MLPCircuit | CNNCircuit | None = None
        self.client: CKKSClient | None = None
        self.node: CKKSNode | None = None
        self.poly_model: torch.nn.Module | None = None
        self.capacity = 0
        self._context_bytes = b""
        self._keygen_s = 0.0
        self._stats = CallStats()
        self._last_views: list[PartyView] = []
        self._poly_metrics: dict[str, float] = {}
        self._packed_probe: torch.Tensor | None = None
        self._workload: Workload | None = None

    # -- harness seam -------------------------------------------------------------------------
    def check(self, workload: Workload) -> None:
        """Polynomial-friendly MLPs and single-channel CNNs run; anything else gets an estimate."""
        sample = workload.dataset.x_test[0]
        try:
            extract_circuit(square_activations(workload.copy_model()), sample)
        except UnsupportedModel as err:
            softmax_rows = count_ops(workload.model, workload.dataset.x_test[:1]).softmax_rows
            attention = (f"it uses softmax attention ({softmax_rows} softmax rows per sample); "
                         if softmax_rows else "")
            reason = (f"CKKS pipeline cannot encode {workload.name}: {attention}{err}. Softmax, LayerNorm "
                      "and GELU need high-degree polynomial approximations and TenSEAL has no "
                      "bootstrapping, so the depth of a transformer does not fit any secure parameter set")
            raise Unsupported(reason, estimate=ckks_estimate(workload.model, workload.dataset.x_test[:1],
                                                             self.params)) from err

    def prepare(self, workload: Workload) -> None:
        """Parameter checks first (before any fine-tuning), then the polynomial model, then keys."""
        sample = workload.dataset.x_test[0]
        self._workload = workload
        self.params.check_security()
        self.params.check_depth(extract_circuit(square_activations(workload.copy_model()), sample).mult_depth)
        self.poly_model = polynomial_model(workload, self.recipe)
        self.circuit = extract_circuit(self.poly_model, sample)
        self.capacity = self._capacity(self.circuit)
        if self.capacity < 1:
            raise ValueError(
                f"poly_modulus_degree={self.params.poly_modulus_degree} has {self.params.slots} slots, "
                "too few for one sample of this workload; use a larger poly_modulus_degree"
            )
        t0 = time.perf_counter()
        self.client = CKKSClient(self.params)
        self._context_bytes = self.client.public_context()
        self.node = CKKSNode(self._context_bytes, self.circuit)
        self._keygen_s = time.perf_counter() - t0
        self._poly_metrics = _poly_quality(workload, self.poly_model)
        self._packed_probe = workload.dataset.x_test[: self.capacity]

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        if self.client is None or self.node is None or self.circuit is None:
            raise RuntimeError("he_ckks: infer called before prepare")
        xs = x.detach().double().numpy()
        outputs, up, down = [], [], []
        for start in range(0, len(xs), self.capacity):
            chunk = xs[start : start + self.capacity]
            # A lone sample of a one-hidden-layer MLP takes TenSEAL's tutorial path (vector + mm),
            # faster than a one-row encrypted matrix.
            vector = (len(chunk) == 1 and isinstance(self.circuit, MLPCircuit)
                      and len(self.circuit.weights) == 2)
            t0 = time.perf_counter()
            blob = self.client.encrypt_vector(chunk) if vector else self._encrypt(chunk)
            t1 = time.perf_counter()
            result = self.node.evaluate_vector(blob) if vector else self.node.evaluate(blob, len(chunk))
            t2 = time.perf_counter()
            if vector:
                outputs.append(self.client.decrypt_vector(result))
            else:
                outputs.append(self.client.decrypt(result, len(chunk), self.circuit.num_outputs))
            t3 = time.perf_counter()
            self._stats.encrypt_s += t1 - t0
            self._stats.eval_s += t2 - t1
            self._stats.decrypt_s += t3 - t2
            self._stats.bytes_up += len(blob)
            self._stats.bytes_down += len(result)
            self._stats.ciphertexts_up += 1
            up += [blob] * len(chunk)
            down += [result] * len(chunk)
        self._stats.calls += 1
        self._stats.samples += len(xs)
        out = np.concatenate(outputs)
        self._stats.fidelity.append((xs, out))
        self._last_views = [
            PartyView(party="node", kind="ciphertext", layer="input", payload=up,
                      nbytes=sum(len(b) for b in set(up)),
                      # The node evaluates with the plaintext weights: HE hides the input, not the model.
                      meta={"samples_per_ciphertext": min(self.capacity, len(xs)), "weights": "plain"}),
            PartyView(party="node", kind="ciphertext", layer="output", payload=down,
                      nbytes=sum(len(b) for b in set(down)), received=False),
        ]
        return torch.from_numpy(out).float()

    def views(self) -> list[PartyView]:
        return list(self._last_views)

    def metrics(self) -> dict[str, float | int | str]:
        s = self._stats
        n = max(s.samples, 1)
        # Per-sample units throughout (a packed ciphertext's cost is shared by the samples in it).
        out: dict[str, float | int | str] = {
            "keygen_s": self._keygen_s,
            "encrypt_s_per_sample": s.encrypt_s / n,
            "node_eval_s_per_sample": s.eval_s / n,
            "decrypt_s_per_sample": s.decrypt_s / n,
            "bytes_up_per_sample": s.bytes_up / n,
            "bytes_down_per_sample": s.bytes_down / n,
            "he_samples": s.samples,
            "he_calls": s.calls,
            "context_bytes": len(self._context_bytes),
            "mult_depth": self.circuit.mult_depth if self.circuit else 0,
            "security_bits": SECURITY_BITS,
            "samples_per_ciphertext": self.capacity,
            "node_matmul_plain_ops": self.node.ops.matmul_plain if self.node else 0,
            "node_square_ops": self.node.ops.squares if self.node else 0,
            "node_scalar_mult_ops": self.node.ops.scalar_mults if self.node else 0,
            **self._poly_metrics,
            **self._he_vs_poly(),
        }
        out.update(self._packed_latency())
        out.update(self._estimate_check())
        return out

    def _estimate_check(self) -> dict[str, float | str]:
        """The estimator used where CKKS cannot run, on this measured cell: estimate / measured.

        The estimator prices one sample per ciphertext, so it is compared with calls of one sample.
        """
        s = self._stats
        if self._workload is None or not s.samples or s.calls != s.samples:
            return {}
        est = ckks_estimate(self._workload.model, self._workload.dataset.x_test[:1], self.params)
        measured = (s.encrypt_s + s.eval_s + s.decrypt_s) / s.samples
        return {"estimate_latency_s": est["latency_p50_s"], "estimate_kind": est["estimate_kind"],
                "estimate_method": est["estimate_method"], "estimate_ratio": est["latency_p50_s"] / measured}

    # -- internals ------------------------------------------------------------------------------
    def _capacity(self, circuit: MLPCircuit | CNNCircuit) -> int:
        slots = self.params.slots
        if isinstance(circuit, MLPCircuit):
            widest = max(w.shape[0] for w in circuit.weights)
            cap = mlp_capacity(slots, circuit.in_features, widest, circuit.num_outputs)
        else:
            cap = cnn_capacity(slots, circuit.kernel_size, circuit.windows, circuit.num_outputs)
        if self.samples_per_ciphertext:
            if self.samples_per_ciphertext > cap:
                raise ValueError(f"samples_per_ciphertext={self.samples_per_ciphertext} exceeds the {cap} "
                                 f"samples {slots} slots hold for this workload")
            return self.samples_per_ciphertext
        return cap

    def _encrypt(self, chunk: np.ndarray) -> bytes:
        if self.client is None:
            raise RuntimeError("he_ckks: encrypt called before prepare")
        if isinstance(self.circuit, CNNCircuit):
            return self.client.encrypt_cnn(chunk.reshape(len(chunk), *chunk.shape[-2:]), self.circuit)
        return self.client.encrypt_mlp(chunk)

    def _he_vs_poly(self) -> dict[str, float]:
        """Error encryption adds: decrypted outputs vs the plaintext polynomial model, same inputs."""
        if not self._stats.fidelity or self.poly_model is None:
            return {}
        xs = np.concatenate([x for x, _ in self._stats.fidelity])
        he = np.concatenate([o for _, o in self._stats.fidelity])
        with torch.no_grad():
            poly = self.poly_model(torch.from_numpy(xs).float()).double().numpy()
        return {
            "poly_agreement": agreement(he, poly),
            "he_vs_poly_max_abs_err": float(np.abs(he - poly).max()),
            "he_vs_poly_samples": len(xs),
        }

    def _packed_latency(self) -> dict[str, float | int]:
        """One full ciphertext of samples, timed once: the amortized cost the harness batch may hide."""
        if self._packed_probe is None or self.client is None:
            return {}
        saved = (self._stats, self._last_views)
        self._stats = CallStats()
        t0 = time.perf_counter()
        self.infer(self._packed_probe)
        dt = time.perf_counter() - t0
        self._stats, self._last_views = saved
        n = len(self._packed_probe)
        return {"packed_batch_size": n, "packed_batch_latency_s": dt, "packed_latency_per_sample_s": dt / n}


def _poly_quality(workload: Workload, poly_model: torch.nn.Module) -> dict[str, float]:
    """Accuracy lost to the polynomial (plaintext, whole test split), apart from encryption."""
    ds = workload.dataset
    with torch.no_grad():
        poly = poly_model(ds.x_test)
        flt = workload.model(ds.x_test)
    poly_acc, float_acc = accuracy(poly, ds.y_test), accuracy(flt, ds.y_test)
    return {"poly_accuracy": poly_acc, "float_accuracy": float_acc,
            "poly_accuracy_loss": float_acc - poly_acc,
            "poly_vs_float_agreement": agreement(poly, flt)}
