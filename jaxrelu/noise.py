"""One SGD step and its noise sources; the SDE, gradient-flow and SVAG steps beside it.

With θ the trainable parameters and a batch {(x_i, y_i)}_{i<B},

    L_B(θ) = (1/B) Σ_i ½ (f_θ(x_i) − ỹ_i)²,       ỹ_i = y_i + σ_LN ξ_i   (label-noise SGD)
    g      = ∇L_B(θ) + λ θ                          (weight decay, ``optax.add_decayed_weights``)
    m      ← μ m + g;   θ ← θ − η_t m                (heavy-ball momentum, ``optax.sgd``)
    θ      ← θ + √(2 η_t T) ζ                       (Langevin noise, ζ ~ N(0, I))

ξ (fresh at every step) and ζ are drawn from the seed's key for step t only, so
they are shared by every grid point of a seed (common random numbers).
η_t = lr · decay_factor^{#(decay points ≤ t)} (``schedule = "step"``; decay points
are fractions of ``run.steps``) or η_t = lr (``constant``).
All hyperparameters arrive as traced scalars in ``hp`` (one grid point).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from jaxrelu import model, rng


@dataclass(frozen=True)
class StepSpec:
    """Static structure of the update (what is switched on; hashable)."""
    c: float                      # output scale
    activation: str
    train_second_layer: bool
    momentum: bool                # carry a momentum buffer
    weight_decay: bool
    label_noise: bool             # label-noise SGD
    langevin: bool
    masked_batch: bool            # batch size is a grid axis: mask rows ≥ B
    decay_steps: tuple[int, ...]  # step-decay boundaries (empty: constant lr)
    methods: tuple[str, ...] = ("sgd",)   # "sgd", "sde", "flow", "svag"; several when swept
    substeps: int = 1             # Euler(-Maruyama) substeps per step for "sde" / "flow"
    svag_max: int = 1             # largest SVAG l of the grid


def batch_loss(params, x, y, c, activation, mask=None, batch_size=None):
    """½ mean over the batch of (f(x) − y)². x (B, d), y (B,); mask (B,) selects rows."""
    r = model.apply(params, x, c, activation) - y
    if mask is None:
        return 0.5 * jnp.mean(r * r)
    return 0.5 * jnp.sum(mask * r * r) / batch_size


def learning_rate(spec: StepSpec, hp: dict, t):
    """η_t for step t (traced)."""
    if not spec.decay_steps:
        return hp["optimizer.lr"]
    n = sum((t >= s).astype(hp["optimizer.lr"].dtype) for s in spec.decay_steps)
    return hp["optimizer.lr"] * hp["optimizer.decay_factor"] ** n


def optimizer(spec: StepSpec, hp: dict, lr) -> optax.GradientTransformation:
    """The optax chain for one grid point (traced hyperparameters are closed over)."""
    parts = []
    if spec.weight_decay:
        parts.append(optax.add_decayed_weights(hp["optimizer.weight_decay"]))
    parts.append(optax.sgd(lr, momentum=hp["optimizer.momentum"] if spec.momentum else None))
    return optax.chain(*parts)


def init_state(spec: StepSpec, params: dict, hp: dict):
    """Optimiser state for one trajectory."""
    return optimizer(spec, hp, hp["optimizer.lr"]).init(params)


def batch_gradient(spec: StepSpec, params, x, y, key, hp: dict):
    """∇_θ of the batch loss, with label-noise SGD's fresh label noise and the batch mask."""
    if spec.label_noise:
        y = y + hp["optimizer.label_noise"] * rng.normal(key, y.shape, y.dtype)
    if spec.masked_batch:
        bs = hp["optimizer.batch_size"]
        mask = (jnp.arange(x.shape[0]) < bs).astype(x.dtype)
        return jax.grad(batch_loss)(params, x, y, spec.c, spec.activation, mask, bs)
    return jax.grad(batch_loss)(params, x, y, spec.c, spec.activation)


def apply_update(spec: StepSpec, params, opt_state, grads, key, hp: dict, lr):
    """θ ← θ − lr·(optax chain of grads) [+ √(2·lr·T) ζ]; a frozen second layer stays put."""
    updates, opt_state = optimizer(spec, hp, lr).update(grads, opt_state, params)
    if spec.langevin:
        leaves, tree = jax.tree.flatten(params)
        keys = rng.split(key, len(leaves))
        scale = jnp.sqrt(2 * lr * hp["optimizer.langevin_temperature"])
        noise = [scale * rng.normal(k, p.shape, p.dtype) for k, p in zip(keys, leaves)]
        updates = jax.tree.map(jnp.add, updates, jax.tree.unflatten(tree, noise))
    if not spec.train_second_layer:
        updates = {**updates, "a": jnp.zeros_like(updates["a"])}
    return optax.apply_updates(params, updates), opt_state


def sgd_step(spec: StepSpec, params, opt_state, x, y, key, t, hp: dict):
    """One SGD step on the batch (x, y) for one trajectory at one grid point."""
    k_ln, k_lv = rng.split(key)
    grads = batch_gradient(spec, params, x, y, k_ln, hp)
    return apply_update(spec, params, opt_state, grads, k_lv, hp, learning_rate(spec, hp, t))


def sde_gradient(spec: StepSpec, params, x, y, key, hp: dict, lr, h, noisy: bool = True):
    """g̃ such that θ − h·g̃ is one Euler–Maruyama step of the SDE of SGD.

    The stochastic modified equation (Li, Tai & E 2017/2019) of SGD with step lr
    and batch B is dθ = −∇L dt + √(lr/B) Σ(θ)^{1/2} dW in time t = lr·steps, with
    Σ = (1/n) Σ_i (g_i − ḡ)(g_i − ḡ)ᵀ the per-sample gradient covariance over the
    n rows of (x, y).  Its Euler–Maruyama step of size h is

        θ ← θ − h ∇L + √(h·lr/B) · n^{-1/2} Σ_i (z_i − z̄) g_i,    z ~ N(0, I_n),

    whose noise has covariance exactly h·lr/B·Σ; since Σ_i (z_i − z̄) g_i =
    ∇_θ Σ_i (z_i − z̄) ℓ_i, drift and noise cost one weighted backward pass.
    Label-noise SGD adds σ²/B · (1/n) Σ_i ∇f_i ∇f_iᵀ to Σ, sampled the same way.
    ``noisy = False`` gives gradient flow (explicit Euler).
    """
    n = x.shape[0]
    kz, kl = rng.split(key)
    if noisy:
        bs = hp["optimizer.batch_size"]
        c = jnp.sqrt(lr / (bs * n * h))
        z = rng.normal(kz, (n,), x.dtype)
        w = 1.0 / n - c * (z - jnp.mean(z))
    else:
        w = jnp.full((n,), 1.0 / n, x.dtype)

    def objective(p):
        f = model.apply(p, x, spec.c, spec.activation)
        o = jnp.sum(w * 0.5 * (f - y) ** 2)
        if noisy and spec.label_noise:
            o = o - c * hp["optimizer.label_noise"] * jnp.sum(rng.normal(kl, (n,), x.dtype) * f)
        return o
    return jax.grad(objective)(params)


def sde_step(spec: StepSpec, params, opt_state, x, y, key, t, hp: dict, noisy: bool = True):
    """``spec.substeps`` Euler–Maruyama steps of size h = lr_t / substeps (one SGD step of time)."""
    lr = learning_rate(spec, hp, t)
    h = lr / spec.substeps

    def sub(j, carry):
        p, s = carry
        kg, kv = rng.split(rng.fold_in(key, j))
        return apply_update(spec, p, s, sde_gradient(spec, p, x, y, kg, hp, lr, h, noisy), kv, hp, h)
    return jax.lax.fori_loop(0, spec.substeps, sub, (params, opt_state))


def svag_step(spec: StepSpec, params, opt_state, batches, key, t, hp: dict):
    """SVAG (Li, Malladi & Arora 2021): l steps of size lr/l per SGD step of time, each with

        g = ((1 + √(2l−1))/2) ∇L_{B1} + ((1 − √(2l−1))/2) ∇L_{B2}

    on two independent batches; l = 1 is SGD and l → ∞ converges weakly to the
    SDE.  ``batches(i)`` returns the two batches of substep i; l (``optimizer.svag_l``,
    a grid axis) is traced, so ``spec.svag_max`` substeps run and those ≥ l are masked.
    """
    l = hp["optimizer.svag_l"]
    lr = learning_rate(spec, hp, t) / l
    r = jnp.sqrt(2 * l - 1)

    def sub(i, carry):
        p, s = carry
        (x1, y1), (x2, y2) = batches(i)
        k1, k2, kv = rng.split(rng.fold_in(key, i), 3)
        g1 = batch_gradient(spec, p, x1, y1, k1, hp)
        g2 = batch_gradient(spec, p, x2, y2, k2, hp)
        g = jax.tree.map(lambda a, b: (1 + r) / 2 * a + (1 - r) / 2 * b, g1, g2)
        new = apply_update(spec, p, s, g, kv, hp, lr)
        return jax.tree.map(lambda a, b: jnp.where(i < l, a, b), new, (p, s))
    return jax.lax.fori_loop(0, spec.svag_max, sub, (params, opt_state))
