"""Figures of jaxrelu.plot on small synthetic results (numpy only) and one tiny real run."""

from __future__ import annotations

import io
import itertools
import warnings

import numpy as np
import pytest
from conftest import study
from matplotlib.collections import PolyCollection, QuadMesh
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from jaxrelu import plot
from jaxrelu.results import Results

LEVELS = [0.05, 0.25, 0.5, 0.75, 0.95]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_results(
    sweep=(("optimizer.lr", [0.01, 0.05]), ("optimizer.label_noise", [0.0, 0.5])),
    seeds=12,
    steps=None,
    observables=("population_loss", "weight_norm"),
    hist="population_loss",
    fpt="population_loss",
    quantiles=True,
    diverge=None,
    seed=0,
) -> Results:
    """Results in the layout of :mod:`jaxrelu.results`, statistics computed from random trajectories.

    ``diverge``: {grid index: record from which every seed is nan (diverged)}.
    """
    rng = np.random.default_rng(seed)
    step = np.arange(0, 110, 10) if steps is None else np.asarray(steps)
    R, S = len(step), seeds
    axes = [a for a, _ in sweep]
    shape = tuple(len(v) for _, v in sweep)
    arrays = {"step": step.astype(np.int64), "seed": np.arange(S)}
    for a, v in sweep:
        arrays[a] = np.asarray(v, np.float64)
    t = step / max(step[-1], 1)
    dead = np.zeros(shape + (S, R), bool)
    for idx, r in (diverge or {}).items():
        dead[idx][:, r:] = True
    for k, obs in enumerate(observables):
        scale = 1.0 + np.arange(int(np.prod(shape))).reshape(shape)[..., None, None] if shape else 1.0
        vals = (scale * np.exp(-3 * (k + 1) * t) * rng.lognormal(0, 0.5, shape + (S, R))) + 1e-3
        vals = np.where(dead, np.nan, vals)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            n = np.sum(~np.isnan(vals), axis=-2).astype(np.float64)
            arrays[f"{obs}.count"] = n
            arrays[f"{obs}.mean"] = np.nanmean(vals, axis=-2)
            arrays[f"{obs}.std"] = np.where(n > 1, np.nanstd(vals, axis=-2, ddof=1), np.nan)
            arrays[f"{obs}.sem"] = arrays[f"{obs}.std"] / np.sqrt(np.maximum(n, 1))
            arrays[f"{obs}.min"] = np.nanmin(vals, axis=-2)
            arrays[f"{obs}.max"] = np.nanmax(vals, axis=-2)
            if quantiles:
                arrays[f"{obs}.quantiles"] = np.moveaxis(np.nanquantile(vals, LEVELS, axis=-2), 0, -1)
        if obs == hist:
            edges = np.geomspace(1e-4, 10, 31)
            idx = np.clip(np.searchsorted(edges, vals, side="right") - 1, 0, 29)
            onehot = (idx[..., None] == np.arange(30)) & ~np.isnan(vals)[..., None]
            arrays[f"{obs}.hist"] = onehot.sum(axis=-3)  # (*grid, R, bins)
            arrays[f"{obs}.hist_edges"] = edges
        if obs == fpt:
            crossed = vals < 0.3
            first = np.where(crossed.any(-1), crossed.argmax(-1), -1)  # (*grid, S)
            st = np.where(first >= 0, step[np.maximum(first, 0)], np.inf).astype(np.float64)
            arrays[f"fpt.{obs}.steps"] = st
            arrays[f"fpt.{obs}.survival"] = np.stack([(st > s).mean(-1) for s in step], -1)
    arrays["diverged.count"] = dead.sum(-2)
    arrays["diverged.fraction"] = dead.mean(-2)
    meta = {
        "grid_axes": axes,
        "grid_shape": list(shape),
        "observables": list(observables),
        "quantile_levels": LEVELS if quantiles else [],
        "seeds": S,
        "first_passage": [{"observable": fpt, "threshold": 0.3, "below": True}] if fpt else [],
    }
    return Results(arrays=arrays, meta=meta)


def polys(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


# ----------------------------------------------------------------- trajectories
def test_trajectories_two_axis_sweep_counts():
    res = fake_results()
    fig = plot.plot_trajectories(res, "population_loss")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes  # nothing diverged: no extra panel
    G = 4
    assert len(ax.lines) == 2 * G  # mean + median per grid point
    # sem band + the innermost quantile pair (more than two points: quartiles only)
    assert len(polys(ax)) == 2 * G
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "lr=0.01, label_noise=0.5" in labels and "lr=0.05, label_noise=0" in labels
    assert ax.get_xlabel() == "SGD step" and "population loss" in ax.get_title()
    assert ax.get_yscale() == "log"  # data span > 2 decades
    fig_all = plot.plot_trajectories(res, "population_loss", fan="all")
    assert len(polys(fig_all.axes[0])) == 3 * G
    fig_none = plot.plot_trajectories(res, "population_loss", fan=False)
    assert len(fig_none.axes[0].lines) == G and len(polys(fig_none.axes[0])) == G


def test_trajectories_no_sweep_single_point_full_fan():
    res = fake_results(sweep=())
    fig = plot.plot_trajectories(res, "weight_norm")
    (ax,) = fig.axes
    assert len(ax.lines) == 2 and len(polys(ax)) == 3  # mean, median; sem + 2 quantile pairs
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "mean" and "5–95% of seeds" in labels


def test_trajectories_divergence_panel_and_all_nan_point():
    res = fake_results(sweep=(("optimizer.lr", [0.01, 0.1, 1.0]),), diverge={(2,): 0, (1,): 6})
    fig = plot.plot_trajectories(res, "population_loss")
    ax, axd = fig.axes
    assert len(axd.lines) == 2  # the two grid points that diverged
    assert axd.get_xlabel() == "SGD step"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "lr=1 (all diverged)" in labels
    fig.savefig(io.BytesIO(), format="png")  # all-nan lines render


def test_trajectories_without_quantiles_and_log_x():
    steps = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]
    res = fake_results(sweep=(("optimizer.lr", [0.01, 0.1]),), steps=steps, quantiles=False)
    ax = plot.plot_trajectories(res, "population_loss").axes[0]
    assert len(ax.lines) == 2 and len(polys(ax)) == 2  # means and sem bands only
    assert ax.get_xscale() == "symlog"  # log-spaced records, step 0 kept
    lin = plot.plot_trajectories(fake_results(sweep=()), "weight_norm", logy=False).axes[0]
    assert lin.get_xscale() == "linear" and lin.get_yscale() == "linear"


def test_single_record():
    res = fake_results(steps=[0])
    for fig in (
        plot.plot_trajectories(res, "population_loss"),
        plot.plot_survival(res),
        plot.plot_density(res, "population_loss", (1, 1)),
        plot.plot_final_vs_noise(res, "population_loss"),
    ):
        fig.savefig(io.BytesIO(), format="png")
    ax = plot.plot_trajectories(res, "population_loss").axes[0]
    assert all(line.get_marker() == "o" for line in ax.lines)


# ---------------------------------------------------------------------- density
def test_density_one_grid_point():
    res = fake_results()
    fig = plot.plot_density(res, "population_loss", grid_index=(1, 0))
    ax = fig.axes[0]
    meshes = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 1 and len(ax.lines) == 1  # histogram + median
    arr = meshes[0].get_array()
    assert arr.shape == (30, 11)
    np.testing.assert_allclose(arr.sum(axis=0), 1.0)  # each record normalised over seeds
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "SGD step"
    assert "lr=0.05, label_noise=0" in ax.get_title()
    assert len(fig.axes) == 2  # + colour bar
    no_sweep = plot.plot_density(fake_results(sweep=(), quantiles=False), "population_loss")
    assert len(no_sweep.axes[0].lines) == 0


def test_density_errors():
    res = fake_results()
    with pytest.raises(ValueError, match="weight_norm"):
        plot.plot_density(res, "weight_norm")  # recorded, but no histogram
    with pytest.raises(ValueError, match="grid_index"):
        plot.plot_density(res, "population_loss", grid_index=(5, 0))
    with pytest.raises(ValueError, match="grid_index"):
        plot.plot_density(res, "population_loss", grid_index=0)


# --------------------------------------------------------------------- survival
def test_survival_curves():
    res = fake_results()
    ax = plot.plot_survival(res, "population_loss").axes[0]
    assert len(ax.lines) == 4
    for line in ax.lines:
        y = line.get_ydata()
        assert np.all((y >= 0) & (y <= 1)) and np.all(np.diff(y) <= 0)
    assert "below 0.3" in ax.get_title()
    assert len(plot.plot_survival(res).axes[0].lines) == 4  # default: the first-passage observable
    with pytest.raises(ValueError, match="weight_norm"):
        plot.plot_survival(res, "weight_norm")
    with pytest.raises(ValueError, match="first-passage"):
        plot.plot_survival(fake_results(fpt=None))


# --------------------------------------------------------------- final vs noise
def test_final_vs_noise():
    res = fake_results(sweep=(("optimizer.label_noise", [0.01, 0.1, 1.0]), ("optimizer.lr", [0.01, 0.05])))
    ax = plot.plot_final_vs_noise(res, "population_loss").axes[0]
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2  # one line per lr
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "optimizer.label_noise"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lr=0.01", "lr=0.05"]
    ax2 = plot.plot_final_vs_noise(res, "population_loss", x_axis="optimizer.lr").axes[0]
    assert len(ax2.containers) == 3 and ax2.get_xscale() == "linear"
    three = fake_results(
        sweep=(("optimizer.lr", [0.01, 0.1]), ("optimizer.momentum", [0.0, 0.9]), ("model.init_scale", [0.5, 1.0, 2.0]))
    )
    assert len(plot.plot_final_vs_noise(three, "weight_norm").axes[0].containers) == 6
    one = fake_results(sweep=(("optimizer.lr", [0.01, 0.1, 1.0]),), diverge={(2,): 3})
    ax1 = plot.plot_final_vs_noise(one, "population_loss").axes[0]
    assert len(ax1.containers) == 1
    assert "all seeds diverged" in [t.get_text() for t in ax1.get_legend().get_texts()]
    with pytest.raises(ValueError, match="sweep"):
        plot.plot_final_vs_noise(fake_results(sweep=()), "population_loss")
    with pytest.raises(ValueError, match="x_axis"):
        plot.plot_final_vs_noise(res, "population_loss", x_axis="optimizer.nope")


def test_duplicate_short_names_are_disambiguated():
    res = fake_results(sweep=(("optimizer.label_noise", [0.0, 0.5]), ("task.label_noise", [0.1])))
    labels = [t.get_text() for t in plot.plot_trajectories(res, "population_loss").axes[0].get_legend().get_texts()]
    assert "optimizer.label_noise=0.5, task.label_noise=0.1" in labels


# ------------------------------------------------------------- unknown observable
@pytest.mark.parametrize(
    "fn", [plot.plot_trajectories, plot.plot_density, plot.plot_survival, plot.plot_final_vs_noise]
)
def test_unknown_observable_raises(fn):
    with pytest.raises(ValueError, match="'train_loss'.*population_loss"):
        fn(fake_results(), "train_loss")


# ------------------------------------------------------------ save_standard_figures
def _check_pngs(paths):
    for p in paths:
        assert p.is_file() and p.suffix == ".png" and p.stat().st_size > 1000
        assert p.read_bytes()[:8] == PNG_MAGIC


def test_save_standard_figures_two_axis_sweep(tmp_path):
    paths = plot.save_standard_figures(fake_results(), tmp_path / "figs")
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "trajectories_population_loss.png",
            "survival_population_loss.png",
            "final_vs_lr_population_loss.png",
            "trajectories_weight_norm.png",
            "final_vs_lr_weight_norm.png",
        ]
        + [
            f"density_population_loss_lr={a}_label_noise={b}.png"
            for a, b in itertools.product(["0.01", "0.05"], ["0", "0.5"])
        ]
    )
    _check_pngs(paths)
    only = plot.save_standard_figures(fake_results(), tmp_path / "one", observable="weight_norm")
    assert sorted(p.name for p in only) == ["final_vs_lr_weight_norm.png", "trajectories_weight_norm.png"]
    with pytest.raises(ValueError, match="train_loss"):
        plot.save_standard_figures(fake_results(), tmp_path / "bad", observable="train_loss")


def test_save_standard_figures_no_sweep_png_prefix(tmp_path):
    res = fake_results(sweep=(), quantiles=False, hist=None)
    paths = plot.save_standard_figures(res, tmp_path / "run1.png")
    assert sorted(p.name for p in paths) == [
        "run1_survival_population_loss.png",
        "run1_trajectories_population_loss.png",
        "run1_trajectories_weight_norm.png",
    ]
    assert all(p.parent == tmp_path for p in paths)
    _check_pngs(paths)


def test_save_standard_figures_caps_density_files(tmp_path, monkeypatch):
    monkeypatch.setattr(plot, "MAX_DENSITY_FIGURES", 3)
    res = fake_results(
        sweep=(("optimizer.lr", [0.01, 0.1, 1.0]), ("optimizer.label_noise", [0.0, 0.5])),
        observables=("population_loss",),
        seeds=4,
        steps=[0, 50, 100],
    )
    paths = plot.save_standard_figures(res, tmp_path)
    dens = sorted(p.name for p in paths if p.name.startswith("density_"))
    assert dens == [
        "density_population_loss_lr=0.01_label_noise=0.png",  # evenly spaced
        "density_population_loss_lr=0.1_label_noise=0.png",
        "density_population_loss_lr=1_label_noise=0.5.png",
    ]


def test_many_grid_points():
    res = fake_results(
        sweep=(("optimizer.lr", list(np.geomspace(1e-3, 1, 6))), ("optimizer.label_noise", [0.0, 0.1, 0.5, 1.0])),
        observables=("population_loss",),
        seeds=4,
        steps=[0, 50, 100],
    )
    fig = plot.plot_trajectories(res, "population_loss")
    ax = fig.axes[0]
    assert len(ax.lines) == 24 and len(polys(ax)) == 24  # > 8 points: means and sem bands, no fan
    assert len({tuple(np.atleast_1d(line.get_color())) for line in ax.lines}) == 24  # viridis
    labels = [t.get_text() for t in fig.legends[0].get_texts()]  # below the axes
    assert "lr=0.00398, label_noise=0.1" in labels


# --------------------------------------------------------------- a tiny real run
def test_real_run_results_directory(tmp_path):
    import jaxrelu

    st = study(
        run={"seeds": 6, "steps": 30, "record_every": 10},
        sweep={"optimizer.lr": [0.02, 0.05]},
        record={
            "observables": ["population_loss", "weight_norm"],
            "histograms": {"population_loss": {"min": 1e-3, "max": 10, "bins": 12, "log": True}},
            "first_passage": {"observable": "population_loss", "below": 0.5},
        },
    )
    jaxrelu.run(st).save(tmp_path / "res")
    paths = plot.save_standard_figures(tmp_path / "res", tmp_path / "figs")  # from the directory
    assert {p.name for p in paths} == {
        "trajectories_population_loss.png",
        "trajectories_weight_norm.png",
        "density_population_loss_lr=0.02.png",
        "density_population_loss_lr=0.05.png",
        "survival_population_loss.png",
        "final_vs_lr_population_loss.png",
        "final_vs_lr_weight_norm.png",
    }
    _check_pngs(paths)


# ---------------------------------------------- analysis figures (issue 7)
@pytest.fixture(scope="module")
def paired_run():
    import jaxrelu
    from jaxrelu import config

    st = config.from_dict(
        {
            "run": {"seeds": 40, "steps": 300, "record_every": 50},
            "task": {"input_dim": 10, "teacher_width": 2},
            "model": {"width": 2},
            "sweep": {"optimizer.lr": [0.01, 0.03, 0.06]},
            "record": {
                "observables": ["population_loss"],
                "keep_per_seed": ["population_loss"],
                "first_passage": {"observable": "population_loss", "below": 0.3},
            },
        }
    )
    return jaxrelu.run(st)


def test_paired_difference_plot_draws_tighter_paired_bands(paired_run):
    from jaxrelu import analysis

    fig = plot.plot_paired_difference(paired_run, "population_loss")
    ax = fig.axes[0]
    assert len(ax.collections) == 2  # one paired band per non-reference point
    v = paired_run["population_loss.per_seed"]
    p = analysis.paired_difference(v[2].T, v[0].T)
    u = analysis.unpaired_difference(v[2].T, v[0].T)
    assert np.all((p.high - p.low)[1:] < (u.high - u.low)[1:])  # common random numbers pay off
    with pytest.raises(ValueError, match="keep_per_seed"):
        plot.plot_paired_difference(_without(paired_run, "population_loss.per_seed"), "population_loss")


def test_survival_plot_has_kaplan_meier_bands(paired_run):
    fig = plot.plot_survival(paired_run, "population_loss")
    assert len(fig.axes[0].collections) >= 1


def _without(res, key):
    from jaxrelu.results import Results

    return Results({k: v for k, v in res.arrays.items() if k != key}, res.meta)


def test_method_axis_is_plotted_as_categories(tmp_path):
    import jaxrelu
    from jaxrelu import config

    st = config.from_dict(
        {
            "run": {"seeds": 8, "steps": 20, "record_every": 10},
            "task": {"input_dim": 6, "teacher_width": 2, "train_size": 16},
            "model": {"width": 2},
            "sweep": {"optimizer.method": ["sgd", "sde"]},
            "record": {"observables": ["population_loss"], "keep_per_seed": ["population_loss"]},
        }
    )
    files = plot.save_standard_figures(jaxrelu.run(st), tmp_path)
    assert any(f.name.startswith("final_vs_") for f in files)
    fig = plot.plot_final_vs_noise(jaxrelu.run(st), "population_loss")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["sgd", "sde"]


def test_density_flags_values_outside_the_histogram_range():
    import jaxrelu
    from jaxrelu import config
    from jaxrelu.plot import plot_density

    st = config.from_dict(
        {
            "run": {"seeds": 16, "steps": 20, "record_every": 10},
            "task": {"input_dim": 8, "teacher_width": 2},
            "model": {"width": 3},
            "record": {
                "observables": ["population_loss"],
                "histograms": {"population_loss": {"min": 0.9, "max": 1.2, "bins": 4}},
            },
        }
    )
    res = jaxrelu.run(st)
    under, over = res["population_loss.hist_underflow"], res["population_loss.hist_overflow"]
    assert (under + over + res["population_loss.hist"].sum(-1) == 16).all() and under.sum() and over.sum()
    title = plot_density(res, "population_loss").axes[0].get_title()
    assert "below the range" in title and "above the range" in title


# ======================================================= the literature's symbols and the bands
def _with_config(res, train_size="online", kind="teacher_student", d=100):
    res.meta["config"] = {
        "task": {"kind": kind, "train_size": train_size, "input_dim": d},
        "model": {"parametrization": "standard"},
        "optimizer": {"name": "sgd"},
    }
    return res


def test_online_teacher_student_figures_use_eta_and_t():
    """jaxrelu.conventions: t = step/d and η = lr·d, the config key named beside the symbol."""
    res = _with_config(fake_results())
    ax = plot.plot_trajectories(res, "population_loss").axes[0]
    assert ax.get_xlabel() == "t = step / d  (d = 100)"
    np.testing.assert_allclose(ax.lines[0].get_xdata(), np.asarray(res.step) / 100)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "η=1, label_noise=0.5" in labels and "η = lr·d  (optimizer.lr × 100)" in labels
    fx = plot.plot_final_vs_noise(res, "population_loss", x_axis="optimizer.lr").axes[0]
    assert fx.get_xlabel() == "η = lr·d  (optimizer.lr × 100)"
    np.testing.assert_allclose(fx.containers[0].lines[0].get_xdata(), [1.0, 5.0])
    assert plot.plot_survival(res).axes[0].get_xlabel().startswith("t = step / d")


@pytest.mark.parametrize("train_size,kind", [(32, "teacher_student"), ("online", "gaussian_mixture")])
def test_symbols_only_where_the_convention_applies(train_size, kind):
    res = _with_config(fake_results(), train_size=train_size, kind=kind)
    ax = plot.plot_trajectories(res, "population_loss").axes[0]
    assert ax.get_xlabel() == "SGD step"
    assert "lr=0.01, label_noise=0.5" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_standard_error_and_quantile_bands_look_different():
    """s.e.m.: a solid fill without an edge; quantiles: a lighter fill with an outline."""
    ax = plot.plot_trajectories(fake_results(sweep=()), "population_loss", fan="all").axes[0]
    sem, *quant = sorted(polys(ax), key=lambda p: -p.get_facecolor()[0][3])  # darkest fill first
    assert len(quant) == 2 and np.all(sem.get_linewidths() == 0)
    for q in quant:
        assert q.get_facecolor()[0][3] < sem.get_facecolor()[0][3] / 2 and np.all(q.get_linewidths() > 0)
