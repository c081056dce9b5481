"""``jaxrelu bench`` on tiny sizes: the JSON it writes, and peers reproducing jaxrelu.

Not a timing test: rates are only checked to be positive numbers.
"""

import json

import pytest

from jaxrelu.bench import main, peers, workloads
from jaxrelu.engine import cpu_cores

IMPLS = ("torch_naive", "torch_batched", "torch_func", "jax_per_seed", "jaxrelu", "jaxrelu_procs")
HAVE_TORCH = peers.torch_missing() is None


@pytest.mark.slow  # long: the default suite stays under 10 minutes on 2 cores
def test_quick_bench_writes_complete_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--quick", "--workloads", "W4", "--no-scaling", "--no-memory", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["meta"]["quick"] is True and r["meta"]["machine"]["cpus"] >= 1
    lim = r["limits"]
    assert lim["matmul"]["flops_per_second"] > 0 and lim["jax_sampler"]["normals_per_second"] > 0
    w = r["workloads"]["W4"]
    assert (w["seeds"], w["grid"], w["trajectories"]) == (8, 16, 128)
    assert w["costs"]["normals_per_seed_step"] == 20 + 1  # x (B·d) and ξ of label-noise SGD
    lim_w = w["roofline_limits"]  # re-measured at each round's start
    assert len(lim_w["rounds"]) == r["meta"]["repeats"] == 1
    assert lim_w["normals_per_second"] == lim_w["rounds"][0]["jax_sampler"] > 0
    c, steps = w["costs"], w["steps"]
    assert w["roofline_seconds"] == pytest.approx(
        w["seeds"] * steps * c["normals_per_seed_step"] / lim_w["normals_per_second"]
        + steps
        * (w["trajectories"] * c["flops_per_traj_step"] + w["seeds"] * c["flops_per_seed_step"])
        / lim_w["flops_per_second"],
        rel=1e-12,
    )
    assert set(w["impls"]) == set(IMPLS)
    for name, impl in w["impls"].items():
        if (name in peers.TORCH_PEERS and not HAVE_TORCH) or (name == "jaxrelu_procs" and len(cpu_cores()) < 2):
            assert impl["skipped"]
            continue
        assert impl["rate"] > 0 and impl["step_seconds"] > 0 and impl["compile_seconds"] >= 0
        assert 0 < impl["roofline_fraction"] and impl["jaxrelu_speedup"] > 0
        assert impl["timed_trajectories"] >= 1
    assert w["impls"]["jaxrelu"]["jaxrelu_speedup"] == pytest.approx(1.0)
    ag = w["agreement"]
    assert ag["passed"] and ag["jaxrelu_moved"] > 1e-3  # the run moved, and everyone followed
    assert set(ag["peers"]) == {
        i for i in IMPLS if not i.startswith("jaxrelu") and (HAVE_TORCH or i not in peers.TORCH_PEERS)
    }
    targets = {t["target"]: t for t in r["targets"]}
    assert len(targets) == 12
    w4 = [t for t in r["targets"] if t["workload"] == "W4"]
    assert w4 and all(t["value"] is not None or not HAVE_TORCH for t in w4)
    screen = capsys.readouterr().out
    assert "W4" in screen and "Targets" in screen and "jaxrelu.run" in screen


@pytest.mark.parametrize("key", ["W2", "W3"])
def test_peers_agree_with_jaxrelu_on_finite_set_and_full_batch(key):
    ag = peers.agreement(workloads.WORKLOADS[key], quick=True, seeds=2, steps=10)
    assert ag["jaxrelu_moved"] > 1e-4
    for name, v in ag["peers"].items():
        assert v["max_rel_err"] < 1e-4, (name, v)


def test_bad_option_is_exit_2(capsys):
    assert main(["--workloads", "W9"]) == 2
    assert "W9" in capsys.readouterr().err


def test_sampler_tests_reject_non_normal_and_dependent_streams():
    """The checks behind ``--samplers`` (KS normality; seed-seed and lag-1 correlation within
    5 standard errors, 1/√n each) pass real normals and fail each kind of bad stream."""
    import numpy as np

    from jaxrelu.bench.limits import normality

    rng = np.random.default_rng(0)
    good = rng.standard_normal((64, 6400))
    assert normality(good)["passed"]
    assert not normality(np.sqrt(3) * rng.uniform(-1, 1, (64, 6400)))["passed"]  # unit variance, not normal
    same = good.copy()
    same[1] = same[0]  # two seeds share a stream
    assert not normality(same)["passed"]
    lagged = good.copy()
    lagged[:, 1:] = 0.8 * good[:, 1:] + 0.6 * good[:, :-1]  # AR(1)-like, still N(0, 1)
    assert not normality(lagged)["passed"]


def test_profile_dry_writes_timing_with_rate_memory_and_roofline(tmp_path, capsys):
    """``--profile gpu --dry`` (one timing here; every check and timing: the slow test below)."""
    out = tmp_path / "profile.json"
    assert main(["--profile", "gpu", "--dry", "--only", "W1@16", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["meta"]["dry"] and r["meta"]["backend"] == "cpu" and r["checks"] == {}
    t = r["timings"]["W1@16"]
    assert "error" not in t, t.get("traceback")
    assert (t["seeds"], t["grid"], t["steps"]) == (16, 1, 20) and t["rate"] > 0 and t["chunk_size"] >= 1
    assert t["memory"]["per_traj_bytes"] > 0 and set(t["memory"]["xla_bytes_by_program"]) == {
        "draw",
        "init",
        "segment",
        "observe",
    }
    ro = t["roofline"]  # no device peaks on a CPU: the measured matmul rate
    assert ro["flops_rate_source"] == "measured matmul" and ro["bandwidth_seconds"] is None
    assert 0 < ro["fraction"] == pytest.approx(ro["seconds"] / t["step_seconds"])
    assert "Accelerator profile" in capsys.readouterr().out


def test_accelerator_table_matches_device_kinds():
    from jaxrelu.bench.limits import accelerator

    assert accelerator("NVIDIA H200")["name"] == "NVIDIA H200 SXM"
    assert accelerator("NVIDIA H100 80GB HBM3")["memory_bandwidth"] == 3.35e12
    assert accelerator("NVIDIA A100-SXM4-80GB")["name"] == "NVIDIA A100 80GB SXM"
    assert accelerator("NVIDIA A100 80GB PCIe")["name"] == "NVIDIA A100 80GB PCIe"
    assert accelerator("TPU v5 lite")["name"] == "TPU v5e" and accelerator("NVIDIA L4")["name"] == "NVIDIA L4"
    assert accelerator("cpu") is None


def test_default_chunk_from_accelerator_memory(monkeypatch):
    """Unset ``run.memory_budget``: 2 GiB on a CPU; on an accelerator half of the free device memory,
    without the CPU's cache cap; a set budget wins everywhere."""
    from conftest import study

    from jaxrelu import engine
    from jaxrelu.engine import chunking

    st = study(run={"seeds": 64000, "steps": 10})
    prog = engine.build(st)[0]
    per_seed = chunking.bytes_per_seed(prog, st)
    assert chunking.memory_budget_bytes(st) == 2 * 2**30
    cpu = chunking.chunk_size(prog, st)
    monkeypatch.setattr(chunking.jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(chunking, "device_free_bytes", lambda devices=None: 64 * per_seed * 1000)
    assert chunking.memory_budget_bytes(st) == 32 * per_seed * 1000
    gpu = chunking.chunk_size(prog, st)
    assert cpu < gpu == 32000  # two chunks of 32000 seeds (1, 2 or 4 devices)
    st_set = study(run={"seeds": 64000, "steps": 10, "memory_budget": 0.001})
    assert chunking.memory_budget_bytes(st_set) == int(0.001 * 2**30)


@pytest.mark.slow
def test_profile_dry_runs_every_check_and_timing(tmp_path):
    out = tmp_path / "profile.json"
    assert main(["--profile", "gpu", "--dry", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    for name, c in r["checks"].items():
        assert c["passed"], (name, c)
    assert set(r["checks"]) == {"sampler", "batch_sweep", "grid_point", "peers", "chunks", "devices"}
    assert all("error" not in t and t["rate"] > 0 for t in r["timings"].values()), r["timings"]
    assert r["timings"]["W5@8"]["rate_vs_reference"] > 0


@pytest.mark.slow
def test_quick_bench_times_w5_beside_its_fixed_batch(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["--quick", "--workloads", "W5", "--no-scaling", "--no-memory", "--json", str(out)]) == 0
    w = json.loads(out.read_text())["workloads"]["W5"]
    assert "swept batch size" in w["peers_skipped"] and w["grid"] == 2
    assert w["rate_vs_reference"] == pytest.approx(w["impls"]["jaxrelu"]["rate"] / w["impls"]["reference"]["rate"])


@pytest.mark.slow
def test_sde_speed_script_times_every_case(capsys):
    from jaxrelu.bench import sde_speed

    assert sde_speed.main(["--seeds", "2", "--steps", "20", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "sde_exact, sde_samples = 4" in out and "median of 1 rounds" in out
