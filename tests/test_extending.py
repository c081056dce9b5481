"""Extending jaxrelu: a new activation, loss, task and optimiser, each one registration in a plugin
(tests/plugins/extending.py, the examples of docs/extending.md), run from TOML through the CLI with
``--plugin`` and checked per seed against a hand-written float64 reference (full-batch training,
so the only randomness is the documented initialisation and training-set streams)."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import init_params

import jaxrelu
from jaxrelu import cli, engine
from jaxrelu.registry import ACTIVATIONS

PLUGIN = str(Path(__file__).parent / "plugins" / "extending.py")
X = [[-1.0], [-0.4], [0.1], [0.7], [1.2]]
Y = [0.3, -0.5, 0.2, 0.8, -0.1]
SEEDS, STEPS, WIDTH = 4, 30, 6


def _toml(task: str, model_: str = "", optimizer: str = "lr = 0.1") -> str:
    return f"""
[run]
seeds = {SEEDS}
steps = {STEPS}
record_every = {STEPS}
dtype = "float64"
[task]
{task}
[model]
width = {WIDTH}
bias = true
{model_}
[optimizer]
batch_size = 5
{optimizer}
[record]
observables = ["train_loss"]
keep_per_seed = ["train_loss"]
"""


DATASET = f'kind = "dataset"\ninputs = {X}\ntargets = {Y}'
CASES = {
    "activation": (_toml(DATASET, 'activation = "swish"'), "swish", "square", "sgd", None),
    "loss": (_toml(DATASET + '\nloss = "huber"'), "relu", "huber", "sgd", None),
    "task": (_toml('kind = "sine_1d"\ninput_dim = 1\ntrain_size = 5'), "relu", "square", "sgd", "sine"),
    "optimizer": (_toml(DATASET, optimizer='lr = 0.05\nname = "adam"'), "relu", "square", "adam", None),
}


# ---------------------------------------------------------------- the hand-written reference
def _sigma(name, z):
    return z / (1.0 + jnp.exp(-z)) if name == "swish" else jnp.maximum(z, 0.0)


def _loss(name, f, y):
    r = f - y
    return jnp.where(jnp.abs(r) <= 0.5, 0.5 * r * r, 0.5 * jnp.abs(r) - 0.125) if name == "huber" else 0.5 * r * r


def _reference(activation, loss, opt, task, lr):
    """Per-seed final training loss: full-batch GD (or Adam, written out) from the run's initialisation."""
    seeds_key = jax.random.split(jax.random.PRNGKey(0))[0]
    out = []
    for k in range(SEEDS):
        sk = jax.random.fold_in(seeds_key, k)
        p = init_params(jax.random.fold_in(sk, engine.INIT), WIDTH, 1)
        if task == "sine":  # the seed's training set: split(fold_in(seed, DATA)) = (kx, kn)
            kx, _ = jax.random.split(jax.random.fold_in(sk, engine.DATA))
            x = jax.random.uniform(kx, (5, 1), jnp.float64, -1.0, 1.0)
            y = jnp.sin(3 * x[:, 0])
        else:
            x, y = jnp.asarray(X, jnp.float64), jnp.asarray(Y, jnp.float64)

        def L(q):
            f = _sigma(activation, x @ q["W"].T + q["b"]) @ q["a"]
            return jnp.mean(_loss(loss, f, y))

        m = jax.tree.map(jnp.zeros_like, p)
        v = jax.tree.map(jnp.zeros_like, p)
        for t in range(1, STEPS + 1):
            g = jax.grad(L)(p)
            if opt == "adam":  # Kingma & Ba, b1 = 0.9, b2 = 0.999, eps = 1e-8 (optax's defaults)
                m = jax.tree.map(lambda a, b: 0.9 * a + 0.1 * b, m, g)
                v = jax.tree.map(lambda a, b: 0.999 * a + 0.001 * b * b, v, g)
                p = jax.tree.map(
                    lambda q, a, b: q - lr * (a / (1 - 0.9**t)) / (jnp.sqrt(b / (1 - 0.999**t)) + 1e-8), p, m, v
                )
            else:
                p = jax.tree.map(lambda q, gg: q - lr * gg, p, g)
        out.append(float(L(p)))
    return np.array(out)


@pytest.mark.parametrize("case", sorted(CASES))
def test_extension_runs_from_toml_with_plugin_and_matches_reference(case, tmp_path):
    text, activation, loss, opt, task = CASES[case]
    (tmp_path / "study.toml").write_text(text)
    out = tmp_path / "out"
    assert cli.main(["run", str(tmp_path / "study.toml"), "--plugin", PLUGIN, "--out", str(out), "--quiet"]) == 0
    res = jaxrelu.load(out)
    with jax.enable_x64(True):
        ref = _reference(activation, loss, opt, task, 0.05 if opt == "adam" else 0.1)
    np.testing.assert_allclose(res["train_loss.per_seed"][:, -1], ref, rtol=1e-9)
    assert res["train_loss.per_seed"][:, -1].std() > 0  # the seeds differ
    saved = json.loads((out / "study.json").read_text())
    assert saved["run"]["plugins"] == [PLUGIN]  # a resume imports it again


def test_unknown_name_without_the_plugin_is_one_line_with_a_suggestion(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(CASES["loss"][0].replace('"huber"', '"hubr"'))
    assert cli.main(["validate", str(tmp_path / "s.toml"), "--plugin", PLUGIN]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "task.loss: unknown loss 'hubr' (did you mean 'huber'?" in err
    assert not (tmp_path / "out").exists()


def test_a_changed_registration_recompiles(tmp_path):
    """Re-registering a name with another function gives another program (the compile cache keys on
    the entries), so the second run is not the first one's compiled code."""
    from jaxrelu import activations, config

    st = config.from_dict(
        {
            "run": {"seeds": 2, "steps": 5, "record_every": 5},
            "task": {"kind": "dataset", "inputs": X, "targets": Y},
            "model": {"width": 3, "activation": "mine"},
            "optimizer": {"batch_size": 5},
            "record": {"observables": ["train_loss"], "quantiles": []},
        }
    )
    try:
        activations.register("mine", jax.nn.relu)
        first = jaxrelu.run(st)["train_loss.mean"]
        activations.register("mine", jnp.tanh)
        second = jaxrelu.run(st)["train_loss.mean"]
        assert not np.array_equal(first, second)
        activations.register("mine", jax.nn.relu)
        np.testing.assert_array_equal(jaxrelu.run(st)["train_loss.mean"], first)
    finally:
        ACTIVATIONS.unregister("mine")


def test_docs_page_shows_the_tested_plugin():
    """docs/extending.md quotes tests/plugins/extending.py verbatim, so its examples are the tested ones."""
    root = Path(__file__).parent.parent
    assert (root / "tests" / "plugins" / "extending.py").read_text() in (root / "docs" / "extending.md").read_text()
