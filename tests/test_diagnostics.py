"""Diagnostic observables (jaxrelu.observables.diagnostics) against explicit dense computations."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import init_params, study
from jax.flatten_util import ravel_pytree

import jaxrelu
from jaxrelu import model, observables, tasks
from jaxrelu.observables import diagnostics
from jaxrelu.registry import OBSERVABLES

DATA_1D = {"kind": "dataset", "inputs": [[-1.5], [-1.0], [0.0], [0.25], [2.0]], "targets": [0.7, -0.3, -0.4, 0.4, 0.2]}
NAMES = ["sharpness", "grad_noise_trace", "grad_noise_top", "noise_to_signal", "kink_count", "nuclear_norm"]


def _ctx(activation="relu", c=1.0):
    return observables.Context(c=c, activation=activation, teacher_activation=None, closed_form=False, online=False)


@functools.cache
def _jitted(names):
    fns = [OBSERVABLES.get(k).fn for k in names]
    return jax.jit(lambda p, data, ctx: jnp.stack([f(p, None, data, ctx) for f in fns]), static_argnums=2)


def obs(names, p, data, ctx):
    """Observables evaluated together under one jit, as the engine does: a float, or a
    numpy array for a tuple of names (one compilation per call signature keeps the test fast)."""
    v = np.asarray(_jitted((names,) if isinstance(names, str) else tuple(names))(p, data, ctx))
    return float(v[0]) if isinstance(names, str) else v


def _problem(m, d, n, seed=0, bias=True, dtype=np.float64):
    """Random parameters and data (numpy draws: no per-op compilation in eager JAX)."""
    rng = np.random.default_rng(seed)
    f = lambda *shape: jnp.asarray(rng.normal(size=shape).astype(dtype))
    p = {"W": f(m, d), "a": f(m)}
    if bias:
        p["b"] = f(m)
    x = f(n, d)
    return p, tasks.TaskData(x_train=x, y_train=jnp.sin(2 * x[:, 0]))


@functools.partial(jax.jit, static_argnums=2)
def _dense(p, data, c=1.0):
    """(H, J): dense Hessian of L and per-sample gradients (n, P) via jax.hessian / jax.jacrev,
    independently of the module's matrix-free code."""
    flat, unravel = ravel_pytree(p)

    def per_sample(th):
        return 0.5 * (model.apply(unravel(th), data.x_train, c, "relu") - data.y_train) ** 2

    return jax.hessian(lambda th: jnp.mean(per_sample(th)))(flat), jax.jacrev(per_sample)(flat)


def _covariance(J):
    G = J - J.mean(0)
    return G.T @ G / J.shape[0]


# ------------------------------------------------------------------ sharpness
def test_sharpness_is_top_eigenvalue_of_dense_hessian():
    """P = 60 parameters > 32 Lanczos steps, so Lanczos is truncated; the top eigenvalue is an
    outlier and converges geometrically (observed agreement ~1e-15; the untruncated case,
    P ≤ 32, is test_small_network_exact_output_scale_and_dead_network).
    rtol 1e-9 leaves six orders of margin over float64 rounding and still fails on any
    algorithmic error (a wrong eigenvalue is off by O(1) relative)."""
    with jax.enable_x64(True):
        p, data = _problem(12, 3, 40)
        ev = np.linalg.eigvalsh(np.asarray(_dense(p, data)[0]))
        assert ev[0] < 0 < ev[-1]  # indefinite Hessian
        np.testing.assert_allclose(obs("sharpness", p, data, _ctx()), ev[-1], rtol=1e-9)
        # online: the held-out sample plays the training set's role
        online = tasks.TaskData(x_test=data.x_train, y_test=data.y_train)
        np.testing.assert_allclose(obs("sharpness", p, online, _ctx()), ev[-1], rtol=1e-9)


def test_sharpness_float32_matches_float64():
    """Default runs are float32.  Breakdown handling perturbs T by ≤ √ε₃₂‖H‖ ≈ 3.5e-4‖H‖
    (Weyl), and ‖H‖ = λ_max here, so rtol 1e-3 bounds the worst case."""
    p32, d32 = _problem(12, 3, 40, dtype=np.float32)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: a.astype(jnp.float64), p32)
        d64 = tasks.TaskData(x_train=d32.x_train.astype(jnp.float64), y_train=d32.y_train.astype(jnp.float64))
        ref = obs("sharpness", p64, d64, _ctx())
    np.testing.assert_allclose(obs("sharpness", p32, d32, _ctx()), ref, rtol=1e-3)


def test_lanczos_returns_algebraic_max_despite_dominant_negative_and_degenerate_spectrum():
    """Spectrum −10 (largest |λ|: power iteration would return it), 0 ×20, 1 ×10, 18 values in
    (0, 2), 3: repeated eigenvalues close the Krylov space early (restart path).  32 < 50
    steps.  Expect 3 to float64 rounding (rtol 1e-12); the all-negative diag(−1, …, −50) gives its
    largest eigenvalue −1, not a 0 from padding; the zero operator gives 0, not nan."""
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(50, 50)))
    ev = np.concatenate([[-10.0], np.zeros(20), np.ones(10), rng.uniform(0, 2, 18), [3.0]])
    with jax.enable_x64(True):
        top = jax.jit(jax.vmap(lambda M: diagnostics.lanczos_max(lambda v: M @ v, 50, M.dtype)))
        mats = jnp.stack([(Q * ev) @ Q.T, -jnp.diag(jnp.arange(1.0, 51.0)), jnp.zeros((50, 50))])
        got = np.asarray(top(mats))
        np.testing.assert_allclose(got[0], 3.0, rtol=1e-12)
        # evenly spaced spectrum, no outlier: 32 steps converge more slowly (observed 2e-10)
        np.testing.assert_allclose(got[1], -1.0, rtol=1e-6)
        assert got[2] == 0.0


# ------------------------------------------------------------------ gradient noise
NOISE = ("grad_noise_trace", "grad_noise_top", "noise_to_signal")


def test_gradient_noise_matches_dense_covariance():
    """Σ formed explicitly from jacrev per-sample gradients; n = 150 exercises the 64-row
    blocks with a remainder, and P = 60 > 32 Lanczos steps.  tr Σ and the ratio are sums of
    squares (rtol 1e-10); λ_max by Lanczos as for the Hessian (rtol 1e-9, observed ~1e-15)."""
    with jax.enable_x64(True):
        p, data = _problem(12, 3, 150, seed=1)
        J = np.asarray(_dense(p, data)[1])
        S = _covariance(J)
        gbar = J.mean(0)
        tr, top, nsr = obs(NOISE, p, data, _ctx())
        np.testing.assert_allclose(tr, np.trace(S), rtol=1e-10)
        np.testing.assert_allclose(top, np.linalg.eigvalsh(S)[-1], rtol=1e-9)
        np.testing.assert_allclose(nsr, np.trace(S) / (gbar @ gbar), rtol=1e-10)


def test_small_network_exact_output_scale_and_dead_network():
    """P = 16 ≤ 32 steps: Lanczos spans the whole space and is exact up to rounding; n = 7 < P,
    so Σ has rank ≤ 6 and the Krylov space of Σ closes early (restart path).  rtol 1e-9
    as above.  With c ≠ 1 (ntk/mean-field) the gradients carry c.  A network with every
    neuron dead on the data has no curvature, gradient, noise or features: all exactly 0
    and finite (the 0/0 ratio is returned as 0)."""
    names = ("sharpness",) + NOISE + ("nuclear_norm",)
    with jax.enable_x64(True):
        p, data = _problem(4, 2, 7, seed=1)
        H, J = (np.asarray(a) for a in _dense(p, data))
        S, gbar = _covariance(J), J.mean(0)
        np.testing.assert_allclose(
            obs(names, p, data, _ctx())[:4],
            [np.linalg.eigvalsh(H)[-1], np.trace(S), np.linalg.eigvalsh(S)[-1], np.trace(S) / (gbar @ gbar)],
            rtol=1e-9,
        )
        c = 1 / math.sqrt(4)
        S = _covariance(np.asarray(_dense(p, data, c)[1]))
        tr, top, _ = obs(NOISE, p, data, _ctx(c=c))
        np.testing.assert_allclose([tr, top], [np.trace(S), np.linalg.eigvalsh(S)[-1]], rtol=1e-9)
        dead = {"W": jnp.zeros((4, 2)), "a": jnp.ones(4), "b": -jnp.ones(4)}
        np.testing.assert_array_equal(obs(names, dead, data, _ctx()), np.zeros(5))


# ------------------------------------------------------------------ 1-D
def _net_1d(w, b, a):
    f = lambda v: jnp.asarray(v, jnp.float32)
    return {"W": f(w)[:, None], "b": f(b), "a": f(a)}


def _data_1d(xs):
    x = jnp.asarray(xs, jnp.float32)[:, None]
    return tasks.TaskData(x_train=x, y_train=jnp.zeros(len(xs), jnp.float32))


def test_kink_count_on_hand_made_network():
    """Data range [−1, 2].  Neurons (w, b, a) and their kinks t = −b/w, jumps a|w|:
    0: (1, .5, 1)    t = −.5, +1  ┐ same breakpoint: one kink (jump 2)
    1: (2, 1, .5)    t = −.5, +1  ┘
    2: (−1, 1, 1)    t = 1,  +1   ┐ relu(1 − x) − relu(x − 1) = 1 − x: jumps cancel, no kink
    3: (1, −1, −1)   t = 1,  −1   ┘
    4: (1, −5, 1)    t = 5 outside the data range
    5: (1, 0, 1e-6)  t = 0 but |a w| ≤ 1e-3 × max: not an active neuron
    6: (.5, −.25, 1) t = .5, +.5
    7: (0, 1, 3)     w = 0: no kink (a constant feature)
    -> kinks at −.5 and .5: 2."""
    data = _data_1d([-1.0, 0.3, 2.0])
    p = _net_1d([1, 2, -1, 1, 1, 1, 0.5, 0], [0.5, 1, 1, -1, -5, 0, -0.25, 1], [1, 0.5, 1, -1, 1, 1e-6, 1, 3])
    assert obs("kink_count", p, data, _ctx()) == 2.0
    # two kinks 1e-6 apart (< 1e-3 × range 3) are one; 0.01 apart (> 3e-3) are two
    near = _net_1d([1, 1], [0, 1e-6], [1, 1])
    assert obs("kink_count", near, data, _ctx()) == 1.0
    apart = _net_1d([1, 1], [0, 0.01], [1, 1])
    assert obs("kink_count", apart, data, _ctx()) == 2.0
    # kinks at the ends of the range count (closed interval); no bias: every kink at x = 0
    ends = _net_1d([1, 1], [1, -2], [1, 1])
    assert obs("kink_count", ends, data, _ctx()) == 2.0
    nob = {"W": jnp.array([[1.0], [-2.0], [3.0]]), "a": jnp.array([1.0, 1.0, 1.0])}
    assert obs("kink_count", nob, data, _ctx()) == 1.0


def test_one_d_observable_refuses_other_inputs_and_activations():
    p, data = _problem(3, 2, 5, dtype=np.float32)
    with pytest.raises(ValueError, match="input_dim = 1"):
        diagnostics.kink_count(p, None, data, _ctx())
    p1 = _net_1d([1.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="relu"):
        diagnostics.kink_count(p1, None, _data_1d([0.0, 1.0]), _ctx("erf"))


def test_nuclear_norm_on_hand_made_features():
    """x = (−1, 1); features relu(x), relu(−x), relu(2x), dead relu(−x − 5):
    Φ = [[0, 1, 0, 0], [1, 0, 2, 0]] has orthogonal rows, so its singular values are the row
    norms 1 and √5: ‖Φ‖_* = 1 + √5 (float32 rounding: rtol 1e-6)."""
    p = _net_1d([1, -1, 2, -1], [0, 0, 0, -5], [7, 7, 7, 7])  # a does not enter Φ
    got = obs("nuclear_norm", p, _data_1d([-1.0, 1.0]), _ctx())
    np.testing.assert_allclose(got, 1 + math.sqrt(5), rtol=1e-6)
    # any input dimension: Σ singular values of relu(x Wᵀ + b)
    q, data = _problem(6, 3, 10, dtype=np.float32)
    phi = np.maximum(np.asarray(data.x_train) @ np.asarray(q["W"]).T + np.asarray(q["b"]), 0)
    np.testing.assert_allclose(
        obs("nuclear_norm", q, data, _ctx()), np.linalg.svd(phi, compute_uv=False).sum(), rtol=1e-5
    )


# ------------------------------------------------------------------ through the engine
LR = 0.2


@functools.cache
def _gd_run():
    """Full-batch GD on the 1-D points, width 10 with bias, 16 seeds, 4000 steps (float64)."""
    names = NAMES + ["grad_norm", "train_loss"]
    st = study(
        task=DATA_1D,
        model={"width": 10, "bias": True},
        optimizer={"lr": LR, "batch_size": 5},
        run={"seeds": 16, "steps": 4000, "record_every": 1000, "dtype": "float64"},
        record={"observables": names, "keep_per_seed": names},
    )
    return jaxrelu.run(st)


def test_all_diagnostics_recorded_through_the_engine():
    res = _gd_run()
    assert res["diverged.count"].sum() == 0
    for name in NAMES:
        assert (res[f"{name}.count"] == 16).all(), name
        v = res[f"{name}.per_seed"]
        assert v.shape == (16, 5) and np.isfinite(v).all(), name
        # sharpness too: f is linear in a, so the a-block of H is PSD and λ_max(H) ≥ 0
        assert (v >= 0).all(), name
    k = res["kink_count.per_seed"]
    assert (k == np.round(k)).all() and (k <= 10).all()
    # record 0 is the initial parameters: recompute there outside the engine (same key
    # derivation as test_noise_and_tasks.test_full_batch_gd_equals_manual_gradient_descent);
    # same float64 arithmetic, different program: rtol 1e-9 as in the dense tests
    seeds_key, _ = jax.random.split(jax.random.PRNGKey(0))
    with jax.enable_x64(True):
        data = tasks.TaskData(
            x_train=jnp.asarray(DATA_1D["inputs"], jnp.float64), y_train=jnp.asarray(DATA_1D["targets"], jnp.float64)
        )
        for s in range(16):
            p = init_params(jax.random.fold_in(jax.random.fold_in(seeds_key, s), 0), 10, 1)
            np.testing.assert_allclose(
                [res[f"{k}.per_seed"][s, 0] for k in NAMES], obs(NAMES, p, data, _ctx()), rtol=1e-9
            )


def test_converged_full_batch_gd_has_sharpness_below_two_over_lr():
    """GD can only converge to a minimum that is linearly stable, λ_max(H) ≤ 2/lr (at lr = 0.2,
    many seeds sit at the edge of stability: sharpness ≈ 10 = 2/lr).  A seed counts as
    converged if ‖∇L‖ < 1e-6; its sharpness must be ≤ 2/lr up to 1e-3 relative (the
    distance to the limit point is O(‖∇L‖/λ) and the Lanczos value is a lower bound)."""
    res = _gd_run()
    gn, sh = res["grad_norm.per_seed"][:, -1], res["sharpness.per_seed"][:, -1]
    converged = gn < 1e-6
    assert converged.sum() >= 2
    assert (sh[converged] <= (2 / LR) * (1 + 1e-3)).all(), sh[converged]
