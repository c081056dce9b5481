"""Dynamics: how one trajectory moves in one step of time (:data:`jaxrelu.registry.DYNAMICS`).

A dynamics is a pure function, registered with :func:`register`::

    step(spec, params, opt_state, sample, keys, t, hp) -> (params, opt_state)

for one trajectory at one grid point: ``spec`` the static :class:`StepSpec`, ``sample``
a :class:`Sampler` of the task's data at step t, ``keys = (k_batch, k_step)`` the
trajectory's keys of step t (for its data and for its own noise), ``hp`` the grid
point's traced hyperparameters.  Built-ins: ``sgd`` (:mod:`.sgd`), ``sde`` and ``flow``
(:mod:`.sde`), ``svag`` (:mod:`.svag`); ``optimizer.method`` names one, or several as a
grid axis (every listed dynamics runs and the grid point's is selected).

Shared pieces, with θ the trainable parameters and a batch {(x_i, y_i)}_{i<B}
(:mod:`jaxrelu.conventions`):

    L_B(θ) = (1/B) Σ_i ℓ(f_θ(x_i), ỹ_i),       ỹ_i = y_i + σ_LN ξ_i   (label-noise SGD)
    g      = ∇L_B(θ) + λ θ                       (weight decay, ``optax.add_decayed_weights``)
    u, s   ← opt(η_t).update(g, s, θ)            (the optimiser, :mod:`jaxrelu.optimizers`)
    θ      ← θ + u + √(2 η_t T) ζ                (Langevin noise, ζ ~ N(0, I))

ℓ the task's loss (:mod:`jaxrelu.losses`).  ξ (fresh at every step) and ζ are drawn
from the seed's key for step t only, so they are shared by every grid point of a seed
(common random numbers).  η_t = lr · decay_factor^{#(decay points ≤ t)}
(``schedule = "step"``; decay points are fractions of ``run.steps``) or η_t = lr.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrelu import losses, model, optimizers, rng
from jaxrelu.registry import DYNAMICS


@dataclass(frozen=True, eq=False)
class Dynamics:
    """A registered dynamics: its ``step`` and what it needs from the engine.

    ``batch``: it reads SGD's batch of step t (``sample.batch()``), which the engine makes
    once per seed; ``population``: online, it reads ``StepSpec``-sized fresh samples
    (``task.population_rows``); ``rows``: batches of ``batch_max`` rows it holds at once
    (memory model); ``ode``: the teacher–student ODE describes it.
    """
    name: str
    step: Callable
    batch: bool = False
    population: bool = False
    rows: int = 1
    ode: bool = False


def register(name: str, step: Callable, *, batch: bool = False, population: bool = False, rows: int = 1,
             ode: bool = False) -> Dynamics:
    """Register a dynamics ``step`` (see the module docstring) under ``name``; returns the entry."""
    return DYNAMICS.register(name, Dynamics(name, step, batch, population, rows, ode))


@dataclass(frozen=True)
class StepSpec:
    """Static structure of the update (what is switched on; hashable)."""
    c: float                      # output scale
    activation: object            # the student's activation entry
    loss: object                  # the loss entry
    optimizer: object             # the optimiser entry
    train_second_layer: bool
    on: frozenset                 # dotted keys of the hyperparameters switched on (non-zero or swept)
    masked_batch: bool            # batch size is a grid axis: mask rows ≥ B
    decay_steps: tuple[int, ...]  # step-decay boundaries (empty: constant lr)
    methods: tuple = ()           # the dynamics entries; several when swept
    substeps: int = 1             # Euler(-Maruyama) substeps per step for "sde" / "flow"
    svag_max: int = 1             # largest SVAG l of the grid


class Sampler(NamedTuple):
    """The data of step t for one trajectory (closures made by the engine).

    ``batch()``: SGD's batch, x (batch_max, d) and y (batch_max,);
    ``population(key)``: the whole training set, or online ``population_rows`` fresh samples;
    ``iid(key, rows)``: ``rows`` i.i.d. samples;  ``rows``: SGD's batch_max.
    """
    batch: Callable
    population: Callable
    iid: Callable
    rows: int


def batch_loss(spec: StepSpec, params, x, y, mask=None, batch_size=None):
    """Mean over the batch of ℓ(f(x), y). x (B, d), y (B,); ``mask`` (B,) selects rows (÷ ``batch_size``)."""
    return losses.mean_loss(spec.loss, model.apply(params, x, spec.c, spec.activation), y, mask, batch_size)


def learning_rate(spec: StepSpec, hp: dict, t):
    """η_t for step t (traced)."""
    if not spec.decay_steps:
        return hp["optimizer.lr"]
    n = sum((t >= s).astype(hp["optimizer.lr"].dtype) for s in spec.decay_steps)
    return hp["optimizer.lr"] * hp["optimizer.decay_factor"] ** n


def optimizer(spec: StepSpec, hp: dict, lr) -> optax.GradientTransformation:
    """The optax chain for one grid point (traced hyperparameters are closed over)."""
    parts = []
    if "optimizer.weight_decay" in spec.on:
        parts.append(optax.add_decayed_weights(hp["optimizer.weight_decay"]))
    parts.append(optimizers.transformation(spec.optimizer, hp, lr, spec.on))
    return optax.chain(*parts)


def init_state(spec: StepSpec, params: dict, hp: dict):
    """Optimiser state for one trajectory."""
    return optimizer(spec, hp, hp["optimizer.lr"]).init(params)


def batch_gradient(spec: StepSpec, params, x, y, key, hp: dict):
    """∇_θ of the batch loss, with label-noise SGD's fresh label noise and the batch mask."""
    if "optimizer.label_noise" in spec.on:
        y = y + hp["optimizer.label_noise"] * rng.normal(key, y.shape, y.dtype)
    if spec.masked_batch:
        bs = hp["optimizer.batch_size"]
        mask = (jnp.arange(x.shape[0]) < bs).astype(x.dtype)
        return jax.grad(lambda p: batch_loss(spec, p, x, y, mask, bs))(params)
    return jax.grad(lambda p: batch_loss(spec, p, x, y))(params)


def apply_update(spec: StepSpec, params, opt_state, grads, key, hp: dict, lr):
    """θ ← θ − lr·(optax chain of grads) [+ √(2·lr·T) ζ]; a frozen second layer stays put."""
    updates, opt_state = optimizer(spec, hp, lr).update(grads, opt_state, params)
    if "optimizer.langevin_temperature" in spec.on:
        leaves, tree = jax.tree.flatten(params)
        keys = rng.split(key, len(leaves))
        scale = jnp.sqrt(2 * lr * hp["optimizer.langevin_temperature"])
        noise = [scale * rng.normal(k, p.shape, p.dtype) for k, p in zip(keys, leaves)]
        updates = jax.tree.map(jnp.add, updates, jax.tree.unflatten(tree, noise))
    if not spec.train_second_layer:
        updates = {**updates, "a": jnp.zeros_like(updates["a"])}
    return optax.apply_updates(params, updates), opt_state


# the built-in dynamics register themselves
from jaxrelu.dynamics import sde, sgd, svag  # noqa: E402,F401
