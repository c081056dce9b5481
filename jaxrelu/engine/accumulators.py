"""Host-side statistics of a run, merged exactly chunk by chunk and across processes."""

from __future__ import annotations

import jax
import numpy as np

from jaxrelu import stats


class Accumulators:
    """Host-side statistics of a run, merged chunk by chunk (float64)."""

    PER_SEED = ("fpt", "values")  # arrays with a leading seed axis

    def __init__(self, prog, S: int, R: int):
        G, n_obs = prog.grid_size, len(prog.observables)
        shape = (R, G, n_obs)
        self.arrays = {
            "m.count": np.zeros(shape),
            "m.mean": np.zeros(shape),
            "m.m2": np.zeros(shape),
            "m.min": np.full(shape, np.inf),
            "m.max": np.full(shape, -np.inf),
            "diverged": np.zeros((R, G), np.int64),
            "fpt": np.full((S, G, len(prog.first_passage)), -1, np.int64),
        }
        for j, (_, e) in enumerate(prog.histograms):
            self.arrays[f"hist{j}"] = np.zeros((R, G, len(e) + 1), np.int64)  # under, bins, over
        if prog.return_values:  # observables are evaluated in float64 (engine.segment)
            self.arrays["values"] = np.full((S, G, n_obs, R), np.nan, np.float64)

    def add(self, r: int, rows: slice, summ: dict, columns: np.ndarray | None = None) -> None:
        """Merge one chunk's summary at record r; its per-seed rows are ``rows``.

        ``columns`` (G,) bool: merge only these grid points (the others, done with their
        precision targets, keep their statistics bit for bit); None: all.
        """
        a = self.arrays
        chunk = stats.Moments(*summ["moments"])
        if columns is not None:  # count 0 leaves a merge unchanged, bit for bit
            keep = np.asarray(columns)[:, None]
            chunk = chunk._replace(
                count=np.where(keep, chunk.count, 0),
                min=np.where(keep, chunk.min, np.inf),
                max=np.where(keep, chunk.max, -np.inf),
            )
        merged = stats.merge(self.moments(r), chunk)
        for k, v in zip(stats.Moments._fields, merged):
            a[f"m.{k}"][r] = v
        on = slice(None) if columns is None else np.asarray(columns)
        a["diverged"][r][on] += np.asarray(summ["diverged"])[on]
        for j, h in enumerate(summ["hist"]):
            a[f"hist{j}"][r][on] += np.asarray(h)[on]
        if "values" in a:
            v = np.asarray(summ["values"])[: rows.stop - rows.start]
            if columns is None:
                a["values"][rows, :, :, r] = v
            else:
                dst = a["values"][rows, :, :, r]  # a view
                dst[:, on] = v[:, on]

    def moments(self, r) -> stats.Moments:
        return stats.Moments(*(self.arrays[f"m.{k}"][r] for k in stats.Moments._fields))

    def merge_processes(self, owner: np.ndarray) -> None:
        """Combine the accumulators of all JAX processes (each ran the seeds where
        ``owner == process_index``); every process ends with the merged result."""
        from jax.experimental import multihost_utils

        with jax.enable_x64(True):  # gather float64/int64 without truncation
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
                self.arrays[k] = np.take_along_axis(g[k], owner.reshape((1, -1) + (1,) * (g[k].ndim - 2)), axis=0)[0]
