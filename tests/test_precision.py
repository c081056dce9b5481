"""Numbers to trust: observables evaluated in float64 at record times (whatever the run's dtype),
per-seed values bitwise independent of the device count and the chunk size, and no deadlock of the
iterative observables (Lanczos) on several devices."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrelu
from jaxrelu import config, engine, tasks
from jaxrelu.engine import segment

ALL_1D = [
    "train_loss",
    "sharpness",
    "grad_noise_top",
    "grad_noise_trace",
    "noise_to_signal",
    "kink_count",
    "nuclear_norm",
    "active_fraction",
    "weight_norm",
    "distance_from_init",
    "grad_norm",
    "second_layer_norm",
]
ALL_TEACHER = [
    "population_loss",
    "max_teacher_cosine",
    "mean_teacher_cosine",
    "active_fraction",
    "weight_norm",
    "second_layer_norm",
    "distance_from_init",
    "grad_norm",
]
STUDIES = {
    # the study that hung on 2 and 4 CPU devices when its Lanczos observables ran across devices
    "dataset_1d": {
        "run": {"seeds": 12, "steps": 20, "record_every": 10},
        "task": {
            "kind": "dataset",
            "inputs": [[-1.0], [-0.6], [-0.2], [0.1], [0.5], [0.9], [1.3]],
            "targets": [0.2, -0.4, 0.1, 0.6, -0.3, 0.3, 0.0],
        },
        "model": {"width": 30, "bias": True},
        "optimizer": {"lr": 0.05, "batch_size": 7},
        "record": {"observables": ALL_1D, "keep_per_seed": ALL_1D},
    },
    "teacher": {
        "run": {"seeds": 12, "steps": 40, "record_every": 20},
        "task": {"input_dim": 10, "teacher_width": 2, "train_size": 16, "test_size": 64},
        "model": {"width": 3},
        "optimizer": {"lr": 0.05, "batch_size": 4},
        "sweep": {"optimizer.lr": [0.05, 0.1]},
        "record": {"observables": ALL_TEACHER + ["train_loss"], "keep_per_seed": ALL_TEACHER + ["train_loss"]},
    },
}
RUNNER = """
import json, sys, numpy as np, jaxrelu
from jaxrelu import config
out = {}
for name, d in json.loads(sys.argv[1]).items():
    for chunk in (None, 4):
        if chunk:
            d = {**d, "run": {**d["run"], "chunk_size": chunk}}
        r = jaxrelu.run(config.from_dict(d))
        for k, v in r.arrays.items():
            if k.endswith(".per_seed") or k.endswith(".mean"):
                out[f"{name}.{chunk}.{k}"] = v
np.savez(sys.argv[2], **out)
"""


@pytest.mark.slow  # long: the default suite stays under 10 minutes on 2 cores
def test_per_seed_observables_bitwise_on_1_2_4_devices_and_any_chunk_size(tmp_path):
    """Every built-in observable: per-seed values equal bit for bit on 1, 2 and 4 CPU devices and in
    chunks of 4 seeds or one chunk; means agree to float64 rounding.  Each run has 120 s (the 1-D
    study hung forever on 2 devices when Lanczos ran across devices)."""
    got = {}
    for n in (1, 2, 4):
        env = {**os.environ, "JAX_NUM_CPU_DEVICES": str(n), "JAX_PLATFORMS": "cpu"}
        subprocess.run(
            [sys.executable, "-c", RUNNER, json.dumps(STUDIES), str(tmp_path / f"{n}.npz")],
            env=env,
            check=True,
            timeout=120,
        )
        got[n] = dict(np.load(tmp_path / f"{n}.npz"))
    ref = got[1]
    assert len([k for k in ref if k.endswith("per_seed")]) == 2 * (len(ALL_1D) + len(ALL_TEACHER) + 1)
    for n, arrays in got.items():
        for k, v in arrays.items():
            base = ref[k.replace(".4.", ".None.")]
            if k.endswith(".per_seed"):
                np.testing.assert_array_equal(v, base, err_msg=f"{n} devices: {k}")
            else:
                np.testing.assert_allclose(v, base, rtol=1e-12, atol=1e-300, err_msg=f"{n} devices: {k}")


def test_float32_parameters_observed_to_float64_precision():
    """A float32 student 1e-6 away from its teacher: the engine's population loss of those float32
    parameters equals the float64 closed form of the same parameters to 1e-9 relative (float32
    arithmetic loses it: the O(1) kernel terms cancel to ~1e-12)."""
    st = config.from_dict(
        {
            "run": {"seeds": 1, "steps": 1},
            "task": {"input_dim": 20, "teacher_width": 2},
            "model": {"width": 2, "second_layer_init": 1.0},
            "record": {"observables": ["population_loss"]},
        }
    )
    prog, hp = engine.build(st)
    shared = tasks.make_shared(jax.random.PRNGKey(0), st.task, jnp.float32)
    W = shared.teacher["W"] + 1e-6 * jax.random.normal(jax.random.PRNGKey(1), (2, 20))
    state = {
        "params": {"W": W[None, None], "a": jnp.ones((1, 1, 2), jnp.float32)},
        "alive": jnp.ones((1, 1), bool),
        "fpt": jnp.zeros((1, 1, 0), jnp.int32),
    }
    observe = segment.make_fns(prog)[3]
    with jax.enable_x64(True):
        _, summary = jax.jit(observe)(
            state, {}, {k: jnp.asarray(v) for k, v in hp.items()}, shared, jnp.ones(1, bool), jnp.int32(0)
        )
        got = float(summary["moments"].mean[0, 0])
        Wf, Ws = np.asarray(W, np.float64), np.asarray(shared.teacher["W"], np.float64)

        def k(A, B):  # arc-cosine kernel, written out in float64
            qa, qb = (A * A).sum(1)[:, None], (B * B).sum(1)[None, :]
            cos = np.clip(A @ B.T / np.sqrt(qa * qb), -1, 1)
            th = np.arccos(cos)
            return np.sqrt(qa * qb) / (2 * np.pi) * (np.sin(th) + (np.pi - th) * cos)

        one = np.ones(2)
        exact = 0.5 * (one @ k(Wf, Wf) @ one - 2 * one @ k(Wf, Ws) @ one + one @ k(Ws, Ws) @ one)
    assert 1e-13 < exact < 1e-9
    np.testing.assert_allclose(got, exact, rtol=1e-6)


def test_float32_run_medians_agree_with_float64_down_to_1e_12():
    """A realizable soft committee (K = M = 2, d = 50, lr = 0.02) run in float32 and float64 from the same
    seeds: medians of the population loss within 10 % at every record where the float64 median is above
    1e-12, and no exact zeros (a clip used to report every loss below ~1e-7 as 0)."""
    base = {
        "run": {"seeds": 32, "steps": 6000, "records": 9, "spacing": "log"},
        "task": {"input_dim": 50, "teacher_width": 2},
        "model": {"width": 2, "train_second_layer": False, "second_layer_init": 1.0},
        "optimizer": {"lr": 0.02},
        "record": {"observables": ["population_loss"], "quantiles": [0.5], "keep_per_seed": ["population_loss"]},
    }
    med = {}
    for dt in ("float32", "float64"):
        res = jaxrelu.run(config.from_dict({**base, "run": {**base["run"], "dtype": dt}}))
        med[dt] = res["population_loss.quantiles"][:, 0]
        assert (res["population_loss.per_seed"] != 0).all()
    ok = med["float64"] > 1e-12
    assert ok.sum() >= 8 and med["float64"][-1] < 1e-8  # the checked range reaches far below 1e-7
    np.testing.assert_allclose(med["float32"][ok], med["float64"][ok], rtol=0.1)
