"""The compiled engine against plain references: per-seed loops, numpy statistics, invariances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import init_params, study

import jaxrelu
from jaxrelu import model, tasks
from jaxrelu.theory import kernels


def _square_loss(p, x, y, c, activation):
    """½ mean (f(x) − y)², written out as the reference."""
    r = model.apply(p, x, c, activation) - y
    return 0.5 * jnp.mean(r * r)


def per_seed(res, name):
    return res[f"{name}.per_seed"]


# ----------------------------------------------------------------- gradient
@pytest.mark.parametrize("activation", ["relu", "erf", "linear"])
def test_gradient_matches_finite_differences(activation):
    with jax.enable_x64(True):
        k = jax.random.PRNGKey(3)
        params = init_params(k, 4, 5)
        x = jax.random.normal(jax.random.PRNGKey(4), (7, 5), jnp.float64)
        y = jax.random.normal(jax.random.PRNGKey(5), (7,), jnp.float64)
        loss = lambda p: _square_loss(p, x, y, 0.5, activation)  # noqa: E731
        g = jax.grad(loss)(params)
        eps = 1e-6
        for name, leaf in params.items():
            flat = np.asarray(leaf).ravel()
            for i in range(flat.size):
                e = np.zeros_like(flat)
                e[i] = eps
                plus = {**params, name: jnp.asarray((flat + e).reshape(leaf.shape))}
                minus = {**params, name: jnp.asarray((flat - e).reshape(leaf.shape))}
                fd = (loss(plus) - loss(minus)) / (2 * eps)
                # central differences: error O(eps²·f''') + rounding O(1e-16/eps) ~ 1e-10
                assert abs(fd - np.asarray(g[name]).ravel()[i]) < 1e-7


# --------------------------------------------------- vmapped == per-seed loop
def reference_trajectory(st, k):
    """A plain per-seed loop: hand-written SGD on ½ mean (f − y)², relu, c = 1, online."""
    d, B = st.task.input_dim, st.optimizer.batch_size
    lr, sig = st.optimizer.lr, st.optimizer.label_noise
    seeds_key, shared_key = jax.random.split(jax.random.PRNGKey(st.run.seed))
    shared = tasks.make_shared(shared_key, st.task, jnp.float64)
    T = {n: np.asarray(v) for n, v in shared.teacher.items()}
    seed_key = jax.random.fold_in(seeds_key, k)
    p = init_params(jax.random.fold_in(seed_key, 0), st.model.width, d, bias=False)
    W, a = np.asarray(p["W"]), np.asarray(p["a"])
    out = [np.sum(W * W) ** 0.5]
    step_key, block_key = jax.random.fold_in(seed_key, 3), jax.random.fold_in(seed_key, 4)
    for t in range(st.run.steps):
        _, ks = jax.random.split(jax.random.fold_in(step_key, t))
        kl, _ = jax.random.split(ks)
        # online inputs: blocks of 8 steps from fold_in(block_key, t // 8); float32 draws (conventions)
        kx, _ = jax.random.split(jax.random.fold_in(block_key, t // 8))
        x = np.asarray(jax.random.normal(kx, (8, B, d), jnp.float32)[t % 8], np.float64)
        y = np.maximum(x @ T["W"].T, 0) @ T["a"] + sig * np.asarray(
            jax.random.normal(kl, (B,), jnp.float32), np.float64
        )
        z = x @ W.T
        h = np.maximum(z, 0)
        r = h @ a - y
        ga = h.T @ r / B
        gW = ((r[:, None] * a[None, :]) * (z > 0)).T @ x / B
        W, a = W - lr * gW, a - lr * ga
        if (t + 1) % st.run.record_every == 0:
            out.append(np.sum(W * W) ** 0.5)
    return np.array(out)


def test_vmapped_run_equals_per_seed_loop():
    st = study(
        run={"seeds": 3, "steps": 30, "record_every": 10, "dtype": "float64"},
        optimizer={"lr": 0.1, "batch_size": 2, "label_noise": 0.3},
        record={"observables": ["weight_norm"], "keep_per_seed": ["weight_norm"]},
    )
    res = jaxrelu.run(st)
    with jax.enable_x64(True):
        for k in range(3):
            np.testing.assert_allclose(per_seed(res, "weight_norm")[k], reference_trajectory(st, k), rtol=1e-10)


# ----------------------------------------------- streaming stats == numpy stats
def test_streaming_statistics_equal_numpy_on_stored_trajectories():
    st = study(
        run={"seeds": 37, "steps": 40, "record_every": 10, "chunk_size": 8},
        sweep={"optimizer.lr": [0.01, 0.03]},
        record={
            "observables": ["population_loss", "weight_norm"],
            "quantiles": [0.1, 0.5, 0.9],
            "keep_per_seed": ["population_loss", "weight_norm"],
            "histograms": {"population_loss": {"min": 0.1, "max": 0.6, "bins": 12, "log": True}},
        },
    )
    res = jaxrelu.run(st)
    for name in ("population_loss", "weight_norm"):
        v = per_seed(res, name).astype(np.float64)  # (G, S, R), no divergence here
        assert np.isfinite(v).all()
        np.testing.assert_allclose(res[f"{name}.mean"], v.mean(axis=1), rtol=1e-6)
        np.testing.assert_allclose(res[f"{name}.std"], v.std(axis=1, ddof=1), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(res[f"{name}.sem"], v.std(axis=1, ddof=1) / np.sqrt(37), rtol=1e-4, atol=1e-7)
        np.testing.assert_array_equal(res[f"{name}.min"], v.min(axis=1))
        np.testing.assert_array_equal(res[f"{name}.max"], v.max(axis=1))
        np.testing.assert_array_equal(res[f"{name}.count"], np.full(v[:, 0].shape, 37))
        np.testing.assert_allclose(
            res[f"{name}.quantiles"], np.moveaxis(np.quantile(v, [0.1, 0.5, 0.9], axis=1), 0, -1), rtol=1e-6
        )
    edges = res["population_loss.hist_edges"]
    v = per_seed(res, "population_loss")
    for g in range(2):
        for r in range(len(res.step)):
            ref, _ = np.histogram(v[g, :, r], edges)  # values outside the range in no bin
            np.testing.assert_array_equal(res["population_loss.hist"][g, r], ref)
            assert res["population_loss.hist_underflow"][g, r] == (v[g, :, r] < edges[0]).sum()
            assert res["population_loss.hist_overflow"][g, r] == (v[g, :, r] > edges[-1]).sum()
    assert res["population_loss.hist_underflow"].sum() + res["population_loss.hist_overflow"].sum() > 0


def test_chunk_size_invariance():
    base = dict(
        run={"seeds": 20, "steps": 30, "record_every": 10},
        sweep={"optimizer.lr": [0.03, 0.1]},
        record={
            "observables": ["population_loss"],
            "keep_per_seed": ["population_loss"],
            "first_passage": {"observable": "population_loss", "below": 0.3},
        },
    )
    a = jaxrelu.run(study(**{**base, "run": {**base["run"], "chunk_size": 20}}))
    b = jaxrelu.run(study(**{**base, "run": {**base["run"], "chunk_size": 6}}))
    assert b.meta["chunks"] == 4
    np.testing.assert_array_equal(per_seed(a, "population_loss"), per_seed(b, "population_loss"))
    np.testing.assert_array_equal(a["fpt.population_loss.steps"], b["fpt.population_loss.steps"])
    for s in ("mean", "std", "min", "max", "quantiles"):
        np.testing.assert_allclose(a[f"population_loss.{s}"], b[f"population_loss.{s}"], rtol=1e-5)


def test_seed_subset_gives_identical_trajectories():
    base = dict(record={"observables": ["weight_norm"], "keep_per_seed": ["weight_norm"]})
    full = jaxrelu.run(study(run={"seeds": 16, "steps": 20, "record_every": 10}, **base))
    part = jaxrelu.run(study(run={"seeds": 8, "first_seed": 8, "steps": 20, "record_every": 10}, **base))
    np.testing.assert_array_equal(part["seed"], np.arange(8, 16))
    np.testing.assert_array_equal(per_seed(full, "weight_norm")[8:], per_seed(part, "weight_norm"))


# ------------------------------------------------------ common random numbers
def test_common_random_numbers_across_grid_points():
    rec = {"observables": ["weight_norm", "population_loss"], "keep_per_seed": ["weight_norm", "population_loss"]}
    grid = jaxrelu.run(study(run={"dtype": "float64"}, sweep={"optimizer.lr": [0.02, 0.07]}, record=rec))
    for g, lr in enumerate([0.02, 0.07]):
        alone = jaxrelu.run(study(run={"dtype": "float64"}, optimizer={"lr": lr}, record=rec))
        # each grid point is exactly the trajectory that a run at that lr alone gives
        np.testing.assert_allclose(per_seed(grid, "population_loss")[g], per_seed(alone, "population_loss"), rtol=1e-12)
    # and init-scale sweeps share the initial directions: norms scale exactly
    sc = jaxrelu.run(study(run={"dtype": "float64"}, sweep={"model.init_scale": [1.0, 2.5]}, record=rec))
    w0 = per_seed(sc, "weight_norm")[..., 0]
    np.testing.assert_allclose(w0[1], 2.5 * w0[0], rtol=1e-12)


def test_common_random_numbers_make_differences_tighter_than_independent_seeds():
    """Paired differences between two lrs have much smaller spread than unpaired ones."""
    rec = {"observables": ["population_loss"], "keep_per_seed": ["population_loss"]}
    res = jaxrelu.run(
        study(run={"seeds": 64, "steps": 40, "record_every": 40}, sweep={"optimizer.lr": [0.02, 0.025]}, record=rec)
    )
    v = per_seed(res, "population_loss")[..., -1]
    paired = np.std(v[1] - v[0])
    unpaired = np.std(v[1] - np.roll(v[0], 1))
    assert paired < 0.5 * unpaired


# ----------------------------------------------------------------- divergence
def test_divergence_is_counted_never_averaged():
    st = study(
        run={"seeds": 16, "steps": 60, "record_every": 20, "blowup": 1e3},
        sweep={"optimizer.lr": [0.05, 3.0]},
        record={"observables": ["population_loss", "weight_norm"], "keep_per_seed": ["weight_norm"]},
    )
    res = jaxrelu.run(st)
    div = res["diverged.count"]
    assert div[0].max() == 0 and div[1, -1] > 0  # the large lr blows up some seeds
    assert np.all(np.diff(div, axis=-1) >= 0)  # diverged stays diverged
    np.testing.assert_array_equal(res["weight_norm.count"] + div, 16)
    alive = res["weight_norm.count"] > 0
    for s in ("mean", "std", "min", "max"):
        assert np.isfinite(res[f"weight_norm.{s}"][alive & (res["weight_norm.count"] > 1)]).all()
    ps = per_seed(res, "weight_norm")[1]
    assert np.isnan(ps[:, -1]).sum() == div[1, -1]
    np.testing.assert_allclose(res["diverged.fraction"], div / 16)


# --------------------------------------------------------- no recompilation
def test_new_grid_values_do_not_recompile():
    from jax._src import dispatch, monitoring

    compiles = []

    def listener(event, duration, **kw):
        if event == dispatch.BACKEND_COMPILE_EVENT:
            compiles.append(event)

    monitoring.register_event_duration_secs_listener(listener)
    try:
        jaxrelu.run(study(sweep={"optimizer.lr": [0.01, 0.02], "optimizer.label_noise": [0.0, 0.1]}))
        n_first = len(compiles)
        res = jaxrelu.run(study(sweep={"optimizer.lr": [0.03, 0.04], "optimizer.label_noise": [0.2, 0.5]}))
    finally:
        monitoring.unregister_event_duration_listener(listener)
    assert n_first > 0
    assert len(compiles) == n_first
    assert res.meta["compile_seconds"] == 0.0


# ------------------------------------------------------ closed-form population loss
@pytest.mark.parametrize(
    "act,tact", [("relu", "relu"), ("erf", "erf"), ("linear", "linear"), ("relu", "linear"), ("erf", "linear")]
)
def test_closed_form_population_loss_matches_monte_carlo(act, tact):
    rng = np.random.default_rng(0)
    d, m, k, N = 6, 4, 3, 400_000
    W, a = rng.normal(size=(m, d)) / np.sqrt(d), rng.normal(size=m)
    Ws, As = rng.normal(size=(k, d)) / np.sqrt(d) * 1.5, rng.normal(size=k)
    with jax.enable_x64(True):
        exact = float(kernels.population_loss(W, a, 0.7, act, Ws, As, tact))
        x = rng.normal(size=(N, d))
        f = np.asarray(model.apply({"W": W, "a": a}, x, 0.7, act))
        fs = np.asarray(model.apply({"W": Ws, "a": As}, x, 1.0, tact))
    e = 0.5 * (f - fs) ** 2
    se = e.std() / np.sqrt(N)
    assert abs(e.mean() - exact) < 4 * se  # 4 SE: false alarm ~ 6e-5


def test_held_out_population_loss_agrees_with_closed_form():
    """The held-out estimate (used with biases) agrees with the closed form within its SE."""
    from jaxrelu import observables, tasks

    st = study(task={"test_size": 50_000})
    with jax.enable_x64(True):
        shared = tasks.make_shared(jax.random.PRNGKey(1), st.task, jnp.float64)
        params = init_params(jax.random.PRNGKey(2), 3, 12, bias=False)
        ctx = observables.Context(1.0, "relu", "relu", True, True)
        exact = float(observables.core.population_loss(params, None, shared, ctx))
        held_out = ctx.__class__(**{**ctx.__dict__, "closed_form": False})
        est = float(observables.core.population_loss(params, None, shared, held_out))
        r = np.asarray(model.apply(params, shared.x_test, 1.0, "relu") - shared.y_test)
    se = np.std(0.5 * r**2) / np.sqrt(len(r))
    assert abs(est - exact) < 4 * se
