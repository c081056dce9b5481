"""Noise sources, optimiser options and batch sampling against direct computations."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from conftest import init_params, study

import jaxrelu
from jaxrelu import engine, model, observables, tasks
from jaxrelu.registry import OBSERVABLES

DATA_1D = {"kind": "dataset", "inputs": [[-1.5], [-1.0], [0.0], [0.25], [2.0]], "targets": [0.7, -0.3, -0.4, 0.4, 0.2]}


def _square_loss(p, x, y, c, activation):
    """½ mean (f(x) − y)², written out as the reference."""
    r = model.apply(p, x, c, activation) - y
    return 0.5 * jnp.mean(r * r)


def test_epoch_sampling_visits_every_sample_once_per_epoch():
    key = jax.random.PRNGKey(0)
    n, B = 10, 4  # batches straddle epoch boundaries
    spec = engine.build(study(task={"train_size": n}, optimizer={"batch_size": B}))[0].task
    assert tasks.epochs_spanned(spec, B) == 2
    idx = np.concatenate(
        [
            np.asarray(tasks._epoch_indices(spec, tasks.epoch_permutations(spec, key, t * B // n, 2), t, B))
            for t in range(10)
        ]
    )
    for e in range(4):
        assert sorted(idx[e * n : (e + 1) * n]) == list(range(n))
    assert not np.array_equal(idx[:n], idx[n : 2 * n])  # reshuffled every epoch


def test_epoch_permutations_drawn_once_per_epoch_equal_drawing_them_every_step():
    """The engine keeps each seed's epoch permutations across the steps of an epoch (and
    across segments that start mid-epoch); a swept batch size keeps them per grid point
    (``"grid_epochs"``). With one swept value the two paths must agree bit for bit."""
    kw = dict(
        task={"train_size": 10, "label_noise": 0.3},
        model={"width": 4},
        run={"seeds": 3, "steps": 23, "record_every": 7, "dtype": "float64"},
        record={"observables": ["train_loss"], "keep_per_seed": ["train_loss"]},
    )
    cached = study(optimizer={"lr": 0.05, "batch_size": 4}, **kw)
    per_step = study(optimizer={"lr": 0.05}, sweep={"optimizer.batch_size": [4]}, **kw)
    assert engine.batching.batch_source(engine.build(cached)[0]) == "epochs"
    assert engine.batching.batch_source(engine.build(per_step)[0]) == "grid_epochs"
    a, b = jaxrelu.run(cached), jaxrelu.run(per_step)
    np.testing.assert_array_equal(
        a["train_loss.per_seed"], b["train_loss.per_seed"].reshape(a["train_loss.per_seed"].shape)
    )


def test_full_batch_gd_equals_manual_gradient_descent():
    st = study(
        task=DATA_1D,
        model={"width": 5, "bias": True},
        optimizer={"lr": 0.1, "batch_size": 5},
        run={"seeds": 2, "steps": 25, "record_every": 25, "dtype": "float64"},
        record={"observables": ["train_loss"], "keep_per_seed": ["train_loss"]},
    )
    res = jaxrelu.run(st)
    seeds_key, _ = jax.random.split(jax.random.PRNGKey(0))
    with jax.enable_x64(True):
        x = jnp.asarray(np.array(DATA_1D["inputs"]))
        y = jnp.asarray(np.array(DATA_1D["targets"]))
        for k in range(2):
            p = init_params(jax.random.fold_in(jax.random.fold_in(seeds_key, k), 0), 5, 1)
            for _ in range(25):
                g = jax.grad(_square_loss)(p, x, y, 1.0, "relu")
                p = jax.tree.map(lambda a, b: a - 0.1 * b, p, g)
            np.testing.assert_allclose(
                res["train_loss.per_seed"][k, -1], float(_square_loss(p, x, y, 1.0, "relu")), rtol=1e-10
            )


def test_batch_size_axis_matches_standalone_run_at_largest_batch():
    rec = {"observables": ["population_loss"], "keep_per_seed": ["population_loss"]}
    swept = jaxrelu.run(study(run={"dtype": "float64"}, sweep={"optimizer.batch_size": [2, 4]}, record=rec))
    alone = jaxrelu.run(study(run={"dtype": "float64"}, optimizer={"batch_size": 4}, record=rec))
    np.testing.assert_allclose(swept["population_loss.per_seed"][1], alone["population_loss.per_seed"], rtol=1e-12)
    assert not np.allclose(swept["population_loss.per_seed"][0], alone["population_loss.per_seed"])


def test_momentum_weight_decay_and_step_schedule_follow_optax():
    """The engine's update equals optax.sgd + add_decayed_weights with the step-decayed lr."""
    st = study(
        task=DATA_1D,
        model={"width": 4, "bias": True},
        optimizer={
            "lr": 0.2,
            "batch_size": 5,
            "momentum": 0.7,
            "weight_decay": 0.01,
            "schedule": "step",
            "decay_at": [0.5],
            "decay_factor": 0.1,
        },
        run={"seeds": 1, "steps": 20, "record_every": 20, "dtype": "float64"},
        record={"observables": ["train_loss"], "keep_per_seed": ["train_loss"]},
    )
    res = jaxrelu.run(st)
    seeds_key, _ = jax.random.split(jax.random.PRNGKey(0))
    with jax.enable_x64(True):
        x = jnp.asarray(np.array(DATA_1D["inputs"]))
        y = jnp.asarray(np.array(DATA_1D["targets"]))
        p = init_params(jax.random.fold_in(jax.random.fold_in(seeds_key, 0), 0), 4, 1)
        sched = optax.piecewise_constant_schedule(0.2, {10: 0.1})
        opt = optax.chain(optax.add_decayed_weights(0.01), optax.sgd(sched, momentum=0.7))
        s = opt.init(p)
        for _ in range(20):
            g = jax.grad(_square_loss)(p, x, y, 1.0, "relu")
            u, s = opt.update(g, s, p)
            p = optax.apply_updates(p, u)
        np.testing.assert_allclose(
            res["train_loss.per_seed"][0, -1], float(_square_loss(p, x, y, 1.0, "relu")), rtol=1e-10
        )


def test_langevin_noise_has_variance_two_lr_T_per_step():
    """With a zero gradient (x = 0, y = 0, no bias) θ_K − θ_0 ~ N(0, 2·lr·T·K·I).

    E‖θ_K − θ_0‖² = 2·lr·T·K·P with P parameters; over S seeds the mean of the
    squared distance has SE = √(2/(P·S)) × its expectation (chi-square with P·S dof).
    """
    lr, T, K, S, m = 0.01, 0.5, 10, 400, 3
    st = study(
        task={"kind": "dataset", "inputs": [[0.0], [0.0]], "targets": [0.0, 0.0]},
        model={"width": m},
        optimizer={"lr": lr, "batch_size": 2, "langevin_temperature": T},
        run={"seeds": S, "steps": K, "record_every": K, "dtype": "float64"},
        record={"observables": ["distance_from_init"], "keep_per_seed": ["distance_from_init"]},
    )
    d2 = jaxrelu.run(st)["distance_from_init.per_seed"][:, -1] ** 2
    P = 2 * m
    expect = 2 * lr * T * K * P
    assert abs(d2.mean() - expect) < 4 * expect * np.sqrt(2 / (P * S))


def test_label_noise_sgd_matches_online_data_noise_in_distribution():
    """Online, label-noise SGD and noisy data labels are the same process in law.

    Compare final mean population loss: the difference must be within 4 SE of
    the unpaired difference.
    """
    rec = {"observables": ["population_loss"]}
    a = jaxrelu.run(study(run={"seeds": 256}, optimizer={"lr": 0.02, "label_noise": 0.5}, record=rec))
    b = jaxrelu.run(study(run={"seeds": 256, "seed": 1}, optimizer={"lr": 0.02}, task={"label_noise": 0.5}, record=rec))
    da = a["population_loss.mean"][-1] - b["population_loss.mean"][-1]
    se = np.hypot(a["population_loss.sem"][-1], b["population_loss.sem"][-1])
    assert abs(da) < 4 * se
    c = jaxrelu.run(study(run={"seeds": 256}, optimizer={"lr": 0.02}, record=rec))
    assert c["population_loss.mean"][-1] < a["population_loss.mean"][-1]  # the noise does something


def test_frozen_second_layer_stays_at_init():
    st = study(
        model={"train_second_layer": False, "second_layer_init": 0.5},
        record={"observables": ["second_layer_norm"], "keep_per_seed": ["second_layer_norm"]},
    )
    v = jaxrelu.run(st)["second_layer_norm.per_seed"]
    np.testing.assert_allclose(v, 0.5 * np.sqrt(3), rtol=1e-6)


def test_balanced_init_and_parametrizations():
    with jax.enable_x64(True):
        p = model.init(
            jax.random.PRNGKey(0),
            width=50,
            input_dim=1,
            bias=True,
            first_layer="gaussian",
            second_layer="balanced",
            init_scale=1e-3,
            second_layer_scale=1.0,
            dtype=jnp.float64,
        )
        np.testing.assert_allclose(jnp.abs(p["a"]), jnp.sqrt(p["W"][:, 0] ** 2 + p["b"] ** 2), rtol=1e-12)
        assert 10 < int(jnp.sum(p["a"] > 0)) < 40
    assert model.output_scale("ntk", 16) == 0.25 and model.output_scale("mean_field", 16) == 1 / 16


def test_user_observable_is_recorded():
    observables.register("first_weight", lambda p, p0, data, ctx: p["W"][0, 0])
    try:
        st = study(record={"observables": ["first_weight"], "keep_per_seed": ["first_weight"]})
        res = jaxrelu.run(st)
        assert res["first_weight.per_seed"].shape == (8, 5)
        assert np.isfinite(res["first_weight.mean"]).all()
    finally:
        OBSERVABLES.unregister("first_weight")


def test_batch_size_axis_on_a_finite_set():
    st = study(
        task=DATA_1D,
        model={"width": 4},
        optimizer={"batch_size": 2},
        sweep={"optimizer.batch_size": [1, 2, 5]},
        record={"observables": ["train_loss"]},
    )
    res = jaxrelu.run(st)
    assert res["train_loss.count"].shape == (3, 5) and np.isfinite(res["train_loss.mean"]).all()
