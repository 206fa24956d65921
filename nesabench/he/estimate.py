"""Latency estimates for models a pipeline cannot run: measured per-operation costs x operation counts.

The per-operation costs are measured on this machine when the estimate is made: for CKKS with
parameters deep enough for the non-linear layer being priced (ciphertext-plaintext multiply,
rotation, ciphertext multiply with relinearization); for TFHE one "neuron" as Concrete ML compiles
it (an accumulator rounded to ``rounding_threshold_bits``, then a table lookup), whose programmable
bootstrappings are Concrete's own count. The operation counts come from one forward pass
(``opcount``). The polynomial costs of the non-linear layers below are stated assumptions, and CKKS
estimates exclude bootstrapping (TenSEAL has none): a lower bound (``estimate_kind``), printed "≥";
TFHE estimates are extrapolations, printed "~". docs/estimates.md checks both against measured cells.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import torch

from nesabench.he.ckks_params import MAX_COEFF_BITS_128, CKKSParams
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
# Multiplicative depth of one non-linear block (the levels the parameters must hold between two
# bootstrappings): softmax = exp (3) + 6 Goldschmidt steps (2 each); norm = 4 Newton steps (3
# each); activation = a degree-7 polynomial (3).
CKKS_SOFTMAX_DEPTH = 15
CKKS_NORM_DEPTH = 12
CKKS_ACTIVATION_DEPTH = 3
CKKS_SCALE_BITS = 40
CKKS_EDGE_BITS = 60


def ckks_block_depth(c: OpCounts) -> int:
    """Levels the deepest non-linear block of the model needs."""
    if c.softmax_rows:
        return CKKS_SOFTMAX_DEPTH
    if c.norm_rows:
        return CKKS_NORM_DEPTH
    return CKKS_ACTIVATION_DEPTH if c.activation_rows else 1


def ckks_params_for_depth(depth: int) -> CKKSParams:
    """Smallest secure ring holding ``depth`` rescaling primes (the largest ring when none does)."""
    sizes = (CKKS_EDGE_BITS, *[CKKS_SCALE_BITS] * depth, CKKS_EDGE_BITS)
    for n, bound in sorted(MAX_COEFF_BITS_128.items()):
        if sum(sizes) <= bound:
            return CKKSParams(n, sizes, 2.0**CKKS_SCALE_BITS)
    n, bound = max(MAX_COEFF_BITS_128.items())
    levels = (bound - 2 * CKKS_EDGE_BITS) // CKKS_SCALE_BITS
    return CKKSParams(n, (CKKS_EDGE_BITS, *[CKKS_SCALE_BITS] * levels, CKKS_EDGE_BITS), 2.0**CKKS_SCALE_BITS)


def scale_op_costs(cost: dict[str, float], measured: CKKSParams, target: CKKSParams) -> dict[str, float]:
    """Op costs at ``target`` from costs measured at ``measured`` (stated model, no key material).

    NTT-domain products scale with N log N times the number of primes; key switching (rotations,
    relinearization) with N log N times the primes squared. Measuring at N = 32768 directly would
    need gigabytes of rotation keys.
    """
    n0, n1 = measured.poly_modulus_degree, target.poly_modulus_degree
    ring = (n1 * math.log2(n1)) / (n0 * math.log2(n0))
    primes = len(target.coeff_mod_bit_sizes) / len(measured.coeff_mod_bit_sizes)
    return {
        "op_ckks_pt_mult_s": cost["op_ckks_pt_mult_s"] * ring * primes,
        "op_ckks_rotation_s": cost["op_ckks_rotation_s"] * ring * primes**2,
        "op_ckks_ct_mult_relin_s": cost["op_ckks_ct_mult_relin_s"] * ring * primes**2,
    }


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
    """Per-sample latency of the model under CKKS, unpacked (lower bound: no bootstrapping).

    Priced with ``params`` when they hold the model's deepest non-linear block (they can run it);
    otherwise with the smallest secure parameters that do, op costs scaled from ``params``.
    """
    c = count_ops(model, sample)
    depth = ckks_block_depth(c)
    priced = params if params.levels >= depth else ckks_params_for_depth(depth)
    cost = ckks_op_costs(params)
    if priced is not params:
        cost = {**cost, **scale_op_costs(cost, params, priced)}
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
        "estimate_kind": "lower_bound",
        "estimate_method": (f"CKKS op costs measured at N={params.poly_modulus_degree}"
                            + ("" if priced is params else f", scaled to N={priced.poly_modulus_degree} "
                               f"with {priced.levels} levels (deepest block: {depth})")
                            + " x op counts; no bootstrapping, so a lower bound"),
        "est_ckks_poly_modulus_degree": priced.poly_modulus_degree,
        "est_ckks_levels": priced.levels,
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


#: Accumulator width Concrete ML's calibration reaches at ``n_bits`` (stated model: 2 n_bits + 2; the
#: compiled mlp_cancer and cnn_digits circuits at n_bits 6 round 14-bit accumulators).
TFHE_ACC_EXTRA_BITS = 2
#: Table lookups per element of a softmax, a norm, and per encrypted x encrypted multiply-accumulate.
TFHE_TLU_PER_SOFTMAX_ELEMENT = 3
TFHE_TLU_PER_NORM_ELEMENT = 4
TFHE_TLU_PER_CIPHER_MAC = 2
TFHE_NEURON_WIDTH = 8


def tfhe_accumulator_bits(n_bits: int) -> int:
    return 2 * n_bits + TFHE_ACC_EXTRA_BITS


@functools.lru_cache(maxsize=4)
def tfhe_neuron_cost(n_bits: int, rounding_bits: int | None,
                     width: int = TFHE_NEURON_WIDTH) -> dict[str, float]:
    """Seconds and bootstrappings per neuron: an accumulator rounded to ``rounding_bits``, then a lookup.

    The same structure Concrete ML compiles for a linear layer followed by an activation; Concrete
    picks the parameters (cheap ones for the rounding bits, larger ones for the lookup).
    """
    from concrete import fhe

    acc = tfhe_accumulator_bits(n_bits)
    remove = max(acc - rounding_bits, 0) if rounding_bits is not None else 0
    half = 1 << (acc - 1)

    @fhe.compiler({"x": "encrypted"})
    def neuron(x):
        r = fhe.round_bit_pattern(x, lsbs_to_remove=remove) if remove else x
        return fhe.univariate(lambda v: np.maximum(v - half, 0))(r)

    rng = np.random.default_rng(0)  # data, not key material
    inputset = [rng.integers(0, 1 << acc, width) for _ in range(8)]
    inputset += [np.zeros(width, dtype=np.int64), np.full(width, (1 << acc) - 1)]
    circuit = neuron.compile(inputset)
    t0 = time.perf_counter()
    circuit.keygen()
    keygen_s = time.perf_counter() - t0
    enc = circuit.encrypt(rng.integers(0, 1 << acc, width))
    run_s = _median_time(lambda: circuit.run(enc), repeats=3)
    pbs = int(circuit.programmable_bootstrap_count)
    return {"op_tfhe_neuron_s": run_s / width, "op_tfhe_pbs_per_neuron": pbs / width,
            "op_tfhe_pbs_s": run_s / max(pbs, 1), "op_tfhe_accumulator_bits": float(acc),
            "op_tfhe_keygen_s": keygen_s}


def tfhe_lookups(c: OpCounts) -> int:
    """Table lookups (each after a rounded accumulator) the model needs per sample."""
    return int(c.activation_elements + TFHE_TLU_PER_SOFTMAX_ELEMENT * c.softmax_elements
               + TFHE_TLU_PER_NORM_ELEMENT * c.norm_elements + TFHE_TLU_PER_CIPHER_MAC * c.cipher_macs)


def tfhe_pbs_model(c: OpCounts, n_bits: int, rounding_bits: int | None) -> int:
    """Bootstrappings by the stated model: per lookup, one plus one per rounded-away accumulator bit."""
    acc = tfhe_accumulator_bits(n_bits)
    rounded = max(acc - rounding_bits, 0) if rounding_bits is not None else 0
    return tfhe_lookups(c) * (1 + rounded)


def tfhe_estimate(model: torch.nn.Module, sample: torch.Tensor, n_bits: int,
                  rounding_bits: int | None = 6) -> dict[str, float | str]:
    """Extrapolated per-sample latency under TFHE: lookups x the measured cost of one neuron."""
    c = count_ops(model, sample)
    cost = tfhe_neuron_cost(n_bits, rounding_bits)
    return {
        "latency_p50_s": tfhe_lookups(c) * cost["op_tfhe_neuron_s"],
        "estimate_kind": "extrapolation",
        "estimate_method": ("table lookups from the op counts x the measured seconds of one Concrete "
                            "neuron (rounded accumulator + lookup) on this machine"),
        "est_lookups": float(tfhe_lookups(c)),
        "est_pbs": float(tfhe_pbs_model(c, n_bits, rounding_bits)),
        **cost,
        **_counts(c),
    }
