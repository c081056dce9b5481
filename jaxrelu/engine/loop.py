"""The run: every chunk of seeds, every record segment, read top to bottom in :func:`_run`.

shared data (teacher, held-out sample)  ← PRNGKey(seed) stream "shared"
for each chunk of seeds (padded to one shape, sharded over local devices):
    state  = init(seed indices)                        # vmap seeds × vmap grid
    for each record segment [t0, t1):
        state, summary = segment(state, t0, t1)        # fori_loop of steps, then observables → stats
    merge the chunk's statistics into the run's (exact, pairwise)
Results (labelled arrays) ← finalise
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxrelu import precision, rng, stats, tasks
from jaxrelu.config import Study
from jaxrelu.engine import checkpoint
from jaxrelu.engine.accumulators import Accumulators
from jaxrelu.engine.chunking import chunk_size
from jaxrelu.engine.compile import Init, compiled
from jaxrelu.engine.program import build
from jaxrelu.engine.segment import make_fns
from jaxrelu.results import STATS, Results, ResultsError


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
        draw, init, *_ = make_fns(prog)
        state, _ = Init(jax.jit(draw), jax.jit(init))(
            _seed_keys(seeds_key, idx), {k: jnp.asarray(v, dt) for k, v in hp_np.items()}, shared
        )
    return state["params"], shared, hp_np


def trace_observables(prog, study: Study, hp_np: dict) -> None:
    """Trace one seed's initialisation and observables abstractly (``jax.eval_shape``: no
    computation), so that an observable that refuses the study's shapes or activation raises
    its ValueError now, not when the run compiles."""
    dt = jnp.dtype(prog.dtype)
    keys = jax.ShapeDtypeStruct((1, 2), jnp.uint32)
    with jax.enable_x64(prog.dtype == "float64"):
        shared = jax.eval_shape(lambda k: tasks.make_shared(k, study.task, dt), jax.random.PRNGKey(0))
        hp = {k: jax.ShapeDtypeStruct(v.shape, dt) for k, v in hp_np.items()}
        draw, init, _, observe = make_fns(prog)
        state, per_seed = jax.eval_shape(init, keys, hp, shared, jax.eval_shape(draw, keys))
    with jax.enable_x64(True):
        jax.eval_shape(
            observe, state, per_seed, hp, shared, jax.ShapeDtypeStruct((1,), bool), jax.ShapeDtypeStruct((), jnp.int32)
        )


def _seed_keys(base_key, indices):
    return jax.vmap(lambda k: rng.fold_in(base_key, k))(indices)


def run(
    study: Study, progress: Callable[[dict], None] | None = None, checkpoint: str | os.PathLike | None = None
) -> Results:
    """Run every seed at every grid point; return statistics over seeds.

    ``progress``, if given, is called between compiled segments with a dict
    ``{"steps_done", "steps_total", "elapsed", "run_seconds", "trajectories"}`` (steps
    counted per trajectory, summed over seeds and grid points; ``elapsed`` the wall time
    of this call, ``run_seconds`` the stepping time so far, compilation excluded, as in
    the results' ``meta["run_seconds"]``).

    ``checkpoint``: a directory.  The run state (parameters, optimiser state,
    accumulated statistics, first passages) is written atomically to
    ``checkpoint/checkpoint.npz`` every ``run.checkpoint_every`` segments, at the
    end of each chunk and on Ctrl-C; if that file exists the run resumes from it
    and gives results bitwise identical to an uninterrupted run.  Per-seed arrays
    (first passages, values kept for quantiles) of a finished chunk are written
    once, to ``checkpoint.chunkNNNNN.npz``, so checkpointing writes O(seeds) in
    all, not O(chunks × seeds).

    With ``run.precision`` targets (:mod:`jaxrelu.precision`), ``run.seeds`` is the first batch
    and chunks are added until every grid point meets its targets (or ``run.max_seeds``); the
    results then hold ``seeds_used`` per grid point (layout: :mod:`jaxrelu.results`), and a
    progress report carries ``"precision"``: ``{"seeds", "met", "points", "worst"}`` (seeds run,
    grid points at target, the worst error ÷ target among the others; ``steps_total`` is then
    the cap's).
    """
    with jax.enable_x64(study.run.dtype == "float64"):
        return _run(study, progress, None if checkpoint is None else Path(checkpoint))


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

    n_proc = jax.process_count()  # > 1 under jax.distributed: chunks are dealt out
    targets = precision.Targets.of(study, prog) if study.run.precision else None
    if targets is not None and n_proc > 1:
        raise ResultsError(
            "run.precision needs a single-process run: its stopping decisions merge every chunk as it finishes"
        )
    cap = study.run.max_seeds if targets is not None else S  # seeds a grid point may take at most
    acc = Accumulators(prog, cap, R)
    fingerprint = json.dumps(study.to_dict(), sort_keys=True)
    position = {
        "chunk": 0,
        "record": 0,
        "compile_seconds": 0.0,
        "run_seconds": 0.0,
        "fingerprint": fingerprint,
        "chunk_size": chunk_size(prog, study),
    }
    saved_state = None
    if ckpt_dir is not None and (ckpt_dir / checkpoint.checkpoint_name()).exists():
        position, saved_state = checkpoint.load_checkpoint(ckpt_dir, acc, fingerprint)
        mine = [c for c in range(position["chunk"]) if c % n_proc == jax.process_index()]
        checkpoint.load_chunks(ckpt_dir, acc, mine, position["chunk_size"], fingerprint)
    size = position["chunk_size"]  # a resumed run keeps the chunks it started with
    if size % jax.local_device_count():
        raise ResultsError(
            f"{str(ckpt_dir)!r} was run in chunks of {size} seeds, which {jax.local_device_count()} "
            f"local devices cannot share; resume it with a device count dividing {size} "
            "(JAX_NUM_CPU_DEVICES on a CPU)"
        )
    n_chunks = math.ceil(cap / size)
    stop = None
    if targets is not None:
        saved = position.get("precision")
        stop = precision.Stopping(G, len(targets), S, cap, precision.load_state(saved) if saved else None)
        position["precision"] = stop.state()
    idle = position.get("idle_trajectory_steps", 0)  # steps of grid points that had met their targets
    compile_s, run_s = position["compile_seconds"], position["run_seconds"]
    t_start = time.perf_counter()
    steps_total = cap * G * study.run.steps
    every = study.run.checkpoint_every
    n_run = position["chunk"]  # chunks run (all of them, or until the targets were met)

    def sample(rows_done: int) -> precision.Sample:
        assert stop is not None
        return precision.Sample(
            acc.moments,
            acc.arrays.get("values"),
            acc.arrays["fpt"],
            np.minimum(stop.seeds_used, rows_done),
            np.asarray(records),
        )

    with _DeferInterrupt() as interrupt:
        for c in range(position["chunk"], n_chunks):
            if c % n_proc != jax.process_index():  # another process simulates this chunk
                continue
            lo = study.run.first_seed + c * size
            idx = np.arange(lo, lo + size, dtype=np.uint32)
            keys = _seed_keys(seeds_key, jnp.asarray(idx))
            valid = jnp.asarray(np.arange(c * size, c * size + size) < cap)
            if sharding is not None:
                keys, valid = jax.device_put(keys, sharding), jax.device_put(valid, sharding)
            (init_c, segment_c), secs = compiled(prog, keys, hp, shared, valid)
            compile_s += secs
            state, per_seed = init_c(keys, hp, shared)
            r0 = 0
            if saved_state is not None and position["chunk"] == c and position["record"] > 0:
                tree = jax.tree.structure(state)
                state = jax.tree.unflatten(
                    tree,
                    [
                        jax.device_put(jnp.asarray(v), getattr(old, "sharding", None))
                        for v, old in zip(saved_state, jax.tree.leaves(state))
                    ],
                )
                r0 = position["record"]
            saved_state = None
            t0 = now = time.perf_counter()
            rows = slice(c * size, min((c + 1) * size, cap))
            columns = None if stop is None else stop.active.copy()  # the grid points this chunk counts for
            since_ckpt = 0
            for r in range(r0, R):
                prev = records[r - 1] if r > 0 else 0
                state, summ = segment_c(
                    state, per_seed, keys, hp, shared, valid, jnp.int32(prev), jnp.int32(records[r]), jnp.int32(r)
                )
                acc.add(r, rows, jax.device_get(summ), columns)
                now = time.perf_counter()  # stepping time: what run_seconds and the rate count
                since_ckpt += 1
                if progress is not None:
                    done = c * size * G * study.run.steps + (rows.stop - rows.start) * G * records[r]
                    info = {
                        "steps_done": done,
                        "steps_total": steps_total,
                        "trajectories": S * G,
                        "elapsed": now - t_start,
                        "run_seconds": run_s + now - t0,
                    }
                    if stop is not None:
                        info["precision"] = _precision_progress(stop, c * size)
                    progress(info)
                if ckpt_dir is not None and r + 1 < R and (interrupt.requested or (every and since_ckpt >= every)):
                    pos = {
                        **position,
                        "chunk": c,
                        "record": r + 1,
                        "compile_seconds": compile_s,
                        "run_seconds": run_s + now - t0,
                        "idle_trajectory_steps": idle,
                    }
                    checkpoint.save_checkpoint(ckpt_dir, acc, pos, state, rows)
                    since_ckpt = 0
                if interrupt.requested:
                    raise KeyboardInterrupt
            fpt_c = np.asarray(jax.device_get(state["fpt"]))[: rows.stop - rows.start]
            if columns is None:
                acc.arrays["fpt"][rows] = fpt_c
            else:
                acc.arrays["fpt"][rows, columns] = fpt_c[:, columns]
            run_s += now - t0
            n_run = c + 1
            del state, per_seed
            finished = False
            if stop is not None and targets is not None:
                idle += int((~columns).sum()) * (rows.stop - rows.start) * study.run.steps
                tg, n_done = targets, rows.stop
                finished = stop.after_chunk(n_done, lambda pts: tg.ratios(sample(n_done), pts))
                position["precision"] = stop.state()
            if ckpt_dir is not None and c + 1 < n_chunks and not finished:
                checkpoint.save_chunk(ckpt_dir, acc, c, rows, fingerprint)
                checkpoint.save_checkpoint(
                    ckpt_dir,
                    acc,
                    {
                        **position,
                        "chunk": c + 1,
                        "record": 0,
                        "compile_seconds": compile_s,
                        "run_seconds": run_s,
                        "idle_trajectory_steps": idle,
                    },
                    None,
                    slice(0, 0),
                )
            if stop is not None and progress is not None:  # the check's outcome, on the progress line
                done = rows.stop * G * study.run.steps
                progress(
                    {
                        "steps_done": done,
                        "steps_total": done if finished else steps_total,
                        "trajectories": S * G,
                        "elapsed": now - t_start,
                        "run_seconds": run_s,
                        "precision": _precision_progress(stop, rows.stop),
                    }
                )
            if interrupt.requested:
                raise KeyboardInterrupt
            if finished:
                break

    if n_proc > 1:
        acc.merge_processes(np.arange(S) // size % n_proc)
    res = _finalize(
        study,
        prog,
        records,
        acc,
        compile_s,
        run_s,
        size,
        n_run if stop is not None else n_chunks,
        None if stop is None else (targets, stop, idle, sample),
    )
    return res


def _precision_progress(stop: precision.Stopping, seeds: int) -> dict:
    """The precision part of a progress report: seeds run, grid points at target, the worst
    error ÷ target of those still running."""
    open_ = stop.ratios[:, stop.active]
    worst = float(np.nanmax(open_)) if open_.size and not np.isnan(open_).all() else None
    return {"seeds": seeds, "met": int((~stop.active & stop.met).sum()), "points": stop.active.size, "worst": worst}


class _DeferInterrupt:
    """Turn Ctrl-C into a flag checked between compiled segments (main thread only)."""

    def __enter__(self):
        self.requested = False
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _finalize(study, prog, records, acc: Accumulators, compile_s, run_s, size, n_chunks, prec=None) -> Results:
    """Results from the accumulators.  ``prec`` (precision targets: (targets, stopping rule, idle
    trajectory-steps, sample)): grid point g has its first ``seeds_used[g]`` seeds; its per-seed
    entries beyond are nan and its fractions are over its own seeds."""
    gshape = study.grid_shape
    S, G = study.run.seeds, prog.grid_size
    R = len(records)
    to_grid = lambda a: a.reshape(gshape + a.shape[1:])  # noqa: E731  (G, ...) -> (*grid, ...)
    used = np.full(G, S, np.int64)
    if prec is not None:
        used = prec[1].seeds_used.copy()
        S = int(used.max())
    counted = np.arange(S)[:, None] < used[None, :]  # (S, G): seed k counts at grid point g
    arrays = {
        "step": np.asarray(records, np.int64),
        "seed": np.arange(study.run.first_seed, study.run.first_seed + S, dtype=np.int64),
    }
    for axis, vals in study.sweep:  # numbers, or names (optimizer.method, optimizer.name)
        arrays[axis] = np.asarray(vals) if isinstance(vals[0], str) else np.asarray(vals, np.float64)
    fin = [stats.finalize(acc.moments(r)) for r in range(R)]  # per record: (G, n_obs)
    values = acc.arrays.get("values")
    diverged, fpt = acc.arrays["diverged"], acc.arrays["fpt"][:S]
    if prec is not None and values is not None:
        values = np.where(counted[:, :, None, None], values[:S], np.nan)
    qlevels = study.record.quantiles
    for i, name in enumerate(prog.observables):
        for s in STATS:
            arrays[f"{name}.{s}"] = to_grid(np.stack([f[s][:, i] for f in fin], axis=-1))
        if qlevels:
            if values is not None:
                q = stats.quantiles(values[:, :, i, :], qlevels, axis=0)  # (G, R, Q)
                arrays[f"{name}.quantiles"] = to_grid(q)
        if name in study.record.keep_per_seed:
            arrays[f"{name}.per_seed"] = to_grid(np.moveaxis(values[:, :, i, :], 0, 1))
    for (i, edges), j in zip(prog.histograms, range(len(prog.histograms))):
        name = prog.observables[i]
        counts = to_grid(np.moveaxis(acc.arrays[f"hist{j}"], 0, 1))  # (*grid, R, bins + 2)
        arrays[f"{name}.hist"] = counts[..., 1:-1]
        arrays[f"{name}.hist_underflow"] = counts[..., 0]
        arrays[f"{name}.hist_overflow"] = counts[..., -1]
        arrays[f"{name}.hist_edges"] = np.asarray(edges)
    arrays["diverged.count"] = to_grid(diverged.T.copy())
    arrays["diverged.fraction"] = to_grid(diverged.T / (S if prec is None else used[:, None]))
    steps_arr = np.asarray(records, np.float64)
    for j, (i, _, _) in enumerate(prog.first_passage):
        name = f"fpt.{prog.observables[i]}"
        rec = fpt[:, :, j]  # (S, G) record index or -1
        st = np.where(rec >= 0, steps_arr[np.maximum(rec, 0)], np.inf)
        if prec is None:
            surv = np.stack([(st > s).mean(axis=0) for s in steps_arr], axis=-1)
        else:
            st = np.where(counted, st, np.nan)  # seeds a grid point did not take: nan
            surv = np.stack([np.sum(st > s, axis=0) / used for s in steps_arr], axis=-1)
        arrays[f"{name}.steps"] = to_grid(st.T.copy())
        arrays[f"{name}.survival"] = to_grid(surv)
    traj_steps = S * G * study.run.steps
    meta = {
        "config": study.to_dict(),
        "grid_axes": list(study.grid_axes),
        "grid_shape": list(gshape),
        "observables": list(prog.observables),
        "quantile_levels": list(qlevels),
        "first_passage": [
            {"observable": prog.observables[i], "threshold": t, "below": b} for i, t, b in prog.first_passage
        ],
        "seeds": S,
        "chunk_size": size,
        "chunks": n_chunks,
        "versions": _versions(),
        "devices": [str(d) for d in jax.devices()],
        "platform": platform.platform(),
        "compile_seconds": compile_s,
        "run_seconds": run_s,
        "trajectory_steps_per_second": traj_steps / run_s if run_s > 0 else None,
    }
    if prec is not None:
        targets, stop, idle, sample = prec
        errors = targets.errors(sample(S), np.arange(G))  # (n_targets, G) at each point's seeds
        met = np.all(errors <= np.array([targets.value(k) for k in range(len(targets))])[:, None], axis=0)
        arrays["seeds_used"] = to_grid(used)
        arrays["precision.met"] = to_grid(met)
        arrays["precision.error"] = to_grid(errors.T.copy())  # (*grid, n_targets)
        meta["seeds_used"] = to_grid(used).tolist()
        meta["precision"] = {
            "targets": [targets.describe(k) for k in range(len(targets))],
            "values": [targets.value(k) for k in range(len(targets))],
            "first_batch": study.run.seeds,
            "max_seeds": study.run.max_seeds,
            "rule": "checked at chunk boundaries once a grid point has run.seeds seeds; a grid point that "
            "meets every target takes no more seeds (jaxrelu.precision)",
            "met": to_grid(met).tolist(),
            "errors": [to_grid(np.where(np.isfinite(e), e, None)).tolist() for e in errors],  # None: not finite
            "idle_trajectory_steps": idle,
            "idle_fraction": idle / traj_steps if traj_steps else 0.0,
        }
    return Results(arrays=arrays, meta=meta)


def _versions() -> dict:
    import optax

    from jaxrelu import __version__

    return {
        "jaxrelu": __version__,
        "jax": jax.__version__,
        "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else None,
        "optax": optax.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
