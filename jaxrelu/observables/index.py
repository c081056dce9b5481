"""Observables of index, parity and staircase targets (registered on import; :mod:`jaxrelu.observables`).

They read the task's teacher directions u_1 … u_K (``TaskData.directions`` (K, d), unit rows: the
rows of W* of :mod:`jaxrelu.tasks.index`, a classification task's directions), so they require a
task that provides ``"direction"``.  With w_j the student's first-layer rows (biases excluded)
and P the orthogonal projection on span{u_1 … u_K}:

``max_abs_cos(k)``       max_j |cos(w_j, u_k)| for direction k = 1 … K: a parametric name (a
                         registry family), e.g. ``"max_abs_cos(1)"``, ``"max_abs_cos(3)"``; k > K is
                         refused when the program is traced.  About √(2 log m / d) at a random start,
                         1 once some neuron has found u_k.  The sign is dropped: an even target
                         (He2, a parity of even order) is learnt by ±u_k alike.
``min_max_abs_cos``      min over k of ``max_abs_cos(k)``: 1 when every direction has been found.
``support_weight(j)``    ‖P w_j‖² / ‖w_j‖² of neuron j = 1 … m: the fraction of its squared norm in
                         span W*.  With coordinate directions (a parity or staircase on the
                         hypercube, S the support) it is Σ_{i∈S} w_ji² / ‖w_j‖², the neuron's weight
                         on the support.  K/d in expectation at a random (rotation-invariant) start.
``max_support_weight``   max_j of ``support_weight(j)``; ``mean_support_weight`` the mean over j.

Escape times are first passages of these: ``record.first_passage = [{observable =
"max_abs_cos(1)", above = 0.5}]`` gives per-seed escape times, censored at the last step
(``fpt.max_abs_cos(1).steps``, ``inf`` when not escaped; :func:`jaxrelu.analysis.kaplan_meier`).
A zero row (w_j = 0) has cosine and support weight 0.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxrelu.config import ConfigError
from jaxrelu.observables import Observable, register
from jaxrelu.registry import OBSERVABLES

_TINY = 1e-30


def abs_cosines(params, data):
    """|cos(w_j, u_k)| (m, K) of the student's rows w_j (m, d) and the task's directions u_k (K, d)."""
    W, U = params["W"], data.directions
    num = jnp.abs(W @ U.T)
    return num / (jnp.linalg.norm(W, axis=1)[:, None] * jnp.linalg.norm(U, axis=1)[None, :] + _TINY)


def support_weights(params, data):
    """‖P w_j‖² / ‖w_j‖² (m,) with P the projection on the span of the directions (K, d)."""
    W, U = params["W"], data.directions
    q, _ = jnp.linalg.qr(U.T)  # (d, K) orthonormal basis of span U
    proj = jnp.sum((W @ q) ** 2, axis=1)
    return proj / (jnp.sum(W * W, axis=1) + _TINY)


def _index(i: float, what: str) -> int:
    if i != int(i) or i < 1:
        raise ValueError(f"the {what} must be a positive integer, got {i:g}")
    return int(i) - 1


def max_abs_cos(k: float) -> Observable:
    """The entry of ``max_abs_cos(k)``: max_j |cos(w_j, u_k)|, k = 1 … K."""
    i = _index(k, "direction k of max_abs_cos(k)")

    def fn(params, params0, data, ctx):
        K = data.directions.shape[0]
        if i >= K:
            raise ConfigError(f"max_abs_cos({i + 1}) asks for direction {i + 1}, but the task has K = {K}")
        return jnp.max(abs_cosines(params, data)[:, i])

    return Observable(fn, requires="direction")


def support_weight(j: float) -> Observable:
    """The entry of ``support_weight(j)``: neuron j's fraction of squared norm in span W*, j = 1 … m."""
    i = _index(j, "neuron j of support_weight(j)")

    def fn(params, params0, data, ctx):
        m = params["W"].shape[0]
        if i >= m:
            raise ConfigError(f"support_weight({i + 1}) asks for neuron {i + 1}, but model.width = {m}")
        return support_weights(params, data)[i]

    return Observable(fn, requires="direction")


def min_max_abs_cos(params, params0, data, ctx):
    return jnp.min(jnp.max(abs_cosines(params, data), axis=0))


def max_support_weight(params, params0, data, ctx):
    return jnp.max(support_weights(params, data))


def mean_support_weight(params, params0, data, ctx):
    return jnp.mean(support_weights(params, data))


OBSERVABLES.register_family("max_abs_cos", max_abs_cos)
OBSERVABLES.register_family("support_weight", support_weight)
register("min_max_abs_cos", min_max_abs_cos, requires="direction")
register("max_support_weight", max_support_weight, requires="direction")
register("mean_support_weight", mean_support_weight, requires="direction")
