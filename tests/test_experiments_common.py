"""The scripts' shared helper (jaxrelu/experiments/_common.py), the per-seed ODE they share, and how
``jaxrelu experiments`` / ``jaxrelu run NAME`` find the built-in studies inside the package."""

import ast
from pathlib import Path

import numpy as np
import pytest
from conftest import study

import jaxrelu
from jaxrelu import cli
from jaxrelu.experiments import _common as common
from jaxrelu.theory import predict

SCRIPTS = sorted(f.stem for f in cli.experiments_dir().glob("*.py") if not f.name.startswith("_"))


def test_builtin_studies_live_in_the_package():
    d = cli.experiments_dir()
    assert d == Path(jaxrelu.__file__).resolve().parent / "experiments"
    assert {"quickstart", "sgd_sde_ode", "scale_million"} <= {f.stem for f in d.glob("*.toml")}
    assert {
        "plateaus",
        "phase_diagram",
        "linear_scaling",
        "saddle_to_saddle",
        "early_alignment",
        "sparse_features",
        "edge_of_stability",
        "sgd_vs_sde",
    } <= set(SCRIPTS)
    assert cli.resolve_config("quickstart") == d / "quickstart.toml"
    assert cli.resolve_config("plateaus") == d / "plateaus.py"
    assert cli.resolve_config("_common") == Path("_common")  # a helper is not a study


def test_listing_leaves_out_the_helpers(capsys):
    assert cli.main(["experiments"]) == 0
    names = [ln.split()[0] for ln in capsys.readouterr().out.splitlines()]
    assert "quickstart" in names and "plateaus" in names
    assert not [n for n in names if n.startswith("_")]


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_use_the_helper_and_the_public_api(name):
    tree = ast.parse((cli.experiments_dir() / f"{name}.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{a.name}" for a in node.names}
    assert "jaxrelu.experiments._common" in imported
    assert not [m for m in imported if m.startswith(("jaxrelu.engine", "jaxrelu.cli"))], imported
    assert not any(isinstance(n, ast.Attribute) and n.attr in ("initial_params", "fresh_out") for n in ast.walk(tree))
    assert "argparse" not in imported


def test_parser_shared_options():
    p = common.parser("demo", "Demo study.\n\nMore text.", steps_help="SGD steps", source=True, seeds=128)
    a = p.parse_args([])
    assert (a.quick, a.out, a.seeds, a.steps, a.set, a.source) == (False, None, 128, None, [], None)
    assert a.figures == Path("figures") / "demo"
    assert p.description == "Demo study." and p.prog == "jaxrelu run demo"
    a = p.parse_args(
        [
            "--quick",
            "--seeds",
            "3",
            "--steps",
            "7",
            "--set",
            "a=1",
            "--set",
            "b=2",
            "--from",
            "D",
            "--figures",
            "F",
            "--out",
            "O",
        ]
    )
    assert (a.quick, a.seeds, a.steps, a.set, a.source, a.figures, a.out) == (
        True,
        3,
        7,
        ["a=1", "b=2"],
        "D",
        Path("F"),
        "O",
    )
    bare = common.parser("demo", None, set_example=None).parse_args([])
    assert not hasattr(bare, "steps") and not hasattr(bare, "set") and not hasattr(bare, "source")


def test_results_dir_is_fresh_and_never_reused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first, second = common.results_dir("demo"), common.results_dir("demo")
    assert first.is_dir() and second.is_dir() and first != second and first.parent == Path("runs")
    out = tmp_path / "out"
    assert common.results_dir("demo", out) == out and out.is_dir()
    assert common.results_dir("demo", out) == out  # empty: still fine
    (out / "keep.txt").write_text("x")
    with pytest.raises(SystemExit, match="not empty"):
        common.results_dir("demo", out)
    assert common.results_dir("demo", out, source=out) == out  # --from reads it back
    assert (out / "keep.txt").read_text() == "x"


def test_run_or_load_round_trip(tmp_path):
    data = {
        "run": {"seeds": 2, "steps": 10, "record_every": 5},
        "task": {"input_dim": 6, "teacher_width": 1},
        "model": {"width": 2},
        "optimizer": {"lr": 0.05},
        "record": {"observables": ["population_loss"]},
    }
    res = common.run_or_load(data, tmp_path, "a", overrides=["run.seeds=3"])
    assert res.meta["seeds"] == 3 and (tmp_path / "a" / "results.npz").exists()
    again = common.run_or_load({}, tmp_path, "a", source=tmp_path)  # --from: no simulation
    np.testing.assert_array_equal(again["population_loss.mean"], res["population_loss.mean"])


def test_script_error_is_one_line_and_status_2(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    assert cli.main(["run", "sgd_vs_sde", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "not empty" in err and len(err.splitlines()) == 1


def test_ode_trajectories_per_seed_average_to_the_ode_prediction():
    st = study(
        run={"seeds": 3, "steps": 40, "record_every": 20},
        task={"input_dim": 20, "teacher_width": 2, "teacher_activation": "erf"},
        model={"width": 2, "activation": "erf"},
        sweep={"optimizer.lr": [0.02, 0.05]},
    )
    per_seed = predict.ode_trajectories(st, seeds=3, dt=0.05)
    assert per_seed.shape == (2, 3, 3) and np.all(np.isfinite(per_seed))
    np.testing.assert_allclose(per_seed.mean(axis=1), predict.ode_population_loss(st, seeds=3, dt=0.05), rtol=1e-6)
    # dt as a function of η = lr·d: the same steps as the number it returns
    np.testing.assert_array_equal(predict.ode_trajectories(st, seeds=2, dt=lambda eta: 0.05), per_seed[:, :2])
    assert predict.ode_trajectories(st, seeds=None, dt=0.05).shape == (2, 3, 3)
