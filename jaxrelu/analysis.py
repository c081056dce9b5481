"""Statistical analysis of study results: intervals, comparisons, survival, stationarity, scaling.

Pure numpy/scipy functions on the arrays of a results directory (layout in
:mod:`jaxrelu.results`).  Nothing here touches JAX.

Conventions
-----------
* **Sample (seed) axis.**  Functions that reduce a sample of independent
  trajectories take ``axis=`` and default to ``axis=-1``: first-passage steps
  ``fpt.{obs}.steps`` have shape (*grid_shape, seeds), so their seeds are last.
  For ``{obs}.per_seed`` (*grid_shape, seeds, n_records) pass ``axis=-2`` (or
  select a record first, ``per_seed[..., j]``).  All other axes are batch axes:
  every result field then has the input shape without ``axis`` (a Python float
  when that shape is ``()``).
* **Time series** (stationary phase) have time on the *last* axis and seeds on
  ``seed_axis`` (default ``-2``), i.e. exactly the ``per_seed`` layout;
  ``burn_in`` counts *records* (indices into ``step``), not SGD steps — convert
  with ``np.searchsorted(results.step, burn_in_step)``.
* **Missing values.**  ``nan`` marks a diverged trajectory and is dropped
  (per batch element) everywhere; ``inf`` in a first-passage array means
  "never crossed" (right-censored at the last record step ``step[-1]``) and is
  understood by the survival functions and by the rank/order-statistic
  methods (:func:`quantile_ci`, :func:`mann_whitney`, :func:`ks_test`), but
  makes a mean infinite.
* **Pairing.**  Seed k shares its initialisation and sample sequence across
  grid points (common random numbers), so per-seed values at two grid points
  are *paired*: compare them with :func:`paired_difference`, whose interval is
  narrower than the unpaired (Welch) one by about √(1 − ρ) where ρ is the
  correlation between the pairs.  Seeds are independent of each other.
* ``level`` is the two-sided confidence level (0.95 → 2.5 % in each tail).

Results are small frozen dataclasses; their numeric fields are floats or
numpy arrays of the batch shape.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import fft as _fft
from scipy import special, stats

__all__ = [
    "Interval",
    "MeanCI",
    "Difference",
    "TestResult",
    "KaplanMeier",
    "Rate",
    "RateComparison",
    "AutocorrTime",
    "StationaryMean",
    "Histogram",
    "PowerLawFit",
    "mean_ci",
    "bootstrap_ci",
    "quantile_ci",
    "paired_difference",
    "unpaired_difference",
    "ks_test",
    "mann_whitney",
    "kaplan_meier",
    "median_survival",
    "exponential_rate",
    "compare_rates",
    "integrated_autocorrelation_time",
    "stationary_mean",
    "stationary_histogram",
    "fit_power_law",
    "TailIndex",
    "hill_tail_index",
    "block_tail_index",
]


# ---------------------------------------------------------------------------- helpers
def _out(a):
    """0-d arrays and numpy scalars → Python float/int; arrays unchanged."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a.item()
    return a


def _two_sided(level: float) -> float:
    """Upper tail probability point for a two-sided interval: 0.5 + level/2."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return 0.5 + level / 2.0


class _quiet:
    """Silence numpy's 'mean of empty slice' / 'invalid value' warnings (nan is the answer)."""

    def __enter__(self):
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)
        self._e = np.errstate(invalid="ignore", divide="ignore")
        self._e.__enter__()

    def __exit__(self, *exc):
        self._e.__exit__(*exc)
        self._w.__exit__(*exc)


def _rows(x: np.ndarray, axis: int):
    """Move ``axis`` last; return (array of shape (B, n), batch shape)."""
    x = np.moveaxis(np.asarray(x, dtype=float), axis, -1)
    return x.reshape(-1, x.shape[-1]), x.shape[:-1]


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval [low, high].

    ``se`` is a standard error when the method provides one (else nan); ``n``
    the number of (non-nan) observations used.
    """

    estimate: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray
    level: float
    n: int | np.ndarray
    se: float | np.ndarray = float("nan")


@dataclass(frozen=True)
class MeanCI:
    """Sample mean, its standard error ``sem = s/√n`` (s with ddof=1) and the t interval."""

    mean: float | np.ndarray
    sem: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray
    n: int | np.ndarray
    level: float


@dataclass(frozen=True)
class Difference:
    """Difference of means ``mean(x) − mean(y)`` with a t interval and two-sided p-value.

    ``kind`` is ``"paired"`` (t on the n paired differences, df = n − 1) or
    ``"welch"`` (unequal-variance t, Welch–Satterthwaite df).  ``correlation``
    is the Pearson correlation of the pairs (paired only, else nan).
    """

    estimate: float | np.ndarray
    sem: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray
    df: float | np.ndarray
    p_value: float | np.ndarray
    n_x: int | np.ndarray
    n_y: int | np.ndarray
    level: float
    kind: str
    correlation: float | np.ndarray = float("nan")


@dataclass(frozen=True)
class TestResult:
    """A test statistic and its p-value."""

    __test__ = False  # not a pytest test class
    statistic: float | np.ndarray
    p_value: float | np.ndarray


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan–Meier survival curve S(t) = P(T > t) of first-passage times.

    Arrays are indexed by the k distinct *event* times ``time`` (ascending):
    ``survival[i]`` is S just after ``time[i]`` (S = 1 before ``time[0]``),
    ``low``/``high`` the pointwise confidence band there, ``n_at_risk[i]`` the
    number of trajectories with T ≥ ``time[i]``, ``n_events[i]`` those crossing
    at ``time[i]``.  ``max_time`` is the largest observed (event or censoring)
    time: S is not estimable beyond it.  ``band`` is ``"log-log"`` or
    ``"linear"`` (plain Greenwood).
    """

    time: np.ndarray
    survival: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_at_risk: np.ndarray
    n_events: np.ndarray
    n: int
    n_censored: int
    max_time: float
    level: float
    band: str

    def evaluate(self, t) -> np.ndarray:
        """S(t) (right-continuous step function); nan for t > ``max_time``."""
        return self._step(self.survival, t)

    def evaluate_band(self, t) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of the pointwise band at times t; nan for t > ``max_time``."""
        return self._step(self.low, t), self._step(self.high, t)

    def _step(self, values, t):
        t = np.asarray(t, dtype=float)
        i = np.searchsorted(self.time, t, side="right")
        out = np.concatenate([[1.0], values])[i]
        return np.where(t > self.max_time, np.nan, out)


@dataclass(frozen=True)
class Rate:
    """Constant-hazard (exponential) escape rate λ̂ = events / exposure.

    ``se = λ̂/√events`` (inverse Fisher information); [low, high] is the
    exact Poisson (Garwood) interval.  Units: 1 / (units of ``times``).
    """

    rate: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray
    se: float | np.ndarray
    events: int | np.ndarray
    exposure: float | np.ndarray
    level: float

    @property
    def mean_time(self):
        """1/λ̂, the estimated mean escape time (after ``start``)."""
        with _quiet():
            return _out(1.0 / np.asarray(self.rate))


@dataclass(frozen=True)
class RateComparison:
    """Ratio ρ = λ_a/λ_b of two exponential rates with an exact conditional interval.

    ``p_value`` is the exact conditional binomial test of ρ = 1; ``lr_statistic``
    and ``lr_p_value`` the likelihood-ratio test of a common rate (χ²₁).
    """

    ratio: float
    low: float
    high: float
    p_value: float
    lr_statistic: float
    lr_p_value: float
    rate_a: Rate
    rate_b: Rate
    level: float


@dataclass(frozen=True)
class AutocorrTime:
    """Integrated autocorrelation time τ = 1 + 2 Σ_{t≥1} ρ(t), Sokal's automatic window.

    ``window`` is the summation window M, ``se`` Sokal's error estimate
    τ·√(2(2M+1)/N) with N = n_chains·n_per_chain, ``variance`` the stationary
    variance estimate C(0).  ``reliable`` is False when the series is shorter
    than 50 τ per chain, or when no window satisfied M ≥ cτ(M) (τ is then
    a lower bound).
    """

    tau: float
    se: float
    window: int
    variance: float
    n_chains: int
    n_per_chain: int
    reliable: bool


@dataclass(frozen=True)
class StationaryMean:
    """Time average in the stationary phase, pooled over independent seeds.

    ``mean`` is the average over seeds and post-burn-in records; ``sem`` and the
    interval come from ``method``; ``tau`` is the integrated autocorrelation
    time (in records) implied by that sem, ``ess = n_seeds·n_records/τ`` the
    effective number of independent samples, ``variance`` the stationary
    variance of one record.  ``sem_seeds`` is the between-seed standard error
    std(seed means)/√n_seeds (no autocorrelation model; nan with < 2 seeds) —
    a cross-check.  ``n_seeds`` counts seeds used (those with a nan after
    burn-in, i.e. diverged, are dropped); ``n_records`` is per seed.
    """

    mean: float | np.ndarray
    sem: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray
    tau: float | np.ndarray
    ess: float | np.ndarray
    variance: float | np.ndarray
    sem_seeds: float | np.ndarray
    n_seeds: int | np.ndarray
    n_records: int
    level: float
    method: str


@dataclass(frozen=True)
class Histogram:
    """Stationary histogram pooled over time and seeds.

    ``counts`` (*batch, bins) pooled counts; ``edges`` (bins+1,);
    ``density = counts / (n · width)`` where n counts *all* pooled samples (so
    it integrates to the fraction inside the edges); ``density_sem`` the
    between-seed standard error of the density (independent seeds; nan with
    < 2 seeds); ``n`` the number of pooled samples.
    """

    counts: np.ndarray
    edges: np.ndarray
    density: np.ndarray
    density_sem: np.ndarray
    n: int | np.ndarray
    n_seeds: int | np.ndarray

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])


@dataclass(frozen=True)
class PowerLawFit:
    """Fit of y = A·(x/x0)^p on log–log axes.

    ``covariance`` is the 2×2 covariance of (log A, p).  Intervals are
    estimate ± crit·se on log scale (A's interval is the exponentiated one);
    crit is the normal quantile when ``yerr`` was given with
    ``absolute_sigma=True``, else Student t with ``dof = n − 2``.  ``chi2`` is
    Σ w r² of log residuals (w = 1 unweighted), ``chi2_p_value`` its
    goodness-of-fit p-value (absolute-sigma fits only, else nan).
    """

    exponent: float
    exponent_se: float
    exponent_low: float
    exponent_high: float
    prefactor: float
    log_prefactor_se: float
    prefactor_low: float
    prefactor_high: float
    covariance: np.ndarray
    x0: float
    chi2: float
    chi2_p_value: float
    dof: int
    n: int
    level: float
    weighted: bool

    def predict(self, x) -> np.ndarray:
        """A·(x/x0)^p."""
        return self.prefactor * (np.asarray(x, dtype=float) / self.x0) ** self.exponent


# ---------------------------------------------------------------------------- 1. intervals
def mean_ci(values, level: float = 0.95, axis: int = -1) -> MeanCI:
    """Student-t confidence interval for the mean, along ``axis`` (default last = seeds).

    values: any shape; nan entries (diverged seeds) are dropped.
    mean = x̄, sem = s/√n with s the ddof=1 standard deviation, interval
    x̄ ± t_{n−1, 0.5+level/2}·sem — exact for normal data, asymptotically valid
    otherwise (CLT).  Fields have the shape of ``values`` without ``axis``;
    sem and the interval are nan where n < 2.
    """
    x = np.asarray(values, dtype=float)
    with _quiet():
        n = np.sum(~np.isnan(x), axis=axis)
        mean = np.nanmean(x, axis=axis)
        sem = np.nanstd(x, axis=axis, ddof=1) / np.sqrt(n)
        half = stats.t.ppf(_two_sided(level), np.where(n > 1, n - 1, np.nan)) * sem
    return MeanCI(_out(mean), _out(sem), _out(mean - half), _out(mean + half), _out(n), level)


def bootstrap_ci(
    values,
    statistic: Callable = np.median,
    level: float = 0.95,
    n_resamples: int = 9999,
    method: str = "percentile",
    seed: int = 0,
    axis: int = -1,
) -> Interval:
    """Bootstrap confidence interval of ``statistic`` over seeds (``scipy.stats.bootstrap``).

    values: any shape, resampled along ``axis`` (default last = seeds);
    statistic: ``f(x, axis=...)`` reducing that axis (np.median, np.mean, …;
    a function without an ``axis`` argument is applied per resample).
    method: ``"percentile"``, ``"basic"`` or ``"BCa"`` (bias-corrected and
    accelerated; second-order accurate).  seed: the resampling generator seed
    (deterministic).  nan entries are dropped per batch element.
    Returns :class:`Interval` with ``estimate = statistic(values)``, the
    bootstrap standard error in ``se``.  The bootstrap's coverage error is
    O(n^-1/2) (percentile) or O(n^-1) (BCa) — use ≳ 20 seeds.
    """
    x = np.asarray(values, dtype=float)
    rows, batch = _rows(x, axis)
    ci = dict(confidence_level=level, n_resamples=n_resamples, method=method)
    if not np.isnan(rows).any():
        # one vectorised call; bound memory at ~2e7 resampled values per batch
        chunk = max(1, int(2e7 // max(rows.size, 1)))
        with _quiet():
            r = stats.bootstrap((rows,), statistic, axis=-1, batch=chunk, rng=np.random.default_rng(seed), **ci)
        est = statistic(rows, axis=-1) if _takes_axis(statistic) else np.array([statistic(r_) for r_ in rows])
        low, high, se = r.confidence_interval.low, r.confidence_interval.high, r.standard_error
        n = np.full(len(rows), rows.shape[-1])
    else:
        est, low, high, se, n = (np.full(len(rows), np.nan) for _ in range(5))
        for i, row in enumerate(rows):
            row = row[~np.isnan(row)]
            n[i] = len(row)
            if len(row) < 2:
                continue
            with _quiet():
                r = stats.bootstrap((row,), statistic, rng=np.random.default_rng(seed), **ci)
            est[i] = statistic(row)
            low[i], high[i], se[i] = r.confidence_interval.low, r.confidence_interval.high, r.standard_error
    shape = lambda a: _out(np.asarray(a, dtype=float).reshape(batch))  # noqa: E731
    return Interval(shape(est), shape(low), shape(high), level, _out(np.asarray(n, int).reshape(batch)), shape(se))


def _takes_axis(f) -> bool:
    import inspect

    try:
        return "axis" in inspect.signature(f).parameters
    except (TypeError, ValueError):
        return False


def quantile_ci(values, q: float, level: float = 0.95, axis: int = -1, method: str = "inverted_cdf") -> Interval:
    """Distribution-free interval for the q-quantile from order statistics.

    values: any shape, sample along ``axis`` (default last = seeds); nan dropped,
    ``inf`` allowed (censored first-passage times: the interval is valid as long
    as it does not reach them, otherwise ``high = inf``).
    The interval [X_(r), X_(s)] uses ranks from the Binomial(n, q) distribution of
    #{X_i ≤ ξ_q} (``scipy.stats.quantile_test``); its coverage is ≥ ``level``
    for any continuous distribution (conservative because ranks are integers).
    A side that the sample is too small to bound is ±inf.  ``estimate`` is
    ``np.quantile(x, q, method=method)`` (default ``"inverted_cdf"``: an order
    statistic, well defined with inf).
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q!r}")
    rows, batch = _rows(values, axis)
    est, low, high = (np.full(len(rows), np.nan) for _ in range(3))
    n = np.zeros(len(rows), dtype=int)
    for i, row in enumerate(rows):
        row = row[~np.isnan(row)]
        n[i] = len(row)
        if len(row) == 0:
            continue
        est[i] = np.quantile(row, q, method=method)
        ci = stats.quantile_test(row, q=est[i] if np.isfinite(est[i]) else 0.0, p=q).confidence_interval(level)
        low[i] = -np.inf if np.isnan(ci.low) else ci.low
        high[i] = np.inf if np.isnan(ci.high) else ci.high
    r = lambda a: _out(a.reshape(batch))  # noqa: E731
    return Interval(r(est), r(low), r(high), level, r(n))


# ---------------------------------------------------------------------------- 2. comparisons
def binomial_ci(successes, n, level: float = 0.95, method: str = "wilson") -> Interval:
    """Interval for a probability from ``successes`` of ``n`` independent trials.

    E.g. the escape probability of a grid point: the fraction of seeds whose
    first passage happened.  ``method``: ``"wilson"`` (score interval, good
    coverage for small n) or ``"exact"`` (Clopper–Pearson, conservative); both
    from ``scipy.stats.binomtest``.  ``se`` is the plug-in √(p(1−p)/n).
    """
    k, n = int(successes), int(n)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method=method)
    p = k / n
    return Interval(p, float(ci.low), float(ci.high), level, n, float(np.sqrt(p * (1 - p) / n)))


def paired_difference(x, y, level: float = 0.95, axis: int = -1) -> Difference:
    """Paired comparison of x and y (same seeds at two grid points): t on d = x − y.

    x, y: same shape (or broadcastable), pairs along ``axis`` (default last =
    seeds).  A pair with a nan in either member is dropped.  estimate = d̄,
    sem = s_d/√n, interval d̄ ± t_{n−1}·sem, p-value of H0: E d = 0.
    Since Var d = σx² + σy² − 2ρσxσy, positive correlation ρ between the pairs
    (common random numbers) shrinks the interval relative to
    :func:`unpaired_difference` — by √(1 − ρ) for σx = σy.
    """
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    d = x - y
    m = mean_ci(d, level=level, axis=axis)
    ok = ~np.isnan(d)
    with _quiet():
        n = np.asarray(m.n)
        t = np.asarray(m.mean) / np.asarray(m.sem)
        p = 2 * stats.t.sf(np.abs(t), np.where(n > 1, n - 1, np.nan))
        xm, ym = np.where(ok, x, np.nan), np.where(ok, y, np.nan)
        dx = xm - np.nanmean(xm, axis=axis, keepdims=True)
        dy = ym - np.nanmean(ym, axis=axis, keepdims=True)
        corr = np.nansum(dx * dy, axis=axis) / np.sqrt(np.nansum(dx**2, axis=axis) * np.nansum(dy**2, axis=axis))
    return Difference(m.mean, m.sem, m.low, m.high, _out(n - 1), _out(p), m.n, m.n, level, "paired", _out(corr))


def unpaired_difference(x, y, level: float = 0.95, axis: int = -1) -> Difference:
    """Welch (unequal-variance) comparison of independent samples x and y.

    Samples along ``axis`` (lengths may differ; other axes broadcast); nan dropped.
    estimate = x̄ − ȳ, sem = √(s_x²/n_x + s_y²/n_y), df by Welch–Satterthwaite
    sem⁴ / [(s_x²/n_x)²/(n_x−1) + (s_y²/n_y)²/(n_y−1)], interval estimate ± t_df·sem.
    Same numbers as ``scipy.stats.ttest_ind(equal_var=False)``.  Use it only for
    samples that are *not* paired (different seeds), or to show what pairing buys.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    with _quiet():
        nx = np.sum(~np.isnan(x), axis=axis)
        ny = np.sum(~np.isnan(y), axis=axis)
        vx = np.nanvar(x, axis=axis, ddof=1) / nx
        vy = np.nanvar(y, axis=axis, ddof=1) / ny
        est = np.nanmean(x, axis=axis) - np.nanmean(y, axis=axis)
        sem = np.sqrt(vx + vy)
        df = (vx + vy) ** 2 / (vx**2 / (nx - 1) + vy**2 / (ny - 1))
        half = stats.t.ppf(_two_sided(level), df) * sem
        p = 2 * stats.t.sf(np.abs(est / sem), df)
    return Difference(
        _out(est), _out(sem), _out(est - half), _out(est + half), _out(df), _out(p), _out(nx), _out(ny), level, "welch"
    )


def ks_test(x, y, alternative: str = "two-sided", axis: int = -1) -> TestResult:
    """Two-sample Kolmogorov–Smirnov test (``scipy.stats.ks_2samp``), nan dropped.

    Samples along ``axis``; statistic D = sup |F_x − F_y|.  Exact p-values for
    small samples (conservative: the null distribution of D is discrete).
    """
    r = stats.ks_2samp(x, y, alternative=alternative, axis=axis, nan_policy="omit")
    return TestResult(_out(r.statistic), _out(r.pvalue))


def mann_whitney(x, y, alternative: str = "two-sided", axis: int = -1) -> TestResult:
    """Mann–Whitney U (Wilcoxon rank-sum) test (``scipy.stats.mannwhitneyu``), nan dropped.

    Samples along ``axis``; statistic is U of x (#pairs with x > y, ties ½).
    Rank based, so ``inf`` (censored first passages, all tied at the top) is
    handled correctly when both samples share the censoring time.
    """
    r = stats.mannwhitneyu(x, y, alternative=alternative, axis=axis, nan_policy="omit")
    return TestResult(_out(r.statistic), _out(r.pvalue))


# ---------------------------------------------------------------------------- 3. censored times
def _censored(times, censor_time, events, start: float = -np.inf):
    """(observed time, event flag) with nan dropped; raises on ambiguous censoring.

    times: inf (or events False) = censored.  censor_time: censoring time of inf
    entries; finite times beyond it are censored at it too (administrative).
    """
    t = np.asarray(times, dtype=float)
    if events is None:
        ev = np.isfinite(t)
    else:
        ev = np.broadcast_to(np.asarray(events, dtype=bool), t.shape)
        if np.any(np.isinf(t) & ~np.isnan(t)):
            raise ValueError("with explicit events, times must be finite (censoring times for non-events)")
    if censor_time is None:
        if np.any(np.isinf(t)):
            raise ValueError("times contain inf (censored) but censor_time is None; pass censor_time=step[-1]")
    else:
        c = float(censor_time)
        ev = ev & (t <= c)
        t = np.where(np.isnan(t), np.nan, np.minimum(t, c))
    return t, ev


def kaplan_meier(
    times, censor_time: float | None = None, *, events=None, level: float = 0.95, band: str = "log-log"
) -> KaplanMeier:
    """Kaplan–Meier estimate of the survival S(t) = P(T > t) of first-passage times.

    times: (seeds,) first-passage times; ``inf`` = never crossed, censored at
    ``censor_time`` (``step[-1]`` for ``fpt.*.steps``).  Alternatively give
    ``events`` (bool, True = crossing observed) with finite times (censoring
    times where False).  A finite ``censor_time`` also censors later events at
    it.  nan entries (diverged) are dropped.
    Estimate: S(t) = Π_{t_i ≤ t} (1 − d_i/n_i) over event times t_i with d_i
    events and n_i at risk.  Band: pointwise, from Greenwood's variance
    Var Ŝ = Ŝ² Σ d_i/(n_i(n_i − d_i)), either ``"linear"`` (Ŝ ± z·se, clipped) or
    ``"log-log"`` (on log(−log S), stays inside (0, 1); better in the tails).
    Computed by ``scipy.stats.ecdf``.  With no censoring Ŝ is 1 − ECDF.
    """
    t, ev = _censored(times, censor_time, events)
    keep = ~np.isnan(t)
    t, ev = t[keep], ev[keep]
    n = len(t)
    if n == 0:
        raise ValueError("no (non-nan) times")
    ts = np.sort(t)
    u, d = np.unique(t[ev], return_counts=True)
    at_risk = n - np.searchsorted(ts, u, side="left")
    if len(u):
        sf = stats.ecdf(stats.CensoredData(uncensored=t[ev], right=t[~ev])).sf
        s = sf.evaluate(u)
        with _quiet():
            ci = sf.confidence_interval(level, method=band)
            lo, hi = ci.low.evaluate(u), ci.high.evaluate(u)
    else:
        s = lo = hi = np.empty(0)
    return KaplanMeier(u, s, lo, hi, at_risk, d, n, int(n - ev.sum()), float(ts[-1]), level, band)


def median_survival(
    times, censor_time: float | None = None, *, events=None, level: float = 0.95, band: str = "log-log"
) -> Interval:
    """Median first-passage time from the Kaplan–Meier curve, with confidence interval.

    Arguments as :func:`kaplan_meier`.  estimate = min{t: Ŝ(t) ≤ ½}; the interval
    inverts the pointwise band (Brookmeyer–Crowley): low = min{t: band_low(t) ≤ ½},
    high = min{t: band_high(t) ≤ ½}.  A bound never reached before the last
    observation is ``inf`` (censoring leaves it undetermined).
    """
    km = kaplan_meier(times, censor_time, events=events, level=level, band=band)

    def first(v):
        i = np.flatnonzero(v <= 0.5)
        return float(km.time[i[0]]) if len(i) else np.inf

    return Interval(first(km.survival), first(km.low), first(km.high), level, km.n)


def exponential_rate(
    times, censor_time: float | None = None, *, events=None, level: float = 0.95, start: float = 0.0, axis: int = -1
) -> Rate:
    """Maximum-likelihood constant escape rate from right-censored first-passage times.

    times: any shape, seeds along ``axis`` (default last, as ``fpt.*.steps``);
    ``inf`` = censored at ``censor_time`` (or give ``events`` flags); nan dropped.
    Model: T − start ~ Exponential(λ) for T > start (memoryless escape);
    trajectories that crossed at or before ``start`` are not at risk and drop
    out (left truncation).  Likelihood λ^d e^{−λ E} with d = #events after
    ``start`` and exposure E = Σ_i (min(T_i, c) − start)_+, so
    λ̂ = d/E, se = λ̂/√d, and the exact Poisson (Garwood) interval
    [χ²_{α/2}(2d)/(2E), χ²_{1−α/2}(2d+2)/(2E)] (low = 0 when d = 0).
    Note: first passages recorded only at record steps are rounded up to the
    record grid; the rate is biased when the record spacing is not ≪ 1/λ.
    """
    t, ev = _censored(times, censor_time, events)
    ok = ~np.isnan(t)
    ev = ev & ok & (t > start)
    with _quiet():
        d = np.sum(ev, axis=axis)
        expo = np.sum(np.where(ok, np.clip(t - start, 0.0, None), 0.0), axis=axis)
        rate = d / expo
        se = rate / np.sqrt(d)
        a = 1.0 - level
        low = np.where(d > 0, stats.chi2.ppf(a / 2, 2 * np.maximum(d, 1)) / (2 * expo), 0.0)
        high = stats.chi2.ppf(1 - a / 2, 2 * d + 2) / (2 * expo)
    return Rate(_out(rate), _out(low), _out(high), _out(se), _out(d), _out(expo), level)


def compare_rates(
    times_a,
    times_b,
    censor_time_a: float | None = None,
    censor_time_b: float | None = None,
    *,
    events_a=None,
    events_b=None,
    level: float = 0.95,
    start: float = 0.0,
) -> RateComparison:
    """Compare exponential escape rates of two independent samples: ratio λ_a/λ_b.

    times_a, times_b: 1-D first-passage times (conventions of
    :func:`exponential_rate`).  Conditionally on the total number of events
    D = d_a + d_b, d_a ~ Binomial(D, π) with π = ρE_a/(ρE_a + E_b), ρ = λ_a/λ_b;
    the Clopper–Pearson interval for π (``scipy.stats.binomtest``) maps to the
    exact interval ρ = π/(1−π)·E_b/E_a, and the exact binomial test of
    π = E_a/(E_a+E_b) gives ``p_value`` for ρ = 1.  Also the likelihood-ratio
    statistic G = 2 Σ_i d_i log(λ̂_i/λ̂_0), λ̂_0 = D/(E_a+E_b), ~ χ²₁ under H0.
    The samples must be independent: with common random numbers the same
    seeds at two grid points are dependent and these exact levels no longer hold.
    """
    ra = exponential_rate(np.ravel(times_a), censor_time_a, events=events_a, level=level, start=start)
    rb = exponential_rate(np.ravel(times_b), censor_time_b, events=events_b, level=level, start=start)
    da, db, ea, eb = int(ra.events), int(rb.events), float(ra.exposure), float(rb.exposure)
    dt = da + db
    if dt == 0:
        return RateComparison(np.nan, 0.0, np.inf, 1.0, 0.0, 1.0, ra, rb, level)
    bt = stats.binomtest(da, dt, p=ea / (ea + eb))
    ci = bt.proportion_ci(confidence_level=level, method="exact")
    with _quiet():
        to_ratio = lambda pi: (pi / (1.0 - pi)) * eb / ea  # noqa: E731
        ratio = ra.rate / rb.rate
        low, high = to_ratio(ci.low), to_ratio(ci.high)
        lam0 = dt / (ea + eb)
        g = 2.0 * (special.xlogy(da, da / ea / lam0) + special.xlogy(db, db / eb / lam0))
    return RateComparison(
        float(ratio), float(low), float(high), float(bt.pvalue), float(g), float(stats.chi2.sf(g, 1)), ra, rb, level
    )


# ---------------------------------------------------------------------------- 4. stationary phase
def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Chain-averaged autocovariance C(t) = (1/n) Σ_i (x_i − x̄)(x_{i+t} − x̄), x (chains, n)."""
    n = x.shape[-1]
    dev = x - x.mean(axis=-1, keepdims=True)
    nfft = _fft.next_fast_len(2 * n, real=True)
    f = _fft.rfft(dev, nfft, axis=-1)
    acov = _fft.irfft(f * np.conj(f), nfft, axis=-1)[..., :n] / n
    return acov.mean(axis=0)


def integrated_autocorrelation_time(x, *, c: float = 5.0) -> AutocorrTime:
    """Integrated autocorrelation time of a stationary series, Sokal's automatic window.

    x: (n,) one series, or (chains, n) independent chains of the same process
    (e.g. seeds), time last; no nan.  C(t) is the per-chain-centred
    autocovariance averaged over chains (FFT), ρ(t) = C(t)/C(0), and
    τ(M) = 1 + 2 Σ_{t=1}^{M} ρ(t); the window is the smallest M with M ≥ c·τ(M)
    (c = 5 suits roughly exponential decay).  Then Var(x̄) ≈ τ C(0)/N for the
    mean of N = chains·n samples, i.e. N/τ effective samples.  For AR(1) with
    coefficient φ, τ = (1 + φ)/(1 − φ).  A constant series has τ = 1 by
    convention (its mean is exact).
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n,) or (chains, n), got {x.shape}")
    if np.isnan(x).any():
        raise ValueError("x contains nan")
    k, n = x.shape
    if n < 2:
        raise ValueError("need at least 2 samples per chain")
    acov = _autocovariance(x)
    if acov[0] <= 0:
        return AutocorrTime(1.0, 0.0, 0, 0.0, k, n, True)
    taus = 2.0 * np.cumsum(acov / acov[0]) - 1.0  # taus[M] = 1 + 2 Σ_{1..M} ρ
    ok = np.arange(n) >= c * taus
    found = bool(ok.any())
    m = int(np.argmax(ok)) if found else n - 1
    tau = float(taus[m])
    se = tau * np.sqrt(2.0 * (2 * m + 1) / (k * n))
    return AutocorrTime(tau, float(se), m, float(acov[0]), k, n, found and n >= 50 * tau)


def _split(series, burn_in: int, seed_axis):
    """series → (rows (B, S, n) after burn-in, batch shape)."""
    x = np.asarray(series, dtype=float)
    if x.ndim == 0:
        raise ValueError("series must have a time axis (last)")
    if seed_axis is None or x.ndim == 1:
        x = x[..., None, :]
    else:
        x = np.moveaxis(x, seed_axis, -2)
    if not 0 <= burn_in < x.shape[-1]:
        raise ValueError(f"burn_in must be in [0, n_records={x.shape[-1]}), got {burn_in}")
    x = x[..., burn_in:]
    return x.reshape(-1, *x.shape[-2:]), x.shape[:-2]


def stationary_mean(
    series,
    burn_in: int = 0,
    *,
    level: float = 0.95,
    method: str = "sokal",
    seed_axis: int | None = -2,
    c: float = 5.0,
    n_batches: int = 20,
) -> StationaryMean:
    """Stationary-phase time average with an autocorrelation-aware interval.

    series: (..., seeds, n_records) (the ``per_seed`` layout; leading axes are
    batch, e.g. the grid) with seeds on ``seed_axis``; (n_records,) is one
    series; with ``seed_axis=None`` every row of (..., n_records) is a
    separate single series.  Records before
    ``burn_in`` (an index) are discarded; seeds with any nan left are dropped.
    mean = average over seeds and records (seeds are independent, so their
    information adds).  Standard error by ``method``:

    * ``"sokal"``: sem² = τ C(0)/(S n) with τ from
      :func:`integrated_autocorrelation_time` on the S chains; normal interval.
    * ``"batch"``: each seed's series cut into ``n_batches`` contiguous batches
      (remainder dropped from the start); sem = std(batch means)/√(S·n_batches),
      t interval with S·n_batches − 1 df.  Needs batch length ≫ τ.
    * ``"seeds"``: sem = std(seed means)/√S, t with S − 1 df; no model of the
      autocorrelation, needs S ≥ 2.

    ``tau`` and ``ess`` are those implied by the chosen sem: τ = S n sem²/C(0).
    """
    if method not in ("sokal", "batch", "seeds"):
        raise ValueError(f"method must be 'sokal', 'batch' or 'seeds', got {method!r}")
    rows, batch = _split(series, burn_in, seed_axis)
    nrec = rows.shape[-1]
    z = stats.norm.ppf(_two_sided(level))
    names = ("mean", "sem", "low", "high", "tau", "ess", "variance", "sem_seeds", "n_seeds")
    out = {k: np.full(len(rows), np.nan) for k in names}
    for b, x in enumerate(rows):
        x = x[~np.isnan(x).any(axis=-1)]
        s = len(x)
        out["n_seeds"][b] = s
        if s == 0:
            continue
        mean = x.mean()
        seed_means = x.mean(axis=-1)
        sem_seeds = seed_means.std(ddof=1) / np.sqrt(s) if s > 1 else np.nan
        var = _autocovariance(x)[0]
        crit = z
        if method == "sokal":
            if nrec < 2:
                continue
            act = integrated_autocorrelation_time(x, c=c)
            sem = np.sqrt(act.tau * act.variance / (s * nrec))
        elif method == "batch":
            blen = nrec // n_batches
            if blen < 1:
                raise ValueError(f"n_records={nrec} after burn-in is fewer than n_batches={n_batches}")
            bm = x[:, nrec - blen * n_batches :].reshape(s, n_batches, blen).mean(axis=-1).ravel()
            sem = bm.std(ddof=1) / np.sqrt(bm.size)
            crit = stats.t.ppf(_two_sided(level), bm.size - 1)
        else:
            sem = sem_seeds
            crit = stats.t.ppf(_two_sided(level), s - 1) if s > 1 else np.nan
        with _quiet():
            tau = s * nrec * sem**2 / var if var > 0 else 1.0
        for k, v in zip(
            names, (mean, sem, mean - crit * sem, mean + crit * sem, tau, s * nrec / tau, var, sem_seeds, s)
        ):
            out[k][b] = v
    r = {k: _out(v.reshape(batch)) for k, v in out.items()}
    r["n_seeds"] = _out(np.asarray(out["n_seeds"]).reshape(batch).astype(int))
    return StationaryMean(**r, n_records=nrec, level=level, method=method)


def stationary_histogram(
    values, bins=50, burn_in: int = 0, *, range: tuple[float, float] | None = None, seed_axis: int | None = -2
) -> Histogram:
    """Histogram of the stationary distribution, pooled over time (after burn-in) and seeds.

    values: (..., seeds, n_records) as :func:`stationary_mean` (or
    ``seed_axis=None``).  bins: a number (edges spanning ``range``, default the
    finite min/max over *all* batch elements so every element shares ``edges``)
    or an array of edges.  Seeds with a nan after burn-in are dropped.
    The pooled density estimates the stationary density averaged over each
    bin; its error bar ``density_sem`` is the between-seed standard error (each
    seed's own density is an unbiased, independent estimate), so it is valid
    however strongly correlated the records are in time.
    """
    rows, batch = _split(values, burn_in, seed_axis)
    if np.ndim(bins) == 0:
        if range is None:
            fin = rows[np.isfinite(rows)]
            if fin.size == 0:
                raise ValueError("no finite values to histogram")
            range = (float(fin.min()), float(fin.max()))
        edges = np.histogram_bin_edges(np.empty(0), bins=int(bins), range=range)
    else:
        edges = np.asarray(bins, dtype=float)
    nb, width = len(edges) - 1, np.diff(edges)
    counts = np.zeros((len(rows), nb))
    dens = np.full((len(rows), nb), np.nan)
    sem = np.full((len(rows), nb), np.nan)
    n = np.zeros(len(rows), dtype=int)
    ns = np.zeros(len(rows), dtype=int)
    for b, x in enumerate(rows):
        x = x[~np.isnan(x).any(axis=-1)]
        ns[b], n[b] = len(x), x.size
        if len(x) == 0:
            continue
        per_seed = np.stack([np.histogram(xs, bins=edges)[0] for xs in x])
        counts[b] = per_seed.sum(axis=0)
        dens[b] = counts[b] / (x.size * width)
        if len(x) > 1:
            d_s = per_seed / (x.shape[-1] * width)
            sem[b] = d_s.std(axis=0, ddof=1) / np.sqrt(len(x))
    shp = lambda a: a.reshape(*batch, nb)  # noqa: E731
    return Histogram(shp(counts), edges, shp(dens), shp(sem), _out(n.reshape(batch)), _out(ns.reshape(batch)))


# ---------------------------------------------------------------------------- 5. scaling law
def fit_power_law(x, y, yerr=None, level: float = 0.95, *, x0: float = 1.0, absolute_sigma: bool = True) -> PowerLawFit:
    """Fit y = A·(x/x0)^p by (weighted) linear least squares of log y on log(x/x0).

    x, y: 1-D, positive (entries with a nan are dropped); yerr: optional 1-D
    standard errors of y, turned into errors of log y by the delta method
    σ_i = yerr_i / y_i (valid for small relative errors) and weights 1/σ_i².
    Estimates β = (log A, p) = (XᵀWX)⁻¹XᵀW log y with X = [1, log(x/x0)], and
    Cov β = (XᵀWX)⁻¹ — taken as is when ``yerr`` is given and ``absolute_sigma``
    (normal-quantile intervals), else scaled by χ²/(n − 2) with Student-t
    (n − 2 df) intervals (ordinary least squares when ``yerr`` is None; same
    numbers as ``scipy.stats.linregress``).  Choose ``x0`` inside the data
    (e.g. its geometric mean) to decorrelate A from p.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    s = None if yerr is None else np.broadcast_to(np.asarray(yerr, dtype=float), y.shape).ravel()
    keep = ~(np.isnan(x) | np.isnan(y) | (np.isnan(s) if s is not None else False))
    x, y = x[keep], y[keep]
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("power-law fit needs x > 0 and y > 0")
    n = len(x)
    if n < 3:
        raise ValueError(f"need at least 3 points, got {n}")
    X = np.column_stack([np.ones(n), np.log(x / x0)])
    Y = np.log(y)
    if s is None:
        w = np.ones(n)
    else:
        sig = s[keep] / y
        if np.any(sig <= 0):
            raise ValueError("yerr must be positive")
        w = 1.0 / sig**2
    sw = np.sqrt(w)
    beta, *_ = np.linalg.lstsq(X * sw[:, None], Y * sw, rcond=None)
    cov = np.linalg.inv((X * w[:, None]).T @ X)
    chi2 = float(np.sum(w * (Y - X @ beta) ** 2))
    dof = n - 2
    if s is not None and absolute_sigma:
        crit = stats.norm.ppf(_two_sided(level))
        chi2_p = float(stats.chi2.sf(chi2, dof))
    else:
        cov = cov * chi2 / dof
        crit = stats.t.ppf(_two_sided(level), dof)
        chi2_p = np.nan
    se = np.sqrt(np.diag(cov))
    la, p = beta
    return PowerLawFit(
        float(p),
        float(se[1]),
        float(p - crit * se[1]),
        float(p + crit * se[1]),
        float(np.exp(la)),
        float(se[0]),
        float(np.exp(la - crit * se[0])),
        float(np.exp(la + crit * se[0])),
        cov,
        float(x0),
        chi2,
        chi2_p,
        dof,
        n,
        level,
        s is not None,
    )


def fit_power_law_to_intervals(x, y, low, high, level: float = 0.95, extra_log_se=0.0) -> PowerLawFit:
    """Fit y = A·(x/x0)^p to estimates y known through two-sided ``level`` intervals [low, high].

    For scaling laws of medians (escape times against d): each interval gives the standard
    error of log y as log(high/low) / (2 z) (z the normal quantile of ``level``; exact for an
    interval symmetric on the log scale), combined in quadrature with ``extra_log_se`` (e.g. the
    discretisation of a record grid, relative); the fit is :func:`fit_power_law` with those errors
    and x0 the geometric mean of x.  x, y, low, high: 1-D, positive and finite.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    z = stats.norm.ppf(_two_sided(level))
    se_log = np.hypot(np.log(np.asarray(high, dtype=float) / np.asarray(low, dtype=float)) / (2 * z), extra_log_se)
    return fit_power_law(x, y, yerr=y * se_log, level=level, x0=float(np.exp(np.log(x).mean())))


# ---------------------------------------------------------------------------- 6. tail indices
@dataclass(frozen=True)
class TailIndex:
    """A tail-index estimate α̂ (P(|X| > x) ~ C x^{−α}) with a two-sided interval [low, high].

    ``se``: its standard error (Hill: α̂/√k; block: the delta method's α̂² · se(1/α̂));
    ``k``: Hill's number of upper order statistics, or the block estimator's block size K1;
    ``n``: the (finite) values used; ``method``: ``"hill"`` or ``"block"``.  Numeric fields
    have the batch shape of the input (floats when it is ``()``).
    """

    alpha: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray
    se: float | np.ndarray
    k: int | np.ndarray
    n: int | np.ndarray
    level: float
    method: str


def _centered(row: np.ndarray, center) -> np.ndarray:
    """``row`` minus ``center`` (None: 0; ``"median"``, ``"mean"`` or a number)."""
    if center is None:
        return row
    if center == "median":
        return row - np.median(row)
    if center == "mean":
        return row - np.mean(row)
    return row - float(center)


def _hill_k(k, n: int) -> int:
    """Hill's k for n values: an int, a fraction of n, or ``"sqrt"`` (⌈√n⌉); clipped to [1, n − 1]."""
    if k == "sqrt":
        kk = math.ceil(math.sqrt(n))
    elif isinstance(k, float) and 0.0 < k < 1.0:
        kk = int(round(k * n))
    elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        kk = int(k)
    else:
        raise ValueError(f"k must be an integer, a fraction in (0, 1) or 'sqrt', got {k!r}")
    return max(1, min(kk, n - 1))


def hill_tail_index(values, k="sqrt", level: float = 0.95, axis: int = -1, center=None) -> TailIndex:
    """Hill's (1975) estimator of the tail index α of |X − center| from its k largest values.

    values: any shape, an i.i.d. sample along ``axis`` (default last; for ``{obs}.per_seed``
    (*grid, seeds, n_records) pass ``per_seed[..., j]`` or ``axis=-2``); non-finite values are
    dropped.  ``center``: None (the values as given), ``"median"``, ``"mean"`` or a number;
    the estimator sees Z = |X − center|.  With Z_(1) ≥ … ≥ Z_(n) the order statistics,

        1/α̂ = (1/k) Σ_{i ≤ k} log(Z_(i) / Z_(k+1)).

    ``k``: an int, a fraction of n, or ``"sqrt"`` (default: k = ⌈√n⌉, the common rule that
    keeps k → ∞ and k/n → 0).  Interval: if Z is exactly Pareto above Z_(k+1), the k log-ratios
    are i.i.d. Exp(α) given the threshold, so 2 α k / α̂ ~ χ²_{2k} and

        [α̂ χ²_{2k}((1 − level)/2) / (2k),  α̂ χ²_{2k}((1 + level)/2) / (2k)]

    has exact coverage ``level``; ``se`` = α̂/√k (asymptotic normality, Hall 1982).

    When valid: for i.i.d. samples whose tail is regularly varying, P(Z > z) = z^{−α} L(z) with
    L slowly varying; any α > 0 (unlike :func:`block_tail_index`, it sees α > 2).  The interval
    is exact for Pareto tails and asymptotic otherwise; a non-Pareto tail (second-order terms,
    e.g. a stable law with α close to 2, where the Pareto regime sets in only far out, or
    Student-t with large ν) biases α̂ by an amount that grows with k, which the interval does
    not include: check that α̂ is stable across k.  Dependent samples (successive records of
    one trajectory) keep α̂ consistent for many stationary sequences but make the interval
    too narrow; use one value per seed.
    """
    rows, batch = _rows(values, axis)
    B = len(rows)
    alpha, low, high, se = (np.full(B, np.nan) for _ in range(4))
    ks, ns = np.zeros(B, dtype=int), np.zeros(B, dtype=int)
    lo_q, hi_q = 1.0 - _two_sided(level), _two_sided(level)
    for i, row in enumerate(rows):
        row = row[np.isfinite(row)]
        z = np.sort(np.abs(_centered(row, center)))[::-1]
        ns[i] = len(z)
        if len(z) < 3:
            continue
        kk = _hill_k(k, len(z))
        if z[kk] <= 0:
            continue
        s = float(np.sum(np.log(z[:kk] / z[kk])))
        a = kk / s if s > 0 else np.inf
        ks[i], alpha[i], se[i] = kk, a, a / np.sqrt(kk)
        low[i] = a * stats.chi2.ppf(lo_q, 2 * kk) / (2 * kk)
        high[i] = a * stats.chi2.ppf(hi_q, 2 * kk) / (2 * kk)
    r = lambda a: _out(a.reshape(batch))  # noqa: E731
    return TailIndex(r(alpha), r(low), r(high), r(se), r(ks), r(ns), level, "hill")


def block_tail_index(
    values, block_size: int | None = None, level: float = 0.95, axis: int = -1, center=None
) -> TailIndex:
    """The block estimator of Mohammadi, Mohammadpour & Ogata (2015, Metrika 78), used by Şimşekli,
    Sagun & Gürbüzbalaban (2019, "A tail-index analysis of stochastic gradient noise"), of the α of
    a symmetric α-stable sample.

    values: any shape, an i.i.d. sample along ``axis`` (default last); non-finite values are
    dropped, then ``center`` (None, ``"median"``, ``"mean"`` or a number) is subtracted.  The
    first K = K1·K2 values X_1..X_K (K1 = ``block_size``, default ⌊√n⌋; K2 = ⌊n/K1⌋ blocks) give
    block sums Y_i = Σ_{j ≤ K1} X_{(i−1)K1 + j} and

        1/α̂ = (1/log K1) [ (1/K2) Σ_i log|Y_i| − (1/K) Σ_j log|X_j| ].

    Since a sum of K1 i.i.d. SαS variables is K1^{1/α} times one, E log|Y| − E log|X| = log(K1)/α:
    the estimate of 1/α is unbiased for any K1.  Interval: 1/α̂ = mean_i D_i / log K1 with
    D_i = log|Y_i| − (1/K1) Σ_{j in block i} log|X_j| i.i.d. over blocks, so a Student-t interval
    (K2 − 1 dof) for 1/α, inverted to α (monotone; ``high = inf`` when the interval of 1/α reaches
    0); ``se`` by the delta method.

    When valid: i.i.d. symmetric α-stable samples, 0 < α ≤ 2 (exactly, any K1 ≥ 2), and
    asymptotically (K1 → ∞) samples in the domain of attraction of a symmetric stable law.
    Finite-variance data (α > 2) are in the Gaussian domain: the estimate tends to 2, never
    above, so it cannot tell α = 3 from α = 6.  The data must be centred (a location μ adds K1·μ
    to the block sums and pulls α̂ towards 1): pass ``center="median"`` for a sample of
    iterates around an unknown point.  Needs K2 ≳ 30 blocks for the t interval.
    """
    rows, batch = _rows(values, axis)
    B = len(rows)
    alpha, low, high, se = (np.full(B, np.nan) for _ in range(4))
    ks, ns = np.zeros(B, dtype=int), np.zeros(B, dtype=int)
    for i, row in enumerate(rows):
        x = _centered(row[np.isfinite(row)], center)
        n = len(x)
        k1 = int(block_size) if block_size is not None else int(math.isqrt(n))
        if k1 < 2:
            raise ValueError(f"block_size must be >= 2, got {k1}")
        k2 = n // k1
        ns[i] = k1 * k2
        if k2 < 2:
            continue
        blocks = x[: k1 * k2].reshape(k2, k1)
        with _quiet():
            d = np.log(np.abs(blocks.sum(axis=1))) - np.log(np.abs(blocks)).mean(axis=1)
        if not np.all(np.isfinite(d)):  # a zero value or an exact cancellation
            continue
        inv = d.mean() / np.log(k1)
        inv_se = d.std(ddof=1) / np.sqrt(k2) / np.log(k1)
        t = stats.t.ppf(_two_sided(level), k2 - 1)
        lo_inv, hi_inv = inv - t * inv_se, inv + t * inv_se
        ks[i], alpha[i], se[i] = k1, 1.0 / inv, inv_se / inv**2
        low[i] = 1.0 / hi_inv
        high[i] = 1.0 / lo_inv if lo_inv > 0 else np.inf
    r = lambda a: _out(a.reshape(batch))  # noqa: E731
    return TailIndex(r(alpha), r(low), r(high), r(se), r(ks), r(ns), level, "block")
