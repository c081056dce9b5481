"""Compile and run a study: every seed × grid point in one compiled program.

Read top to bottom, a run is::

    shared data (teacher, held-out sample)  ← PRNGKey(seed) stream "shared"
    for each chunk of seeds (padded to one shape, sharded over local devices):
        state  = init(seed indices)                        # vmap seeds × vmap grid
        for each record segment [t0, t1):
            state, summary = segment(state, t0, t1)        # fori_loop of SGD steps,
                                                           # then observables → stats
        merge the chunk's statistics into the run's (exact, pairwise)
    Results (labelled arrays) ← finalise

Randomness.  Trajectory k draws everything from ``seed_key(k) =
fold_in(seeds_key, k)`` with ``seeds_key, shared_key = split(PRNGKey(seed))``:
its initialisation from ``fold_in(seed_key, 0)``, its training set from
``fold_in(seed_key, 1)``, its epoch permutations from ``fold_in(seed_key, 2)``,
the noise of step t from ``fold_in(fold_in(seed_key, 3), t)``, and (online SGD)
the inputs of steps BLOCK·b .. BLOCK·b + BLOCK − 1 as the rows of one draw
``normal(kx, (BLOCK, B, d))``, ``kx, kn = split(fold_in(fold_in(seed_key, 4), b))``
(``kn``: the data-noise normals, (BLOCK, B)), BLOCK = 8.  A step computes only
its own rows (each threefry word hashes its own counter), so no block is
stored.  Nothing
depends on the chunk, the vmap width or the device count, and nothing depends
on grid values: seed k sees the same initial directions and the same samples
at every grid point (common random numbers).  Every draw goes through
:mod:`jaxrelu.rng`, which returns what ``jax.random`` returns, bit for bit, in
code that XLA fuses.

Per seed, then per grid point.  SGD's batch of step t is made once per seed,
from a per-seed cache in the loop carry (online: the keys of step t's block; a
finite set with a fixed batch size: the permutations of its epochs, drawn once
per epoch), and broadcast over the seed's grid points.

Hyperparameters are traced arrays of shape (G,) (one entry per grid point), so
a new grid value never recompiles; programs are cached per :class:`Program`
(shapes and switches) and chunk size.
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import threading
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrelu import model, noise, observables, rng, stats, tasks
from jaxrelu.config import SWEEPABLE, ConfigError, Study
from jaxrelu.results import STATS, Results, ResultsError, _atomic_write
from jaxrelu.theory import kernels

INIT, DATA, SHUFFLE, STEPS, BLOCKS = 0, 1, 2, 3, 4      # per-seed key streams
BLOCK = 8                # online steps per key of the input stream (see Randomness above)


@dataclass(frozen=True)
class Program:
    """Everything static about a study: two equal Programs share compiled code."""
    task: tasks.TaskSpec
    step: noise.StepSpec
    ctx: observables.Context
    width: int
    bias: bool
    first_layer: str
    second_layer: float | str
    observables: tuple[str, ...]
    needs_init: bool
    dtype: str
    grid_size: int
    blowup: float
    first_passage: tuple[tuple[int, float, bool], ...]      # (observable index, threshold, below)
    histograms: tuple[tuple[int, tuple[float, ...]], ...]   # (observable index, edges)
    return_values: bool                                     # bring per-seed values to the host


def build(study: Study) -> tuple[Program, dict[str, np.ndarray]]:
    """The static :class:`Program` and the traced hyperparameters, each of shape (G,)."""
    t, m, o, r = study.task, study.model, study.optimizer, study.record
    grid = list(np.ndindex(*study.grid_shape)) if study.sweep else [()]
    sweep = dict(study.sweep)
    methods = tuple(sweep.get("optimizer.method", (o.method,)))

    def number(path, v):                     # the method axis is traced as an index into methods
        return methods.index(v) if path == "optimizer.method" else v
    hp = {}
    for path in SWEEPABLE:
        vals = sweep.get(path)
        hp[path] = np.array([number(path, vals[i[study.grid_axes.index(path)]]) for i in grid]
                            if vals is not None else [number(path, study.value(path))] * len(grid), float)
    swept = set(study.grid_axes)
    bmax = int(hp["optimizer.batch_size"].max())
    online = t.kind == "teacher_student" and t.train_size == "online"
    n = 0 if online else (len(t.targets) if t.kind == "dataset" else t.train_size)
    if m.first_layer_init == "orthonormal" and m.width > t.input_dim:
        raise ConfigError(f"model.width must be <= task.input_dim ({t.input_dim}) for orthonormal init, got {m.width}")
    for name in r.observables:
        req = observables.REGISTRY[name].requires
        if req == "teacher" and t.kind != "teacher_student":
            raise ConfigError(f"record.observables: {name} needs task.kind = 'teacher_student' "
                              "(use train_loss for a dataset)")
        if req == "train_set" and online:
            raise ConfigError(f"record.observables: {name} needs a finite training set "
                              "(task.train_size = n); online, use population_loss")
    spec = tasks.TaskSpec(
        kind=t.kind, input_dim=t.input_dim, online=online, train_size=n, batch_max=bmax,
        full_batch=(not online and bmax == n and "optimizer.batch_size" not in swept and not o.replacement),
        replacement=o.replacement, teacher_activation=t.teacher_activation, test_size=t.test_size,
        label_noise="task.label_noise" in swept or t.label_noise != 0.0,
        population_rows=o.sde_samples if online and {"sde", "flow"} & set(methods) else 0)
    c = model.output_scale(m.parametrization, m.width)
    nz = lambda p: p in swept or float(study.value(p)) != 0.0   # noqa: E731
    step = noise.StepSpec(
        c=c, activation=m.activation, train_second_layer=m.train_second_layer,
        momentum=nz("optimizer.momentum"), weight_decay=nz("optimizer.weight_decay"),
        label_noise=nz("optimizer.label_noise"), langevin=nz("optimizer.langevin_temperature"),
        masked_batch="optimizer.batch_size" in swept,
        decay_steps=tuple(int(f * study.run.steps) for f in o.decay_at) if o.schedule == "step" else (),
        methods=methods, substeps=o.substeps, svag_max=int(hp["optimizer.svag_l"].max()))
    ctx = observables.Context(
        c=c, activation=m.activation, teacher_activation=t.teacher_activation if t.kind == "teacher_student" else None,
        closed_form=(t.kind == "teacher_student" and not m.bias
                     and kernels.has_closed_form(m.activation, t.teacher_activation)),
        online=online, kind=t.kind)
    names = r.observables
    hists = tuple((names.index(h.observable), tuple(stats.histogram_edges(h.min, h.max, h.bins, h.log).tolist()))
                  for h in r.histograms)
    fps = tuple((names.index(f.observable), f.threshold, f.below) for f in r.first_passage)
    prog = Program(
        task=spec, step=step, ctx=ctx, width=m.width, bias=m.bias, first_layer=m.first_layer_init,
        second_layer=m.second_layer_init, observables=names,
        needs_init=any(observables.REGISTRY[k].needs_init for k in names), dtype=study.run.dtype,
        grid_size=len(grid), blowup=study.run.blowup, first_passage=fps, histograms=hists,
        return_values=bool(r.quantiles or r.keep_per_seed))
    return prog, {k: v.astype(study.run.dtype) for k, v in hp.items()}


# ============================================================ one trajectory
def _data_noise(prog, hp):
    return hp["task.label_noise"] if prog.task.label_noise else None


def _init_one(prog: Program, seed_key, hp, shared):
    """Initial state of one trajectory at one grid point."""
    params = model.init(rng.fold_in(seed_key, INIT), width=prog.width, input_dim=prog.task.input_dim,
                        bias=prog.bias, first_layer=prog.first_layer, second_layer=prog.second_layer,
                        init_scale=hp["model.init_scale"], second_layer_scale=hp["model.second_layer_scale"],
                        dtype=jnp.dtype(prog.dtype))
    state = {"params": params, "opt": noise.init_state(prog.step, params, hp)}
    if prog.needs_init:
        state["params0"] = params
    return state


def _batch_source(prog: Program) -> str | None:
    """Where SGD's batch of step t comes from, when it is made per seed outside the step.

    ``"block"``: online inputs, the rows of a block of BLOCK steps (:func:`_online_keys`);
    ``"epochs"``: a finite set visited in reshuffled epochs with a fixed batch size,
    its epoch permutations drawn once per epoch, not at every step.  Either is kept
    in the loop carry (:func:`_cache`).  ``None``: the step draws its batch itself
    (full batch, replacement, a swept batch size, no SGD).
    """
    if "sgd" not in prog.step.methods:
        return None
    if prog.task.online:
        return "block"
    if not (prog.task.replacement or prog.task.full_batch or prog.step.masked_batch):
        return "epochs"
    return None


def _online_keys(seed_key, t):
    """The keys (kx, kn) of the block of BLOCK online steps containing step t, (2, 2)."""
    return rng.split(rng.fold_in(rng.fold_in(seed_key, BLOCKS), t // BLOCK))


def _cache(prog: Program):
    """(tag(t), make(seed_key, t), batch(cache, data, t)) of the per-seed cache of the
    batch source: the keys of step t's online block, or the permutations of the epochs
    it touches.  ``tag`` depends on t only; the cache is remade when it changes."""
    task = prog.task
    if _batch_source(prog) == "block":
        def batch(keys, data, t):
            # A real conditional (XLA cannot prove t >= 0), so that the step's inputs are drawn
            # once: left in the step's dataflow, XLA fuses the sampler into each of its consumers
            # and recomputes it for every element of W's update (4x slower).
            def draw():
                return tasks.draw_online_batch(task, keys, t % BLOCK, jnp.dtype(prog.dtype))
            unused = jax.tree.map(jnp.zeros_like, jax.eval_shape(draw))
            return tasks.online_batch(task, data, jax.lax.cond(t >= 0, draw, lambda: unused))
        return lambda t: t // BLOCK, _online_keys, batch
    count = tasks.epochs_spanned(task, task.batch_max)
    epoch = lambda t: (t * task.batch_max) // task.train_size  # noqa: E731
    return (epoch, lambda k, t: tasks.epoch_permutations(task, rng.fold_in(k, SHUFFLE), epoch(t), count),
            lambda c, data, t: tasks.epoch_batch(task, data, c, t))


def _step_one(prog: Program, t, state, data, seed_key, hp, batch=None):
    """Step t of one trajectory at one grid point (SGD, or the SDE / flow / SVAG step).

    ``batch``: SGD's batch of step t made per seed (see :func:`_batch_source`):
    inputs x, clean labels y and data-noise normals e.

    Keys not needed by the switched-on noise sources are dead code, removed by XLA.
    """
    key = rng.fold_in(rng.fold_in(seed_key, STEPS), t)
    k_batch, k_sgd = rng.split(key)
    dn, dt, task = _data_noise(prog, hp), jnp.dtype(prog.dtype), prog.task
    p, s = state["params"], state["opt"]
    outs = []
    for method in prog.step.methods:
        if method == "sgd":
            if batch is not None:
                x, y = batch["x"], (batch["y"] + dn * batch["e"] if dn is not None else batch["y"])
            else:
                bs = hp["optimizer.batch_size"].astype(jnp.int32) if prog.step.masked_batch else task.batch_max
                x, y = tasks.sample_batch(task, data, k_batch, rng.fold_in(seed_key, SHUFFLE), t, bs, dn, dt)
            outs.append(noise.sgd_step(prog.step, p, s, x, y, k_sgd, t, hp))
        elif method in ("sde", "flow"):
            x, y = tasks.full_sample(task, data, k_batch, task.population_rows, dn, dt)
            outs.append(noise.sde_step(prog.step, p, s, x, y, k_sgd, t, hp, noisy=method == "sde"))
        else:
            def batches(i):
                k1, k2 = rng.split(rng.fold_in(k_batch, i))
                return (tasks.sample_iid(task, data, k1, task.batch_max, dn, dt),
                        tasks.sample_iid(task, data, k2, task.batch_max, dn, dt))
            outs.append(noise.svag_step(prog.step, p, s, batches, k_sgd, t, hp))
    if len(outs) > 1:                         # the method is a grid axis: select this point's
        which = hp["optimizer.method"].astype(jnp.int32)
        outs = [jax.tree.map(lambda *xs: jax.lax.select_n(which, *xs), *outs)]
    p, s = outs[0]
    return {**state, "params": p, "opt": s}


def _observe_one(prog: Program, state, data, hp):
    """(n_observables,) values and the alive flag of one trajectory."""
    if data.y_train is not None:
        data = data._replace(y_train=data.labels(hp["task.label_noise"]))
    params = state["params"]
    vals = jnp.stack([observables.REGISTRY[k].fn(params, state.get("params0"), data, prog.ctx)
                      for k in prog.observables]).astype(jnp.dtype(prog.dtype))
    leaves = jax.tree.leaves(params)
    # max |p| <= blowup is False for inf and for nan (max propagates nan): one reduction per leaf
    ok = jnp.all(jnp.stack([jnp.max(jnp.abs(p)) <= prog.blowup for p in leaves]))
    return vals, ok & jnp.all(jnp.isfinite(vals))


# ============================================================ seeds × grid
def _merge_data(shared, per_seed):
    return shared._replace(**per_seed)


def _make_fns(prog: Program, sharding=None):
    """The (init, segment) functions of a Program, to be jitted.

    With a ``sharding`` over the seed axis, per-seed arrays are constrained to it
    (statistics over seeds then reduce across devices).
    """
    def shard(tree):
        if sharding is None:
            return tree
        return jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, sharding), tree)

    def draw(seed_keys):
        return shard(jax.vmap(lambda k: tasks.draw_seed_data(rng.fold_in(k, DATA), prog.task,
                                                             jnp.dtype(prog.dtype)))(seed_keys))

    def init(seed_keys, hp, shared, drawn):
        per_seed = jax.vmap(lambda d: tasks.label_seed_data(d, shared, prog.task))(drawn) if drawn else {}
        state = jax.vmap(lambda k: jax.vmap(lambda h: _init_one(prog, k, h, shared))(hp))(seed_keys)
        S, G = seed_keys.shape[0], prog.grid_size
        state["alive"] = jnp.ones((S, G), bool)
        state["fpt"] = jnp.full((S, G, len(prog.first_passage)), -1, jnp.int32)
        return shard(state), shard(per_seed)

    G = prog.grid_size

    def step_all(t, state, per_seed, seed_keys, hp, shared, cache):
        """Step t of every trajectory: state leaves (S, G, ...), or (S, ...) when G = 1.

        SGD's batch of step t, when made per seed (:func:`_batch_source`), is cut from
        the seed's cache and labelled once per seed, then broadcast over the seed's
        grid points before the network sees it: left unbatched over the grid, XLA's
        CPU dot copies (transposes) W at every step.
        """
        batches = None
        if cache is not None:
            batches = jax.vmap(lambda c, ps: _cache(prog)[2](c, _merge_data(shared, ps), t))(cache, per_seed)
        if G == 1:
            h1 = jax.tree.map(lambda a: a[0], hp)
            return jax.vmap(lambda s, ps, k, b: _step_one(prog, t, s, _merge_data(shared, ps), k, h1, b))(
                state, per_seed, seed_keys, batches)

        def seed_fn(st, ps, k, b):
            data = _merge_data(shared, ps)
            if b is None:
                return jax.vmap(lambda s, h: _step_one(prog, t, s, data, k, h, None))(st, hp)
            b = jax.tree.map(lambda a: jnp.broadcast_to(a, (G,) + a.shape), b)
            return jax.vmap(lambda s, h, bb: _step_one(prog, t, s, data, k, h, bb))(st, hp, b)
        return jax.vmap(seed_fn)(state, per_seed, seed_keys, batches)

    def advance(t0, t1, dyn, per_seed, seed_keys, hp, shared):
        """Steps t0 .. t1 − 1.  A per-seed cache (:func:`_cache`) is remade whenever its tag changes and at
        t0: a real conditional, its predicate depends on t only.

        With one grid point the loop carries the state without its size-1 grid axis,
        which otherwise makes XLA copy W at every step (half the speed of W1).
        """
        if G == 1:
            dyn = jax.tree.map(lambda a: a[:, 0], dyn)
        if _batch_source(prog) is None:
            out = jax.lax.fori_loop(t0, t1, lambda t, s: step_all(t, s, per_seed, seed_keys, hp, shared, None), dyn)
        else:
            tag, make, _ = _cache(prog)
            make_all = jax.vmap(make, in_axes=(0, None))

            def body(t, carry):
                s, c, c_tag = carry
                c = jax.lax.cond((tag(t) != c_tag) | (t == t0), lambda: make_all(seed_keys, t), lambda: c)
                return step_all(t, s, per_seed, seed_keys, hp, shared, c), c, tag(t)
            c0 = jax.tree.map(jnp.zeros_like, jax.eval_shape(make_all, seed_keys, t0))
            out = jax.lax.fori_loop(t0, t1, body, (dyn, c0, tag(t0)))[0]
        return jax.tree.map(lambda a: a[:, None], out) if G == 1 else out

    def segment(state, per_seed, seed_keys, hp, shared, valid, t0, t1, rec):
        dyn = {k: state[k] for k in ("params", "opt", "params0") if k in state}
        # a diverged trajectory is stepped on with the others (its parameters go to inf or nan):
        # ``alive`` stays false for it, so it never enters a statistic again.  Freezing it would
        # keep a copy of every trajectory's state through the segment (3.2 of W1's 10 KiB per
        # trajectory), or cost a select at every step.
        new = advance(t0, t1, dyn, per_seed, seed_keys, hp, shared)
        alive = state["alive"]

        def obs_seed(st, ps):
            data = _merge_data(shared, ps)
            return jax.vmap(lambda s, h: _observe_one(prog, s, data, h))(st, hp)
        vals, ok = jax.vmap(obs_seed)(new, per_seed)            # (S, G, n_obs), (S, G)
        alive = alive & ok
        mask = alive & valid[:, None]
        fpt = state["fpt"]
        for j, (i, thr, below) in enumerate(prog.first_passage):
            crossed = mask & ((vals[..., i] <= thr) if below else (vals[..., i] >= thr))
            fpt = fpt.at[..., j].set(jnp.where((fpt[..., j] < 0) & crossed, rec, fpt[..., j]))
        m3 = jnp.broadcast_to(mask[..., None], vals.shape)
        summary = {"moments": stats.moments(vals, m3, axis=0),
                   "diverged": jnp.sum(valid[:, None] & ~alive, axis=0),
                   "hist": tuple(stats.histogram(vals[..., i], mask, jnp.asarray(e), axis=0)
                                 for i, e in prog.histograms)}
        if prog.return_values:
            summary["values"] = jnp.where(m3, vals, jnp.nan)
        return shard({**new, "alive": alive, "fpt": fpt}), summary

    return draw, init, segment


class _Init:
    """A chunk's initial (state, per-seed data), from two compiled programs: the per-seed
    draws alone, then everything else.  In one program the training inputs would have two
    consumers (the stored set and the teacher's labels), and XLA splits the sampler to
    store its intermediates instead of recomputing them: 3 GB for W2's 64 sets."""

    def __init__(self, draw, init):
        self.programs = (draw, init)

    def __call__(self, keys, hp, shared):
        draw, init = self.programs
        return init(keys, hp, shared, draw(keys))


_COMPILED: dict = {}


def _compiled(prog: Program, keys, hp, shared, valid):
    """AOT-compiled (init, segment) for this Program and chunk shape, cached.

    Returns them with the seconds spent compiling (0 when cached).
    """
    cache_key = (prog, keys.shape, str(getattr(keys, "sharding", None)),
                 tuple((a.shape, str(a.dtype)) for a in jax.tree.leaves(shared)))
    if cache_key in _COMPILED:
        return _COMPILED[cache_key], 0.0
    t0 = time.perf_counter()
    draw, init, segment = _make_fns(prog, getattr(keys, "sharding", None) if jax.local_device_count() > 1 else None)
    # each program is compiled for what the one before returns, shardings included
    typed = lambda shapes, shardings: jax.tree.map(  # noqa: E731
        lambda a, sh: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sh), shapes, shardings)
    draw_c = jax.jit(draw).lower(keys).compile()
    drawn = typed(jax.eval_shape(draw, keys), draw_c.output_shardings)
    init_c = jax.jit(init, donate_argnums=3).lower(keys, hp, shared, drawn).compile()
    state, per_seed = typed(jax.eval_shape(init, keys, hp, shared, drawn), init_c.output_shardings)
    i32 = jax.ShapeDtypeStruct((), jnp.int32)
    seg_c = jax.jit(segment, donate_argnums=0).lower(state, per_seed, keys, hp, shared, valid,
                                                     i32, i32, i32).compile()
    _COMPILED[cache_key] = (_Init(draw_c, init_c), seg_c)
    return _COMPILED[cache_key], time.perf_counter() - t0


# ============================================================ the run
def initial_params(study: Study, n_seeds: int):
    """Initial parameters of trajectories ``first_seed .. first_seed + n_seeds − 1``.

    Returns (params with leading axes (n_seeds, G), shared task data, hp (G,) arrays),
    exactly as the run draws them (for theory started from the same weights).
    """
    prog, hp_np = build(study)
    dt = jnp.dtype(prog.dtype)
    with jax.enable_x64(study.run.dtype == "float64"):
        seeds_key, shared_key = rng.split(jax.random.PRNGKey(study.run.seed))
        shared = tasks.make_shared(shared_key, study.task, dt)
        idx = jnp.arange(study.run.first_seed, study.run.first_seed + n_seeds, dtype=jnp.uint32)
        draw, init, _ = _make_fns(prog)
        state, _ = _Init(jax.jit(draw), jax.jit(init))(_seed_keys(seeds_key, idx),
                                                       {k: jnp.asarray(v, dt) for k, v in hp_np.items()}, shared)
    return state["params"], shared, hp_np


def _seed_keys(base_key, indices):
    return jax.vmap(lambda k: rng.fold_in(base_key, k))(indices)


def _n_params(prog: Program) -> int:
    return prog.width * prog.task.input_dim + prog.width * (2 + prog.bias)


def _bytes_per_seed(prog: Program, study: Study) -> int:
    item = jnp.dtype(prog.dtype).itemsize
    d, m, G = prog.task.input_dim, prog.width, prog.grid_size
    n_params = _n_params(prog)
    copies = 3 + prog.step.momentum + prog.needs_init           # params, grads, updates, ...
    rows = max(prog.task.batch_max * (2 if "svag" in prog.step.methods else 1), prog.task.population_rows)
    per_traj = n_params * copies + rows * (d + 4 * m)
    eval_rows = prog.task.train_size or (0 if prog.ctx.closed_form and len(prog.observables) == 1 else prog.task.test_size)
    per_traj += 3 * eval_rows * m
    per_seed_data = prog.task.train_size * (d + 2) if study.task.kind == "teacher_student" else 0
    return (G * per_traj + per_seed_data) * item


CPU_CHUNK_TRAJECTORIES = 1024   # per CPU device at most (jaxrelu bench, W1/W3/W4)
CPU_STATE_BYTES = 4 * 2**20     # per CPU device: what a chunk's trajectories read and write at every step


def chunk_size(prog: Program, study: Study) -> int:
    """Seeds per compiled call: ``run.chunk_size``, else from ``run.memory_budget``.

    On a CPU the default also caps a chunk, per device, at :data:`CPU_CHUNK_TRAJECTORIES`
    trajectories (seeds × grid points) and at :data:`CPU_STATE_BYTES` of what they
    read and write at every step (parameters, optimiser state, and three activations
    per batch row and hidden unit), so that it stays in cache: W1's network at width
    512 steps 2.1x faster than in chunks of 1024 trajectories per device, at width
    128 2.8x; W3 (activations of 12 rows) 1.4x.  Chunks are balanced (⌈S / n_chunks⌉)
    and a multiple of the local device count; without ``run.chunk_size``, n_chunks is a
    multiple of the process count, so that every process of a multi-process run has work.
    """
    n_dev = jax.local_device_count()
    if study.run.chunk_size:
        size = study.run.chunk_size
    else:
        size = int(study.run.memory_budget * 2**30 // _bytes_per_seed(prog, study))
        if jax.default_backend() == "cpu":
            rows = max(prog.task.batch_max, prog.task.population_rows)
            per_traj = (_n_params(prog) * (1 + prog.step.momentum) + 3 * rows * prog.width) * jnp.dtype(prog.dtype).itemsize
            per_dev = max(1, min(CPU_CHUNK_TRAJECTORIES, CPU_STATE_BYTES // per_traj))
            size = min(size, max(1, per_dev * n_dev // prog.grid_size))
    size = max(1, min(size, study.run.seeds))
    n_chunks = math.ceil(study.run.seeds / size)
    if not study.run.chunk_size:              # each process of a multi-process run gets as many chunks
        n_chunks = math.ceil(n_chunks / jax.process_count()) * jax.process_count()
    size = math.ceil(study.run.seeds / n_chunks)                              # balance the chunks
    return math.ceil(size / n_dev) * n_dev


def cpu_cores() -> list[int]:
    """The cores this process may run on, sorted (its CPU affinity: taskset, SLURM, cgroups)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def use_cpu_cores(n: int | None = None) -> int:
    """Give JAX one CPU device per core (``jax_num_cpu_devices``, default ``len(cpu_cores())``).

    The engine shards each chunk's seeds over the local devices, so every core then
    runs its own seeds' fused loops, instead of one device splitting each small
    operation across threads and synchronising after it: 1.2x on W1 and 1.5x on W4
    on the 2-core development machine (``jaxrelu bench``, README).  The ``jaxrelu``
    command calls this; from Python call it before JAX's first computation.  Per-seed
    trajectories are bitwise the same on any device count; statistics agree to
    float32 rounding (each device sums its own seeds).  Does nothing once JAX's
    backend is running, or when ``JAX_NUM_CPU_DEVICES`` or
    ``--xla_force_host_platform_device_count`` already chose.  Returns the count asked for
    (or 0 when it left JAX alone).
    """
    if "JAX_NUM_CPU_DEVICES" in os.environ or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return 0
    n = n or len(cpu_cores())
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:                      # the backend is already running
        return 0
    return n


def run(study: Study, progress: Callable[[dict], None] | None = None,
        checkpoint: str | os.PathLike | None = None) -> Results:
    """Run every seed at every grid point; return statistics over seeds.

    ``progress``, if given, is called between compiled segments with a dict
    ``{"steps_done", "steps_total", "elapsed", "trajectories"}`` (steps counted
    per trajectory, summed over seeds and grid points).

    ``checkpoint``: a directory.  The run state (parameters, optimiser state,
    accumulated statistics, first passages) is written atomically to
    ``checkpoint/checkpoint.npz`` every ``run.checkpoint_every`` segments, at the
    end of each chunk and on Ctrl-C; if that file exists the run resumes from it
    and gives results bitwise identical to an uninterrupted run.  Per-seed arrays
    (first passages, values kept for quantiles) of a finished chunk are written
    once, to ``checkpoint.chunkNNNNN.npz``, so checkpointing writes O(seeds) in
    all, not O(chunks × seeds).
    """
    if "ode" in study.record.theory:             # fail before simulating, not after
        from jaxrelu.theory import predict
        predict.check_ode_applies(study)
    with jax.enable_x64(study.run.dtype == "float64"):
        res = _run(study, progress, None if checkpoint is None else Path(checkpoint))
    if "ode" in study.record.theory:
        res.arrays["population_loss.ode"] = predict.ode_population_loss(study)
    return res


class _Accumulators:
    """Host-side statistics of a run, merged chunk by chunk (float64)."""

    PER_SEED = ("fpt", "values")      # arrays with a leading seed axis

    def __init__(self, prog: Program, S: int, R: int):
        G, n_obs = prog.grid_size, len(prog.observables)
        shape = (R, G, n_obs)
        self.arrays = {"m.count": np.zeros(shape), "m.mean": np.zeros(shape), "m.m2": np.zeros(shape),
                       "m.min": np.full(shape, np.inf), "m.max": np.full(shape, -np.inf),
                       "diverged": np.zeros((R, G), np.int64),
                       "fpt": np.full((S, G, len(prog.first_passage)), -1, np.int64)}
        for j, (_, e) in enumerate(prog.histograms):
            self.arrays[f"hist{j}"] = np.zeros((R, G, len(e) - 1), np.int64)
        if prog.return_values:
            vdt = np.float64 if prog.dtype == "float64" else np.float32
            self.arrays["values"] = np.full((S, G, n_obs, R), np.nan, vdt)

    def add(self, r: int, rows: slice, summ: dict) -> None:
        """Merge one chunk's summary at record r; its per-seed rows are ``rows``."""
        a = self.arrays
        merged = stats.merge(self.moments(r), stats.Moments(*summ["moments"]))
        for k, v in zip(stats.Moments._fields, merged):
            a[f"m.{k}"][r] = v
        a["diverged"][r] += summ["diverged"]
        for j, h in enumerate(summ["hist"]):
            a[f"hist{j}"][r] += h
        if "values" in a:
            a["values"][rows, :, :, r] = summ["values"][: rows.stop - rows.start]

    def moments(self, r) -> stats.Moments:
        return stats.Moments(*(self.arrays[f"m.{k}"][r] for k in stats.Moments._fields))

    def merge_processes(self, owner: np.ndarray) -> None:
        """Combine the accumulators of all JAX processes (each ran the seeds where
        ``owner == process_index``); every process ends with the merged result."""
        from jax.experimental import multihost_utils
        with jax.enable_x64(True):              # gather float64/int64 without truncation
            g = {k: np.asarray(multihost_utils.process_allgather(v)) for k, v in self.arrays.items()}
        merged = None
        for p in range(g["diverged"].shape[0]):
            merged = stats.merge(merged, stats.Moments(*(g[f"m.{k}"][p] for k in stats.Moments._fields)))
        for k, v in zip(stats.Moments._fields, merged):
            self.arrays[f"m.{k}"] = v
        for k in self.arrays:
            if k == "diverged" or k.startswith("hist"):
                self.arrays[k] = g[k].sum(axis=0)
            elif k in ("values", "fpt"):
                self.arrays[k] = np.take_along_axis(
                    g[k], owner.reshape((1, -1) + (1,) * (g[k].ndim - 2)), axis=0)[0]


def _save_checkpoint(path: Path, acc: _Accumulators, position: dict, state, rows: slice) -> None:
    """The run's position, its statistics and (mid-chunk) the chunk's state; of the per-seed
    arrays only the current chunk's ``rows`` (finished chunks are in their own files)."""
    arrays = {f"acc.{k}": v[rows] if k in acc.PER_SEED else v for k, v in acc.arrays.items()}
    if state is not None:
        for i, leaf in enumerate(jax.tree.leaves(state)):
            arrays[f"state.{i}"] = np.asarray(jax.device_get(leaf))
    arrays["position"] = np.asarray(json.dumps(position))
    path.mkdir(parents=True, exist_ok=True)
    _atomic_write(path / _checkpoint_name(), lambda f: np.savez(f, **arrays))


def _save_chunk(path: Path, acc: _Accumulators, c: int, rows: slice, fingerprint: str) -> None:
    """The per-seed arrays of finished chunk c, written once."""
    arrays = {f"acc.{k}": acc.arrays[k][rows] for k in acc.PER_SEED if k in acc.arrays}
    arrays["fingerprint"] = np.asarray(fingerprint)
    path.mkdir(parents=True, exist_ok=True)
    _atomic_write(path / _chunk_name(c), lambda f: np.savez(f, **arrays))


def _load_checkpoint(path: Path, acc: _Accumulators, fingerprint: str):
    """(position, state leaves) of the checkpoint in ``path``; the statistics go into ``acc``,
    the per-seed arrays of the current chunk too (those of finished chunks: :func:`_load_chunks`)."""
    file = path / _checkpoint_name()
    try:
        with np.load(file, allow_pickle=False) as z:
            position = json.loads(str(z["position"]))
            saved = {k: z[f"acc.{k}"] for k in acc.arrays}
            leaves = [z[k] for k in sorted((k for k in z.files if k.startswith("state.")),
                                           key=lambda k: int(k.split(".")[1]))]
    except Exception as e:  # noqa: BLE001 - a damaged file is reported, never half-used
        raise ResultsError(f"{str(file)!r}: corrupt checkpoint ({type(e).__name__}: {e})") from None
    if position.get("fingerprint") != fingerprint:
        raise _foreign(file)
    size, c = position["chunk_size"], position["chunk"]
    for k, v in saved.items():
        if k in acc.PER_SEED:
            acc.arrays[k][c * size: c * size + len(v)] = v
        else:
            acc.arrays[k] = v
    return position, leaves


def _load_chunks(path: Path, acc: _Accumulators, chunks, size: int, fingerprint: str) -> None:
    """The per-seed arrays of the finished ``chunks`` into ``acc``."""
    S = acc.arrays["fpt"].shape[0]
    for c in chunks:
        file, rows = path / _chunk_name(c), slice(c * size, min((c + 1) * size, S))
        try:
            with np.load(file, allow_pickle=False) as z:
                written_by = str(z["fingerprint"])
                saved = {k: z[f"acc.{k}"] for k in acc.PER_SEED if k in acc.arrays}
        except Exception as e:  # noqa: BLE001 - a damaged file is reported, never half-used
            raise ResultsError(f"{str(file)!r}: corrupt or missing chunk checkpoint ({type(e).__name__}: {e})") from None
        if written_by != fingerprint:
            raise _foreign(file)
        for k, v in saved.items():
            acc.arrays[k][rows] = v


def _foreign(file: Path) -> ResultsError:
    return ResultsError(f"{str(file)!r} was written by a different study; refusing to resume from it")


def _checkpoint_name() -> str:
    """``checkpoint.npz``, or one file per process under jax.distributed."""
    return "checkpoint.npz" if jax.process_count() == 1 else f"checkpoint.p{jax.process_index()}.npz"


def _chunk_name(c: int) -> str:
    """The file of finished chunk c's per-seed arrays (chunks belong to one process each)."""
    return f"checkpoint.chunk{c:05d}.npz"


def init_distributed(coordinator: str | None = None, num_processes: int | None = None,
                     process_id: int | None = None) -> None:
    """Join a multi-process run (``jax.distributed.initialize``).

    Without arguments JAX detects the cluster (SLURM, TPU pods, Open MPI, ...).
    On CPU the processes exchange statistics through gloo collectives.  Each
    process simulates every P-th chunk of seeds; statistics are merged exactly.
    """
    if jax.config.jax_platforms in (None, "", "cpu") or "cpu" in str(jax.config.jax_platforms):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)


def _run(study: Study, progress, ckpt_dir: Path | None) -> Results:
    prog, hp_np = build(study)
    S, G = study.run.seeds, prog.grid_size
    records = study.record_steps()
    R = len(records)
    dt = jnp.dtype(prog.dtype)
    hp = {k: jnp.asarray(v, dt) for k, v in hp_np.items()}
    seeds_key, shared_key = rng.split(jax.random.PRNGKey(study.run.seed))
    shared = tasks.make_shared(shared_key, study.task, dt)
    sharding = None
    if jax.local_device_count() > 1:
        mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ("seeds",))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds"))

    n_proc = jax.process_count()               # > 1 under jax.distributed: chunks are dealt out
    acc = _Accumulators(prog, S, R)
    fingerprint = json.dumps(study.to_dict(), sort_keys=True)
    position = {"chunk": 0, "record": 0, "compile_seconds": 0.0, "run_seconds": 0.0, "fingerprint": fingerprint,
                "chunk_size": chunk_size(prog, study)}
    saved_state = None
    if ckpt_dir is not None and (ckpt_dir / _checkpoint_name()).exists():
        position, saved_state = _load_checkpoint(ckpt_dir, acc, fingerprint)
        _load_chunks(ckpt_dir, acc, [c for c in range(position["chunk"]) if c % n_proc == jax.process_index()],
                     position["chunk_size"], fingerprint)
    size = position["chunk_size"]             # a resumed run keeps the chunks it started with
    if size % jax.local_device_count():
        raise ResultsError(f"{str(ckpt_dir)!r} was run in chunks of {size} seeds, which {jax.local_device_count()} "
                           f"local devices cannot share; resume it with a device count dividing {size} "
                           "(JAX_NUM_CPU_DEVICES on a CPU)")
    n_chunks = math.ceil(S / size)
    compile_s, run_s = position["compile_seconds"], position["run_seconds"]
    t_start = time.perf_counter()
    steps_total = S * G * study.run.steps
    every = study.run.checkpoint_every

    with _DeferInterrupt() as interrupt:
        for c in range(position["chunk"], n_chunks):
            if c % n_proc != jax.process_index():      # another process simulates this chunk
                continue
            lo = study.run.first_seed + c * size
            idx = np.arange(lo, lo + size, dtype=np.uint32)
            keys = _seed_keys(seeds_key, jnp.asarray(idx))
            valid = jnp.asarray(np.arange(c * size, c * size + size) < S)
            if sharding is not None:
                keys, valid = jax.device_put(keys, sharding), jax.device_put(valid, sharding)
            (init_c, segment_c), secs = _compiled(prog, keys, hp, shared, valid)
            compile_s += secs
            state, per_seed = init_c(keys, hp, shared)
            r0 = 0
            if saved_state is not None and position["chunk"] == c and position["record"] > 0:
                tree = jax.tree.structure(state)
                state = jax.tree.unflatten(tree, [jax.device_put(jnp.asarray(v), getattr(old, "sharding", None))
                                                  for v, old in zip(saved_state, jax.tree.leaves(state))])
                r0 = position["record"]
            saved_state = None
            t0 = time.perf_counter()
            rows = slice(c * size, min((c + 1) * size, S))
            since_ckpt = 0
            for r in range(r0, R):
                prev = records[r - 1] if r > 0 else 0
                state, summ = segment_c(state, per_seed, keys, hp, shared, valid,
                                        jnp.int32(prev), jnp.int32(records[r]), jnp.int32(r))
                acc.add(r, rows, jax.device_get(summ))
                since_ckpt += 1
                if progress is not None:
                    done = c * size * G * study.run.steps + (rows.stop - rows.start) * G * records[r]
                    progress({"steps_done": done, "steps_total": steps_total,
                              "elapsed": time.perf_counter() - t_start, "trajectories": S * G})
                if ckpt_dir is not None and r + 1 < R and (interrupt.requested or (every and since_ckpt >= every)):
                    pos = {**position, "chunk": c, "record": r + 1, "compile_seconds": compile_s,
                           "run_seconds": run_s + time.perf_counter() - t0}
                    _save_checkpoint(ckpt_dir, acc, pos, state, rows)
                    since_ckpt = 0
                if interrupt.requested:
                    raise KeyboardInterrupt
            acc.arrays["fpt"][rows] = np.asarray(jax.device_get(state["fpt"]))[: rows.stop - rows.start]
            run_s += time.perf_counter() - t0
            del state, per_seed
            if ckpt_dir is not None and c + 1 < n_chunks:
                _save_chunk(ckpt_dir, acc, c, rows, fingerprint)
                _save_checkpoint(ckpt_dir, acc, {**position, "chunk": c + 1, "record": 0,
                                                 "compile_seconds": compile_s, "run_seconds": run_s}, None,
                                 slice(0, 0))
            if interrupt.requested:
                raise KeyboardInterrupt

    if n_proc > 1:
        acc.merge_processes(np.arange(S) // size % n_proc)
    return _finalize(study, prog, records, acc, compile_s, run_s, size, n_chunks)


class _DeferInterrupt:
    """Turn Ctrl-C into a flag checked between compiled segments (main thread only)."""

    def __enter__(self):
        self.requested = False
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:                      # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _finalize(study, prog, records, acc: _Accumulators, compile_s, run_s, size, n_chunks) -> Results:
    gshape = study.grid_shape
    S, G = study.run.seeds, prog.grid_size
    R = len(records)
    to_grid = lambda a: a.reshape(gshape + a.shape[1:])  # noqa: E731  (G, ...) -> (*grid, ...)
    arrays = {"step": np.asarray(records, np.int64),
              "seed": np.arange(study.run.first_seed, study.run.first_seed + S, dtype=np.int64)}
    for axis, vals in study.sweep:         # numbers, or the names of methods
        arrays[axis] = np.asarray(vals) if axis == "optimizer.method" else np.asarray(vals, np.float64)
    fin = [stats.finalize(acc.moments(r)) for r in range(R)]       # per record: (G, n_obs)
    values = acc.arrays.get("values")
    diverged, fpt = acc.arrays["diverged"], acc.arrays["fpt"]
    qlevels = study.record.quantiles
    notes = []
    for i, name in enumerate(prog.observables):
        for s in STATS:
            arrays[f"{name}.{s}"] = to_grid(np.stack([f[s][:, i] for f in fin], axis=-1))
        if qlevels:
            if values is not None:
                q = stats.quantiles(values[:, :, i, :], qlevels, axis=0)   # (G, R, Q)
                arrays[f"{name}.quantiles"] = to_grid(q)
        if name in study.record.keep_per_seed:
            arrays[f"{name}.per_seed"] = to_grid(np.moveaxis(values[:, :, i, :], 0, 1))
    for (i, edges), j in zip(prog.histograms, range(len(prog.histograms))):
        name = prog.observables[i]
        arrays[f"{name}.hist"] = to_grid(np.moveaxis(acc.arrays[f"hist{j}"], 0, 1))
        arrays[f"{name}.hist_edges"] = np.asarray(edges)
    arrays["diverged.count"] = to_grid(diverged.T.copy())
    arrays["diverged.fraction"] = to_grid(diverged.T / S)
    steps_arr = np.asarray(records, np.float64)
    for j, (i, thr, below) in enumerate(prog.first_passage):
        name = f"fpt.{prog.observables[i]}"
        rec = fpt[:, :, j]                                           # (S, G) record index or -1
        st = np.where(rec >= 0, steps_arr[np.maximum(rec, 0)], np.inf)
        arrays[f"{name}.steps"] = to_grid(st.T.copy())
        arrays[f"{name}.survival"] = to_grid(np.stack([(st > s).mean(axis=0) for s in steps_arr], axis=-1))
    traj_steps = S * G * study.run.steps
    meta = {
        "config": study.to_dict(),
        "grid_axes": list(study.grid_axes),
        "grid_shape": list(gshape),
        "observables": list(prog.observables),
        "quantile_levels": list(qlevels),
        "first_passage": [{"observable": prog.observables[i], "threshold": t, "below": b}
                          for i, t, b in prog.first_passage],
        "seeds": S,
        "chunk_size": size,
        "chunks": n_chunks,
        "versions": _versions(),
        "devices": [str(d) for d in jax.devices()],
        "platform": platform.platform(),
        "compile_seconds": compile_s,
        "run_seconds": run_s,
        "trajectory_steps_per_second": traj_steps / run_s if run_s > 0 else None,
        "notes": notes,
    }
    return Results(arrays=arrays, meta=meta)


def _versions() -> dict:
    import optax
    from jaxrelu import __version__
    return {"jaxrelu": __version__, "jax": jax.__version__, "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else None,
            "optax": optax.__version__, "numpy": np.__version__, "python": platform.python_version()}
