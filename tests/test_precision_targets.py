"""Monte Carlo to a stated precision (``run.precision``): per-grid-point stopping, results equal to
a fixed-seed run with the seeds used, resume, and the coverage of the intervals under the rule."""

import numpy as np
import pytest
from scipy import stats as sst

import jaxrelu
from jaxrelu import analysis, config, precision, stats
from jaxrelu.config import ConfigError

# lr = 0.01 meets its target after ~160 seeds, lr = 0.05 after ~200: the grid points stop apart
BASE = {
    "run": {
        "seeds": 16,
        "steps": 60,
        "record_every": 20,
        "max_seeds": 256,
        "chunk_size": 16,
        "checkpoint_every": 1,
        "precision": [
            {"statistic": "mean", "observable": "population_loss", "halfwidth": 0.06, "relative": True},
            {"statistic": "passage_fraction", "observable": "population_loss", "halfwidth": 0.1},
            {
                "statistic": "quantile",
                "quantile": 0.5,
                "observable": "population_loss",
                "at": "all",
                "halfwidth": 0.2,
                "relative": True,
            },
        ],
    },
    "task": {"input_dim": 12, "teacher_width": 2},
    "model": {"width": 3},
    "optimizer": {"lr": 0.05},
    "sweep": {"optimizer.lr": [0.01, 0.05]},
    "record": {
        "observables": ["population_loss", "weight_norm"],
        "keep_per_seed": ["population_loss"],
        "quantiles": [0.5, 0.9],
        "first_passage": {"observable": "population_loss", "below": 0.3},
        "histograms": {"population_loss": {"min": 1e-3, "max": 10.0, "bins": 8, "log": True}},
    },
}


@pytest.fixture(scope="module")
def study():
    return config.from_dict(BASE)


@pytest.fixture(scope="module")
def res(study):
    return jaxrelu.run(study)


def test_grid_points_stop_apart_at_chunk_boundaries_once_targets_are_met(study, res):
    used = res["seeds_used"]
    assert used.shape == (2,) and used[0] != used[1]  # each grid point stops on its own
    assert np.all(used % 16 == 0) and np.all(used >= 16) and np.all(used <= 256)
    assert res.meta["seeds"] == used.max() == len(res["seed"])
    assert res.meta["seeds_used"] == used.tolist()
    p = res.meta["precision"]
    assert p["met"] == [True, True] and res["precision.met"].all()
    errors, values = np.array(p["errors"], float), np.array(p["values"])
    assert np.all(errors <= values[:, None])
    # the error recorded is the one jaxrelu.analysis finds on the results: the mean's t interval...
    g = 0
    ps = res["population_loss.per_seed"][g, :, -1]
    ci = analysis.mean_ci(ps)
    assert ci.n == used[g] == res["population_loss.count"][g, -1]
    np.testing.assert_allclose((ci.high - ci.low) / 2 / abs(ci.mean), errors[0, g], rtol=1e-9)
    # ... and Wilson's interval of the fraction of seeds that crossed by the last record
    steps = res["fpt.population_loss.steps"][g]
    assert np.isnan(steps[used[g] :]).all() and not np.isnan(steps[: used[g]]).any()
    b = analysis.binomial_ci(int(np.sum(steps <= res.step[-1])), int(used[g]))
    np.testing.assert_allclose((b.high - b.low) / 2, errors[1, g], rtol=1e-12)
    # one seed fewer would not have been checked: the previous chunk boundary did not meet every target
    sub = config.from_dict(BASE, overrides=[f"run.seeds={used[g] - 16}", f"run.max_seeds={used[g] - 16}"])
    prev = jaxrelu.run(sub)
    assert not prev["precision.met"][g]
    # idle compute: the grid point that stopped first was stepped, not counted, until the other stopped
    idle = abs(int(used[1]) - int(used[0])) * study.run.steps
    assert p["idle_trajectory_steps"] == idle
    assert p["idle_fraction"] == pytest.approx(idle / (used.max() * 2 * study.run.steps))


def test_results_equal_a_fixed_seed_run_with_the_seeds_used(res):
    """Per-seed quantities bitwise; merged moments to float64 rounding (other chunkings)."""
    for g, n in enumerate(res["seeds_used"]):
        fixed = jaxrelu.run(
            config.from_dict(
                {
                    **BASE,
                    "run": {
                        **{k: v for k, v in BASE["run"].items() if k not in ("precision", "max_seeds")},
                        "seeds": int(n),
                    },
                }
            )
        )
        for k, a in fixed.arrays.items():
            if k in ("step", "seed", "optimizer.lr") or k.endswith("hist_edges"):
                continue
            got = res[k][g]
            want = a[g]
            if k.endswith((".per_seed", ".steps")):  # (seeds, ...): the first n seeds, then nan
                np.testing.assert_array_equal(got[:n], want, err_msg=k)
                assert np.isnan(got[n:]).all(), k
            elif k.endswith((".mean", ".std", ".sem")):
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=k)
            else:  # counts, min/max, quantiles, survival, hist
                np.testing.assert_array_equal(got, want, err_msg=k)


class Stop(Exception):
    pass


def test_interrupted_run_resumes_to_identical_results(study, res, tmp_path):
    for stop_at in (7, 57):  # 5 reports a chunk: in chunk 2; in chunk 12, after lr = 0.01 met its targets
        calls = []

        def progress(p):
            calls.append(p)
            if len(calls) == stop_at:
                raise Stop

        ck = tmp_path / f"ck{stop_at}"
        with pytest.raises(Stop):
            jaxrelu.run(study, progress=progress, checkpoint=ck)
        again = jaxrelu.run(study, checkpoint=ck)
        assert sorted(again.arrays) == sorted(res.arrays)
        for k in res.arrays:
            np.testing.assert_array_equal(again[k], res[k], err_msg=k)
        assert again.meta["precision"] == res.meta["precision"]
    assert any("precision" in p and p["precision"]["met"] == 1 for p in calls)


def test_progress_line_shows_precision_against_target():
    import io

    from jaxrelu import cli

    out = io.StringIO()
    cli.Progress(out)(
        {
            "steps_done": 10,
            "steps_total": 10,
            "elapsed": 1.0,
            "run_seconds": 1.0,
            "precision": {"seeds": 64, "met": 1, "points": 3, "worst": 1.84},
        }
    )
    line = out.getvalue()
    assert "64 seeds, 1/3 grid points at target, worst error 1.84x its target" in line


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"statistic": "mean", "observable": "population_loss"}, "exactly one of se or halfwidth"),
        ({"statistic": "median", "observable": "population_loss", "se": 1}, "run.precision.statistic must be one of"),
        ({"statistic": "mean", "observable": "weight", "se": 1}, "run.precision.observable must be one of"),
        ({"statistic": "survival", "observable": "population_loss", "se": 1}, "needs a record.first_passage"),
        ({"statistic": "quantile", "observable": "population_loss", "se": 1}, "quantile is required"),
        ({"statistic": "mean", "observable": "population_loss", "se": 1, "at": [5]}, "must list record steps"),
        ({"statistic": "mean", "observable": "population_loss", "se": 0}, "se must be a positive number"),
        ({"statistic": "mean", "observable": "population_loss", "se": 1, "level": 0.9}, "unknown key run.precision"),
    ],
)
def test_bad_targets_are_one_line_config_errors(bad, message):
    with pytest.raises(ConfigError, match=message) as e:
        config.from_dict({"run": {"steps": 40, "record_every": 10, "max_seeds": 1000, "precision": bad}})
    assert "\n" not in str(e.value)


def test_max_seeds_is_required_and_at_least_the_first_batch():
    t = {"statistic": "mean", "observable": "population_loss", "se": 0.1}
    with pytest.raises(ConfigError, match="run.max_seeds is required"):
        config.from_dict({"run": {"precision": t}})
    with pytest.raises(ConfigError, match=r"run.max_seeds must be >= run.seeds \(256\), got 100"):
        config.from_dict({"run": {"precision": t, "max_seeds": 100}})
    st = config.from_dict({"run": {"precision": [t], "max_seeds": 1000}})
    assert config.from_dict(st.to_dict()) == st  # round-trips through study.json


def test_errors_of_quantiles_and_median_escape_are_those_of_analysis():
    """Order-statistic interval of a quantile, Brookmeyer–Crowley interval of the KM median (censored
    at the last record), on synthetic per-seed data: half-widths and se = half-width / z."""
    rng = np.random.default_rng(3)
    S, G, steps = 300, 2, np.arange(0, 101, 10)
    values = rng.lognormal(size=(S, G, 1, len(steps)))
    fpt = rng.integers(-1, len(steps), size=(S, G, 1))  # record index of the passage, -1: none
    sample = precision.Sample(None, values, fpt, np.array([300, 200]), steps)
    mk = lambda **kw: config.PrecisionTarget(observable="x", **kw)  # noqa: E731
    tg = precision.Targets(
        [
            mk(statistic="quantile", quantile=0.9, at="all", halfwidth=1.0),
            mk(statistic="median_escape", se=1.0),
            mk(statistic="survival", at=(50,), halfwidth=1.0, relative=True),
        ],
        ["x"],
        ["x"],
        steps,
    )
    err = tg.errors(sample, [0, 1])
    for g, n in enumerate((300, 200)):
        q = analysis.quantile_ci(values[:n, g, 0, :], 0.9, axis=0)
        assert err[0, g] == np.max((q.high - q.low) / 2)
        times = np.where(fpt[:n, g, 0] >= 0, steps[np.maximum(fpt[:n, g, 0], 0)], np.inf)
        m = analysis.median_survival(times, censor_time=100)
        assert err[1, g] == pytest.approx((m.high - m.low) / 2 / precision.Z, rel=1e-12)
        alive = np.sum(~((fpt[:n, g, 0] >= 0) & (fpt[:n, g, 0] <= 5)))
        b = analysis.binomial_ci(n - alive, n)
        assert err[2, g] == pytest.approx((b.high - b.low) / 2 / (alive / n), rel=1e-12)


# ------------------------------------------------------------------ coverage of the stopping rule
def coverage(draw, truth, target, first, chunk, reps, seed=0):
    """Repeat the stopping rule ``reps`` times on samples from ``draw`` (known mean ``truth``)
    through jaxrelu's own code: the repetitions are the grid points of one :class:`Stopping`
    (each stops on its own), chunks are merged as the engine merges them (count 0 for a stopped
    point), the errors are :class:`Targets`'.  Returns the coverage of the 95 % t intervals at
    stopping, and the seeds used."""
    rng = np.random.default_rng(seed)
    tg = precision.Targets([target], ["x"], [], [0])
    col = lambda v: np.asarray(v)[:, None]  # noqa: E731
    mom = stats.Moments(*(col(np.full(reps, v)) for v in (0.0, 0.0, 0.0, np.inf, -np.inf)))
    stop = precision.Stopping(reps, 1, first, 10**7)
    n = 0
    while True:
        x = draw(rng, (chunk, reps))
        b = stats.Moments(*(col(v) for v in stats.moments(x, np.ones(x.shape, bool), axis=0)))
        mom = stats.merge(mom, b._replace(count=np.where(stop.active[:, None], b.count, 0)))
        n += chunk
        sample = precision.Sample(lambda r: mom, None, None, stop.seeds_used, np.array([0]))
        if stop.after_chunk(n, lambda pts: tg.ratios(sample, pts)):
            break
    fin = stats.finalize(mom)
    half = sst.t.ppf(0.975, fin["count"][:, 0] - 1) * fin["sem"][:, 0]
    return float(np.mean(np.abs(fin["mean"][:, 0] - truth) <= half)), stop.seeds_used


REPS = 20_000  # binomial s.e. of a coverage near 0.95: sqrt(0.95 * 0.05 / 20000) = 0.15 %


def _check(cov, used, first):
    assert np.all(used >= first)
    assert abs(cov - 0.95) < 0.01, cov  # within 1 % of nominal (≈ 6.5 s.e.)


def test_coverage_of_the_stopping_rule_normal():
    """N(1, 1), half-width ≤ 0.1 absolute, first batch 32, chunks of 16: stops at ≈ 400 seeds."""
    t = config.PrecisionTarget(statistic="mean", observable="x", halfwidth=0.1)
    cov, used = coverage(lambda r, s: r.normal(1.0, 1.0, s), 1.0, t, 32, 16, REPS)
    assert 300 < used.mean() < 500  # (1.96 / 0.1)² = 384
    _check(cov, used, 32)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, target",
    [
        ("normal", dict(se=0.03)),
        ("normal", dict(halfwidth=0.05, relative=True)),
        ("exponential", dict(halfwidth=0.05, relative=True)),
        ("exponential", dict(se=0.03)),
        ("lognormal", dict(halfwidth=0.05, relative=True)),
        ("lognormal", dict(se=0.03)),
    ],
)
def test_coverage_of_the_stopping_rule_slow(name, target):
    """Skewed observables too (exponential, lognormal σ = 1); measured coverages are listed in
    :mod:`jaxrelu.precision`.  An absolute target met at a few hundred seeds on a skewed
    observable is the weak case (exponential, half-width 0.1: 93.9 %, see there), not tested here."""
    draw, truth = {
        "normal": (lambda r, s: r.normal(1.0, 1.0, s), 1.0),
        "exponential": (lambda r, s: r.exponential(1.0, s), 1.0),
        "lognormal": (lambda r, s: r.lognormal(0.0, 1.0, s), np.exp(0.5)),
    }[name]
    t = config.PrecisionTarget(statistic="mean", observable="x", **target)
    cov, used = coverage(draw, truth, t, 64, 32, REPS)
    _check(cov, used, 64)


@pytest.mark.slow
def test_coverage_of_the_stopping_rule_for_a_passage_fraction():
    """Bernoulli(0.3) first passages, Wilson half-width <= 0.05 (stops at 256-384 seeds), through the
    engine's per-seed layout (record index of the passage, -1: none).  5000 repetitions (binomial
    s.e. 0.3 %: scipy's Wilson interval per grid point and check is the slow part); measured with
    20 000: 0.949."""
    rng, reps, p, cap = np.random.default_rng(0), 5000, 0.3, 4096
    t = config.PrecisionTarget(statistic="passage_fraction", observable="x", halfwidth=0.05)
    tg = precision.Targets([t], ["x"], ["x"], [0, 1])
    fpt = np.full((cap, reps, 1), -1, np.int64)
    stop = precision.Stopping(reps, 1, 64, cap)
    n = 0
    while True:
        crossed = rng.random((32, reps)) < p
        fpt[n : n + 32, stop.active, 0] = np.where(crossed[:, stop.active], 1, -1)
        n += 32
        sample = precision.Sample(None, None, fpt, stop.seeds_used, np.array([0, 1]))
        if stop.after_chunk(n, lambda pts: tg.ratios(sample, pts)):
            break
    cover = [analysis.binomial_ci(int(np.sum(fpt[:u, g, 0] >= 0)), int(u)) for g, u in enumerate(stop.seeds_used)]
    cov = np.mean([c.low <= p <= c.high for c in cover])
    assert np.all(stop.seeds_used >= 64) and abs(cov - 0.95) < 0.01, cov
