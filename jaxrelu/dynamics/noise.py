"""Noise models of the update, in one place: what :func:`jaxrelu.dynamics.apply_update` adds to θ.

After the optimiser's update u (and the per-layer rates), every switched-on noise model
adds its increment to every trainable parameter tensor (a frozen second layer stays put):

    θ ← θ + u + Σ_models Δ

========== ========================================== ==============================================
name       Δ (per entry of a layer ℓ)                  config keys (``optimizer.*``, each sweepable)
========== ========================================== ==============================================
gaussian   √(2 η_ℓ T) ζ,  ζ ~ N(0, 1)                  T = ``langevin_temperature`` (Langevin)
anti_pgd   σ (ξ_{t+1} − ξ_t),  ξ_t ~ N(0, 1) i.i.d.    σ = ``anti_pgd_scale`` (Orvieto et al. 2022)
stable     σ η_ℓ^{1/α} S_α,  S_α symmetric α-stable    σ = ``stable_scale``, α = ``stable_alpha``
student_t  σ √(2 η_ℓ) t_ν                              σ = ``student_t_scale``, ν = ``student_t_df``
========== ========================================== ==============================================

η_ℓ is the layer's learning rate at step t (η_t for the first layer and its biases,
r η_t for the second with r = ``optimizer.second_layer_lr_ratio``).  A model is switched
on when its scale is non-zero or swept.  Scaling conventions: each is the Euler step of
size η_ℓ of a noise-driven gradient flow dθ = −∇L dt + (noise), so that

* ``gaussian`` is Langevin dynamics at temperature T (stationary law ∝ exp(−L/T) for small η);
* ``stable`` is the Euler scheme of dθ = −∇L dt + σ dL^α_t with L^α a symmetric α-stable Lévy
  process (Şimşekli, Sagun & Gürbüzbalaban 2019): its increments over time η are η^{1/α} S_α.
  S_α has characteristic function exp(−|k|^α) (scale 1; ``scipy.stats.levy_stable(α, 0)``),
  so α = 2 gives S_2 = N(0, 2) and the ``gaussian`` model at T = σ²;
* ``student_t`` at ν → ∞ is the ``gaussian`` model at T = σ² (t_ν → N(0, 1)); for ν ≤ 2 the
  increments have infinite variance, P(|t_ν| > x) ~ x^{−ν};
* ``anti_pgd`` (Anti-PGD, Orvieto, Kersting, Proske, Bach & Lucchi 2022) perturbs by the
  increments of a white sequence, θ ← θ − η∇L + σ(ξ_{t+1} − ξ_t): the perturbations telescope
  (their sum over steps 0..t−1 is σ(ξ_t − ξ_0)), and their covariance is 2σ² I at lag 0,
  −σ² I at lag 1 and 0 beyond.  ξ_t is carried in the optimiser state (the only model with
  state), starting at ξ_0 = 0, so the first increment is σ ξ_1 (variance σ², not 2σ²); it
  does not scale with η.

Randomness: the increments of step t are drawn from the trajectory's noise key of that step
(``gaussian``: the key itself, split over the parameter tensors exactly as Langevin noise
always was; each other model: ``fold_in(key, stream)``), so every grid point of a seed sees
the same ζ, ξ, S and t (common random numbers).  Uniforms and normals are drawn in float32
(:mod:`jaxrelu.rng`); the α-stable transform is computed in the parameters' dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxrelu import rng


@dataclass(frozen=True, eq=False)
class Noise:
    """A noise model: ``increment(key, leaf, lr, hp, state) -> (Δ, state)`` for one parameter tensor
    ``leaf`` (Δ of its shape), its layer's learning rate ``lr`` and the grid point's traced ``hp``;
    ``init(leaf) -> state`` for a model with state (else None, and ``state`` is None); ``key``: the
    config key of its scale, which switches it on; ``stream``: its key is ``fold_in(step key, stream)``
    (None: the step key itself)."""

    name: str
    key: str
    increment: Callable
    init: Callable | None = None
    stream: int | None = None


#: The noise models by name, in the order their increments are added.
NOISES: dict[str, Noise] = {}


def register(
    name: str, key: str, increment: Callable, *, init: Callable | None = None, stream: int | None = None
) -> Noise:
    """Add (or replace) the noise model ``name`` switched on by config key ``key`` (see :class:`Noise`)."""
    NOISES[name] = Noise(name, key, increment, init, stream)
    return NOISES[name]


# ------------------------------------------------------------------------------------- samplers
def _open_uniform(key, shape) -> jnp.ndarray:
    """Uniforms on the open interval (0, 1): (24 high bits + ½) / 2²⁴, float32, exact."""
    word = rng.bits(key, shape) >> np.uint32(8)
    return (word.astype(jnp.float32) + np.float32(0.5)) * np.float32(2.0**-24)


def stable(key, shape, alpha, dtype=jnp.float32) -> jnp.ndarray:
    """Symmetric α-stable variates S_α, E exp(ik S_α) = exp(−|k|^α), array of ``shape`` and ``dtype``.

    The exact Chambers–Mallows–Stuck (1976) transform (Weron 1996, β = 0): with V uniform on
    (−π/2, π/2) and W ~ Exp(1) independent,

        S = sin(αV) / cos(V)^{1/α} · (cos((1 − α)V) / W)^{(1 − α)/α},

    which is tan V (Cauchy) at α = 1 and 2 sin(V) √W ~ N(0, 2) at α = 2.  ``alpha`` in (0, 2]
    may be traced (a scalar, or an array broadcasting against ``shape``).  The two uniforms
    are drawn in float32 on the open grid (k + ½)/2²⁴ from ``split(key)``; the cosines near
    V = ±π/2 are computed as sines of the distance to ±π/2 (exact on that grid), so the far
    tail keeps its relative accuracy; the transform runs in ``dtype``.  The grid caps |S| near
    its 1 − 3·10⁻⁸ quantile, far beyond any tail-index estimate's reach.
    """
    k1, k2 = rng.split(key)
    u = _open_uniform(k1, shape).astype(dtype)
    w = -jnp.log(_open_uniform(k2, shape).astype(dtype))
    alpha = jnp.asarray(alpha, dtype)
    pi = jnp.asarray(math.pi, dtype)
    h = jnp.minimum(u, 1 - u)  # distance of u to the ends, exact
    v = pi * (u - 0.5)
    cos_v = jnp.sin(pi * h)  # cos V = sin(π h)
    c = jnp.abs(1 - alpha)
    cos_1a = jnp.sin(pi * (0.5 * (1 - c) + c * h))  # cos((1 − α)V) = sin(π(½ − |1 − α||u − ½|))
    log_mag = -jnp.log(cos_v) / alpha + (1 - alpha) / alpha * (jnp.log(cos_1a) - jnp.log(w))
    return jnp.sin(alpha * v) * jnp.exp(log_mag)


def student_t(key, shape, df, dtype=jnp.float32) -> jnp.ndarray:
    """Student-t variates with ``df`` = ν degrees of freedom (may be traced), array of ``shape``, cast to
    ``dtype``: t = Z √((ν/2) / G), Z ~ N(0, 1) (:func:`jaxrelu.rng.normal` of ``split(key)[0]``) and
    G ~ Gamma(ν/2, 1) (``jax.random.gamma`` of ``split(key)[1]``, exact), drawn in float32."""
    kz, kg = rng.split(key)
    half = jnp.broadcast_to(jnp.asarray(df, jnp.float32) / 2, shape)
    g = jax.random.gamma(kg, half, shape, jnp.float32)
    return (rng.normal(kz, shape, jnp.float32) * jnp.sqrt(half / g)).astype(dtype)


# ---------------------------------------------------------------------------------- the models
def _gaussian(key, leaf, lr, hp, state):
    return jnp.sqrt(2 * lr * hp["optimizer.langevin_temperature"]) * rng.normal(key, leaf.shape, leaf.dtype), state


def _anti_pgd(key, leaf, lr, hp, xi):
    new = rng.normal(key, leaf.shape, leaf.dtype)
    return hp["optimizer.anti_pgd_scale"] * (new - xi), new


def _stable(key, leaf, lr, hp, state):
    alpha = hp["optimizer.stable_alpha"]
    return hp["optimizer.stable_scale"] * lr ** (1 / alpha) * stable(key, leaf.shape, alpha, leaf.dtype), state


def _student_t(key, leaf, lr, hp, state):
    t = student_t(key, leaf.shape, hp["optimizer.student_t_df"], leaf.dtype)
    return hp["optimizer.student_t_scale"] * jnp.sqrt(2 * lr) * t, state


GAUSSIAN = register("gaussian", "optimizer.langevin_temperature", _gaussian)
ANTI_PGD = register("anti_pgd", "optimizer.anti_pgd_scale", _anti_pgd, init=jnp.zeros_like, stream=1)
STABLE = register("stable", "optimizer.stable_scale", _stable, stream=2)
STUDENT_T = register("student_t", "optimizer.student_t_scale", _student_t, stream=3)


# ------------------------------------------------------------------------------ used by dynamics
def active(spec) -> list[Noise]:
    """The noise models switched on in ``spec`` (a :class:`jaxrelu.dynamics.StepSpec`), in order."""
    return [n for n in NOISES.values() if n.key in spec.on]


def stateful(spec) -> bool:
    """Whether a switched-on model carries state (then the optimiser state is ``(opt, noise_state)``)."""
    return any(n.init is not None for n in active(spec))


def init(spec, params: dict) -> dict:
    """The noise state of one trajectory: {model name: a pytree like ``params``} for the models with state."""
    return {n.name: jax.tree.map(n.init, params) for n in active(spec) if n.init is not None}


def add(spec, updates: dict, params: dict, key, hp: dict, lrs: dict, state: dict | None):
    """``updates`` plus every switched-on model's increment; returns (updates, new noise state).

    ``updates``, ``params``: pytrees of the same structure; ``lrs``: that structure's learning
    rate per tensor (traced scalars); ``key``: the step's noise key (uint32[2]); ``state``: as
    :func:`init` returns (None without stateful models).
    """
    models = active(spec)
    if not models:
        return updates, state
    leaves, tree = jax.tree.flatten(params)
    # PyTreeDef.flatten_up_to exists at runtime but is missing from jax's stub: hence the ignores
    lr_leaves = tree.flatten_up_to(lrs)  # type: ignore[attr-defined]
    new_state = dict(state or {})
    for n in models:
        keys = rng.split(key if n.stream is None else rng.fold_in(key, n.stream), len(leaves))
        old = tree.flatten_up_to(state[n.name]) if n.init is not None else [None] * len(leaves)  # type: ignore[attr-defined]
        outs = [n.increment(k, p, lr, hp, s) for k, p, lr, s in zip(keys, leaves, lr_leaves, old)]
        updates = jax.tree.map(jnp.add, updates, jax.tree.unflatten(tree, [o[0] for o in outs]))
        if n.init is not None:
            new_state[n.name] = jax.tree.unflatten(tree, [o[1] for o in outs])
    return updates, new_state
