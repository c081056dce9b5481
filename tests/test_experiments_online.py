"""The online teacher–student experiment scripts (plateaus, phase_diagram, linear_scaling): --quick smoke runs."""

import importlib.util
import json

import numpy as np
import pytest

import jaxrelu
from jaxrelu import cli

EXPERIMENTS = cli.experiments_dir()


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", EXPERIMENTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ["plateaus", "phase_diagram", "linear_scaling"])
def test_listed_with_one_line_description(name):
    line = cli.describe(EXPERIMENTS / f"{name}.py")
    assert line and "\n" not in line


def test_erf_saddle_values():
    mod = load_script("plateaus")
    assert mod.saddle_erf(2) == pytest.approx(0.011610837, abs=1e-8)
    assert mod.saddle_erf(3) == pytest.approx(0.020296587, abs=1e-8)


def test_plateau_window_finds_the_flat_part():
    mod = load_script("plateaus")
    t = np.concatenate([[0.0], np.geomspace(0.01, 1000, 60)])
    eps = 0.3 * np.exp(-t / 2) + 0.012 * (t < 300) + 1e-6  # descent, plateau, escape
    j, win = mod.plateau_window(t, eps)
    assert 10 < t[j] < 300
    assert np.allclose(eps[win], 0.012, rtol=0.02)


def test_plateaus_quick(tmp_path):
    mod = load_script("plateaus")
    out, figs = tmp_path / "out", tmp_path / "figs"
    assert mod.main(["--quick", "--out", str(out), "--figures", str(figs)]) == 0
    summ = json.loads((out / "summary.json").read_text())
    case = summ["cases"][0]
    assert case["activation"] == "erf" and case["K"] == 2
    # the ODE's symmetric fixed point with the η² terms dropped is the erf saddle ε*
    assert case["fixed_point"]["eta"][0] == 0.0
    assert case["fixed_point"]["eps"][0] == pytest.approx(mod.saddle_erf(2), rel=1e-6)
    res = jaxrelu.load(out / "erf_K2")
    assert "population_loss.ode" in res and "fpt.population_loss.steps" in res
    for f in ("trajectories.png", "plateau_height.png", "escape_times.png"):
        assert (figs / f).stat().st_size > 10_000
    # never writes into a non-empty results folder
    with pytest.raises(SystemExit, match="not empty"):
        mod.main(["--quick", "--out", str(out), "--figures", str(figs)])


def test_phase_diagram_quick(tmp_path):
    mod = load_script("phase_diagram")
    out, figs = tmp_path / "out", tmp_path / "figs"
    assert mod.main(["--quick", "--out", str(out), "--figures", str(figs)]) == 0
    summ = json.loads((out / "summary.json").read_text())
    blue, green = summ["regimes"]
    assert blue["regime"] == "blue" and blue["lr"] == pytest.approx(0.08)  # γ0 / d
    assert green["lr"] == pytest.approx(8.0 / 100**1.5)  # γ0 / d^1.5
    res = jaxrelu.load(out / "blue")
    assert res.meta["config"]["task"]["label_noise"] == pytest.approx(np.sqrt(1e-3))  # Δ is a variance
    assert res.meta["config"]["model"]["second_layer_init"] == pytest.approx(1 / 8)
    row = blue["rows"][0]
    assert row["alpha"] == 1 and row["theirs"] == pytest.approx(0.0470076316)
    assert 0.0 <= row["rank_of_theirs"] <= 1.0
    assert (figs / "curves.png").stat().st_size > 10_000


def test_linear_scaling_quick(tmp_path):
    mod = load_script("linear_scaling")
    out, figs = tmp_path / "out", tmp_path / "figs"
    assert mod.main(["--quick", "--out", str(out), "--figures", str(figs)]) == 0
    summ = json.loads((out / "summary.json").read_text())
    rows = summ["rows"]
    assert rows and all(r["B"] == 4 for r in rows)
    assert all(np.isfinite(r["mean"]) and r["sem"] > 0 for r in rows)
    # the ODE fixed point grows with η/B (≈ linearly at small η/B)
    ode = np.array(summ["ode"]["eps"])
    assert np.all(np.diff(ode) > 0)
    assert 0.9 < summ["fits"]["ode"]["exponent"] < 1.2
    assert (figs / "stationary_error.png").stat().st_size > 10_000
    # re-analysis of an existing results folder, without simulating
    assert mod.main(["--quick", "--from", str(out), "--figures", str(tmp_path / "figs2")]) == 0
    assert (tmp_path / "figs2" / "stationary_error.png").exists()
