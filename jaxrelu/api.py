"""The public run: simulate a study (:mod:`jaxrelu.engine`) and put its theory beside it
(:mod:`jaxrelu.theory.predict`), with every check made before anything runs.

A study whose sweep holds shape keys (:data:`jaxrelu.config.SHAPE_KEYS`: ``task.input_dim``,
``model.width``, an activation, the task, the loss, ...) runs as an outer loop over the
combinations of their values (:meth:`~jaxrelu.config.Study.points`), one compiled program
each with the traced axes inside, and gives one :class:`~jaxrelu.results.Results` with every
swept key as a grid axis, in the order the sweep lists them.  Each combination is exactly the
study one would write with those values: trajectory k draws the same randomness in each.

Times are reported in ``run.time_unit``: SGD steps, or t = step/d (``time_unit = "d"``; the
``step`` array and first-passage times then hold t), so that studies across d share a time axis.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jaxrelu import engine
from jaxrelu.config import ConfigError, Study
from jaxrelu.results import Results, ResultsError, load
from jaxrelu.theory import predict

#: Subfolder of a checkpoint directory holding each finished shape point's results.
POINTS_DIR = "points"


def check(study: Study) -> list[engine.Program]:
    """Every check a run makes before it simulates, at every combination of the shape axes:
    the names and their combinations, the ODE's scope, and the observables traced on the
    study's shapes (an observable refusing them, e.g. ``kink_count`` without 1-D relu, raises
    at trace time).  Returns one program per :meth:`~jaxrelu.config.Study.points` entry, or
    raises :class:`~jaxrelu.config.ConfigError` naming the key."""
    return _check_points(study, study.points())


def _check_points(study: Study, points: list[tuple[tuple, Study]]) -> list[engine.Program]:
    programs = []
    for values, point in points:
        try:
            programs.append(_check_point(point))
        except ConfigError as e:
            if not values:
                raise
            at = ", ".join(f"{a} = {v!r}" for a, v in zip(study.shape_axes, values))
            raise ConfigError(f"sweep at {at}: {e}") from None
    return programs


def _check_point(study: Study) -> engine.Program:
    prog, hp = engine.build(study)
    if "ode" in study.record.theory:
        predict.check_ode_applies(study)
    try:
        engine.trace_observables(prog, study, hp)
    except ValueError as e:
        raise ConfigError(f"record.observables: {e}") from None
    return prog


def run(
    study: Study, progress: Callable[[dict], None] | None = None, checkpoint: str | os.PathLike | None = None
) -> Results:
    """Run every seed at every grid point and return statistics over seeds.

    ``progress`` and ``checkpoint`` as in :func:`jaxrelu.engine.run` (steps counted over the
    whole study).  With ``record.theory = ["ode"]`` also ``population_loss.ode``, the ODE from
    the same seeds' initial weights (:func:`jaxrelu.theory.predict.ode_population_loss`).
    With shape axes, each combination checkpoints into ``checkpoint/points/NNN/`` and keeps
    its finished results there, so an interrupted study resumes at the combination it was in.
    """
    points = study.points()
    _check_points(study, points)  # fail before simulating, not after
    if not study.shape_axes:
        return _run_point(study, progress, checkpoint)
    total = sum(_trajectory_steps(p) for _, p in points)
    t_start, done, run_s = time.perf_counter(), 0, 0.0
    results = []
    for i, (_, point) in enumerate(points):
        sub = None if checkpoint is None else Path(checkpoint) / POINTS_DIR / f"{i:03d}"
        if sub is not None and (sub / "results.npz").exists():
            res = load(sub)
            if res.meta["config"] != point.to_dict():
                raise ResultsError(
                    f"{str(sub)!r} holds the results of another study; remove it or run into a fresh folder"
                )
        else:
            report = None if progress is None else _offset(progress, done, total, t_start, run_s)
            res = _run_point(point, report, sub)
            if sub is not None:
                res.save(sub, overwrite=True)
                for f in sub.glob("checkpoint*.npz"):
                    f.unlink()
        results.append(res)
        done += _trajectory_steps(point)
        run_s += res.meta["run_seconds"]
    return _stack(study, points, results)


def _run_point(study: Study, progress, checkpoint) -> Results:
    """One program: the engine on the study in SGD steps, its times in the study's unit."""
    res = engine.run(study.in_steps(), progress, checkpoint)
    if "ode" in study.record.theory:
        res.arrays["population_loss.ode"] = predict.ode_population_loss(study)
    res.meta["config"] = study.to_dict()
    res.meta["time_unit"] = study.run.time_unit
    if study.run.time_unit == "d":  # record and first-passage times as t = step/d
        d = study.task.input_dim
        for name in ["step", *[k for k in res.arrays if k.startswith("fpt.") and k.endswith(".steps")]]:
            res.arrays[name] = np.asarray(res.arrays[name], np.float64) / d
    return res


def _trajectory_steps(study: Study) -> int:
    return study.run.seeds * max(1, int(np.prod(study.grid_shape))) * study.in_steps().run.steps


def _offset(progress, done: int, total: int, t_start: float, run_s: float) -> Callable[[dict], None]:
    """``progress`` of one shape point, counted over the whole study."""

    def report(info: dict) -> None:
        progress(
            {
                **info,
                "steps_done": done + info["steps_done"],
                "steps_total": total,
                "elapsed": time.perf_counter() - t_start,
                "run_seconds": run_s + info["run_seconds"],
            }
        )

    return report


def _axis_values(values: tuple) -> np.ndarray:
    if any(isinstance(v, str) for v in values):  # e.g. task.train_size = ["online", 100]
        return np.asarray([str(v) for v in values])
    return np.asarray(values)


def _stack(study: Study, points: list[tuple[tuple, Study]], results: list[Results]) -> Results:
    """One :class:`Results` from those of each shape point, axes in the sweep's order.

    Arrays over the grid (statistics, first passages, per-seed values) gain the shape axes;
    the others (``step``, ``seed``, the traced axes' values, histogram edges) are the same at
    every point and kept once.
    """
    shape_axes = study.shape_axes
    traced = [a for a in study.grid_axes if a not in shape_axes]
    outer = tuple(len(dict(study.sweep)[a]) for a in shape_axes)
    order = [list(shape_axes + tuple(traced)).index(a) for a in study.grid_axes]
    # with precision targets each point ran its own number of seeds: per-seed arrays are padded
    # with nan to the most seeds any point took (as a point's seeds beyond its seeds_used are)
    longest = max(results, key=lambda r: len(r.arrays["seed"]))
    seeds = len(longest.arrays["seed"])
    first = results[0]
    shared = {"step", *traced}
    arrays = {"seed": longest.arrays["seed"]}
    for name, arr in first.arrays.items():
        if name == "seed":
            continue
        if name in shared or name.endswith(".hist_edges"):
            for res in results[1:]:
                if not np.array_equal(res.arrays[name], arr):
                    raise ResultsError(f"{name} differs between the points of sweep over {', '.join(shape_axes)}")
            arrays[name] = arr
            continue
        parts = [res.arrays[name] for res in results]
        if name.endswith(".per_seed") or (name.startswith("fpt.") and name.endswith(".steps")):
            axis = len(traced)  # (*traced grid, seeds, ...)
            parts = [
                np.concatenate(
                    [a, np.full(a.shape[:axis] + (seeds - a.shape[axis],) + a.shape[axis + 1 :], np.nan, a.dtype)],
                    axis=axis,
                )
                for a in parts
            ]
        stacked = np.stack(parts).reshape(outer + parts[0].shape)
        rest = list(range(len(study.grid_axes), stacked.ndim))
        arrays[name] = stacked.transpose(order + rest)
    for a in shape_axes:
        arrays[a] = _axis_values(dict(study.sweep)[a])
    compile_s = sum(r.meta["compile_seconds"] for r in results)
    run_s = sum(r.meta["run_seconds"] for r in results)
    steps = sum(_trajectory_steps(p) for _, p in points)
    meta = {
        **first.meta,
        "config": study.to_dict(),
        "grid_axes": list(study.grid_axes),
        "grid_shape": list(study.grid_shape),
        "compile_seconds": compile_s,
        "run_seconds": run_s,
        "trajectory_steps_per_second": steps / run_s if run_s > 0 else None,
        "points": [
            {
                **dict(zip(shape_axes, v)),
                **{
                    k: r.meta.get(k)
                    for k in ("chunk_size", "chunks", "compile_seconds", "run_seconds", "trajectory_steps_per_second")
                },
            }
            for (v, _), r in zip(points, results)
        ],
    }
    if "precision" in first.meta:  # per grid point: from the stacked arrays
        errors = arrays["precision.error"]
        meta["seeds"] = seeds
        meta["seeds_used"] = arrays["seeds_used"].tolist()
        meta["precision"] = {
            **first.meta["precision"],
            "met": arrays["precision.met"].tolist(),
            "errors": [
                np.where(np.isfinite(errors[..., k]), errors[..., k], None).tolist() for k in range(errors.shape[-1])
            ],
            "idle_trajectory_steps": sum(r.meta["precision"]["idle_trajectory_steps"] for r in results),
        }
        ran = sum((r.meta["trajectory_steps_per_second"] or 0) * r.meta["run_seconds"] for r in results)
        meta["precision"]["idle_fraction"] = meta["precision"]["idle_trajectory_steps"] / ran if ran else 0.0
    return Results(arrays=arrays, meta=meta)
