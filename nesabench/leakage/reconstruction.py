"""Reconstruction probe: learn view -> input on attacker pairs, score on held-out inputs.

Images and tables: RidgeCV and a small MLP regress the input; leakage = max(0, R^2) (variance
weighted, on held-out inputs) when the bootstrap interval's lower end is above 0; the interval's
half-width is the smallest R^2 the probe could have told from 0 at this n (its power). Token
inputs: a ridge classifier predicts the token at every position; leakage = token-recovery rate
above the best position-wise constant guess, normalized, tested with sequences as the trials.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import RidgeCV
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from nesabench.leakage.result import AttackResult, bootstrap_ci
from nesabench.leakage.significance import sequence_outcome

Fold = tuple[np.ndarray, np.ndarray]
ALPHAS = np.logspace(-3, 4, 8)
#: Token classes kept for the token probe (most frequent in attacker data; the rest count as misses).
TOKEN_VOCAB = 512
#: The MLP only runs on views this narrow (it is the slow part).
MLP_MAX_FEATURES = 1024


def _ridge(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray) -> np.ndarray:
    scaler = StandardScaler().fit(x_tr)
    model = RidgeCV(alphas=ALPHAS).fit(scaler.transform(x_tr), y_tr)
    return model.predict(scaler.transform(x_te))


def _mlp(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, seed: int) -> np.ndarray:
    scaler = StandardScaler().fit(x_tr)
    model = MLPRegressor(hidden_layer_sizes=(128,), max_iter=300, random_state=seed, alpha=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(scaler.transform(x_tr), y_tr)
    return model.predict(scaler.transform(x_te)).reshape(len(x_te), -1)


def out_of_fold(predict, x: np.ndarray, y: np.ndarray,
                folds: Sequence[Fold]) -> tuple[np.ndarray, np.ndarray]:
    """Predictions for every test index of every fold (the attacker never trains on them)."""
    idx = np.concatenate([te for _, te in folds])
    pred = np.concatenate([predict(x[tr], y[tr], x[te]) for tr, te in folds])
    return idx, pred


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    sst = ((y - y.mean(0)) ** 2).sum()
    return float(1.0 - ((y - pred) ** 2).sum() / sst) if sst > 0 else float("nan")


def _cosine(y: np.ndarray, pred: np.ndarray) -> float:
    num = (y * pred).sum(1)
    den = np.linalg.norm(y, axis=1) * np.linalg.norm(pred, axis=1)
    return float(np.mean(num / np.maximum(den, 1e-12)))


def _image_quality(y: np.ndarray, pred: np.ndarray, shape: tuple[int, ...], data_range: float) -> dict:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    psnr, ssim = [], []
    for a, b in zip(y, pred, strict=True):
        a_img = a.reshape(shape[-2:]) if int(np.prod(shape[:-2])) == 1 else a.reshape(shape)
        b_img = np.clip(b, 0, data_range).reshape(a_img.shape)
        psnr.append(peak_signal_noise_ratio(a_img, b_img, data_range=data_range))
        ssim.append(structural_similarity(a_img, b_img, data_range=data_range,
                                          channel_axis=0 if a_img.ndim == 3 else None, win_size=3))
    return {"psnr": float(np.mean(np.minimum(psnr, 100.0))), "ssim": float(np.mean(ssim))}


def reconstruction_probe(
    x: np.ndarray,
    inputs: np.ndarray,
    folds: Sequence[Fold],
    image_shape: tuple[int, ...] | None = None,
    data_range: float = 1.0,
    seed: int = 0,
    name: str = "reconstruction",
) -> list[AttackResult]:
    """Ridge (and MLP on narrow views) from view features ``x`` to flattened ``inputs``."""
    y = inputs.reshape(len(inputs), -1).astype(np.float64)
    n_train = len(folds[0][0])
    regressors = {"ridge": _ridge}
    if x.shape[1] <= MLP_MAX_FEATURES:
        regressors["mlp"] = lambda a, b, c: _mlp(a, b, c, seed)
    rng = np.random.default_rng(seed)
    out = []
    for reg_name, fn in regressors.items():
        idx, pred = out_of_fold(fn, x, y, folds)
        yt = y[idx]
        r2 = r2_score(yt, pred)
        lo, hi = bootstrap_ci(lambda s, yt=yt, pred=pred: r2_score(yt[s], pred[s]), len(yt), rng)
        metrics = {"r2": r2, "cosine": _cosine(yt, pred)}
        if image_shape is not None:
            metrics.update(_image_quality(yt, pred, image_shape, data_range))
        # Leakage is R^2 only where even the bootstrap's lower end beats predicting the mean.
        leak = r2 if lo > 0 else 0.0
        half = (hi - lo) / 2 if np.isfinite(hi - lo) else np.inf
        out.append(AttackResult(f"{name}_{reg_name}", leak, n_train=n_train, n_test=len(idx),
                                ci_low=lo, ci_high=hi, metrics=metrics, min_detectable=float(half)))
    return out


#: Largest one-hot expansion of an integer view (cells). Token-id views stay far below it; a view
#: of ring elements (secret shares: nearly every value distinct) would need terabytes, and its
#: values carry no categorical meaning, so it is probed as numbers instead.
MAX_ONEHOT_CELLS = 50_000_000


def _onehot_fits(shape: tuple[int, ...], values: np.ndarray) -> bool:
    """Whether integer rows of ``shape`` one-hot over ``values`` stay within MAX_ONEHOT_CELLS."""
    return shape[0] * shape[1] * max(len(values), 1) <= MAX_ONEHOT_CELLS


def _onehot_int(rows: np.ndarray, vocab: np.ndarray) -> np.ndarray:
    """Integer-valued view rows (token ids) as one-hot over ``vocab`` per element."""
    lookup = {int(v): i for i, v in enumerate(vocab)}
    out = np.zeros((rows.shape[0], rows.shape[1] * len(vocab)))
    for j in range(rows.shape[1]):
        cols = np.array([lookup.get(int(v), -1) for v in rows[:, j]])
        ok = cols >= 0
        out[np.nonzero(ok)[0], j * len(vocab) + cols[ok]] = 1.0
    return out


def token_probe(
    samples: Sequence[np.ndarray],
    ids: np.ndarray,
    folds: Sequence[Fold],
    pad_id: int = 0,
    name: str = "token_recovery",
) -> AttackResult:
    """Predict the token at each position from the view; position-aligned when the view is.

    A view whose samples have one row per token (hidden states ``(T, d)``) is probed row by row;
    any other view is probed as one vector predicting all positions at once.
    """
    arr = [np.asarray(s) for s in samples]
    n, t = ids.shape
    aligned = all(a.ndim >= 2 and a.shape[0] == t for a in arr)
    integer = all(np.issubdtype(a.dtype, np.integer) for a in arr)
    train_idx = np.unique(np.concatenate([tr for tr, _ in folds]))
    counts = np.bincount(ids[train_idx][ids[train_idx] != pad_id].ravel())
    vocab = np.argsort(counts)[::-1][: min(TOKEN_VOCAB, int((counts > 0).sum()))]
    cls = {int(v): i for i, v in enumerate(vocab)}
    target = np.vectorize(lambda v: cls.get(int(v), len(vocab)))(ids)  # len(vocab) = other

    if aligned:
        feats = np.stack([a.reshape(t, -1) for a in arr]).astype(np.float64)  # (n, t, d)
        if integer:
            flat = feats.reshape(n * t, -1)
            values = np.unique(flat[np.isin(np.arange(n * t) // t, train_idx)])
            if _onehot_fits(flat.shape, values):
                feats = _onehot_int(flat, values).reshape(n, t, -1)
    else:
        feats = np.stack([a.ravel() for a in arr]).astype(np.float64)
        if integer:
            values = np.unique(feats[train_idx])
            if _onehot_fits(feats.shape, values):
                feats = _onehot_int(feats, values)

    seq_hits, seq_chance, positions = [], [], 0  # per evaluated sequence
    n_train = len(folds[0][0])
    for tr, te in folds:
        mask_tr, mask_te = ids[tr] != pad_id, ids[te] != pad_id
        const = np.array([np.bincount(target[tr][:, j], minlength=len(vocab) + 1).argmax() for j in range(t)])
        if aligned:
            xtr, ytr = feats[tr][mask_tr], target[tr][mask_tr]
            onehot = np.eye(len(vocab) + 1)[ytr]
            scaler = StandardScaler().fit(xtr)
            model = RidgeCV(alphas=ALPHAS).fit(scaler.transform(xtr), onehot)
            pred = np.full(target[te].shape, -1)
            pred[mask_te] = model.predict(scaler.transform(feats[te][mask_te])).argmax(1)
        else:
            onehot = np.eye(len(vocab) + 1)[target[tr]].reshape(len(tr), -1)
            scaler = StandardScaler().fit(feats[tr])
            model = RidgeCV(alphas=ALPHAS).fit(scaler.transform(feats[tr]), onehot)
            pred = model.predict(scaler.transform(feats[te])).reshape(len(te), t, -1).argmax(2)
        hit = (pred == target[te]) & (target[te] < len(vocab))
        const_hit = (const[None, :] == target[te]) & (target[te] < len(vocab))
        for row, keep in enumerate(mask_te):
            if keep.any():
                seq_hits.append(float(hit[row][keep].mean()))
                seq_chance.append(float(const_hit[row][keep].mean()))
                positions += int(keep.sum())
    test = sequence_outcome(seq_hits, seq_chance)
    return AttackResult(name, test.leakage, n_train=n_train, n_test=len(seq_hits), ci_low=test.ci_low,
                        ci_high=test.ci_high, min_detectable=test.min_detectable,
                        metrics={"token_recovery": test.rate, "chance": test.chance, "p_value": test.p_value,
                                 "aligned": aligned, "sequences": len(seq_hits), "positions": positions})
