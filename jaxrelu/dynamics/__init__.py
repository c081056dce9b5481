"""Dynamics: how one trajectory moves in one step of time (:data:`jaxrelu.registry.DYNAMICS`).

A dynamics is a pure function, registered with :func:`register`::

    step(spec, params, opt_state, sample, keys, t, hp) -> (params, opt_state)

for one trajectory at one grid point: ``spec`` the static :class:`StepSpec`, ``sample``
a :class:`Sampler` of the task's data at step t, ``keys = (k_batch, k_step)`` the
trajectory's keys of step t (for its data and for its own noise), ``hp`` the grid
point's traced hyperparameters.  Built-ins: ``sgd`` (:mod:`.sgd`), ``sde`` and ``flow``
(:mod:`.sde`), ``sde_exact`` (:mod:`.sde_exact`), ``svag`` (:mod:`.svag`); ``optimizer.method``
names one, or several as a grid axis (every listed dynamics runs and the grid point's is selected).

Shared pieces, with θ the trainable parameters and a batch {(x_i, y_i)}_{i<B}
(:mod:`jaxrelu.conventions`):

    L_B(θ) = (1/B) Σ_i ℓ(f_θ(x_i), ỹ_i),       ỹ_i = s_i y_i + σ_LN ξ_i   (label-flip, label-noise SGD)
    g      = ∇L_B(θ) + λ θ                       (weight decay, ``optax.add_decayed_weights``)
    u, s   ← opt(η_t).update(g, s, θ)            (the optimiser, :mod:`jaxrelu.optimizers`)
    u_a    ← r u_a                               (per-layer rates: ``optimizer.second_layer_lr_ratio`` = r)
    θ      ← θ + u + Δ                           (noise models, :mod:`.noise`: Langevin √(2 η_ℓ T) ζ,
                                                  Anti-PGD, α-stable, Student-t)
    w_j    ← ρ w_j / ‖w_j‖                       (spherical SGD, ``optimizer.sphere_radius`` = ρ > 0: each
                                                  first-layer row back on its sphere, :func:`project_rows`,
                                                  after every update: every substep of sde/flow)

Data repetition (``optimizer.repeat`` = r, online SGD): step t uses the fresh batch of step
⌊t/r⌋·r, so each batch serves r consecutive steps (the labels' own noise, label flips and the
noise models stay fresh at every step); r = 1 is plain online SGD, bit for bit.

ℓ the task's loss (:mod:`jaxrelu.losses`); opt one optimiser, or the grid point's of several
when ``optimizer.name`` is a grid axis; η_ℓ the layer's rate (η_t, or r η_t for the second layer);
s_i = −1 with probability p = ``optimizer.label_flip``,
else +1.  s, ξ (fresh at every step) and ζ are drawn
from the seed's key for step t only, so they are shared by every grid point of a seed
(common random numbers).  η_t = lr · decay_factor^{#(decay points ≤ t)}
(``schedule = "step"``; decay points are fractions of ``run.steps``) or η_t = lr.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrelu import activations, losses, model, optimizers, rng
from jaxrelu.config import ConfigError
from jaxrelu.dynamics import noise
from jaxrelu.registry import DYNAMICS


@dataclass(frozen=True, eq=False)
class Dynamics:
    """A registered dynamics: its ``step`` and what it needs from the engine.

    ``batch``: it reads SGD's batch of step t (``sample.batch()``), which the engine makes
    once per seed; ``population``: online, it reads ``StepSpec``-sized fresh samples
    (``task.population_rows``); ``rows``: batches of ``batch_max`` rows it holds at once
    (memory model); ``ode``: the teacher–student ODE describes it; ``check``: None, or
    ``check(step_spec, task_spec, bias)`` raising :class:`~jaxrelu.config.ConfigError` for a study
    outside the dynamics' scope (``bias``: whether the student has biases), called when the
    program is built (:func:`jaxrelu.api.check`, before anything runs: ``jaxrelu validate``).
    """

    name: str
    step: Callable
    batch: bool = False
    population: bool = False
    rows: int = 1
    ode: bool = False
    check: Callable | None = None


def register(
    name: str,
    step: Callable,
    *,
    batch: bool = False,
    population: bool = False,
    rows: int = 1,
    ode: bool = False,
    check: Callable | None = None,
) -> Dynamics:
    """Register a dynamics ``step`` (see the module docstring) under ``name``; returns the entry."""
    return DYNAMICS.register(name, Dynamics(name, step, batch, population, rows, ode, check))


@dataclass(frozen=True)
class StepSpec:
    """Static structure of the update (what is switched on; hashable)."""

    c: float  # output scale
    activation: activations.Activation  # the student's activation entry
    loss: losses.Loss  # the loss entry
    optimizer: optimizers.Optimizer  # the optimiser entry (the first of ``optimizers``)
    train_second_layer: bool
    on: frozenset  # dotted keys of the hyperparameters switched on (non-zero or swept)
    masked_batch: bool  # batch size is a grid axis: mask rows ≥ B
    decay_steps: tuple[int, ...]  # step-decay boundaries (empty: constant lr)
    methods: tuple = ()  # the dynamics entries; several when swept
    substeps: int = 1  # Euler(-Maruyama) substeps per step for "sde" / "flow"
    svag_max: int = 1  # largest SVAG l of the grid
    optimizers: tuple = ()  # the optimiser entries; several when optimizer.name is swept
    repeat: int = 1  # data repetition: each online batch serves this many consecutive steps


class Sampler(NamedTuple):
    """The data of step t for one trajectory (closures made by the engine).

    ``batch()``: SGD's batch, x (batch_max, d) and y (batch_max,);
    ``population(key)``: the whole training set, or online ``population_rows`` fresh samples;
    ``iid(key, rows)``: ``rows`` i.i.d. samples;  ``rows``: SGD's batch_max;
    ``task``: the static :class:`~jaxrelu.tasks.TaskSpec` and ``data`` the
    :class:`~jaxrelu.tasks.TaskData` (teacher, ...), for dynamics built on the task's
    structure (:mod:`.sde_exact`).
    """

    batch: Callable
    population: Callable
    iid: Callable
    rows: int
    task: object = None
    data: object = None


def batch_loss(spec: StepSpec, params, x, y, mask=None, batch_size=None):
    """Mean over the batch of ℓ(f(x), y). x (B, d), y (B,); ``mask`` (B,) selects rows (÷ ``batch_size``)."""
    return losses.mean_loss(spec.loss, model.apply(params, x, spec.c, spec.activation), y, mask, batch_size)


def learning_rate(spec: StepSpec, hp: dict, t):
    """η_t for step t (traced)."""
    if not spec.decay_steps:
        return hp["optimizer.lr"]
    n = sum((t >= s).astype(hp["optimizer.lr"].dtype) for s in spec.decay_steps)
    return hp["optimizer.lr"] * hp["optimizer.decay_factor"] ** n


def optimizer(spec: StepSpec, hp: dict, lr, entry=None) -> optax.GradientTransformation:
    """The optax chain for one grid point (traced hyperparameters are closed over): weight decay, then
    the optimiser ``entry`` (default ``spec.optimizer``)."""
    parts = []
    if "optimizer.weight_decay" in spec.on:
        parts.append(optax.add_decayed_weights(hp["optimizer.weight_decay"]))
    parts.append(optimizers.transformation(spec.optimizer if entry is None else entry, hp, lr, spec.on))
    return optax.chain(*parts)


def _entries(spec: StepSpec) -> tuple:
    return spec.optimizers or (spec.optimizer,)


def init_state(spec: StepSpec, params: dict, hp: dict):
    """Optimiser state for one trajectory: the optimiser's state; a tuple of every listed optimiser's
    state when ``optimizer.name`` is a grid axis; paired as ``(that, noise state)`` when a switched-on
    noise model carries state (:mod:`jaxrelu.dynamics.noise`)."""
    opts = _entries(spec)
    if len(opts) > 1:
        state = tuple(optimizer(spec, hp, hp["optimizer.lr"], o).init(params) for o in opts)
    else:
        state = optimizer(spec, hp, hp["optimizer.lr"]).init(params)
    return (state, noise.init(spec, params)) if noise.stateful(spec) else state


#: fold_in tag of the label flips' stream under a step's label key (label noise uses the key itself)
FLIP = 1


def sampled_labels(spec: StepSpec, y, key, hp: dict):
    """The labels SGD sees for clean (or data-noisy) labels y (B,): ỹ = s ⊙ y + σ_LN ξ.

    Label flip (``optimizer.label_flip`` = p): s_i = −1 where u_i < p, u ~ U[0, 1)^B from
    ``fold_in(key, FLIP)``, else +1; label noise: ξ = ``normal(key, (B,))``.  Each only when
    switched on (``spec.on``), so a study without label flips draws exactly what it drew
    before the flips existed, and p = 0 flips nothing.
    """
    if "optimizer.label_flip" in spec.on:
        u = rng.uniform(rng.fold_in(key, FLIP), y.shape, jnp.float32)
        y = jnp.where(u < hp["optimizer.label_flip"], -y, y)
    if "optimizer.label_noise" in spec.on:
        y = y + hp["optimizer.label_noise"] * rng.normal(key, y.shape, y.dtype)
    return y


def batch_gradient(spec: StepSpec, params, x, y, key, hp: dict):
    """∇_θ of the batch loss, with label-flip and label-noise SGD's fresh labels (:func:`sampled_labels`)
    and the batch mask.  x (B, d), y (B,)."""
    y = sampled_labels(spec, y, key, hp)
    if spec.masked_batch:
        bs = hp["optimizer.batch_size"]
        mask = (jnp.arange(x.shape[0]) < bs).astype(x.dtype)
        return jax.grad(lambda p: batch_loss(spec, p, x, y, mask, bs))(params)
    return jax.grad(lambda p: batch_loss(spec, p, x, y))(params)


#: the per-layer learning rates' key: the second layer's rate / the first layer's
LR_RATIO = "optimizer.second_layer_lr_ratio"


def _optimise(spec: StepSpec, params, opt_state, grads, hp: dict, lr, grad_fn):
    """The optimiser's update and state; the grid point's update when ``optimizer.name`` is swept
    (every listed optimiser steps its own state with the same gradient; ``select_n`` on the index)."""
    opts = _entries(spec)
    extra = {}
    if any(o.needs_loss for o in opts):  # SAM: the gradient at another point
        if grad_fn is None:
            raise ValueError(
                "optimizer.name: this optimiser needs the loss (grad_fn), which this dynamics "
                "does not supply; use optimizer.method = 'sgd'"
            )
        fn = grad_fn
        if "optimizer.weight_decay" in spec.on:  # the objective the chain's input is the gradient of
            lam = hp["optimizer.weight_decay"]
            fn = lambda p, f=fn: jax.tree.map(lambda g, q: g + lam * q, f(p), p)  # noqa: E731
        if not spec.train_second_layer:  # a frozen layer is no direction of ascent
            grads = {**grads, "a": jnp.zeros_like(grads["a"])}
            fn = lambda p, f=fn: {**f(p), "a": jnp.zeros_like(p["a"])}  # noqa: E731
        extra = {"grad_fn": fn}
    if len(opts) == 1:
        return optimizer(spec, hp, lr).update(grads, opt_state, params, **extra)
    outs = [optimizer(spec, hp, lr, o).update(grads, s, params, **extra) for o, s in zip(opts, opt_state)]
    which = hp["optimizer.name"].astype(jnp.int32)
    updates = jax.tree.map(lambda *u: jax.lax.select_n(which, *u), *[u for u, _ in outs])
    return updates, tuple(s for _, s in outs)


def apply_update(spec: StepSpec, params, opt_state, grads, key, hp: dict, lr, grad_fn=None):
    """θ ← θ + (optax chain of grads) [· r on the second layer] [+ noise]; a frozen second layer stays put.

    ``params``, ``grads``: pytrees {"W": (m, d), "a": (m,)[, "b": (m,)]}; ``opt_state``: as
    :func:`init_state` returns; ``key``: the step's noise key (uint32[2]); ``lr``: η_t (traced
    scalar); ``grad_fn``: θ' ↦ the batch gradient at θ' (same batch and label noise), for the
    optimisers that need the loss (SAM).  The second layer's update is scaled by
    r = ``optimizer.second_layer_lr_ratio`` (its rate r η_t) when r ≠ 1 or swept; the noise
    models (:mod:`jaxrelu.dynamics.noise`: Langevin √(2 η_ℓ T) ζ, Anti-PGD, α-stable, Student-t)
    use each layer's rate η_ℓ.  Returns (params, opt_state).
    """
    stateful = noise.stateful(spec)
    if stateful:
        opt_state, noise_state = opt_state
    else:
        noise_state = None
    updates, opt_state = _optimise(spec, params, opt_state, grads, hp, lr, grad_fn)
    lrs = {k: lr for k in params}
    if LR_RATIO in spec.on:
        updates = {**updates, "a": updates["a"] * hp[LR_RATIO]}
        lrs["a"] = lr * hp[LR_RATIO]
    updates, noise_state = noise.add(spec, updates, params, key, hp, lrs, noise_state)
    if not spec.train_second_layer:
        updates = {**updates, "a": jnp.zeros_like(updates["a"])}
    params = optax.apply_updates(params, updates)
    if SPHERE in spec.on:
        params = {**params, "W": project_rows(params["W"], hp[SPHERE])}
    return params, ((opt_state, noise_state) if stateful else opt_state)


#: spherical SGD's key: the radius each first-layer row is projected back to after every step (0: off)
SPHERE = "optimizer.sphere_radius"


def project_rows(W, radius):
    """Spherical SGD's retraction: each row w_j of W (m, d) replaced by radius · w_j/‖w_j‖ (a zero row stays 0);
    W unchanged where ``radius`` (a traced scalar) is 0, so 0 in a sweep is plain SGD."""
    norm = jnp.linalg.norm(W, axis=1, keepdims=True)
    projected = W * (radius / jnp.where(norm > 0, norm, 1))
    return jnp.where(radius > 0, projected, W)


def check_variants(study, task, provided, methods) -> None:
    """ConfigError (one line naming the key) for a training variant the study cannot run:
    ``optimizer.repeat`` > 1 needs online data and a dynamics reading SGD's batch;
    ``model.init_overlap`` needs a task with a direction (a teacher, or ``"direction"``)."""
    o, m = study.optimizer, study.model
    if o.repeat > 1:
        if study.task.train_size != "online":
            raise ConfigError(
                f"optimizer.repeat: data repetition reuses fresh online batches; task.train_size "
                f"must be 'online', got {study.task.train_size!r}"
            )
        if not all(d.batch for d in methods):
            raise ConfigError(
                f"optimizer.repeat: repeats SGD's batch, which the "
                f"{'/'.join(d.name for d in methods if not d.batch)} dynamics does not read "
                "(use optimizer.method = 'sgd')"
            )
    if m.init_overlap is not None:
        if not (task.teacher or "direction" in provided):
            raise ConfigError(
                f"model.init_overlap: needs a task with a teacher or directions, task.kind = "
                f"{study.task.kind!r} has neither"
            )
        if m.first_layer_init == "orthonormal":
            raise ConfigError(
                "model.init_overlap: sets the first-layer rows itself; leave model.first_layer_init = 'gaussian'"
            )


# the built-in dynamics register themselves
from jaxrelu.dynamics import sde, sde_exact, sgd, svag  # noqa: E402,F401
