"""Results of a study: labelled arrays in ``results.npz`` plus ``meta.json``.

Layout of a results directory (a public contract):

``results.npz``
  * ``step`` (n_records,): the times at which statistics were recorded, in SGD steps,
    or in units of d (t = step/d) when ``meta["time_unit"]`` is ``"d"``; first-passage
    times are in the same unit;
  * one array per grid axis, named by its dotted config path (``optimizer.lr``,
    ``task.input_dim``), holding that axis' values, in the order the sweep lists them
    (shape keys too: one program ran per combination of their values, listed in
    ``meta["points"]`` with their timings);
  * ``"{observable}.{stat}"`` of shape (*grid_shape, n_records) for stat in
    ``count mean std sem min max``; ``{observable}.quantiles`` has a trailing
    quantile axis (levels in ``quantile_levels``);
  * ``{observable}.hist`` (*grid_shape, n_records, bins) with edges
    ``{observable}.hist_edges`` (bins + 1,), for observables given a histogram, and the
    counts outside its range, ``{observable}.hist_underflow`` and ``.hist_overflow``
    (*grid_shape, n_records);
  * ``diverged.count`` / ``diverged.fraction`` (*grid_shape, n_records): trajectories
    that had diverged by each record (they are excluded from every statistic);
  * ``fpt.{observable}.steps`` (*grid_shape, seeds): per-seed first-passage step
    (``inf`` when the threshold was never crossed: right-censored at ``step[-1]``),
    and ``fpt.{observable}.survival`` (*grid_shape, n_records): the fraction of
    seeds that have not crossed by each record;
  * ``{observable}.per_seed`` (*grid_shape, seeds, n_records) for observables in
    ``record.keep_per_seed`` (``nan`` once a trajectory has diverged);
  * ``seed`` (seeds,): the seed indices k of the trajectories;
  * ``population_loss.ode`` (*grid_shape, n_records) with ``record.theory = ["ode"]``:
    the teacher–student ODE from the same seeds' initial weights;
  * with precision targets (``run.precision``, :mod:`jaxrelu.precision`): ``seeds_used``
    (*grid_shape,) int, the seeds each grid point took (its first ``seeds_used`` of ``seed``;
    its per-seed entries beyond are ``nan``, and its counts, fractions and statistics are over
    its own seeds), ``precision.met`` (*grid_shape,) bool and ``precision.error``
    (*grid_shape, n_targets), each target's error reached, in the target's terms.

``meta.json``: the full config, package versions, devices, ``compile_seconds``,
``run_seconds`` and ``trajectory_steps_per_second`` (seeds × grid points × steps
÷ run seconds, compilation excluded); ``seeds`` the length of ``seed``.  With precision
targets also ``seeds_used`` (nested lists over the grid) and ``precision``: the targets in
words and their ``values``, ``first_batch``, ``max_seeds``, the stopping ``rule``, ``met`` and
``errors`` (per target, over the grid; null where not finite), and ``idle_trajectory_steps`` /
``idle_fraction``: the compute spent stepping grid points that had already met their targets.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STATS = ("count", "mean", "std", "sem", "min", "max")


class ResultsError(ValueError):
    """A results directory is missing, corrupt, or would be overwritten."""


@dataclass
class Results:
    """Statistics over seeds of one study, with labelled axes.

    ``arrays`` maps the names of the ``results.npz`` layout (module docstring) to
    numpy arrays; ``meta`` is the ``meta.json`` dictionary.
    """

    arrays: dict[str, np.ndarray]
    meta: dict

    # ----------------------------------------------------------------- access
    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.arrays[name]
        except KeyError:
            raise KeyError(f"no array {name!r} in results; have: {', '.join(sorted(self.arrays))}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.arrays

    @property
    def step(self) -> np.ndarray:
        """Record steps, shape (n_records,)."""
        return self.arrays["step"]

    @property
    def grid_axes(self) -> list[str]:
        """Names of the grid axes (dotted config paths), in sweep order."""
        return list(self.meta["grid_axes"])

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(self.arrays[a]) for a in self.grid_axes)

    @property
    def observables(self) -> list[str]:
        return list(self.meta["observables"])

    @property
    def quantile_levels(self) -> np.ndarray:
        return np.asarray(self.meta["quantile_levels"])

    def grid_points(self):
        """Yield (index tuple, {axis: value}) for every grid point, C order."""
        for idx in np.ndindex(*self.grid_shape):
            yield idx, {a: self.arrays[a][i].item() for a, i in zip(self.grid_axes, idx)}

    def get(self, observable: str, stat: str) -> np.ndarray:
        """``{observable}.{stat}``, shape (*grid_shape, n_records[, n_quantiles])."""
        return self[f"{observable}.{stat}"]

    # --------------------------------------------------------------- file i/o
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write ``results.npz`` and ``meta.json`` into directory ``path``.

        Refuses (``ResultsError``) to write into a non-empty directory unless
        ``overwrite``; files are written atomically (temp + rename).
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ResultsError(f"output {str(path)!r} exists and is not a directory")
        if path.exists() and any(path.iterdir()) and not overwrite:
            raise ResultsError(f"output directory {str(path)!r} is not empty; choose another --out or pass --overwrite")
        path.mkdir(parents=True, exist_ok=True)
        _atomic_write(path / "results.npz", lambda f: np.savez(f, **self.arrays))
        _atomic_write(
            path / "meta.json", lambda f: f.write(json.dumps(self.meta, indent=1, default=_json_default).encode())
        )
        return path

    def to_xarray(self):
        """An ``xarray.Dataset`` with dims (*grid_axes, step[, quantile|bin|seed]).

        Requires the optional dependency ``xarray``.
        """
        try:
            import xarray as xr
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_xarray() needs xarray: pip install xarray") from e
        axes = self.grid_axes
        g = len(axes)
        coords = {a: self.arrays[a] for a in axes}
        coords["step"] = self.step
        coords["quantile"] = self.quantile_levels
        if "seed" in self.arrays:
            coords["seed"] = self.arrays["seed"]
        data = {}
        for name, arr in self.arrays.items():
            if name in coords or name.endswith(".hist_edges"):
                continue
            if name.endswith(".quantiles"):
                dims = (*axes, "step", "quantile")
            elif name.endswith(".hist"):
                dims = (*axes, "step", f"{name}_bin")
            elif name.endswith(".per_seed"):
                dims = (*axes, "seed", "step")
            elif name.startswith("fpt.") and name.endswith(".steps"):
                dims = (*axes, "seed")
            elif name in ("seeds_used", "precision.met"):
                dims = tuple(axes)
            elif name == "precision.error":
                dims = (*axes, "precision_target")
            else:
                dims = (*axes, "step")
            if arr.ndim != len(dims):
                dims = (*axes, *[f"{name}_dim{i}" for i in range(arr.ndim - g)])
            data[name] = (dims, arr)
        return xr.Dataset(data, coords=coords, attrs={"config": json.dumps(self.meta.get("config", {}))})


def load(path: str | os.PathLike) -> Results:
    """Read a results directory written by :meth:`Results.save`."""
    path = Path(path)
    npz, meta_file = path / "results.npz", path / "meta.json"
    if not path.is_dir():
        raise ResultsError(f"{str(path)!r} is not a results directory")
    if not npz.is_file() or not meta_file.is_file():
        raise ResultsError(f"{str(path)!r} is not a results directory (no results.npz and meta.json)")
    try:
        meta = json.loads(meta_file.read_text())
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
        raise ResultsError(f"{str(path)!r}: corrupt results ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or "grid_axes" not in meta or "step" not in arrays:
        raise ResultsError(f"{str(path)!r}: results.npz/meta.json were not written by jaxrelu")
    return Results(arrays=arrays, meta=meta)


def _atomic_write(target: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
