"""The scripts of the optimisers-and-noise issue (heavy_tails, optimizers): --quick smoke runs, and the
Kesten tail index behind heavy_tails' theory curve."""

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


@pytest.mark.parametrize("name", ["heavy_tails", "optimizers"])
def test_listed_with_one_line_description(name):
    line = cli.describe(EXPERIMENTS / f"{name}.py")
    assert line and "\n" not in line


def test_kesten_tail_index():
    """E|1 − (lr/B) χ²_B|^α = 1 at the root; B = 2, lr = 1: M = 1 − χ²_2/2 = 1 − E with E ~ Exp(1), and
    E|1 − E|² = Var E = 1, so α* = 2 exactly; no stationary law once E log|M| ≥ 0."""
    mod = load_script("heavy_tails")
    assert mod.kesten_alpha(1.0, 2) == pytest.approx(2.0, abs=1e-5)
    rng = np.random.default_rng(0)
    lr, B = 0.4, 1
    a = mod.kesten_alpha(lr, B)
    m = np.abs(1 - lr / B * rng.chisquare(B, 2_000_000))
    assert np.mean(m**a) == pytest.approx(1.0, abs=5 * np.std(m**a) / np.sqrt(m.size))
    falling = [mod.kesten_alpha(r, 1) for r in (0.2, 0.4, 0.6)]
    assert falling == sorted(falling, reverse=True)
    assert np.isnan(mod.kesten_alpha(4.0, 8))


@pytest.mark.slow  # long: the default suite stays under 10 minutes on 2 cores
def test_heavy_tails_quick(tmp_path):
    mod = load_script("heavy_tails")
    out, figs = tmp_path / "out", tmp_path / "figs"
    assert mod.main(["--quick", "--out", str(out), "--figures", str(figs)]) == 0
    rows = json.loads((out / "summary.json").read_text())["rows"]
    lin = [r for r in rows if r["model"] == "linear"]
    assert {r["B"] for r in lin} == {1, 4} and all(r["low"] <= r["alpha"] <= r["high"] for r in rows)
    assert all(np.isfinite(r["kesten"]) and "block" in r for r in lin)
    res = jaxrelu.load(out / "linear_B1")
    assert res["first_weight.per_seed"].shape[:2] == (2, 256)
    assert (figs / "tail_index.png").stat().st_size > 10_000


def test_optimizers_quick(tmp_path):
    mod = load_script("optimizers")
    out, figs = tmp_path / "out", tmp_path / "figs"
    assert mod.main(["--quick", "--out", str(out), "--figures", str(figs)]) == 0
    summ = json.loads((out / "summary.json").read_text())
    assert {r["optimizer"] for r in summ["rows"]} == {"sgd", "momentum", "adam", "sign_sgd"}
    assert {c["optimizer"] for c in summ["comparisons"]["best_lr"]} == {"momentum", "adam", "sign_sgd"}
    res = jaxrelu.load(out / "grid")
    assert list(res["optimizer.name"]) == ["sgd", "momentum", "adam", "sign_sgd"]
    assert res["fpt.population_loss.steps"].shape == (4, 2, 16)
    assert (figs / "escape.png").stat().st_size > 10_000


def test_paired_escape_comparison_counts_censoring():
    mod = load_script("optimizers")
    inf = np.inf
    a = np.array([100.0, 200.0, inf, inf, 300.0, np.nan])
    b = np.array([200.0, 100.0, 500.0, inf, inf, 100.0])
    c = mod.paired(a, b)
    # pairs: win, loss, loss (a never escapes), tie (both censored), win (b never escapes); the nan pair dropped
    assert (c["pairs"], c["untied"], c["both_escaped"]) == (5, 4, 2)
    assert c["first_fraction"] == 0.5
