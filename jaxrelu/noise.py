"""One SGD step and its noise sources.

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

from jaxrelu import model


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


def sgd_step(spec: StepSpec, params, opt_state, x, y, key, t, hp: dict):
    """One step for one trajectory at one grid point -> (params, opt_state)."""
    k_ln, k_lv = jax.random.split(key)
    if spec.label_noise:
        y = y + hp["optimizer.label_noise"] * model.normal(k_ln, y.shape, y.dtype)
    if spec.masked_batch:
        bs = hp["optimizer.batch_size"]
        mask = (jnp.arange(x.shape[0]) < bs).astype(x.dtype)
        grads = jax.grad(batch_loss)(params, x, y, spec.c, spec.activation, mask, bs)
    else:
        grads = jax.grad(batch_loss)(params, x, y, spec.c, spec.activation)
    lr = learning_rate(spec, hp, t)
    updates, opt_state = optimizer(spec, hp, lr).update(grads, opt_state, params)
    if spec.langevin:
        leaves, tree = jax.tree.flatten(params)
        keys = jax.random.split(k_lv, len(leaves))
        scale = jnp.sqrt(2 * lr * hp["optimizer.langevin_temperature"])
        noise = [scale * model.normal(k, p.shape, p.dtype) for k, p in zip(keys, leaves)]
        updates = jax.tree.map(jnp.add, updates, jax.tree.unflatten(tree, noise))
    if not spec.train_second_layer:
        updates = {**updates, "a": jnp.zeros_like(updates["a"])}
    return optax.apply_updates(params, updates), opt_state
