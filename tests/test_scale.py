"""Scale-out invariances: devices, processes, dtype, and never a traceback on bad input."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import study
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxrelu
from jaxrelu import cli, config, engine

CFG = {
    "run": {"seeds": 18, "steps": 60, "record_every": 20, "chunk_size": 6, "blowup": 1e3},
    "task": {"input_dim": 12, "teacher_width": 2},
    "model": {"width": 3},
    "sweep": {"optimizer.lr": [0.02, 0.2]},
    "record": {
        "observables": ["population_loss", "weight_norm"],
        "keep_per_seed": ["population_loss"],
        "first_passage": {"observable": "population_loss", "below": 0.6},
        "histograms": {"weight_norm": {"min": 0.0, "max": 5.0, "bins": 8}},
    },
}

SCRIPT = textwrap.dedent("""
    import json, sys, numpy as np
    from jaxrelu import config, engine
    out, cfg = sys.argv[1], json.loads(sys.argv[2])
    if len(sys.argv) > 3:
        engine.init_distributed(sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    import jax, jaxrelu
    res = jaxrelu.run(config.from_dict(cfg))
    if jax.process_index() == 0:
        res.save(out)
    print(jax.device_count(), jax.process_count())
""")


def _python(args, env_extra=None):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *args], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def assert_equivalent(ref, other):
    """Per-seed trajectories bitwise equal; counts exact; statistics equal to float32 tolerance.

    Each chunk's moments are float32 sums on the device (relative rounding ~1e-7
    per chunk, and chunks differ with the device count), merged in float64.
    """
    np.testing.assert_array_equal(ref["population_loss.per_seed"], other["population_loss.per_seed"])
    np.testing.assert_array_equal(ref["fpt.population_loss.steps"], other["fpt.population_loss.steps"])
    for k in ("diverged.count", "weight_norm.count", "weight_norm.hist"):
        np.testing.assert_array_equal(ref[k], other[k])
    for k in ("weight_norm.mean", "weight_norm.std", "population_loss.mean", "population_loss.quantiles"):
        np.testing.assert_allclose(ref[k], other[k], rtol=1e-6, equal_nan=True)


# a finite training set per seed (sharded per-seed data) visited in epochs of batch 4
FINITE = {
    **CFG,
    "task": {**CFG["task"], "train_size": 16},
    "optimizer": {"batch_size": 4},
    "sweep": {"optimizer.lr": [0.02, 0.5]},
}


@pytest.mark.parametrize("cfg", [CFG, FINITE], ids=["online", "finite"])
def test_four_devices_give_the_same_trajectories_and_statistics(tmp_path, cfg):
    ref = jaxrelu.run(config.from_dict(cfg))
    assert 0 < ref["diverged.count"][1, -1] < 18  # divergence is part of what must add up
    p = _python([str(tmp_path / "r"), json.dumps(cfg)], {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert out.split() == ["4", "1"]
    res = jaxrelu.load(tmp_path / "r")
    assert res.meta["chunk_size"] == 8  # rounded up to a multiple of the device count
    assert_equivalent(ref, res)


def test_two_processes_on_localhost_merge_statistics(tmp_path):
    ref = jaxrelu.run(config.from_dict(CFG))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    addr = f"127.0.0.1:{port}"
    procs = [_python([str(tmp_path / "r"), json.dumps(CFG), addr, "2", str(i)]) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert out.split()[-1] == "2"
    assert_equivalent(ref, jaxrelu.load(tmp_path / "r"))


def test_float32_and_float64_agree_on_a_stable_case():
    """200 steps at a small lr: float32 rounding (~1e-7 per op) stays far below 1e-4 relative."""
    rec = {"observables": ["population_loss", "weight_norm"], "keep_per_seed": ["population_loss"]}
    a = jaxrelu.run(study(run={"seeds": 32, "steps": 200, "record_every": 50}, optimizer={"lr": 0.01}, record=rec))
    b = jaxrelu.run(
        study(
            run={"seeds": 32, "steps": 200, "record_every": 50, "dtype": "float64"}, optimizer={"lr": 0.01}, record=rec
        )
    )
    # observables are evaluated (and kept) in float64 whatever the run's dtype
    assert a["population_loss.per_seed"].dtype == np.float64 == b["population_loss.per_seed"].dtype
    np.testing.assert_allclose(a["population_loss.per_seed"], b["population_loss.per_seed"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(a["weight_norm.mean"], b["weight_norm.mean"], rtol=1e-5)


# ----------------------------------------------------------------- fuzzing
SECTIONS = {name: [f.name for f in __import__("dataclasses").fields(cls)] for name, cls in config._SECTIONS.items()}
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.one_of(st.integers(-5, 5), st.floats(-2, 2), st.text(max_size=3)), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(-3, 3), max_size=2),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(SECTIONS) + ["sweep"]), st.integers(0, 40), values), min_size=1, max_size=4
    )
)
def test_fuzzed_configs_never_raise_anything_but_a_named_config_error(edits):
    data = json.loads(json.dumps(CFG))
    for section, i, value in edits:
        if value is None:
            continue
        if section == "sweep":
            keys = list(config.SWEEPABLE) + ["model.width", "optimizer.nope"]
            data["sweep"] = {keys[i % len(keys)]: value}
        else:
            keys = SECTIONS[section] + ["typo_key"]
            data.setdefault(section, {})[keys[i % len(keys)]] = value
    try:
        engine.build(config.from_dict(data))
    except config.ConfigError as e:
        msg = str(e)
        assert "\n" not in msg
        assert any(s in msg for s in [*SECTIONS, "sweep", "description"]), msg


def test_cli_on_garbage_files_exits_2(tmp_path, capsys):
    for text in ["\x00\x01binary", "[run]\nseeds = [", "seeds = 3", "[run]\nseeds = inf"]:
        p = tmp_path / "g.toml"
        p.write_text(text)
        assert cli.main(["validate", str(p)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and len(err.splitlines()) == 1


def test_rerun_is_bitwise_identical():
    cfg = config.from_dict(CFG)
    a, b = jaxrelu.run(cfg), jaxrelu.run(cfg)
    assert sorted(a.arrays) == sorted(b.arrays)
    for k in a.arrays:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


LAUNCHED = """
[run]
seeds = 18
steps = 60
record_every = 20
blowup = 1e3
[task]
input_dim = 12
teacher_width = 2
[model]
width = 3
[sweep]
"optimizer.lr" = [0.02, 0.2]
[record]
observables = ["population_loss", "weight_norm"]
keep_per_seed = ["population_loss"]
first_passage = { observable = "population_loss", below = 0.6 }
histograms = { weight_norm = { min = 0.0, max = 5.0, bins = 8 } }
"""


@pytest.mark.slow  # long: the default suite stays under 10 minutes on 2 cores
@pytest.mark.skipif(len(engine.cpu_cores()) < 2, reason="--cpu-processes 2 pins a process to each of 2 cores")
def test_cpu_processes_deal_the_chunks_and_give_the_one_process_results(tmp_path):
    """``jaxrelu run --cpu-processes 2``: two pinned processes of one device each, meeting on
    localhost; the default chunking gives each process a chunk, and the merged results equal
    a one-process run's (per seed bitwise)."""
    cfg = tmp_path / "launched.toml"
    cfg.write_text(LAUNCHED)
    ref = jaxrelu.run(config.load(cfg))
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    cp = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxrelu",
            "run",
            str(cfg),
            "--cpu-processes",
            "2",
            "--quiet",
            "--out",
            str(tmp_path / "r"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cp.returncode == 0, cp.stderr
    res = jaxrelu.load(tmp_path / "r")
    assert res.meta["chunks"] == 2 and len(res.meta["devices"]) == 2  # one device in each process
    assert_equivalent(ref, res)


def test_default_chunks_are_dealt_evenly_over_processes(monkeypatch):
    st = config.from_dict({**CFG, "run": {k: v for k, v in CFG["run"].items() if k != "chunk_size"}})
    prog, _ = engine.build(st)
    assert engine.chunk_size(prog, st) == 18  # one chunk in one process
    monkeypatch.setattr(engine.chunking.jax, "process_count", lambda: 2)
    assert engine.chunk_size(prog, st) == 9  # two chunks: one for each process
    pinned = config.from_dict(CFG)  # run.chunk_size is taken as given
    assert engine.chunk_size(prog, pinned) == 6
