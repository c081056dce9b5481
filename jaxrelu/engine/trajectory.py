"""One trajectory at one grid point: its initial state, its step t, its observables.

Randomness (see :mod:`jaxrelu.engine`): trajectory k's key is ``seed_key``; its
initialisation is drawn from ``fold_in(seed_key, INIT)``, its training set from
``fold_in(seed_key, DATA)``, its epoch permutations from ``fold_in(seed_key, SHUFFLE)``,
the keys of step t from ``fold_in(fold_in(seed_key, STEPS), t)`` (split into the data's
and the dynamics' own), and its online input blocks from ``fold_in(seed_key, BLOCKS)``
(:mod:`.batching`).  Hyperparameters ``hp`` are one grid point's traced scalars.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrelu import dynamics, model, rng, tasks

INIT, DATA, SHUFFLE, STEPS, BLOCKS = 0, 1, 2, 3, 4  # per-seed key streams


def data_noise(prog, hp):
    """σ_data (``task.label_noise``) of the grid point, or None when the labels carry none."""
    return hp["task.label_noise"] if prog.task.label_noise else None


def init_one(prog, seed_key, hp, shared):
    """Initial state of one trajectory at one grid point."""
    params = model.init(
        rng.fold_in(seed_key, INIT),
        width=prog.width,
        input_dim=prog.task.input_dim,
        bias=prog.bias,
        first_layer=prog.first_layer,
        second_layer=prog.second_layer,
        init_scale=hp["model.init_scale"],
        second_layer_scale=hp["model.second_layer_scale"],
        dtype=jnp.dtype(prog.dtype),
        overlap=prog.init_overlap,
        direction=None if prog.init_overlap is None else shared.first_direction(),
    )
    state = {"params": params, "opt": dynamics.init_state(prog.step, params, hp)}
    if prog.needs_init:
        state["params0"] = params
    return state


def step_one(prog, t, state, data, seed_key, hp, batch=None):
    """Step t of one trajectory at one grid point: every dynamics of the program, the grid
    point's selected when ``optimizer.method`` is a grid axis.

    ``batch``: SGD's batch of step t made per seed (:mod:`.batching`): inputs x, clean
    labels y and data-noise normals e.  Keys not needed by the switched-on noise
    sources are dead code, removed by XLA.
    """
    key = rng.fold_in(rng.fold_in(seed_key, STEPS), t)
    k_batch, k_step = rng.split(key)
    if prog.step.repeat > 1 and prog.task.online:  # data repetition: the batch of step ⌊t/r⌋·r (jaxrelu.dynamics)
        k_batch = rng.split(rng.fold_in(rng.fold_in(seed_key, STEPS), (t // prog.step.repeat) * prog.step.repeat))[0]
    dn, dt, task = data_noise(prog, hp), jnp.dtype(prog.dtype), prog.task
    p, s = state["params"], state["opt"]

    def sgd_batch():
        if batch is not None:
            return batch["x"], (batch["y"] + dn * batch["e"] if dn is not None else batch["y"])
        bs = hp["optimizer.batch_size"].astype(jnp.int32) if prog.step.masked_batch else task.batch_max
        return tasks.sample_batch(task, data, k_batch, rng.fold_in(seed_key, SHUFFLE), t, bs, dn, dt)

    sample = dynamics.Sampler(
        batch=sgd_batch,
        rows=task.batch_max,
        population=lambda k: tasks.full_sample(task, data, k, task.population_rows, dn, dt),
        iid=lambda k, rows: tasks.sample_iid(task, data, k, rows, dn, dt),
        task=task,
        data=data,
    )
    outs = [d.step(prog.step, p, s, sample, (k_batch, k_step), t, hp) for d in prog.step.methods]
    if len(outs) > 1:  # the method is a grid axis: select this point's
        which = hp["optimizer.method"].astype(jnp.int32)
        outs = [jax.tree.map(lambda *xs: jax.lax.select_n(which, *xs), *outs)]
    p, s = outs[0]
    return {**state, "params": p, "opt": s}


def observe_one(prog, state, data, hp):
    """(n_observables,) values and the alive flag of one trajectory.

    The engine calls it with the parameters, data and ``hp`` cast to float64 (whatever the
    run's dtype), so values are those of the run's trajectory evaluated to float64 precision
    (:mod:`jaxrelu.engine.segment`).  A trajectory is alive while its parameters stay within
    ``run.blowup`` and every value is finite in the run's dtype.
    """
    if data.y_train is not None:
        data = data._replace(y_train=data.labels(hp["task.label_noise"]))
    params = state["params"]
    vals = jnp.stack([obs.fn(params, state.get("params0"), data, prog.ctx) for obs in prog.observers])
    leaves = jax.tree.leaves(params)
    # max |p| <= blowup is False for inf and for nan (max propagates nan): one reduction per leaf
    ok = jnp.all(jnp.stack([jnp.max(jnp.abs(p)) <= prog.blowup for p in leaves]))
    return vals, ok & jnp.all(jnp.isfinite(vals.astype(jnp.dtype(prog.dtype))))
