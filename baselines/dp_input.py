"""Local differential privacy on the inference input: the client noises each input before the node sees it.

This tests the claim that inference-time DP is unusable: an (epsilon, delta)-LDP guarantee for a
whole input needs noise calibrated to the range of the whole input, so the node's view hides the
input only when the model can no longer read it either. The accuracy loss is the measurement.

Mechanisms, each epsilon-LDP (or (epsilon, delta)) for ONE whole input:
- ``laplace``: every coordinate clipped to [lo, hi]; L1 sensitivity d * (hi - lo); Laplace noise
  of scale sensitivity / epsilon per coordinate.
- ``gaussian``: same clipping; L2 sensitivity sqrt(d) * (hi - lo); the analytic Gaussian
  mechanism (Balle & Wang 2018), valid for every epsilon > 0.
- ``randomized_response`` (token ids): k-ary randomized response over the whole vocabulary at
  every position (padding included), with epsilon / seq_len per token (sequential composition).
The client clamps the noised values back to [lo, hi] (post-processing: no privacy cost).
Clipping box: tabular features to [-clip, clip] (standardized units); images to [0, data_range].
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

import torch
from scipy.optimize import brentq
from scipy.stats import norm

from baselines.plaintext import PlaintextPipeline
from nesabench.pipeline import Unsupported
from nesabench.workloads.workload import Workload

CONTINUOUS = ("laplace", "gaussian")
MECHANISMS = ("auto", *CONTINUOUS, "randomized_response")


#: The analytic Gaussian sigma is searched between sensitivity / SIGMA_BRACKET and sensitivity *
#: SIGMA_BRACKET (every epsilon and delta a run can ask for lands well inside), to this log tolerance.
SIGMA_BRACKET = 1e6
SIGMA_LOG_TOLERANCE = 1e-12

def analytic_gaussian_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """Smallest sigma for which N(0, sigma^2) noise is (epsilon, delta)-DP at this L2 sensitivity."""

    def delta_of(log_sigma: float) -> float:
        s = math.exp(log_sigma)
        a, b = sensitivity / (2 * s), epsilon * s / sensitivity
        return norm.cdf(a - b) - math.exp(epsilon + norm.logcdf(-a - b))

    lo, hi = math.log(sensitivity / SIGMA_BRACKET), math.log(sensitivity * SIGMA_BRACKET)
    return math.exp(brentq(lambda ls: delta_of(ls) - delta, lo, hi, xtol=SIGMA_LOG_TOLERANCE))


@dataclass(frozen=True)
class Calibration:
    """The mechanism as configured for one workload (what the docs and the record state)."""

    mechanism: str
    lo: float
    hi: float
    dims: int
    sensitivity: float
    noise_scale: float  # Laplace b, Gaussian sigma, or 0 for randomized response
    keep_prob: float | None = None  # randomized response: probability a token is sent unchanged
    vocab_size: int | None = None


class DPInputPipeline(PlaintextPipeline):
    """The client adds local-DP noise to each input; the node runs the plaintext model on the noised input."""

    def __init__(
        self, epsilon: float = 1.0, mechanism: str = "auto", delta: float = 1e-5, clip: float = 3.0
    ) -> None:
        def bad(name: str, value: Any, accepted: str) -> ValueError:
            return ValueError(f"dp_input: {name}={value!r} is not accepted; {name} must be {accepted}")

        if not (epsilon > 0 and math.isfinite(epsilon)):
            raise bad("epsilon", epsilon, "a finite number > 0")
        if mechanism not in MECHANISMS:
            raise bad("mechanism", mechanism, f"one of {', '.join(MECHANISMS)}")
        if not 0.0 < delta < 1.0:
            raise bad("delta", delta, "in (0, 1)")
        if not clip > 0:
            raise bad("clip", clip, "> 0")
        self.epsilon, self.mechanism, self.delta, self.clip = epsilon, mechanism, delta, clip
        self._cal: Calibration | None = None
        self._model: torch.nn.Module | None = None
        self._gen: torch.Generator | None = None
        super().__init__()

    def _resolve(self, workload: Workload) -> str:
        tokens = workload.dataset.input_kind == "tokens"
        if self.mechanism == "auto":
            return "randomized_response" if tokens else "laplace"
        if tokens != (self.mechanism == "randomized_response"):
            kind = "token ids" if tokens else f"{workload.dataset.input_kind} inputs"
            accepted = "randomized_response" if tokens else "laplace or gaussian"
            raise Unsupported(f"dp_input mechanism {self.mechanism} does not apply to {kind}; use {accepted}")
        return self.mechanism

    def check(self, workload: Workload) -> None:
        self._resolve(workload)

    def calibrate(self, workload: Workload) -> Calibration:
        ds = workload.dataset
        mechanism = self._resolve(workload)
        dims = math.prod(ds.x_train.shape[1:])
        if mechanism == "randomized_response":
            k = int(ds.model_kwargs["vocab_size"])
            e = math.exp(self.epsilon / dims)
            return Calibration(mechanism, 0, k - 1, dims, sensitivity=1.0, noise_scale=0.0,
                               keep_prob=e / (e + k - 1), vocab_size=k)
        if ds.input_kind == "image":
            lo, hi = 0.0, float(ds.meta.get("data_range", 1.0))
        else:
            lo, hi = -self.clip, self.clip
        if mechanism == "laplace":
            sens = dims * (hi - lo)
            return Calibration(mechanism, lo, hi, dims, sens, noise_scale=sens / self.epsilon)
        sens = math.sqrt(dims) * (hi - lo)
        sigma = analytic_gaussian_sigma(self.epsilon, self.delta, sens)
        return Calibration(mechanism, lo, hi, dims, sens, noise_scale=sigma)

    def prepare(self, workload: Workload) -> None:
        self._cal = self.calibrate(workload)
        self._model = workload.copy_model()
        # The noise is the client's secret randomness: seeded from the OS CSPRNG, never the experiment seed.
        self._gen = torch.Generator().manual_seed(secrets.randbits(63))

    def privatize(self, x: torch.Tensor) -> torch.Tensor:
        """What the client sends: the input under the local-DP mechanism."""
        cal, gen = self._cal, self._gen
        if cal.mechanism == "randomized_response":
            keep = torch.rand(x.shape, generator=gen) < cal.keep_prob
            # a uniformly random token other than the true one: shift by 1..k-1 modulo k
            shift = torch.randint(1, cal.vocab_size, x.shape, generator=gen)
            return torch.where(keep, x, (x + shift) % cal.vocab_size)
        clipped = x.clamp(cal.lo, cal.hi)
        if cal.mechanism == "laplace":
            u = torch.rand(x.shape, generator=gen, dtype=x.dtype) - 0.5
            noise = -cal.noise_scale * torch.sign(u) * torch.log1p(-2 * u.abs())
        else:
            noise = cal.noise_scale * torch.randn(x.shape, generator=gen, dtype=x.dtype)
        return (clipped + noise).clamp(cal.lo, cal.hi)

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        return super().infer(self.privatize(x))

    def input_meta(self) -> dict[str, Any]:
        return {"local_dp": self._cal.mechanism, "epsilon": self.epsilon}

    def metrics(self) -> dict[str, Any]:
        cal = self._cal
        out: dict[str, Any] = {
            "dp_input_mechanism": cal.mechanism,
            "dp_input_epsilon": self.epsilon,
            "dp_input_clip_lo": cal.lo,
            "dp_input_clip_hi": cal.hi,
            "dp_input_dims": cal.dims,
            "dp_input_sensitivity": cal.sensitivity,
        }
        if cal.mechanism == "laplace":
            out["dp_input_noise_std"] = math.sqrt(2) * cal.noise_scale
        elif cal.mechanism == "gaussian":
            out["dp_input_delta"] = self.delta
            out["dp_input_noise_std"] = cal.noise_scale
        else:
            out["dp_input_keep_prob"] = cal.keep_prob
            out["dp_input_vocab_size"] = cal.vocab_size
        return out
