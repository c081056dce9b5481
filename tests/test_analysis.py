"""Tests of jaxrelu.analysis on cases with known answers.

Every tolerance is a multiple (usually 4) of a standard error derived in the
comment next to it; with fixed seeds the tests are deterministic, and a 4-SE
band would be left by chance with probability ≈ 6e-5 per check.  Coverage
checks count how often an interval covers the truth over R independent
repetitions: the count is Binomial(R, level), so its fraction has
SE = √(level(1 − level)/R).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal, stats

from jaxrelu import analysis as A


def coverage_tol(level, reps, k=4.0):
    """k binomial standard errors of a coverage fraction over `reps` repetitions."""
    return k * np.sqrt(level * (1 - level) / reps)


def ar1(rng, phi, shape, n, mu=0.0, x0=None):
    """Stationary AR(1), unit marginal variance: x_t = φ x_{t−1} + √(1−φ²) ε_t.

    Integrated autocorrelation time τ = 1 + 2 Σ φ^t = (1 + φ)/(1 − φ).
    With x0 given, the series starts there instead (a transient decaying as φ^t).
    """
    eps = rng.standard_normal((*shape, n)) * np.sqrt(1 - phi**2)
    start = rng.standard_normal(shape) if x0 is None else np.full(shape, float(x0))
    zi = (phi * start)[..., None]
    x, _ = signal.lfilter([1.0], [1.0, -phi], eps, axis=-1, zi=zi)
    return mu + x


# ---------------------------------------------------------------------------- 1. intervals
def test_mean_ci_coverage_is_nominal_t_not_z():
    # R = 4000 samples of n = 5 normals: the t interval covers with prob. 0.95
    # exactly; SE of the coverage fraction √(.95·.05/4000) = 0.0034, tol 4 SE = 0.014.
    # A z interval would cover only ≈ 0.88 at n = 5, so this distinguishes them.
    rng = np.random.default_rng(1)
    R, n, mu = 4000, 5, 3.0
    x = rng.normal(mu, 2.0, size=(R, n))
    ci = A.mean_ci(x, level=0.95)
    cover = np.mean((ci.low <= mu) & (mu <= ci.high))
    assert abs(cover - 0.95) < coverage_tol(0.95, R)
    # one row against scipy's t interval
    lo, hi = stats.t.interval(0.95, n - 1, loc=x[0].mean(), scale=stats.sem(x[0]))
    assert np.isclose(ci.low[0], lo) and np.isclose(ci.high[0], hi)


def test_mean_ci_axis_and_nan():
    # per_seed layout (grid 2×3, seeds 7, records 4), seeds on axis -2; a nan seed is dropped.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 7, 4))
    x[1, 2, 3, :] = np.nan
    ci = A.mean_ci(x, axis=-2)
    assert ci.mean.shape == (2, 3, 4) and ci.n[1, 2, 0] == 6 and ci.n[0, 0, 0] == 7
    ref = np.delete(x[1, 2], 3, axis=0)
    assert np.allclose(ci.mean[1, 2], ref.mean(axis=0))
    assert np.allclose(ci.sem[1, 2], ref.std(axis=0, ddof=1) / np.sqrt(6))
    scalar = A.mean_ci(x[0, 0, :, 0])
    assert isinstance(scalar.mean, float) and scalar.n == 7


def test_bootstrap_median_coverage():
    # R = 300 samples of n = 41 from Exponential(1), true median ln 2.  Percentile
    # bootstrap of the median: coverage fraction SE √(.95·.05/300) = 0.0126, tol 4 SE
    # = 0.05.  (The percentile bootstrap of a median undercovers by O(n^-1/2): here
    # ≈ 0.93, inside the band; an interval at the wrong level, e.g. ±1 SE, fails.)
    rng = np.random.default_rng(3)
    R, n = 300, 41
    x = rng.exponential(1.0, size=(R, n))
    ci = A.bootstrap_ci(x, np.median, level=0.95, n_resamples=999, seed=0)
    cover = np.mean((ci.low <= np.log(2)) & (np.log(2) <= ci.high))
    assert abs(cover - 0.95) < coverage_tol(0.95, R)
    assert np.allclose(ci.estimate, np.median(x, axis=-1))
    # asymptotic SE of a median, 1/(2 f(m) √n) = 1/√n for Exp(1) (f(m) = ½): the
    # bootstrap SE averaged over the R samples agrees within 15 % (SE of a mean
    # of R noisy SE estimates, each ~30 % relative spread, is ~2 %; the rest is
    # the O(1/n) small-sample excess of the median's variance).
    assert abs(np.mean(ci.se) * np.sqrt(n) - 1.0) < 0.15


def test_bootstrap_ci_nan_rows_and_bca():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 30))
    x[1, :5] = np.nan
    ci = A.bootstrap_ci(x, np.mean, n_resamples=999, method="BCa", seed=1)
    assert ci.n.tolist() == [30, 25, 30]
    assert np.isclose(ci.estimate[1], np.nanmean(x[1]))
    assert np.all(ci.low < ci.estimate) and np.all(ci.estimate < ci.high)
    # deterministic given seed
    again = A.bootstrap_ci(x, np.mean, n_resamples=999, method="BCa", seed=1)
    assert np.array_equal(ci.low, again.low)


def test_quantile_ci_exact_coverage_and_censoring():
    # Order-statistic interval [X_(r), X_(s)] for the median of n = 25: it covers
    # ξ iff r ≤ B < s with B = #{X_i ≤ ξ} ~ Binomial(25, ½), so its exact coverage
    # is computable.  Check exact ≥ level, and the empirical coverage over R = 1000
    # samples within 4 SE (√(c(1−c)/1000) ≈ 0.0064) of it.
    n, q, R = 25, 0.5, 1000
    ranks = np.arange(1.0, n + 1)
    ci_r = A.quantile_ci(ranks, q)  # on data 1..n the bounds *are* the ranks
    r, s = int(ci_r.low), int(ci_r.high)
    exact = stats.binom.cdf(s - 1, n, q) - stats.binom.cdf(r - 1, n, q)
    assert exact >= 0.95
    rng = np.random.default_rng(5)
    x = rng.standard_normal((R, n))
    ci = A.quantile_ci(x, q)
    cover = np.mean((ci.low <= 0.0) & (0.0 <= ci.high))
    assert abs(cover - exact) < 4 * np.sqrt(exact * (1 - exact) / R)
    # right-censoring above the interval changes nothing (order statistics below it)
    y = np.sort(x[0])
    y_cens = y.copy()
    y_cens[-5:] = np.inf
    a, b = A.quantile_ci(y, q), A.quantile_ci(y_cens, q)
    assert (a.low, a.high, a.estimate) == (b.low, b.high, b.estimate)
    # a 0.99-quantile of 25 points cannot be bounded above
    assert A.quantile_ci(y, 0.99).high == np.inf


# ---------------------------------------------------------------------------- 2. comparisons
def test_pairing_shrinks_interval_by_sqrt_one_minus_rho():
    # x = z1, y = δ + ρ z1 + √(1−ρ²) z2: unit variances, correlation ρ = 0.8.
    # Var(x−y) = 2(1−ρ), so the paired sem is √(2(1−ρ)/n) against Welch's √(2/n):
    # width ratio = √(1−ρ) · t_{n−1}/t_{df_Welch} (df_Welch ≈ 2n−2).
    rng = np.random.default_rng(6)
    R, n, rho, delta = 200, 200, 0.8, 0.3
    z1, z2 = rng.standard_normal((2, R, n))
    x = z1
    y = delta + rho * z1 + np.sqrt(1 - rho**2) * z2
    p = A.paired_difference(x, y)
    u = A.unpaired_difference(x, y)
    ratio = (p.high - p.low) / (u.high - u.low)
    expected = np.sqrt(1 - rho) * stats.t.ppf(0.975, n - 1) / stats.t.ppf(0.975, 2 * n - 2)
    # SE of the mean ratio from its spread over the R repetitions; the ratio of
    # sample sds has an O(1/n) ≈ 0.2 % bias, ≪ this 4-SE band (≈ 1.7 %).
    assert abs(ratio.mean() - expected) < 4 * ratio.std(ddof=1) / np.sqrt(R)
    assert np.all(ratio < 0.6)  # pairing shrinks every interval (ratio ≈ 0.45 ± 0.03)
    # mean difference −δ: each row has SE √(2(1−ρ)/n), their mean over R rows /√R
    assert abs(np.mean(p.estimate) + delta) < 4 * np.sqrt(2 * (1 - rho) / n / R)
    # sem² is unbiased: E[n·sem_paired²] = 2(1−ρ) = 0.4; its SD over repetitions is
    # 0.4·√(2/(n−1)), so the mean over R has SE 0.4·√(2/(n−1))/√R.
    assert abs(np.mean(n * p.sem**2) - 2 * (1 - rho)) < 4 * 0.4 * np.sqrt(2 / (n - 1)) / np.sqrt(R)
    # correlation of the pairs: Fisher z = artanh r has mean artanh ρ + ρ/(2(n−1)) and
    # SE 1/√(n−3) per row, so the mean over R rows has SE 1/√((n−3)R)
    zbar = np.mean(np.arctanh(p.correlation))
    assert abs(zbar - np.arctanh(rho) - rho / (2 * (n - 1))) < 4 / np.sqrt((n - 3) * R)


def test_paired_coverage_and_scipy_agreement():
    # paired t interval coverage: R = 2000, SE 0.0049, tol 4 SE ≈ 0.019
    rng = np.random.default_rng(7)
    R, n, rho, delta = 2000, 12, 0.6, -0.4
    z1, z2 = rng.standard_normal((2, R, n))
    x, y = z1, delta + rho * z1 + np.sqrt(1 - rho**2) * z2
    p = A.paired_difference(x, y)
    assert abs(np.mean((p.low <= -delta) & (-delta <= p.high)) - 0.95) < coverage_tol(0.95, R)
    # same numbers as scipy's paired and Welch t tests
    rel = stats.ttest_rel(x[0], y[0])
    assert np.isclose(p.p_value[0], rel.pvalue)
    assert np.allclose([p.low[0], p.high[0]], rel.confidence_interval(0.95))
    xu, yu = x[0], rng.normal(1.0, 3.0, size=20)  # unequal sizes and variances
    u = A.unpaired_difference(xu, yu, level=0.9)
    w = stats.ttest_ind(xu, yu, equal_var=False)
    assert np.isclose(u.p_value, w.pvalue) and np.isclose(u.df, w.df)
    assert np.allclose([u.low, u.high], w.confidence_interval(0.9))
    assert (u.n_x, u.n_y, u.kind) == (12, 20, "welch")


def test_ks_and_mann_whitney_power_and_size():
    rng = np.random.default_rng(8)
    # shift of 0.7 σ, n = 200 each: MW z ≈ 0.7/√(2/200)·0.98 ≈ 6.9; KS expected
    # D ≈ 2Φ(0.35) − 1 ≈ 0.27 against a 0.001 critical value ≈ 0.19: both reject.
    a, b = rng.standard_normal(200), rng.standard_normal(200) + 0.7
    assert A.mann_whitney(a, b).p_value < 1e-3
    assert A.ks_test(a, b).p_value < 1e-3
    # identical distributions: rejection rate at 5 % over R = 400 pairs of n = 50
    # is ≈ 0.05 (KS exact test slightly conservative); SE √(.05·.95/400) = 0.011.
    R = 400
    x, y = rng.standard_normal((2, R, 50))
    for test in (A.mann_whitney, A.ks_test):
        rej = np.mean(test(x, y).p_value < 0.05)
        assert abs(rej - 0.05) < coverage_tol(0.05, R), test.__name__
    # censored first passages: inf ties at the top are ranks, not errors
    fa = np.where(a > 1.0, np.inf, a)
    fb = np.where(b > 1.0, np.inf, b)
    assert A.mann_whitney(fa, fb).p_value < 1e-3


# ---------------------------------------------------------------------------- 3. censored times
def _escape(rng, lam, shape, c):
    """Exponential(λ) escape times, inf when beyond the observation window c."""
    t = rng.exponential(1 / lam, size=shape)
    return np.where(t > c, np.inf, t)


def test_kaplan_meier_exponential_bands_and_rate():
    # λ = 0.01, censored at c = 150 (S(c) = 0.22), n = 300 per sample, R = 300 samples.
    # The pointwise 95 % band at t0 covers exp(−λ t0) in ≈ 95 % of samples (SE 0.0126,
    # tol 4 SE = 0.05); the same for the rate's exact Poisson interval and the
    # median's Brookmeyer–Crowley interval (true median ln2/λ = 69.3 < c).
    rng = np.random.default_rng(9)
    lam, c, n, R = 0.01, 150.0, 300, 300
    t0s = np.array([30.0, 90.0, 140.0])
    times = _escape(rng, lam, (R, n), c)
    cov_band = np.zeros(len(t0s))
    s_hat = np.zeros((R, len(t0s)))
    cov_med = 0
    for i in range(R):
        km = A.kaplan_meier(times[i], censor_time=c)
        lo, hi = km.evaluate_band(t0s)
        cov_band += (lo <= np.exp(-lam * t0s)) & (np.exp(-lam * t0s) <= hi)
        s_hat[i] = km.evaluate(t0s)
        med = A.median_survival(times[i], censor_time=c)
        cov_med += med.low <= np.log(2) / lam <= med.high
    assert np.all(np.abs(cov_band / R - 0.95) < coverage_tol(0.95, R))
    assert abs(cov_med / R - 0.95) < coverage_tol(0.95, R)
    # KM is (nearly) unbiased: mean over R within 4 SE of the truth, SE = sd/√R
    assert np.all(np.abs(s_hat.mean(0) - np.exp(-lam * t0s)) < 4 * s_hat.std(0, ddof=1) / np.sqrt(R))
    rate = A.exponential_rate(times, censor_time=c)  # vectorised over the R samples
    assert rate.rate.shape == (R,)
    assert abs(np.mean((rate.low <= lam) & (lam <= rate.high)) - 0.95) < coverage_tol(0.95, R)
    # one big sample: λ̂ within 4 SE of λ, SE = λ/√E[d], E[d] = N(1 − e^{−λc})
    big = A.exponential_rate(times.ravel(), censor_time=c)
    assert abs(big.rate - lam) < 4 * lam / np.sqrt(times.size * (1 - np.exp(-lam * c)))
    # memoryless: measuring from start = 50 gives the same rate (within 4 SE)
    late = A.exponential_rate(times.ravel(), censor_time=c, start=50.0)
    assert abs(late.rate - lam) < 4 * late.se
    assert late.events < big.events


def test_kaplan_meier_exact_cases():
    # no censoring: S = 1 − ECDF exactly, at risk n, n−1, …
    t = np.array([3.0, 1.0, 2.0, 2.0, 5.0])
    km = A.kaplan_meier(t)
    assert km.time.tolist() == [1.0, 2.0, 3.0, 5.0]
    assert np.allclose(km.survival, [0.8, 0.4, 0.2, 0.0])
    assert km.n_at_risk.tolist() == [5, 4, 2, 1] and km.n_events.tolist() == [1, 2, 1, 1]
    # hand computation with censoring: times 1, 2+, 3, 4+ (+ = censored):
    # S(1) = 3/4, S(3) = 3/4·(1 − 1/2) = 3/8; Greenwood var = S²Σ d/(n(n−d)).
    # With inf: 1, 4+, 3, 4+ → S(3) = 3/4·(1 − 1/3) = 1/2.
    inf_form = A.kaplan_meier(np.array([1.0, np.inf, 3.0, np.inf]), censor_time=4.0)
    flags = A.kaplan_meier(np.array([1.0, 2.0, 3.0, 4.0]), events=[True, False, True, False], band="linear")
    assert np.allclose(inf_form.survival, [0.75, 0.5]) and np.allclose(flags.survival, [0.75, 0.375])
    assert inf_form.n_at_risk.tolist() == [4, 3] and flags.n_at_risk.tolist() == [4, 2]
    same = A.kaplan_meier(np.array([1.0, 4.0, 3.0, 4.0]), events=[True, False, True, False])
    assert np.array_equal(same.survival, inf_form.survival) and np.array_equal(same.low, inf_form.low)
    assert inf_form.n_censored == 2 and inf_form.max_time == 4.0
    se = 0.375 * np.sqrt(1 / (4 * 3) + 1 / (2 * 1))
    z = stats.norm.ppf(0.975)
    assert np.isclose(flags.high[1], min(1.0, 0.375 + z * se)) and np.isclose(flags.low[1], max(0.0, 0.375 - z * se))
    assert np.isnan(inf_form.evaluate(4.5)) and inf_form.evaluate(2.5) == 0.75 and inf_form.evaluate(0.5) == 1.0
    # administrative censoring at 2.5 turns the event at 3 into a censoring
    assert A.kaplan_meier(np.array([1.0, np.inf, 3.0, np.inf]), censor_time=2.5).time.tolist() == [1.0]
    with pytest.raises(ValueError, match="censor_time"):
        A.kaplan_meier(np.array([1.0, np.inf]))
    # exact Poisson (Garwood) rate interval, from tables: 3 events → [0.6187, 8.7673],
    # 0 events → [0, 3.6889] (= −ln 0.025), divided by the exposure (1+2+3+4 = 10)
    r = A.exponential_rate(np.array([1.0, 2.0, 3.0, np.inf]), censor_time=4.0)
    assert (r.events, r.exposure) == (3, 10.0) and np.isclose(r.rate, 0.3)
    assert np.allclose([r.low, r.high], [0.06187, 0.87673], atol=1e-5)
    r0 = A.exponential_rate(np.array([np.inf, np.inf]), censor_time=5.0)
    assert (r0.rate, r0.low) == (0.0, 0.0) and np.isclose(r0.high, 0.36889, atol=1e-5)
    # median not reached: estimate inf
    assert A.median_survival(np.array([1.0, np.inf, np.inf, np.inf]), censor_time=9.0).estimate == np.inf


def test_compare_rates_size_and_ratio_coverage():
    # Equal rates: the exact conditional test rejects at 5 % in ≤ 5 % of R = 300
    # pairs (conservative); tol 4 SE = 0.05.  Ratio 2: its exact interval covers 2 in
    # ≥ 95 % (again conservative), tol 4 SE.
    rng = np.random.default_rng(10)
    R, n, c = 300, 100, 100.0
    rej, cov_ratio = 0, 0
    for _ in range(R):
        a, b = _escape(rng, 0.01, n, c), _escape(rng, 0.01, n, c)
        rej += A.compare_rates(a, b, c, c).p_value < 0.05
        a2 = _escape(rng, 0.02, n, c)
        r = A.compare_rates(a2, b, c, c)
        cov_ratio += r.low <= 2.0 <= r.high
    assert rej / R < 0.05 + coverage_tol(0.05, R)
    assert cov_ratio / R > 0.95 - coverage_tol(0.95, R)
    # a clear difference is detected by both tests; LR statistic matches the formula
    a, b = _escape(rng, 0.02, 400, c), _escape(rng, 0.01, 400, c)
    r = A.compare_rates(a, b, c, c)
    assert r.p_value < 1e-4 and r.lr_p_value < 1e-4 and r.low > 1.0
    da, db, ea, eb = r.rate_a.events, r.rate_b.events, r.rate_a.exposure, r.rate_b.exposure
    l0 = (da + db) / (ea + eb)
    assert np.isclose(r.lr_statistic, 2 * (da * np.log(da / ea / l0) + db * np.log(db / eb / l0)))
    assert np.isclose(r.ratio, (da / ea) / (db / eb))


# ---------------------------------------------------------------------------- 4. stationary phase
@pytest.mark.parametrize("phi", [0.5, 0.8])
def test_integrated_autocorrelation_time_ar1(phi):
    # τ = (1+φ)/(1−φ) = 3 or 9.  16 chains × 10⁴: Sokal's SE τ√(2(2M+1)/N) ≈ 3.4 % of τ
    # (M ≈ 5τ); window truncation bias φ^{M+1}/(1−φ)·2 is < 1e-6 and the
    # per-chain centring bias ≈ −2Mτ/n ≈ −0.8 % — tol 4 SE covers both.
    rng = np.random.default_rng(11)
    tau = (1 + phi) / (1 - phi)
    x = ar1(rng, phi, (16,), 10_000)
    act = A.integrated_autocorrelation_time(x)
    assert abs(act.tau - tau) < 4 * act.se
    assert act.se / tau < 0.05 and act.reliable and act.window >= 5 * act.tau - 1
    assert abs(act.variance - 1.0) < 0.05  # Var of a mean-of-squares with N/τ ≥ 16000 effective samples: SE ≲ 1.3 %
    white = A.integrated_autocorrelation_time(rng.standard_normal(20_000))
    assert abs(white.tau - 1.0) < 4 * white.se


def test_stationary_mean_width_and_methods():
    # 16 seeds × 10⁴ records of AR(1), φ = 0.8, τ = 9, unit variance, mean 1.5:
    # sem = √(τ/(S n)) = 0.00750.  sem ∝ √τ̂, so its relative SE is half τ̂'s
    # (≈ 1.7 %); tol 4 of those (7 %).
    rng = np.random.default_rng(12)
    phi, S, n = 0.8, 16, 10_000
    tau = (1 + phi) / (1 - phi)
    x = ar1(rng, phi, (S,), n, mu=1.5)
    sm = A.stationary_mean(x)
    expected = np.sqrt(tau / (S * n))
    assert abs(sm.sem / expected - 1) < 4 * 0.5 * 0.034
    assert np.isclose(sm.high - sm.low, 2 * stats.norm.ppf(0.975) * sm.sem)
    assert abs(sm.mean - 1.5) < 4 * expected
    assert abs(sm.ess - S * n / tau) / (S * n / tau) < 4 * 0.034
    # batch means (batch length 500 ≫ τ) and between-seed sems estimate the same
    # quantity; their relative SEs are ≈ 1/√(2·(S·20 − 1)) = 4 % and 1/√(2·15) = 18 %.
    bm = A.stationary_mean(x, method="batch")
    assert abs(bm.sem / expected - 1) < 4 * 0.04
    assert abs(sm.sem_seeds / expected - 1) < 4 * 0.18
    assert A.stationary_mean(x, method="seeds").sem == sm.sem_seeds


def test_stationary_mean_coverage_burn_in_and_nan():
    # R = 300 independent studies of 4 seeds × 2000 records (φ = 0.8, mean 0):
    # Sokal and batch intervals cover the mean ≈ 95 % (SE 0.0126, tol 4 SE = 0.05);
    # τ̂'s negative bias at n = 2000 (≈ −2Mτ/n ≈ −4.5 %) costs only ≈ 0.5 % coverage.
    rng = np.random.default_rng(13)
    R = 300
    x = ar1(rng, 0.8, (R, 4), 2000)
    for method in ("sokal", "batch", "seeds"):
        sm = A.stationary_mean(x, method=method)
        assert sm.mean.shape == (R,)
        cover = np.mean((sm.low <= 0) & (0 <= sm.high))
        assert abs(cover - 0.95) < coverage_tol(0.95, R), method
    # A transient from x0 = 100 biases the mean by Σ_{t≥1} 100 φ^t / n = 400/2000 = 0.2,
    # against a stationary sem √(τ/(16·2000)) ≈ 0.017 (seen by the between-seed sem,
    # which has no autocorrelation model).  The transient decays like the correlations
    # (φ^t), so it leaves τ̂ alone but inflates the variance estimate C(0) by
    # Σ (100 φ^t)²/n = 10⁴·φ²/(1−φ²)/2000 ≈ 8.9 — a diagnostic for too short a
    # burn-in.  After 200 records (φ^200 ≈ 4e-20) it is gone.
    y = ar1(rng, 0.8, (16,), 2000, x0=100.0)
    raw, burnt = A.stationary_mean(y), A.stationary_mean(y, burn_in=200)
    assert abs(raw.mean) > 4 * raw.sem_seeds
    assert abs(raw.variance - 9.9) < 0.5 and abs(burnt.variance - 1.0) < 0.1
    assert abs(burnt.mean) < 4 * burnt.sem and burnt.n_records == 1800
    assert abs(burnt.tau - 9.0) < 4 * 9.0 * np.sqrt(2 * 91 / (16 * 1800))  # Sokal SE, M ≈ 45
    # a diverged (nan) seed is dropped; seed_axis=None treats rows as separate series
    y[3, 1500:] = np.nan
    assert A.stationary_mean(y, burn_in=200).n_seeds == 15
    per_row = A.stationary_mean(y[:2], burn_in=200, seed_axis=None)
    assert per_row.mean.shape == (2,) and np.all(per_row.n_seeds == 1)


def test_stationary_histogram_matches_gaussian():
    # AR(1) stationary law is N(0, 1).  Pooled density vs the bin-averaged normal
    # pdf within 5 between-seed SEs in every bin (with 16 seeds the standardised
    # deviation is ~t₁₅: P(|t₁₅| > 5) ≈ 2e-4 per bin, 20 bins).
    rng = np.random.default_rng(14)
    x = ar1(rng, 0.8, (2, 16), 4000)  # two grid points
    h = A.stationary_histogram(x, bins=20, burn_in=10, range=(-3.0, 3.0))
    assert h.counts.shape == (2, 20) and h.edges.shape == (21,) and np.all(h.n == 16 * 3990)
    truth = np.diff(stats.norm.cdf(h.edges)) / np.diff(h.edges)
    assert np.all(np.abs(h.density - truth) < 5 * h.density_sem)
    # density is normalised by all samples: integrates to P(|Z| < 3) up to sampling noise
    mass = (h.density * np.diff(h.edges)).sum(-1)
    assert np.allclose(mass, h.counts.sum(-1) / h.n) and np.all(np.abs(mass - 0.9973) < 0.002)
    # default range is shared by all grid points
    h2 = A.stationary_histogram(x, bins=10)
    assert np.isclose(h2.edges[0], x.min()) and np.isclose(h2.edges[-1], x.max())


# ---------------------------------------------------------------------------- 5. scaling law
def test_power_law_exponent_recovered_with_nominal_coverage():
    # y = 3 x^{-0.5} · e^{σε}, σ = 0.05, 10 points on [10, 1000]: a Gaussian linear
    # model in logs, so the intervals are exact — z with known errors (yerr = σy
    # ⇒ σ_log = σ), t₈ without.  R = 500 fits: SE 0.0097, tol 4 SE = 0.039.
    rng = np.random.default_rng(15)
    p_true, a_true, sig, R = -0.5, 3.0, 0.05, 500
    x = np.geomspace(10, 1000, 10)
    cov_w = cov_u = cov_a = 0
    for _ in range(R):
        y = a_true * x**p_true * np.exp(sig * rng.standard_normal(x.size))
        w = A.fit_power_law(x, y, yerr=sig * y)
        u = A.fit_power_law(x, y)
        cov_w += w.exponent_low <= p_true <= w.exponent_high
        cov_u += u.exponent_low <= p_true <= u.exponent_high
        cov_a += w.prefactor_low <= a_true <= w.prefactor_high
    for cov in (cov_w, cov_u, cov_a):
        assert abs(cov / R - 0.95) < coverage_tol(0.95, R)
    # known-error exponent SE: σ/√Σ(log x − mean)²
    lx = np.log(x)
    assert np.isclose(w.exponent_se, sig / np.sqrt(np.sum((lx - lx.mean()) ** 2)))
    # unweighted fit = scipy.stats.linregress on log–log axes
    lr = stats.linregress(lx, np.log(y))
    assert np.isclose(u.exponent, lr.slope) and np.isclose(u.exponent_se, lr.stderr)
    assert np.isclose(np.log(u.prefactor), lr.intercept) and np.isclose(u.log_prefactor_se, lr.intercept_stderr)
    assert np.allclose(u.predict(x), np.exp(lr.intercept) * x**lr.slope)
    # pivoting at the geometric mean decorrelates prefactor and exponent
    piv = A.fit_power_law(x, y, yerr=sig * y, x0=np.exp(lx.mean()))
    assert abs(piv.covariance[0, 1]) < 1e-12 and np.isclose(piv.exponent, w.exponent)
    with pytest.raises(ValueError):
        A.fit_power_law(x, -y)


def test_binomial_ci_coverage_and_known_values():
    """Wilson interval: 0/32 gives [0, 0.107] (closed form z²/(n+z²)); coverage ≈ 95 % ± 4 SE."""
    ci = A.binomial_ci(0, 32)
    z2 = stats.norm.ppf(0.975) ** 2
    assert ci.low == 0 and abs(ci.high - z2 / (32 + z2)) < 1e-12
    rng = np.random.default_rng(3)
    reps, n, p = 2000, 40, 0.3
    ks = rng.binomial(n, p, reps)
    cover = np.mean([(lambda c: c.low <= p <= c.high)(A.binomial_ci(k, n)) for k in ks])
    assert abs(cover - 0.95) < coverage_tol(0.95, reps) + 0.01  # Wilson's coverage oscillates ~±1 % in p
    exact = A.binomial_ci(5, 20, method="exact")
    assert exact.low < 0.25 < exact.high


def test_power_law_fit_to_intervals_reads_the_log_scale_error_off_each_interval():
    """y = 3·d^1.5 exactly, intervals [y/c, y·c]: exponent 1.5, and its standard error is
    σ/√Σ(log d − mean)² with σ = log(c)/z, the weighted least-squares value at equal weights."""
    from scipy import stats as st

    d = np.array([32.0, 64.0, 128.0, 256.0])
    y, c = 3 * d**1.5, 1.3
    fit = A.fit_power_law_to_intervals(d, y, y / c, y * c)
    sigma = np.log(c) / st.norm.ppf(0.975)
    assert abs(fit.exponent - 1.5) < 1e-12 and abs(fit.prefactor - 3 * np.exp(np.log(d).mean()) ** 1.5) < 1e-9
    assert abs(fit.exponent_se - sigma / np.sqrt(np.sum((np.log(d) - np.log(d).mean()) ** 2))) < 1e-12
    wider = A.fit_power_law_to_intervals(d, y, y / c, y * c, extra_log_se=sigma)  # doubles the variance
    assert abs(wider.exponent_se / fit.exponent_se - np.sqrt(2)) < 1e-12
