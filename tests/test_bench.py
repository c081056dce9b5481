"""``jaxrelu bench`` on tiny sizes: the JSON it writes, and peers reproducing jaxrelu.

Not a timing test: rates are only checked to be positive numbers.
"""

import json

import pytest

from jaxrelu.bench import main, peers, workloads
from jaxrelu.engine import cpu_cores

IMPLS = ("torch_naive", "torch_batched", "torch_func", "jax_per_seed", "jaxrelu", "jaxrelu_procs")
HAVE_TORCH = peers.torch_missing() is None


def test_quick_bench_writes_complete_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--quick", "--workloads", "W4", "--no-scaling", "--no-memory", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["meta"]["quick"] is True and r["meta"]["machine"]["cpus"] >= 1
    lim = r["limits"]
    assert lim["matmul"]["flops_per_second"] > 0 and lim["jax_sampler"]["normals_per_second"] > 0
    w = r["workloads"]["W4"]
    assert (w["seeds"], w["grid"], w["trajectories"]) == (8, 16, 128)
    assert w["costs"]["normals_per_seed_step"] == 20 + 1          # x (B·d) and ξ of label-noise SGD
    lim_w = w["roofline_limits"]                                 # re-measured at each round's start
    assert len(lim_w["rounds"]) == r["meta"]["repeats"] == 1
    assert lim_w["normals_per_second"] == lim_w["rounds"][0]["jax_sampler"] > 0
    c, steps = w["costs"], w["steps"]
    assert w["roofline_seconds"] == pytest.approx(
        w["seeds"] * steps * c["normals_per_seed_step"] / lim_w["normals_per_second"]
        + steps * (w["trajectories"] * c["flops_per_traj_step"] + w["seeds"] * c["flops_per_seed_step"])
        / lim_w["flops_per_second"], rel=1e-12)
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
    assert ag["passed"] and ag["jaxrelu_moved"] > 1e-3           # the run moved, and everyone followed
    assert set(ag["peers"]) == {i for i in IMPLS
                                if not i.startswith("jaxrelu") and (HAVE_TORCH or i not in peers.TORCH_PEERS)}
    targets = {t["target"]: t for t in r["targets"]}
    assert len(targets) == 11
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
    assert not normality(np.sqrt(3) * rng.uniform(-1, 1, (64, 6400)))["passed"]      # unit variance, not normal
    same = good.copy()
    same[1] = same[0]                                                               # two seeds share a stream
    assert not normality(same)["passed"]
    lagged = good.copy()
    lagged[:, 1:] = 0.8 * good[:, 1:] + 0.6 * good[:, :-1]                          # AR(1)-like, still N(0, 1)
    assert not normality(lagged)["passed"]
