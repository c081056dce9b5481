"""Sweeps over shape keys (an outer loop of programs) and times in units of d."""

import json
import subprocess
import sys

import numpy as np
import pytest

import jaxrelu
from jaxrelu import api, config, engine
from jaxrelu.config import ConfigError

BASE = {
    "run": {"seeds": 4, "steps": 12, "records": 4},
    "task": {"input_dim": 4, "teacher_width": 1},
    "model": {"width": 2},
    "record": {
        "observables": ["population_loss", "weight_norm"],
        "keep_per_seed": ["weight_norm"],
        "histograms": {"weight_norm": {"min": 0.0, "max": 4.0, "bins": 5}},
        "first_passage": [{"observable": "population_loss", "below": 0.4}],
    },
}


def study(**sections):
    d = json.loads(json.dumps(BASE))
    for sec, vals in sections.items():
        if sec == "sweep":
            d["sweep"] = vals
        else:
            d.setdefault(sec, {}).update(vals)
    return config.from_dict(d)


def test_shape_sweep_equals_the_separate_runs_bitwise():
    """Every array at each (input_dim, width) equals the run written with those values, the
    traced lr axis inside; axes keep the sweep's order (lr first)."""
    res = jaxrelu.run(study(sweep={"optimizer.lr": [0.02, 0.05], "task.input_dim": [4, 6], "model.width": [1, 3]}))
    assert res.grid_axes == ["optimizer.lr", "task.input_dim", "model.width"]
    assert res.grid_shape == (2, 2, 2)
    np.testing.assert_array_equal(res["task.input_dim"], [4, 6])
    assert len(res.meta["points"]) == 4
    for i, j in [(0, 0), (1, 1)]:  # two corners: each point is a program of its own
        d, w = [4, 6][i], [1, 3][j]
        one = jaxrelu.run(study(task={"input_dim": d}, model={"width": w}, sweep={"optimizer.lr": [0.02, 0.05]}))
        for name, arr in one.arrays.items():
            shared = name in ("step", "seed", "optimizer.lr") or name.endswith("hist_edges")
            np.testing.assert_array_equal(res[name] if shared else res[name][:, i, j], arr, err_msg=name)


def test_time_in_units_of_d_shares_the_time_axis():
    """time_unit = "d": steps·d SGD steps, recorded at t·d, reported as t; the same arrays as the
    study written in steps (run.steps = T·d, run.record_at = t·d)."""
    res = jaxrelu.run(study(run={"steps": 3, "records": 4, "time_unit": "d"}, sweep={"task.input_dim": [4, 8]}))
    np.testing.assert_array_equal(res.step, [0.0, 1.0, 2.0, 3.0])
    assert res.meta["time_unit"] == "d"
    for i, d in enumerate([4, 8]):
        steps = jaxrelu.run(
            study(run={"steps": 3 * d, "records": None, "record_at": [d, 2 * d]}, task={"input_dim": d})
        )
        np.testing.assert_array_equal(steps.step, [0, d, 2 * d, 3 * d])
        np.testing.assert_array_equal(res["population_loss.mean"][i], steps["population_loss.mean"])
        np.testing.assert_array_equal(res["fpt.population_loss.steps"][i], steps["fpt.population_loss.steps"] / d)


def test_shape_sweep_resumes_finished_points(tmp_path, monkeypatch):
    """A finished point's results are kept in the checkpoint folder and not run again."""
    s = study(sweep={"model.width": [1, 2]})
    first = jaxrelu.run(s, checkpoint=tmp_path)
    assert sorted(p.name for p in (tmp_path / api.POINTS_DIR).iterdir()) == ["000", "001"]
    calls = []
    real = engine.run
    monkeypatch.setattr(engine, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    (tmp_path / api.POINTS_DIR / "001" / "results.npz").unlink()  # as if interrupted in point 1
    again = jaxrelu.run(s, checkpoint=tmp_path)
    assert len(calls) == 1
    for name, arr in first.arrays.items():
        np.testing.assert_array_equal(again[name], arr, err_msg=name)
    other = study(sweep={"model.width": [1, 2]}, optimizer={"lr": 0.5})
    with pytest.raises(Exception, match="another study"):
        jaxrelu.run(other, checkpoint=tmp_path)


def test_shape_sweep_errors_name_the_key_and_point():
    with pytest.raises(ConfigError, match=r"sweep.run.seeds cannot be swept"):
        study(sweep={"run.seeds": [1, 2]})
    with pytest.raises(ConfigError, match=r"sweep.model.width: .*got 0"):
        study(sweep={"model.width": [0, 2]})
    bad = study(sweep={"task.teacher_width": [2, 6]})  # 6 orthonormal rows in d = 4
    with pytest.raises(ConfigError, match=r"^sweep at task.teacher_width = 6: task.teacher_width must be <= "):
        api.check(bad)
    with pytest.raises(ConfigError, match=r"sweep at model.activation = 'rleu': .*did you mean 'relu'"):
        api.check(study(sweep={"model.activation": ["relu", "rleu"]}))
    with pytest.raises(ConfigError, match="changes shapes"):
        engine.build(study(sweep={"model.width": [1, 2]}))
    with pytest.raises(ConfigError, match="run.record_at must be <= run.steps"):
        study(run={"records": None, "record_at": [3, 40]})
    with pytest.raises(ConfigError, match="exclusive"):
        study(run={"record_at": [3]})


def test_cli_shape_sweep_writes_one_results_folder(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        "[run]\nseeds = 2\nsteps = 4\nrecords = 3\n[task]\ninput_dim = 4\nteacher_width = 1\n"
        '[sweep]\n"model.activation" = ["relu", "erf"]\n'
    )
    out = tmp_path / "out"
    p = subprocess.run(
        [sys.executable, "-m", "jaxrelu", "run", str(cfg), "--out", str(out), "--quiet"], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in out.iterdir()) == ["meta.json", "results.npz", "study.json"]
    res = jaxrelu.load(out)
    assert res.grid_axes == ["model.activation"]
    assert list(res["model.activation"]) == ["relu", "erf"]
    assert res["population_loss.mean"].shape == (2, 3)


def test_shape_sweep_with_precision_targets_pads_the_seeds_each_point_did_not_take():
    """Each point stops on its own targets; its arrays equal its separate run's, per-seed arrays
    padded with nan to the most seeds any point took."""
    prec = {
        "seeds": 8,
        "max_seeds": 64,
        "chunk_size": 8,
        "precision": [{"statistic": "mean", "observable": "weight_norm", "halfwidth": 0.05, "relative": True}],
    }
    res = jaxrelu.run(study(run=prec, sweep={"model.width": [1, 4]}))
    used = [int(res["seeds_used"][j]) for j in range(2)]
    assert used[0] != used[1]  # the narrow net's norm varies more: more seeds
    assert res["seed"].shape == (max(used),) and len(res.meta["precision"]["met"]) == 2
    for j, w in enumerate([1, 4]):
        one = jaxrelu.run(study(run=prec, model={"width": w}))
        assert int(one["seeds_used"]) == used[j]
        for name, arr in one.arrays.items():
            if name in ("step", "seed") or name.endswith("hist_edges"):
                continue
            got = res[name][j]
            if name.endswith(".per_seed") or name.endswith(".steps"):
                assert np.isnan(got[used[j] :]).all()
                got = got[: arr.shape[0]]
            np.testing.assert_array_equal(got, arr, err_msg=name)
