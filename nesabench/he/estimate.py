"""Latency estimates for models a pipeline cannot run: measured per-operation costs x operation counts.

The per-operation costs are measured on this machine when the estimate is made (a few seconds):
for CKKS with the pipeline's own parameters (ciphertext-plaintext multiply, rotation, ciphertext
multiply with relinearization); for TFHE one programmable bootstrapping at the pipeline's bit width.
The operation counts come from one forward pass (``opcount``). The polynomial and lookup-table
costs of the non-linear layers below are stated assumptions, and CKKS estimates exclude
bootstrapping (TenSEAL has none), so they are lower bounds.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import torch

from nesabench.he.ckks_params import CKKSParams
from nesabench.he.opcount import OpCounts, count_ops

# Ciphertext multiplications per row for polynomial approximations (CKKS): exp by a degree-8
# polynomial plus a reciprocal by 6 Goldschmidt iterations; inverse square root by 4 Newton steps;
# GELU / tanh / exp by a degree-7 polynomial (Paterson-Stockmeyer).
CKKS_SOFTMAX_CT_MULTS = 16
CKKS_NORM_CT_MULTS = 14
CKKS_ACTIVATION_CT_MULTS = 4
# Programmable bootstrappings per element (TFHE, Concrete ML): one to round each accumulator, one
# per univariate activation, two per encrypted product, three per softmax and four per norm element.
TFHE_PBS_PER_CIPHER_MAC = 2
TFHE_PBS_PER_SOFTMAX_ELEMENT = 3
TFHE_PBS_PER_NORM_ELEMENT = 4
_REPEATS = 5


def _median_time(fn, repeats: int = _REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


@functools.lru_cache(maxsize=4)
def ckks_op_costs(params: CKKSParams) -> dict[str, float]:
    """Seconds per ciphertext-plaintext multiply, rotation (+add) and ciphertext multiply + relin."""
    import tenseal as ts

    ctx = ts.context(ts.SCHEME_TYPE.CKKS, params.poly_modulus_degree,
                     coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes))
    ctx.global_scale = params.global_scale
    ctx.generate_galois_keys()
    ctx.generate_relin_keys()
    values = np.random.default_rng(0).normal(size=params.slots).tolist()  # data, not key material
    a, b = ts.ckks_vector(ctx, values), ts.ckks_vector(ctx, values)
    rotations = int(math.log2(params.slots))
    return {
        "op_ckks_pt_mult_s": _median_time(lambda: a * values),
        "op_ckks_rotation_s": _median_time(a.sum) / rotations,
        "op_ckks_ct_mult_relin_s": _median_time(lambda: a * b),
    }


def ckks_estimate(model: torch.nn.Module, sample: torch.Tensor, params: CKKSParams) -> dict[str, float]:
    """Extrapolated per-sample latency of the model under CKKS (lower bound: no bootstrapping)."""
    c = count_ops(model, sample)
    cost = ckks_op_costs(params)
    pt, rot, ct = cost["op_ckks_pt_mult_s"], cost["op_ckks_rotation_s"], cost["op_ckks_ct_mult_relin_s"]
    ct_mults = (c.cipher_products + CKKS_SOFTMAX_CT_MULTS * c.softmax_rows
                + CKKS_NORM_CT_MULTS * c.norm_rows + CKKS_ACTIVATION_CT_MULTS * c.activation_rows)
    rotations = (c.plain_matmul_inputs + c.cipher_dot_len_log2
                 + _log2_rows(c.softmax_rows, c.softmax_elements)
                 + 2 * _log2_rows(c.norm_rows, c.norm_elements))
    pt_mults = c.plain_matmul_inputs
    latency = pt_mults * pt + rotations * rot + ct_mults * ct
    return {
        "latency_p50_s": latency,
        "estimate_method": "measured CKKS op costs x op counts, no bootstrapping (lower bound)",
        "est_pt_mults": pt_mults,
        "est_rotations": rotations,
        "est_ct_mults": ct_mults,
        **cost,
        **_counts(c),
    }


def _log2_rows(rows: int, elements: int) -> float:
    return rows * math.log2(max(elements // max(rows, 1), 2)) if rows else 0.0


def _counts(c: OpCounts) -> dict[str, float]:
    return {f"count_{k}": float(v) for k, v in vars(c).items()}


@functools.lru_cache(maxsize=4)
def tfhe_pbs_cost(bits: int, width: int = 16) -> dict[str, float]:
    """Seconds per programmable bootstrapping at ``bits`` bits (a table lookup on ``width`` values)."""
    from concrete import fhe

    table = fhe.LookupTable([(v * v) % (1 << bits) for v in range(1 << bits)])

    @fhe.compiler({"x": "encrypted"})
    def lookup(x):
        return table[x]

    inputset = [np.arange(width) % (1 << bits), np.full(width, (1 << bits) - 1)]
    circuit = lookup.compile(inputset)
    t0 = time.perf_counter()
    circuit.keygen()
    keygen_s = time.perf_counter() - t0
    enc = circuit.encrypt(np.arange(width) % (1 << bits))
    run_s = _median_time(lambda: circuit.run(enc), repeats=3)
    pbs = max(int(circuit.programmable_bootstrap_count), 1)
    return {"op_tfhe_pbs_s": run_s / pbs, "op_tfhe_pbs_bits": float(bits), "op_tfhe_keygen_s": keygen_s}


def tfhe_estimate(model: torch.nn.Module, sample: torch.Tensor, bits: int) -> dict[str, float]:
    """Extrapolated per-sample latency of the model under TFHE from its bootstrapping count."""
    c = count_ops(model, sample)
    cost = tfhe_pbs_cost(bits)
    pbs = (c.plain_outputs + c.cipher_products + TFHE_PBS_PER_CIPHER_MAC * c.cipher_macs
           + c.activation_elements + TFHE_PBS_PER_SOFTMAX_ELEMENT * c.softmax_elements
           + TFHE_PBS_PER_NORM_ELEMENT * c.norm_elements)
    return {
        "latency_p50_s": pbs * cost["op_tfhe_pbs_s"],
        "estimate_method": "measured TFHE PBS cost x bootstrapping count (single thread of this machine)",
        "est_pbs": float(pbs),
        **cost,
        **_counts(c),
    }
