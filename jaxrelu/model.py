"""The two-layer network, as pure functions on a parameter pytree.

    f(x) = c · Σ_j a_j σ(w_j·x + b_j),     params = {"W": (m, d), "a": (m,)[, "b": (m,)]}

with σ a registered activation (:mod:`jaxrelu.activations`) and the output scale c set by the
parametrisation: ``standard`` c = 1, ``ntk`` c = 1/√m, ``mean_field`` c = 1/m.
The learning rate is *not* rescaled with the parametrisation (see
:mod:`jaxrelu.conventions`).

Initialisation (``init_scale`` = s, ``second_layer_scale`` = s₂):
  * ``gaussian`` first layer: W_jk, b_j ~ N(0, s²/d), so E‖w_j‖² = s²;
  * ``orthonormal`` first layer: rows of a Haar-random orthonormal frame times s
    (needs m ≤ d; used for teachers with s = 1);
  * prescribed overlap m0 (``model.init_overlap``) with a direction u: w_j = s (m0 u +
    √(1 − m0²) v_j), v_j ⊥ u uniform (m0 = 0: exactly on the equator);
  * second layer: a number (every a_j equal to it), ``gaussian`` a_j ~ N(0, s₂²),
    or ``balanced`` |a_j| = ‖(w_j, b_j)‖ with a uniformly random sign.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxrelu import activations, rng


def output_scale(parametrization: str, width: int) -> float:
    """c of f(x) = c Σ a_j σ(·): 1, 1/√m or 1/m."""
    return {"standard": 1.0, "ntk": 1 / math.sqrt(width), "mean_field": 1 / width}[parametrization]


def apply(params: dict, x: jax.Array, c: float, activation="relu") -> jax.Array:
    """Network output. x (..., d) -> (...,); ``activation`` a registered name or entry."""
    z = x @ params["W"].T
    if "b" in params:
        z = z + params["b"]
    return c * (activations.get(activation).fn(z) @ params["a"])


def preactivations(params: dict, x: jax.Array) -> jax.Array:
    """w_j·x + b_j. x (..., d) -> (..., m)."""
    z = x @ params["W"].T
    return z + params["b"] if "b" in params else z


def orthonormal_rows(key: jax.Array, m: int, d: int, dtype=jnp.float32) -> jax.Array:
    """m Haar-random orthonormal rows in R^d (m ≤ d), shape (m, d)."""
    g = rng.normal(key, (d, m), dtype)
    q, r = jnp.linalg.qr(g)
    q = q * jnp.sign(jnp.diagonal(r))  # Haar measure (fix QR's sign convention)
    return q.T


def overlap_rows(g: jax.Array, u: jax.Array, m0, scale) -> jax.Array:
    """Rows at cosine exactly m0 with the direction u: w_j = s (m0 û + √(1 − m0²) v_j), v_j the unit
    part of g_j orthogonal to û = u/‖u‖.  g (m, d) Gaussian rows (so v_j is uniform on the
    sphere of û^⊥), u (d,); m0 ∈ [−1, 1] and s may be traced.  ‖w_j‖ = s.  -> (m, d)."""
    u = u / jnp.linalg.norm(u)
    perp = g - (g @ u)[:, None] * u[None, :]
    v = perp / jnp.linalg.norm(perp, axis=1, keepdims=True)
    return scale * (m0 * u[None, :] + jnp.sqrt(jnp.maximum(1 - m0 * m0, 0)) * v)


def init(
    key: jax.Array,
    *,
    width: int,
    input_dim: int,
    bias: bool,
    first_layer: str,
    second_layer: float | str,
    init_scale,
    second_layer_scale,
    dtype=jnp.float32,
    overlap=None,
    direction=None,
) -> dict:
    """Draw parameters. ``init_scale`` and ``second_layer_scale`` may be traced scalars.

    The standard-normal draws depend only on ``key`` (not on the scales), so a
    seed shares its initial directions across a sweep of scales.  ``overlap`` = m0 with
    ``direction`` u (d,): every first-layer row at cosine exactly m0 with u and norm
    ``init_scale`` (:func:`overlap_rows`, from the same Gaussian draw as the plain init;
    ``model.init_overlap``); None: the plain initialisation, bit for bit.
    """
    kw, kb, ka, ks = rng.split(key, 4)
    d, m = input_dim, width
    if overlap is not None:
        W = overlap_rows(rng.normal(kw, (m, d), dtype), direction.astype(dtype), overlap, init_scale)
    elif first_layer == "orthonormal":
        W = init_scale * orthonormal_rows(kw, m, d, dtype)
    else:
        W = init_scale * rng.normal(kw, (m, d), dtype) / math.sqrt(d)
    params = {"W": W}
    if bias:
        params["b"] = init_scale * rng.normal(kb, (m,), dtype) / math.sqrt(d)
    if second_layer == "gaussian":
        a = second_layer_scale * rng.normal(ka, (m,), dtype)
    elif second_layer == "balanced":
        norm2 = jnp.sum(W * W, axis=1) + (params["b"] ** 2 if bias else 0.0)
        sign = jnp.where(jax.random.bernoulli(ks, 0.5, (m,)), 1.0, -1.0).astype(dtype)
        a = sign * jnp.sqrt(norm2)
    else:
        a = jnp.full((m,), float(second_layer), dtype)
    params["a"] = a
    return params
