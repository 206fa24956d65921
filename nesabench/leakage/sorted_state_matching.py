"""Candidate-token matching on sorted hidden states (arXiv 2505.18332), for fresh permutations.

A per-query permutation of the hidden dimension leaves each position's multiset of values intact,
so sorting removes the key. The attacker runs candidate tokens through the PUBLIC model, position by
position, and keeps the candidate whose sorted hidden state is nearest the observed sorted state.
Encoders attend both ways (the paper targets causal decoders), so after a first position-wise sweep
the candidate at a position is scored by the distance summed over ALL positions' sorted states,
and positions are swept again with the current guesses as context (coordinate descent; at the
embedding layer one sweep is exact). Leakage = token recovery rate above the best constant
guess per position, normalized.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

StatesFn = Callable[[torch.Tensor], torch.Tensor]


def sorted_states(h: torch.Tensor) -> torch.Tensor:
    return torch.sort(h, dim=-1).values


@torch.no_grad()
def recover_tokens(
    observed: torch.Tensor,
    states: StatesFn,
    candidates: torch.Tensor,
    known: torch.Tensor | None = None,
    sweeps: int = 2,
) -> torch.Tensor:
    """Guess the token ids of one query from its permuted hidden states ``observed`` (T, d).

    ``states(ids)`` maps a (B, T) id batch to the public model's (B, T, d) states at the attacked
    layer; ``candidates`` are the token ids tried at each position, most likely first (the first
    one fills the context before it is guessed); ``known`` (T,) holds the ids the attacker already
    knows (padding, special tokens) and -1 where it must guess. The first sweep scores a candidate
    by its own position's state, later sweeps by all positions (attention mixes them).
    """
    t = observed.shape[0]
    target = sorted_states(observed.float())
    guess = torch.full((t,), int(candidates[0]), dtype=torch.long) if known is None else known.clone()
    free = list(range(t)) if known is None else [i for i in range(t) if known[i] < 0]
    guess[guess < 0] = int(candidates[0])
    for sweep in range(sweeps):
        for pos in free:
            batch = guess.repeat(len(candidates), 1)
            batch[:, pos] = candidates
            h = sorted_states(states(batch).float())  # (K, T, d)
            dist = (h - target[None]).square().sum(-1).sqrt()  # (K, T)
            cost = dist[:, pos] if sweep == 0 else dist.sum(-1)
            guess[pos] = candidates[cost.argmin()]
    return guess


def token_recovery(guesses: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Fraction of positions in ``mask`` whose token was recovered."""
    return float((guesses == truth)[mask].mean()) if mask.any() else 0.0
