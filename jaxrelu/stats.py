"""Mergeable statistics over seeds.

A chunk of trajectories is reduced on the device to :class:`Moments` (count,
mean, M2 = Σ(x − mean)², min, max) and histogram counts; chunks are merged
exactly on the host with the pairwise update of Chan, Golub & LeVeque (1979):

    n = n_a + n_b,  δ = mean_b − mean_a,
    mean = mean_a + δ n_b / n,   M2 = M2_a + M2_b + δ² n_a n_b / n,

so the result does not depend on how seeds were split (up to float rounding).
Only entries with ``mask`` true (alive, real seeds) count: a diverged
trajectory never enters a mean.  ``std`` is the sample standard deviation
(ddof = 1) and ``sem = std / √count``; both are ``nan`` when count < 2.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np


class Moments(NamedTuple):
    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    min: np.ndarray
    max: np.ndarray


def moments(x, mask, axis=0) -> Moments:
    """Masked moments of x along ``axis`` (two-pass, on device). x, mask same shape."""
    w = mask.astype(x.dtype)
    xs = jnp.where(mask, x, 0.0)
    n = jnp.sum(w, axis=axis)
    mean = jnp.sum(xs, axis=axis) / jnp.maximum(n, 1)
    dev = jnp.where(mask, x - jnp.expand_dims(mean, axis), 0.0)
    m2 = jnp.sum(dev * dev, axis=axis)
    lo = jnp.min(jnp.where(mask, x, jnp.inf), axis=axis)
    hi = jnp.max(jnp.where(mask, x, -jnp.inf), axis=axis)
    return Moments(n, mean, m2, lo, hi)


def merge(a: Moments | None, b: Moments) -> Moments:
    """Exact pairwise merge of two :class:`Moments` (host, float64).

    Where one side is empty (count 0) the other is returned unchanged, bit for bit.
    """
    b = Moments(*(np.asarray(v, np.float64) for v in b))
    if a is None:
        return b
    n = a.count + b.count
    safe = np.where(n > 0, n, 1)
    delta = b.mean - a.mean
    mean = a.mean + delta * b.count / safe
    m2 = a.m2 + b.m2 + delta**2 * a.count * b.count / safe
    pick = lambda x, y, z: np.where(a.count == 0, y, np.where(b.count == 0, x, z))  # noqa: E731
    return Moments(
        n, pick(a.mean, b.mean, mean), pick(a.m2, b.m2, m2), np.minimum(a.min, b.min), np.maximum(a.max, b.max)
    )


def finalize(m: Moments) -> dict[str, np.ndarray]:
    """count, mean, std (ddof 1), sem, min, max; nan where undefined."""
    n = m.count
    with np.errstate(invalid="ignore", divide="ignore"):
        std = np.where(n > 1, np.sqrt(m.m2 / np.maximum(n - 1, 1)), np.nan)
        sem = np.where(n > 1, std / np.sqrt(np.maximum(n, 1)), np.nan)
    empty = n == 0
    return {
        "count": n,
        "mean": np.where(empty, np.nan, m.mean),
        "std": std,
        "sem": sem,
        "min": np.where(empty, np.nan, m.min),
        "max": np.where(empty, np.nan, m.max),
    }


def histogram_edges(lo: float, hi: float, bins: int, log: bool) -> np.ndarray:
    """Fixed bin edges (bins + 1,); values outside [lo, hi] are clipped into the end bins."""
    return np.geomspace(lo, hi, bins + 1) if log else np.linspace(lo, hi, bins + 1)


def histogram(x, mask, edges, axis=0):
    """Masked counts of x along ``axis`` -> shape of x without axis, + (bins + 2,): the underflow
    (x < edges[0]), the bins [e_i, e_{i+1}) (the last one closed, as ``numpy.histogram``), then the
    overflow (x > edges[-1])."""
    edges = jnp.asarray(edges, x.dtype)
    bins = edges.shape[0] - 1
    idx = jnp.searchsorted(edges, x, side="right")  # 0: under, i + 1: bin i, bins + 1: over
    idx = jnp.where(x == edges[-1], bins, idx)
    onehot = (idx[..., None] == jnp.arange(bins + 2)) & mask[..., None]
    return jnp.sum(onehot.astype(jnp.int32), axis=axis)


def quantiles(values: np.ndarray, levels, axis: int) -> np.ndarray:
    """Exact quantiles (numpy's linear interpolation) ignoring nan (diverged); levels last."""
    levels = np.asarray(levels, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nan slices give nan
        q = np.nanquantile(values, levels, axis=axis)
    return np.moveaxis(q, 0, -1)
