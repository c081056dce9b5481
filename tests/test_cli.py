"""The command line: end to end on a tiny config, overrides, refusals, malformed configs."""

import json
import re

import numpy as np
import pytest

import jaxrelu
from jaxrelu import cli, config

TINY = """
description = "tiny test study"
[run]
seeds = 6
steps = 20
record_every = 10
[task]
input_dim = 8
teacher_width = 2
[model]
width = 3
[optimizer]
lr = 0.05
[sweep]
"optimizer.lr" = [0.02, 0.05]
[record]
observables = ["population_loss", "weight_norm"]
"""


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    return p


def test_run_end_to_end_writes_results(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", str(tiny), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    res = jaxrelu.load(out)
    np.testing.assert_array_equal(res["optimizer.lr"], [0.02, 0.05])
    assert res["population_loss.mean"].shape == (2, 3)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["optimizer"]["lr"] == 0.05
    for k in ("compile_seconds", "run_seconds", "trajectory_steps_per_second", "versions", "devices"):
        assert k in meta


def test_set_overrides_keys_and_sweeps(tiny, tmp_path):
    out = tmp_path / "o"
    assert (
        cli.main(
            [
                "run",
                str(tiny),
                "--out",
                str(out),
                "--quiet",
                "--set",
                "run.seeds=4",
                "--set",
                "optimizer.momentum=0.5",
                "--set",
                'sweep."optimizer.lr"=[0.01, 0.02, 0.03]',
            ]
        )
        == 0
    )
    res = jaxrelu.load(out)
    assert res.meta["config"]["run"]["seeds"] == 4
    assert res.meta["config"]["optimizer"]["momentum"] == 0.5
    np.testing.assert_array_equal(res["optimizer.lr"], [0.01, 0.02, 0.03])
    assert res["population_loss.count"][0, -1] == 4


def test_refuses_to_overwrite_results(tiny, tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(["run", str(tiny), "--out", str(out), "--quiet"]) == 0
    before = (out / "results.npz").read_bytes()
    assert cli.main(["run", str(tiny), "--out", str(out), "--quiet", "--set", "optimizer.momentum=0.5"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "results.npz").read_bytes() == before
    assert cli.main(["run", str(tiny), "--out", str(out), "--quiet", "--overwrite", "--set", "run.seeds=2"]) == 0
    assert jaxrelu.load(out).meta["config"]["run"]["seeds"] == 2


def test_default_out_is_a_fresh_folder(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", str(tiny), "--quiet", "--set", "run.seeds=2"]) == 0
    first = capsys.readouterr().out.strip()
    assert cli.main(["run", str(tiny), "--quiet", "--set", "run.seeds=2"]) == 0
    second = capsys.readouterr().out.strip()
    assert first != second and first.startswith("runs/") and second.startswith("runs/")


def test_validate_and_experiments(tiny, capsys):
    assert cli.main(["validate", str(tiny)]) == 0
    assert capsys.readouterr().out.startswith("ok:")
    assert cli.main(["experiments"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"^quickstart\s+toml\s+\S", listing, re.M)


def test_every_builtin_experiment_validates():
    for f in sorted(cli.experiments_dir().glob("*.toml")):
        st = config.load(f)
        from jaxrelu import engine

        engine.build(st)
        assert st.description, f"{f.name} has no description"


def test_plot_rejects_foreign_directory(tmp_path, capsys):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "results.npz").write_bytes(b"not a zip")
    (tmp_path / "junk" / "meta.json").write_text("{}")
    assert cli.main(["plot", str(tmp_path / "junk")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "junk" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- malformed configs
BAD = [
    # (TOML text appended/replacing, key that the one-line message must name)
    ("[run]\nseeds = -4", "run.seeds"),
    ("[run]\nseeds = 2.5", "run.seeds"),
    ("[run]\nsteps = 0", "run.steps"),
    ('[run]\nsteps = "many"', "run.steps"),
    ("[run]\nrecord_every = 1000", "run.record_every"),
    ("[run]\nrecords = 10\nrecord_every = 5", "run.records"),
    ('[run]\nspacing = "quadratic"', "run.spacing"),
    ('[run]\ndtype = "float16"', "run.dtype"),
    ("[run]\nsedes = 10", "run.sedes"),
    ("[optimizer]\nlr = -1", "optimizer.lr"),
    ("[optimizer]\nlr = 0", "optimizer.lr"),
    ("[optimizer]\nbatch_size = 0", "optimizer.batch_size"),
    ("[optimizer]\nmomentum = 1.5", "optimizer.momentum"),
    ("[optimizer]\nlabel_noise = -0.1", "optimizer.label_noise"),
    ('[optimizer]\nschedule = "cosine"', "optimizer.schedule"),
    ("[optimizer]\ndecay_at = [1.5]", "optimizer.decay_at"),
    ("[optimizer]\nlearning_rate = 0.1", "optimizer.learning_rate"),
    ("[model]\nwidth = 0", "model.width"),
    ('[model]\nactivation = "tnah"', "model.activation"),
    ('[model]\nparametrization = "mup"', "model.parametrization"),
    ('[model]\nbias = "yes"', "model.bias"),
    ('[model]\nsecond_layer_init = "uniform"', "model.second_layer_init"),
    ('[task]\nkind = "mnist"', "task.kind"),
    ("[task]\ninput_dim = -3", "task.input_dim"),
    ("[task]\ntrain_size = 0", "task.train_size"),
    ("[task]\nteacher_width = 20\ninput_dim = 8", "task.teacher_width"),
    ("[task]\nteacher_second_layer = [1.0, 2.0, 3.0]", "task.teacher_second_layer"),
    ('[task]\nkind = "dataset"\nfile = "missing.npz"', "task.file"),
    ('[task]\nkind = "dataset"\ninputs = [[1.0], [2.0]]\ntargets = [1.0]', "task.targets"),
    ('[task]\nkind = "dataset"\ninputs = [[1.0], [2.0, 3.0]]\ntargets = [1.0, 2.0]', "task.inputs"),
    ('[sweep]\n"optimizer.lr" = []', "sweep.optimizer.lr"),
    ('[sweep]\n"optimizer.lr" = [0.1, -0.1]', "sweep.optimizer.lr"),
    ('[sweep]\n"model.width" = [4, 0]', "sweep.model.width"),
    ('[sweep]\n"run.seeds" = [4, 8]', "sweep.run.seeds"),
    ('[sweep]\n"task.teacher_width" = [2, 20]\n[task]\ninput_dim = 8', "sweep at task.teacher_width = 20"),
    ('[sweep]\n"optimizer.lrr" = [0.1]', "sweep.optimizer.lrr"),
    ("[record]\nobservables = []", "record.observables"),
    ('[record]\nobservables = ["populaton_loss"]', "record.observables"),
    ("[record]\nquantiles = [0.5, 1.5]", "record.quantiles"),
    ('[record]\nfirst_passage = { observable = "grad_norm", below = 1.0 }', "record.first_passage"),
    ("[record]\nhistograms = { population_loss = { min = 1.0, max = 0.5 } }", "record.histograms.population_loss"),
    ('[record]\nkeep_per_seed = ["grad_norm"]', "record.keep_per_seed"),
    (
        '[record]\nfirst_passage = [{ observable = "population_loss", below = 0.1 }, '
        '{ observable = "population_loss", below = 0.2 }]',
        "record.first_passage",
    ),
    ('[recrod]\nobservables = ["population_loss"]', "recrod"),
    ('[record]\nobservables = ["train_loss"]', "train_loss"),
]


def _merge(base: str, extra: str) -> str:
    """Update ``base``'s sections with ``extra``'s keys (a task with a new kind replaces the section)."""
    import tomllib

    data = tomllib.loads(base)
    for sec, body in tomllib.loads(extra).items():
        if isinstance(body, dict) and isinstance(data.get(sec), dict) and "kind" not in body:
            data[sec].update(body)
        else:
            data[sec] = body
    return _dump(data)


def _dump(data: dict) -> str:
    import json as _j

    lines = [f"description = {_j.dumps(data.pop('description', ''))}"]
    for sec, body in data.items():
        lines.append(f"[{sec}]")
        for k, v in body.items():
            lines.append(f"{_j.dumps(k)} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def _toml_value(v):
    import json as _j

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_j.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return _j.dumps(v)


@pytest.mark.parametrize("extra,key", BAD, ids=[k for _, k in BAD])
def test_malformed_config_exits_2_naming_the_key(extra, key, tmp_path, capsys):
    assert len(BAD) >= 20
    p = tmp_path / "bad.toml"
    p.write_text(_merge(TINY, extra))
    code = cli.main(["validate", str(p)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert key in lines[0], lines[0]


def test_unknown_key_suggests_the_right_one(tmp_path, capsys):
    p = tmp_path / "bad.toml"
    p.write_text(_merge(TINY, "[optimizer]\nmomentun = 0.9"))
    assert cli.main(["validate", str(p)]) == 2
    assert "did you mean optimizer.momentum?" in capsys.readouterr().err


def test_bad_set_and_missing_file(tiny, tmp_path, capsys):
    assert cli.main(["validate", str(tiny), "--set", "optimizer.lr"]) == 2
    assert "--set" in capsys.readouterr().err
    assert cli.main(["validate", str(tmp_path / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "broken.toml"
    bad.write_text("[run\nseeds = 3")
    assert cli.main(["validate", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_cpu_processes_out_of_range_or_with_a_coordinator_exits_2(tiny, tmp_path, capsys):
    for extra in (
        ["--cpu-processes", "0"],
        ["--cpu-processes", "999"],
        ["--cpu-processes", "1", "--coordinator", "localhost:1"],
    ):
        assert cli.main(["run", str(tiny), "--out", str(tmp_path / "o"), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "--cpu-processes" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


# ------------------------------------------------ a command line that never traps its user
KINK_ERF = """
[run]
seeds = 2
steps = 4
[task]
kind = "dataset"
inputs = [[0.0], [1.0]]
targets = [1.0, 0.0]
[model]
activation = "erf"
[record]
observables = ["train_loss", "kink_count"]
"""


def test_validate_runs_every_check_run_makes(tmp_path, capsys):
    """kink_count refuses erf when it is traced: validate says so in one line (it used to pass, and run then
    crashed with a traceback after making its folder)."""
    (tmp_path / "k.toml").write_text(KINK_ERF)
    for argv in (
        ["validate", str(tmp_path / "k.toml")],
        ["run", str(tmp_path / "k.toml"), "--out", str(tmp_path / "o")],
    ):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("error: record.observables:") and "'relu'" in err
    assert not (tmp_path / "o").exists()


def test_a_failed_start_leaves_no_half_made_folder(tiny, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("the device went away")

    monkeypatch.setattr(jaxrelu.engine, "run", boom)
    with pytest.raises(RuntimeError):
        cli.main(["run", str(tiny), "--out", str(tmp_path / "o"), "--quiet"])
    assert not (tmp_path / "o").exists()
    assert cli.main(["validate", str(tiny)]) == 0  # and the same --out is free again


def test_builtin_name_typo_suggests_the_builtin(capsys):
    assert cli.main(["run", "quickstrat"]) == 2
    assert "did you mean the built-in experiment 'quickstart'?" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly():
    import subprocess
    import sys

    p = subprocess.run(
        f"{sys.executable} -c 'from jaxrelu.cli import entry; raise SystemExit(entry())' experiments | head -1",
        shell=True,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "JAX_PLATFORMS": "cpu"},
    )
    assert p.stdout.count("\n") == 1 and p.stderr == ""


def test_progress_line_has_no_nan_and_agrees_with_the_summary(tiny):
    import io

    stream = io.StringIO()
    line = cli.Progress(stream=stream, min_interval=0.0)
    line({"steps_done": 0, "steps_total": 100, "elapsed": 0.0, "run_seconds": 0.0, "trajectories": 4})
    assert "nan" not in stream.getvalue() and "ETA     ?" in stream.getvalue()
    seen = []
    res = jaxrelu.run(config.load(tiny), progress=seen.append)
    last = seen[-1]
    assert last["steps_done"] == last["steps_total"]
    np.testing.assert_allclose(
        last["steps_done"] / last["run_seconds"], res.meta["trajectory_steps_per_second"], rtol=1e-6
    )
