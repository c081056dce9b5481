"""Monte Carlo to a stated precision: ``[[run.precision]]`` targets, the stopping rule, and the plan.

A study with ``run.precision`` runs its first batch of ``run.seeds`` seeds, then adds chunks of
seeds in the fixed seed order (trajectory k depends only on (seed, k)) until every target is met
at every grid point, or ``run.max_seeds`` seeds have run.  Each grid point stops on its own.

Targets.  Each names a statistic of one observable and the largest standard error (``se``) or
95 % interval half-width (``halfwidth``) allowed, absolute or ``relative`` to |estimate|; the
errors are those :mod:`jaxrelu.analysis` reports for the same data, so that the precision a run
stops on is the one an analysis of its results finds:

* ``mean`` at records: the t interval of :func:`jaxrelu.analysis.mean_ci` (se = s/√n over the
  non-diverged seeds, half-width t_{n−1, 0.975}·se), from the merged moments;
* ``quantile`` (level ``quantile``) at records: the order-statistic interval of
  :func:`jaxrelu.analysis.quantile_ci` (half-width (high − low)/2; se = half-width / z_{0.975});
* ``passage_fraction`` / ``survival`` at records: the fraction of seeds whose first passage
  happened by the record / did not (as ``fpt.{obs}.survival``), Wilson interval and plug-in se
  √(p(1−p)/n) of :func:`jaxrelu.analysis.binomial_ci`.  The plug-in se is 0 when p̂ is 0 or 1,
  so an ``se`` target is never met there (use ``halfwidth``: Wilson's is > 0);
* ``median_escape``: the Kaplan–Meier median first-passage step with its Brookmeyer–Crowley
  interval (:func:`jaxrelu.analysis.median_survival`, censored at the last record; half-width
  (high − low)/2, inf while a bound is not reached; se = half-width / z_{0.975}).

``at`` (records): ``"last"`` (default), ``"all"``, or a list of record steps; a target is met
at a grid point when it is met at every one of its records.  An estimate that is undefined
(nan, or a relative error of an estimate 0) is not met.

The stopping rule (:class:`Stopping`).  Stopping on an estimated error biases slightly: a
sample whose spread happens to look small stops early.  jaxrelu keeps the bias small by

1. checking only at chunk boundaries (chunks of the first batch's chunk size), and
2. never before a grid point has the first batch, ``run.seeds`` seeds, so that the estimated
   error no longer fluctuates much around the true one (in the cases below, first batches of
   16, 32 and 64 seeds gave the same coverage within 0.1 %: there the rule stops at hundreds of
   seeds, and what matters is the correlation described next);
3. a grid point that meets every target stops taking seeds for good (no restart), one that
   has not met them at ``run.max_seeds`` stops there and is flagged (``meta["precision"]
   ["met"]``).

The intervals reported afterwards are the ordinary fixed-n ones.  Their coverage under this rule
is tested by simulation (``tests/test_precision_targets.py``: 20 000 repetitions of the rule
through this module's code, on distributions with a known mean; binomial s.e. of a coverage 0.15 %).
Measured coverage of the 95 % t interval of a mean at stopping (first batch 64, chunks of 32):

==============  =====================  ==========================  =============
distribution    halfwidth 0.1 (abs.)   halfwidth 0.05 (relative)   se 0.03 (abs.)
==============  =====================  ==========================  =============
N(1, 1)         0.950 (≈ 400 seeds)    0.948 (≈ 1550)              0.948 (≈ 1120)
Exp(1)          0.939 (≈ 400)          0.950 (≈ 1550)              0.948 (≈ 1120)
lognormal σ=1   0.939 (≈ 1750)         0.946 (≈ 2600)              0.946 (≈ 5100)
==============  =====================  ==========================  =============

The weak case is an absolute target met after a few hundred seeds on a skewed observable:
there a small sample spread goes with a small mean, so stopping on it biases the mean low
(Exp(1) at a fixed 400 seeds covers 0.947, under the rule 0.939; with more seeds the
shortfall shrinks: se ≤ 0.03, ≈ 1120 seeds, covers 0.948).  For skewed positive observables
(losses) prefer ``relative`` targets.  The test suite checks the cells within 1 % of 95 %
(all but the abs. half-width of the skewed two).  A
``passage_fraction`` target (Bernoulli(0.3), Wilson half-width ≤ 0.05, stopping at 256–384
seeds) covers 0.949 (20 000 repetitions).

Cost of finished grid points.  A chunk is one compiled program over every grid point; removing
a finished point would change its shape and recompile.  So finished points keep being stepped
with the others, and their results are simply not merged (their statistics, per-seed values and
first passages are those of their own ``seeds_used``).  That compute is counted in
``meta["precision"]["idle_trajectory_steps"]`` and ``["idle_fraction"]`` (of all the
trajectory-steps run).

:func:`plan` turns a pilot run's errors into the seeds (errors fall as 1/√n) and wall time each
target needs (``jaxrelu plan STUDY.toml``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as _sst

from jaxrelu import analysis, stats

#: z_{0.975}: an interval's half-width / z is the se it stands for (quantile, median_escape).
Z = float(_sst.norm.ppf(0.975))
LEVEL = 0.95
FPT_STATISTICS = ("passage_fraction", "survival", "median_escape")


@dataclass
class Sample:
    """What the run has accumulated, as the targets read it (shapes as :mod:`jaxrelu.engine.accumulators`).

    ``moments(r)``: :class:`jaxrelu.stats.Moments` of record r, arrays (G, n_obs);
    ``values``: (S, G, n_obs, R) per-seed values (nan: diverged or not run) or None;
    ``fpt``: (S, G, n_fp) first-passage record index per seed (−1: not crossed);
    ``n``: (G,) seeds of each grid point (its rows 0 .. n − 1 of ``values``/``fpt``);
    ``steps``: (R,) record steps.
    """

    moments: Callable[[int], stats.Moments]
    values: np.ndarray | None
    fpt: np.ndarray | None
    n: np.ndarray
    steps: np.ndarray


class Targets:
    """The ``run.precision`` targets of a study, resolved against its observables and records.

    ``targets``: :class:`jaxrelu.config.PrecisionTarget` s; ``observables``: the program's
    observable names (order of the statistics arrays); ``first_passage``: the observables with
    a first passage, in ``record.first_passage`` order; ``steps``: the record steps.
    """

    def __init__(self, targets, observables, first_passage, steps):
        self.targets = tuple(targets)
        self.steps = np.asarray(steps)
        self._obs = [list(observables).index(t.observable) for t in self.targets]
        self._fp = [
            list(first_passage).index(t.observable) if t.statistic in FPT_STATISTICS else -1 for t in self.targets
        ]
        R = len(self.steps)
        self.records = []
        for t in self.targets:
            if t.statistic == "median_escape" or t.at in (None, "last"):
                self.records.append([R - 1])
            elif t.at == "all":
                self.records.append(list(range(R)))
            else:
                self.records.append([int(np.flatnonzero(self.steps == s)[0]) for s in t.at])

    @classmethod
    def of(cls, study, prog) -> Targets:
        """The targets of ``study`` (its records in SGD steps) for program ``prog``."""
        fps = [prog.observables[i] for i, _, _ in prog.first_passage]
        return cls(study.run.precision, prog.observables, fps, study.record_steps())

    def __len__(self) -> int:
        return len(self.targets)

    def describe(self, k: int) -> str:
        """Target k in words, e.g. ``mean population_loss at step 400: halfwidth <= 0.01``."""
        t = self.targets[k]
        what = f"q{t.quantile:g} " if t.statistic == "quantile" else ""
        stat = f"{t.statistic} {what}{t.observable}"
        if t.statistic != "median_escape":
            stat += " at " + (
                f"step {self.steps[-1]}"
                if t.at in (None, "last")
                else "every record"
                if t.at == "all"
                else f"steps {list(t.at)}"
            )
        kind = "se" if t.se is not None else "halfwidth"
        return f"{stat}: {'relative ' if t.relative else ''}{kind} <= {self.value(k):g}"

    def value(self, k: int) -> float:
        t = self.targets[k]
        return t.se if t.se is not None else t.halfwidth

    def errors(self, sample: Sample, points) -> np.ndarray:
        """(n_targets, len(points)): each target's error at each grid point in ``points``, the
        worst over its records, in its own terms (se or half-width, absolute or relative);
        ``inf`` where undefined."""
        points = np.asarray(points, int)
        out = np.full((len(self), len(points)), np.inf)
        for k, t in enumerate(self.targets):
            worst = np.full(len(points), -np.inf)
            for r in self.records[k]:
                est, se, hw = self._estimate(k, t, sample, points, r)
                err = se if t.se is not None else hw
                with np.errstate(divide="ignore", invalid="ignore"):
                    if t.relative:
                        err = np.where(est != 0, err / np.abs(est), np.inf)
                err = np.where(np.isnan(err), np.inf, err)
                worst = np.maximum(worst, err)
            out[k] = worst
        return out

    def ratios(self, sample: Sample, points) -> np.ndarray:
        """:meth:`errors` ÷ the targets' values: ≤ 1 where a target is met."""
        return self.errors(sample, points) / np.array([self.value(k) for k in range(len(self))])[:, None]

    def _estimate(self, k, t, sample: Sample, points, r):
        """(estimate, se, half-width) arrays over ``points`` of target k at record r."""
        i, j = self._obs[k], self._fp[k]
        if t.statistic == "mean":
            m = sample.moments(r)
            fin = stats.finalize(stats.Moments(*(np.asarray(a)[points, i] for a in m)))
            n = fin["count"]
            with np.errstate(invalid="ignore"):
                tq = _sst.t.ppf(0.5 + LEVEL / 2, np.where(n > 1, n - 1, np.nan))
            return fin["mean"], fin["sem"], tq * fin["sem"]
        est, se, hw = (np.full(len(points), np.nan) for _ in range(3))
        for a, g in enumerate(points):
            n = int(sample.n[g])
            if t.statistic == "quantile":
                x = sample.values[:n, g, i, r]
                if np.sum(~np.isnan(x)) < 2:
                    continue
                ci = analysis.quantile_ci(x, t.quantile, level=LEVEL)
                est[a], hw[a] = ci.estimate, (ci.high - ci.low) / 2
                se[a] = hw[a] / Z
            elif t.statistic in ("passage_fraction", "survival"):
                f = sample.fpt[:n, g, j]
                crossed = int(np.sum((f >= 0) & (f <= r)))
                ci = analysis.binomial_ci(crossed, n, level=LEVEL)
                p = ci.estimate if t.statistic == "passage_fraction" else 1 - ci.estimate
                est[a], hw[a] = p, (ci.high - ci.low) / 2
                se[a] = ci.se if 0 < crossed < n else np.inf  # the plug-in se is 0 at p̂ = 0 or 1
            else:  # median_escape
                f = sample.fpt[:n, g, j]
                times = np.where(f >= 0, sample.steps[np.maximum(f, 0)], np.inf)
                ci = analysis.median_survival(times, censor_time=float(sample.steps[-1]), level=LEVEL)
                est[a], hw[a] = ci.estimate, (ci.high - ci.low) / 2
                se[a] = hw[a] / Z
        return est, se, hw


class Stopping:
    """The stopping rule, per grid point (module docstring): checks at chunk boundaries only, and
    only once ``first_batch`` seeds have run; a grid point that meets its targets is done for good.

    ``active`` (G,) bool: still taking seeds; ``seeds_used`` (G,) int; ``ratios`` (n_targets, G):
    error ÷ target at the last check of each grid point (nan before any check).
    """

    def __init__(self, G: int, n_targets: int, first_batch: int, max_seeds: int, saved: dict | None = None):
        self.first_batch, self.max_seeds = first_batch, max_seeds
        self.active = np.ones(G, bool)
        self.seeds_used = np.zeros(G, np.int64)
        self.ratios = np.full((n_targets, G), np.nan)
        if saved:
            self.active = np.asarray(saved["active"], bool)
            self.seeds_used = np.asarray(saved["seeds_used"], np.int64)
            self.ratios = np.asarray(saved["ratios"], np.float64).reshape(n_targets, G)

    def after_chunk(self, n_done: int, ratios: Callable[[np.ndarray], np.ndarray]) -> bool:
        """Every active grid point now has its first ``n_done`` seeds; ``ratios(points)`` gives
        (n_targets, len(points)) error ÷ target at those points.  Returns True when the run stops."""
        self.seeds_used[self.active] = n_done
        if n_done >= self.first_batch:
            pts = np.flatnonzero(self.active)
            if len(pts):
                rat = ratios(pts)
                self.ratios[:, pts] = rat
                self.active[pts[np.all(rat <= 1, axis=0)]] = False
        return not self.active.any() or n_done >= self.max_seeds

    @property
    def met(self) -> np.ndarray:
        """(G,) bool: every target met (at the last check)."""
        return np.all(self.ratios <= 1, axis=0)

    def state(self) -> dict:
        """JSON-able state, for checkpoints."""
        return {
            "active": self.active.tolist(),
            "seeds_used": self.seeds_used.tolist(),
            "ratios": [[None if math.isnan(x) else x for x in row] for row in self.ratios.tolist()],
        }


def load_state(saved: dict) -> dict:
    """A :meth:`Stopping.state` read back from JSON (None → nan)."""
    return {**saved, "ratios": [[np.nan if x is None else x for x in row] for row in saved["ratios"]]}


def progress_text(p: dict) -> str:
    """The precision part of the progress line: ``2/3 grid points met, worst 1.8x its target``."""
    worst = p.get("worst")
    w = f", worst error {worst:.2f}x its target" if worst is not None and np.isfinite(worst) else ""
    return f"{p['seeds']} seeds, {p['met']}/{p['points']} grid points at target{w}"


# ============================================================ the plan
@dataclass
class PlanRow:
    """What one target needs at one grid point: ``seeds`` (None: not estimable from the pilot),
    ``capped`` (more than ``run.max_seeds``), ``error`` at the pilot's ``pilot_seeds``."""

    target: str
    point: dict
    error: float
    seeds: int | None
    capped: bool


def seeds_needed(error, target: float, n: int, max_seeds: int) -> tuple[int | None, bool]:
    """Seeds for an error seen at n seeds to fall to ``target`` (errors ∝ 1/√n):
    ⌈n·(error/target)²⌉, at least n; (None, False) when the error is not finite."""
    if not np.isfinite(error):
        return None, False
    need = max(n, math.ceil(n * (error / target) ** 2))
    return need, need > max_seeds


def pilot_study(study, seeds: int):
    """The pilot of ``study``: its first ``seeds`` seeds and no more (``run.seeds = run.max_seeds = seeds``)."""
    import dataclasses

    return dataclasses.replace(study, run=dataclasses.replace(study.run, seeds=seeds, max_seeds=seeds))


def plan(study, res, chunk: int = 1) -> tuple[list[PlanRow], dict]:
    """Rows (target × grid point) and a summary from the results ``res`` of a pilot run of
    ``study`` (:func:`pilot_study`): its errors ``meta["precision"]["errors"]`` at its
    ``meta["seeds"]`` seeds, extrapolated by :func:`seeds_needed`.

    Summary: ``pilot_seeds``; ``seconds_per_trajectory_step`` (the pilot's stepping time per
    trajectory-step, compilation excluded); ``seeds`` (G,) the most any target needs at each
    grid point, capped at ``run.max_seeds`` (and set to it where an error is not estimable:
    ``unknown``); ``seeds_in_chunks``, those rounded up to whole chunks of ``chunk`` seeds (the
    run checks at chunk boundaries only); ``wall_seconds``, the predicted stepping time of the
    whole run: a chunk steps every grid point, so the grid point that needs the most seeds sets it.
    """
    n = int(res.meta["seeds"])
    prec = res.meta["precision"]
    G = int(np.prod(res.grid_shape)) if res.grid_shape else 1
    errs = np.asarray(
        [[np.inf if x is None else x for x in np.ravel(e).tolist()] for e in prec["errors"]], np.float64
    ).reshape(len(prec["targets"]), G)
    points = [p for _, p in res.grid_points()] or [{}]
    rows, need = [], np.full(G, n, np.int64)
    unknown = np.zeros(G, bool)
    for k, (text, value) in enumerate(zip(prec["targets"], prec["values"])):
        for g in range(G):
            s, capped = seeds_needed(errs[k, g], value, n, study.run.max_seeds)
            rows.append(PlanRow(text, points[g], float(errs[k, g]), s, capped))
            if s is None:
                unknown[g] = True
            else:
                need[g] = max(need[g], min(s, study.run.max_seeds))
    need[unknown] = study.run.max_seeds
    first = -(-max(study.run.seeds, 1) // chunk) * chunk  # the first check's seeds
    chunked = np.minimum(np.maximum(-(-need // chunk) * chunk, first), study.run.max_seeds)
    per_step = res.meta["run_seconds"] / (n * G * study.run.steps)
    return rows, {
        "pilot_seeds": n,
        "seconds_per_trajectory_step": per_step,
        "seeds": need,
        "seeds_in_chunks": chunked,
        "chunk": chunk,
        "unknown": unknown,
        "wall_seconds": float(chunked.max() * G * study.run.steps * per_step),
        "compile_seconds": res.meta["compile_seconds"],
    }
