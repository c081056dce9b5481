"""Tail-index estimators (jaxrelu.analysis.hill_tail_index, block_tail_index) on synthetic samples of known α.

Single fixed-seed checks use 99.9 % intervals (a real error, not a 1-in-20 draw, fails them); the
coverage of the 95 % intervals is checked over independent replications, within 4 binomial
standard errors √(0.95 · 0.05 / R).  Pareto samples come from numpy, stable ones from
``scipy.stats.levy_stable`` (independent of jaxrelu's own sampler, tested in test_optimizers.py).
"""

import numpy as np
import pytest
from scipy import stats

from jaxrelu import analysis


def _pareto(alpha, shape, seed):
    return np.random.default_rng(seed).pareto(alpha, size=shape) + 1.0  # P(X > x) = x^{-α}, x ≥ 1


def _stable(alpha, shape, seed):
    return stats.levy_stable.rvs(alpha, 0.0, size=shape, random_state=np.random.default_rng(seed))


def _coverage_ok(low, high, alpha, level=0.95):
    inside = (np.asarray(low) <= alpha) & (alpha <= np.asarray(high))
    se = np.sqrt(level * (1 - level) / inside.size)
    return abs(inside.mean() - level) < 4 * se, inside.mean()


@pytest.mark.parametrize("alpha", [0.7, 1.5, 3.0])
def test_hill_recovers_pareto_alpha(alpha):
    est = analysis.hill_tail_index(_pareto(alpha, 20_000, 1), level=0.999)
    assert est.low <= alpha <= est.high
    assert est.k == 142 and est.n == 20_000 and est.method == "hill"  # k = ⌈√n⌉
    assert est.high / est.low < 1.8


def test_hill_interval_has_its_coverage_on_pareto_samples():
    est = analysis.hill_tail_index(_pareto(1.5, (400, 2000), 2), axis=-1)  # 400 replications
    ok, cov = _coverage_ok(est.low, est.high, 1.5)
    assert ok, cov
    assert np.shape(est.alpha) == (400,)


@pytest.mark.parametrize("alpha", [0.8, 1.0])
def test_hill_recovers_stable_alpha(alpha):
    """|X| of a stable law is Pareto-like in the tail (second-order terms are small for α ≤ 1)."""
    est = analysis.hill_tail_index(_stable(alpha, 100_000, 3), level=0.999)
    assert est.low <= alpha <= est.high


@pytest.mark.parametrize("alpha", [0.8, 1.3, 1.7, 2.0])
def test_block_estimator_recovers_stable_alpha(alpha):
    est = analysis.block_tail_index(_stable(alpha, 40_000, 4), level=0.999)
    assert est.low <= alpha <= est.high
    assert est.k == 200 and est.n == 40_000 and est.method == "block"  # K1 = ⌊√n⌋
    assert est.high - est.low < 0.35 * alpha


def test_block_interval_has_its_coverage_on_stable_samples():
    est = analysis.block_tail_index(_stable(1.2, (300, 2500), 5))
    ok, cov = _coverage_ok(est.low, est.high, 1.2)
    assert ok, cov


def test_block_estimator_sees_finite_variance_as_two_and_hill_sees_beyond():
    """Student-t with ν = 5 (α = 5): the block estimator is in the Gaussian domain (α̂ → 2); Hill sees 5
    (the second-order bias of the t tail at k = √n is within the 99.9 % interval here)."""
    x = stats.t.rvs(5.0, size=40_000, random_state=np.random.default_rng(6))
    blk = analysis.block_tail_index(x, level=0.999)
    assert blk.low <= 2.0 <= blk.high
    hill = analysis.hill_tail_index(x, level=0.999)
    assert hill.low <= 5.0 <= hill.high and hill.low > 3.0


def test_block_estimator_needs_centred_data():
    x = _stable(1.5, 40_000, 7) + 3.0  # an unknown location, like SGD's iterates around θ*
    biased = analysis.block_tail_index(x, level=0.999)
    centred = analysis.block_tail_index(x, level=0.999, center="median")
    assert not biased.low <= 1.5 <= biased.high
    assert centred.low <= 1.5 <= centred.high


def test_per_seed_layout_nans_and_k_rules():
    """(*grid, seeds, n_records) with axis=-2 gives (*grid, n_records); nan (diverged) values are dropped."""
    x = _pareto(2.0, (2, 3, 5000, 4), 8)
    x[0, 0, :100, 0] = np.nan
    est = analysis.hill_tail_index(x, axis=-2)
    assert np.shape(est.alpha) == (2, 3, 4) and est.n[0, 0, 0] == 4900 and est.n[1, 2, 3] == 5000
    assert np.shape(analysis.block_tail_index(x, axis=-2).alpha) == (2, 3, 4)
    one = x[1, 2, :, 3]
    assert analysis.hill_tail_index(one, k=0.05).k == 250 and analysis.hill_tail_index(one, k=50).k == 50
    assert analysis.hill_tail_index(one).alpha == est.alpha[1, 2, 3]
    with pytest.raises(ValueError, match="k must be"):
        analysis.hill_tail_index(one, k="auto")
    assert analysis.block_tail_index(one, block_size=10).k == 10
