"""Experiments of the high-dimensional-targets issue (#16): information_exponent and staircase_or_parity.
Sections are appended per experiment."""

import importlib.util
import json
import math

import numpy as np
import pytest

import jaxrelu
from jaxrelu import cli, config

EXPERIMENTS = cli.experiments_dir()


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", EXPERIMENTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------ information_exponent
def test_information_exponent_fit_recovers_a_known_exponent():
    """The analysis on synthetic escape times: exponential times with median 0.3·d^2 (with censoring
    at 2.5× the median, as a horizon does) at d = 32 … 256, 200 seeds each: each Kaplan–Meier median
    and the fitted exponent lie within 4 standard errors of the truth (the median's se on the log
    scale from its 95 % interval, (log high − log low)/(2·1.96); fixed seed)."""
    ie = load_script("information_exponent")
    rng = np.random.default_rng(3)
    rows = []
    for d in (32, 64, 128, 256):
        med = 0.3 * d**2
        t = np.ceil(rng.exponential(med / math.log(2), 200))
        steps = int(2.5 * med)
        t[t > steps] = np.inf

        class R:  # the two things escape_row reads of Results
            meta = {"config": {"run": {"steps": steps}, "optimizer": {"lr": 1e-3}}}

            def __getitem__(self, key, t=t):
                assert key == f"fpt.{ie.OBS}.steps"
                return t

        row = ie.escape_row(R(), 3, d)
        se_log = math.log(row["high"] / row["low"]) / (2 * 1.96)
        assert abs(math.log(row["median"] / med)) < 4 * se_log and row["escaped"] < 200
        rows.append(row)
    (fit,) = ie.fit_rows(rows)
    assert abs(fit["exponent"] - 2.0) < 4 * fit["se"] and fit["theory"] == 2.0 and fit["se"] < 0.15
    assert ie.theory_exponent(2, [32, 64, 128, 256]) == pytest.approx(1.226, abs=0.01)  # d ln d on this grid
    assert ie.learning_rate(3, 64) == pytest.approx(0.25 / 64**1.5)


def test_information_exponent_one_tiny_study_escapes():
    """One real (k, d) = (2, 8) study of the script's configuration: valid, and most seeds escape."""
    ie = load_script("information_exponent")
    res = jaxrelu.run(config.from_dict(ie.study_config(2, 8, seeds=32, steps=200, records=20)))
    row = ie.escape_row(res, 2, 8)
    assert row["escaped"] >= 24 and 0 < row["median"] < 200


@pytest.mark.slow
def test_information_exponent_quick(tmp_path):
    ie = load_script("information_exponent")
    out, figs = tmp_path / "out", tmp_path / "figs"
    assert ie.main(["--quick", "--out", str(out), "--figures", str(figs)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert {(r["k"], r["d"]) for r in s["rows"]} == {(k, d) for k in (1, 2) for d in (8, 16, 32)}
    assert (figs / "escape_times.png").is_file()


# ------------------------------------------------------------------ staircase_or_parity
def test_staircase_or_parity_analysis_recovers_a_known_exponent():
    """The analysis on synthetic escape times t = n/d: exponential with median 3·d^0.5 (so n ∝ d^1.5),
    censored at a horizon of 4× the median, at d = 32 … 256, 200 seeds: each Kaplan–Meier median within
    4 se of the truth (se on the log scale from its 95 % interval) and the fitted exponent of n within
    4 se of 1.5; escapes drawn in order are counted as ordered (fixed seed)."""
    sp = load_script("staircase_or_parity")
    rng = np.random.default_rng(5)
    rows = []
    for d in (32, 64, 128, 256):
        med = 3.0 * d**0.5
        t = np.ceil(rng.exponential(med / math.log(2), 200))
        horizon = 4 * med
        t[t > horizon] = np.inf

        class R:  # what escape_rows reads of Results
            def __getitem__(self, key, t=t, horizon=horizon):
                return np.array([0.0, horizon]) if key == "step" else t

        (row,) = sp.escape_rows(R(), "staircase", 1, d)
        se_log = math.log(row["high"] / row["low"]) / (2 * 1.96)
        assert abs(math.log(row["median"] / med)) < 4 * se_log
        rows.append(row)
    (fit,) = sp.fit_rows(rows)
    assert abs(fit["exponent"] - 1.5) < 4 * fit["se"] and fit["se"] < 0.1 and fit["theory"] == 1.0
    assert sp.leap_exponent("parity2", [32, 64, 128]) == pytest.approx(1.24, abs=0.01)  # d ln d on this grid
    two = [{"k": 1, "times": [1.0, 2.0, 5.0, np.inf]}, {"k": 2, "times": [3.0, 1.0, 6.0, 2.0]}]
    o = sp.order_fraction(two)
    assert (o["n"], o["ordered"]) == (3, 2) and o["gaps"] == [1.0]


def test_staircase_or_parity_one_tiny_study_escapes_in_order():
    """One real study of the script's configuration, a 2-staircase x1 + x1x2 at d = 32 with 8 seeds: every
    seed finds coordinate 1, and most find coordinate 1 before coordinate 2 (the staircase's order)."""
    sp = load_script("staircase_or_parity")
    res = jaxrelu.run(config.from_dict(sp.study_config({"staircase": 2}, 2, 32, seeds=8, horizon=40)))
    rows = sp.escape_rows(res, "staircase", 2, 32)
    assert rows[0]["escaped"] == 8 and rows[1]["escaped"] >= 6
    o = sp.order_fraction(rows)
    assert o["ordered"] >= o["n"] - 1


@pytest.mark.slow
def test_staircase_or_parity_quick(tmp_path):
    sp = load_script("staircase_or_parity")
    out, figs = tmp_path / "out", tmp_path / "figs"
    assert sp.main(["--quick", "--out", str(out), "--figures", str(figs)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert {(r["target"], r["d"], r["k"]) for r in s["rows"]} == {
        (t, 32, k) for t in ("staircase", "parity2") for k in (1, 2)
    }
    assert (figs / "staircase_or_parity.png").is_file()
