"""``sde_exact``: exact drift and exact-covariance noise of SGD's SDE for online Gaussian teacher–student.

The noise is checked against a brute-force Monte Carlo of the per-sample gradient covariance
Cov_x[g(x)] at fixed parameters (x ~ N(0, I_d), fresh label noise), and the drift against
the Monte Carlo mean of g; the engine's trajectories against SGD's (weak error) with the
method as a grid axis, so seeds share their initialisation and differences are paired.
Tolerances: 4 standard errors, each computed from the samples at hand.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import study

import jaxrelu
from jaxrelu import activations, api
from jaxrelu.config import ConfigError
from jaxrelu.dynamics import StepSpec, sde_exact
from jaxrelu.registry import LOSSES, OPTIMIZERS
from jaxrelu.theory import kernels

#: jitted (eager dispatch of the closed form's many small ops costs seconds)
_grad = jax.jit(sde_exact.population_gradient, static_argnums=(0, 3))


def _spec(act, c=1.0):
    return StepSpec(
        c=c,
        activation=activations.get(act),
        loss=LOSSES.get("square"),
        optimizer=OPTIMIZERS.get("sgd"),
        train_second_layer=True,
        on=frozenset(),
        masked_batch=False,
        decay_steps=(),
    )


def _problem(d, m, K, seed):
    k = jax.random.split(jax.random.PRNGKey(seed), 3)
    params = {"W": jax.random.normal(k[0], (m, d)) / np.sqrt(d), "a": jax.random.normal(k[1], (m,))}
    teacher = {"W": jnp.linalg.qr(jax.random.normal(k[2], (d, K)))[0].T, "a": jnp.ones(K)}
    return params, teacher


def _per_sample_gradients(spec, params, teacher, act_star, sd, key, N):
    """g(x) = ∇_θ ½ (f(x) − f*(x) − s ζ)² for N fresh (x, ζ): (N, m·d + m), by autodiff of the loss."""
    d = params["W"].shape[1]
    kx, kz = jax.random.split(key)
    X, Z = jax.random.normal(kx, (N, d)), jax.random.normal(kz, (N,))

    def one(x, z):
        def loss(p):
            f = spec.c * p["a"] @ spec.activation.fn(p["W"] @ x)
            y = teacher["a"] @ act_star.fn(teacher["W"] @ x) + sd * z
            return 0.5 * (f - y) ** 2

        g = jax.grad(loss)(params)
        return jnp.concatenate([g["W"].ravel(), g["a"]])

    return np.asarray(jax.jit(jax.vmap(one))(X, Z), np.float64)


@pytest.mark.parametrize(
    "act,d,m,n,sd", [("relu", 10, 3, 4, 0.3), pytest.param("erf", 9, 2, 16, None, marks=pytest.mark.slow)]
)
def test_noise_covariance_and_drift_match_brute_force_monte_carlo(act, d, m, n, sd):
    """Cov(η) = Cov_x[g(x)] and E g = ∇ε (closed form) at fixed θ, in 6 random directions and the trace.

    relu: m = 3 (M̂^{1/2} by eigh), n = 4 field samples (exactness holds for every n), label
    noise s = 0.3; erf (slow): m = 2 (closed-form 2×2 square root), no label noise.  Both have p = m + K < d, so the
    isotropic part M ⊗ P⊥ is exercised, and random directions mix first-layer span,
    complement and second-layer entries (the cross-covariances).
    """
    N = 40000
    spec = _spec(act)
    params, teacher = _problem(d, m, 2, 1)
    act_star = activations.get(act)
    grad = _grad(spec, params, teacher, act_star)
    gvec = np.concatenate([np.asarray(grad["W"]).ravel(), np.asarray(grad["a"])])
    keys = jax.random.split(jax.random.PRNGKey(2), N)
    s = None if sd is None else jnp.float32(sd)
    eta = jax.jit(jax.vmap(lambda k: sde_exact.noise(spec, params, teacher, act_star, grad, k, n, s)))(keys)
    eta = np.concatenate([np.asarray(eta["W"]).reshape(N, -1), np.asarray(eta["a"])], 1).astype(np.float64)
    G = _per_sample_gradients(spec, params, teacher, act_star, sd or 0.0, jax.random.PRNGKey(3), N)

    U = np.random.default_rng(0).normal(size=(6, G.shape[1]))
    for u in U:
        mc_mean, mc_se = (G @ u).mean(), (G @ u).std() / np.sqrt(N)
        assert abs(mc_mean - gvec @ u) < 4 * mc_se  # the drift is E g
        assert abs((eta @ u).mean()) < 4 * (eta @ u).std() / np.sqrt(N)
        a2, b2 = (eta @ u) ** 2, ((G - gvec) @ u) ** 2  # uᵀΣu two ways
        se = np.hypot(a2.std(), b2.std()) / np.sqrt(N)
        assert abs(a2.mean() - b2.mean()) < 4 * se
        assert se < 0.04 * b2.mean()  # the check resolves 16 % errors
    ta, tb = (eta**2).sum(1), ((G - gvec) ** 2).sum(1)  # tr Σ
    assert abs(ta.mean() - tb.mean()) < 4 * np.hypot(ta.std(), tb.std()) / np.sqrt(N)
    # without the isotropic part the trace is far off: the check can fail
    Vb = np.asarray(sde_exact.span_basis(params["W"], teacher["W"]), np.float64)
    span_only = eta.copy()
    span_only[:, : m * d] = (eta[:, : m * d].reshape(N, m, d) @ Vb.T @ Vb).reshape(N, -1)
    assert tb.mean() - (span_only**2).sum(1).mean() > 8 * np.hypot(ta.std(), tb.std()) / np.sqrt(N)


def test_population_gradient_equals_the_kernel_formula_and_is_finite_on_the_diagonal():
    """Equal to autodiff of kernels.population_loss (erf: finite there); relu finite where autodiff
    of the arccos kernel gives 0·∞ on K(W, W)'s diagonal, and equal to the Monte Carlo drift above."""
    params, teacher = _problem(12, 2, 2, 1)
    for act in ("erf", "linear"):
        ref = jax.jit(
            jax.grad(lambda p: kernels.population_loss(p["W"], p["a"], 0.7, act, teacher["W"], teacher["a"], act))
        )(params)
        got = _grad(_spec(act, 0.7), params, teacher, activations.get(act))
        for k in ("W", "a"):
            np.testing.assert_allclose(got[k], ref[k], rtol=2e-5, atol=1e-7)
    got = _grad(_spec("relu"), params, teacher, activations.get("relu"))
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in got.values())


def test_self_kernel_derivative_is_exact_for_relu_and_linear_and_accurate_for_erf():
    q = jnp.array([1e-3, 0.3, 1.0, 4.0, 10.0])
    exact = {"relu": lambda q: q / 2, "linear": lambda q: q, "erf": lambda q: 2 / jnp.pi * jnp.arcsin(q / (1 + q))}
    for act, f in exact.items():
        got = jax.jit(jax.vmap(jax.grad(lambda x: sde_exact.self_kernel(activations.get(act), x))))(q)
        np.testing.assert_allclose(got, jax.jit(jax.vmap(jax.grad(f)))(q), rtol=1e-5)


def test_square_root_and_span_basis():
    rs = np.random.default_rng(1)
    for m in (1, 2, 4):
        A = rs.normal(size=(m, 3))
        for M in (A @ A.T, np.diag([0.0] * (m - 1) + [2.0]), np.zeros((m, m))):  # full rank, singular, zero
            S = np.asarray(jax.jit(sde_exact.sqrtm_psd)(jnp.asarray(M, jnp.float32)))
            np.testing.assert_allclose(S, S.T, atol=1e-6)
            np.testing.assert_allclose(S @ S, M, atol=1e-5 * (1 + np.abs(M).max()))
    W = jnp.asarray(rs.normal(size=(3, 10)), jnp.float32)
    T = jnp.stack([W[0] + 2 * W[1], jnp.asarray(rs.normal(size=10), jnp.float32)])  # a dependent teacher row
    V = np.asarray(jax.jit(sde_exact.span_basis)(W, T))
    nonzero = np.linalg.norm(V, axis=1) > 0.5
    assert nonzero.sum() == 4 and np.allclose(V[~nonzero], 0)
    np.testing.assert_allclose(V[nonzero] @ V[nonzero].T, np.eye(4), atol=1e-5)
    A = np.concatenate([np.asarray(W), np.asarray(T)])
    np.testing.assert_allclose(A @ V.T @ V, A, atol=1e-5)  # spans every row
    # computed teacher first and rotated: the student-first Gram–Schmidt's basis and coordinates to
    # rounding, so every random number keeps its direction (a dependent teacher row, and a generic one)
    for teacher in (T, jnp.asarray(rs.normal(size=(2, 10)), jnp.float32)):
        V0, R0 = jax.jit(sde_exact.gram_schmidt)(jnp.concatenate([W, teacher]))
        O, U, Rs, Rt = jax.jit(sde_exact.span)(W, teacher)
        np.testing.assert_allclose(np.asarray(O) @ np.asarray(U), V0, atol=1e-5)
        np.testing.assert_allclose(np.concatenate([Rs, Rt]), R0, atol=1e-5)


def test_weak_error_against_sgd_paired_over_seeds():
    """Mean population loss of sde_exact = SGD's within 4 paired SE (small lr, label noise 1), while
    gradient flow differs by more than 4 SE at the end: the noise is resolved, not just the drift
    (SGD − flow is ~12 paired SE at the end, so a noise off by ~30 % would show)."""
    rec = {"observables": ["population_loss"], "keep_per_seed": ["population_loss"]}
    res = jaxrelu.run(
        study(
            task={"input_dim": 20, "teacher_width": 2, "train_size": "online"},
            model={"width": 2},
            optimizer={"lr": 0.02, "label_noise": 1.0, "sde_samples": 16},
            run={"seeds": 256, "steps": 100, "record_every": 50},
            sweep={"optimizer.method": ["sgd", "sde_exact", "flow"]},
            record=rec,
        )
    )
    v = res["population_loss.per_seed"]  # (3, seeds, records)
    assert np.all(np.isfinite(v))

    def paired(a, b):
        diff = v[a] - v[b]
        return diff.mean(0), diff.std(0, ddof=1) / np.sqrt(diff.shape[0])

    mean, se = paired(1, 0)
    assert np.all(np.abs(mean[1:]) < 4 * se[1:])
    mean, se = paired(0, 2)
    assert mean[-1] > 4 * se[-1]
    mean, se = paired(1, 2)
    assert mean[-1] > 4 * se[-1]


def test_refuses_what_it_does_not_describe():
    """One line naming optimizer.method, when the program is built (``jaxrelu.api.check``, as
    ``jaxrelu validate`` does, and a run) and from :func:`sde_exact.check` itself."""
    st = study(
        task={"input_dim": 8, "teacher_width": 2, "train_size": 16},
        model={"width": 2},
        optimizer={"method": "sde_exact", "sde_samples": 4},
        run={"seeds": 2, "steps": 2, "record_every": 2},
    )
    for call in (api.check, jaxrelu.run):
        with pytest.raises(ConfigError, match="^optimizer.method: sde_exact needs online data"):
            call(st)
    with pytest.raises(ConfigError, match="^optimizer.method: sde_exact needs a student without biases"):
        api.check(
            study(
                task={"input_dim": 8, "train_size": "online"}, model={"bias": True}, optimizer={"method": "sde_exact"}
            )
        )
    from jaxrelu.engine import program

    spec_ok, _ = program.build(
        study(task={"input_dim": 8, "teacher_width": 2, "train_size": "online"}, optimizer={"method": "sde_exact"})
    )
    sde_exact.check(spec_ok.step, spec_ok.task, False)  # accepted
    with pytest.raises(ConfigError, match="without biases"):
        sde_exact.check(spec_ok.step, spec_ok.task, True)
    with pytest.raises(ConfigError, match="^optimizer.method: sde_exact needs a task with a teacher network"):
        api.check(
            study(
                task={"kind": "index", "input_dim": 8, "train_size": "online"},
                optimizer={"method": "sde_exact"},
                record={"observables": ["weight_norm"]},
            )
        )


@pytest.mark.slow
def test_weak_error_against_the_sampled_sde():
    """sde_exact and sde (sde_samples = 256) are Euler–Maruyama for the same SDE with the same step:
    their mean population losses agree within 4 SE (independent runs) at every record."""
    out = {}
    for method, n in (("sde", 256), ("sde_exact", 64)):
        out[method] = jaxrelu.run(
            study(
                task={"input_dim": 20, "teacher_width": 2, "train_size": "online"},
                model={"width": 2},
                optimizer={"lr": 0.02, "label_noise": 1.0, "method": method, "sde_samples": n},
                run={"seeds": 1024, "steps": 200, "record_every": 50},
            )
        )
    a, b = out["sde"], out["sde_exact"]
    diff = a["population_loss.mean"] - b["population_loss.mean"]
    se = np.hypot(a["population_loss.sem"], b["population_loss.sem"])
    assert np.all(np.abs(diff[1:]) < 4 * se[1:])


def test_materialised_normals_are_rng_normal_bit_for_bit():
    """The step's normals (hash words and values computed once, :func:`sde_exact._normal`) are
    ``rng.normal``'s, and ``rng.normal_from_bits`` of ``rng.bits`` is ``rng.normal``, for both dtypes' draws."""
    from jaxrelu import rng

    key = jax.random.PRNGKey(7)
    for start in (0, 13):
        ref = rng.normal(key, (5, 40), jnp.float32, start)
        got = jax.jit(lambda k, s=start: sde_exact._normal(k, (5, 40), jnp.float32, s))(key)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
        bits = rng.bits(key, (5, 40), start)
        np.testing.assert_array_equal(np.asarray(rng.normal_from_bits(bits)), np.asarray(ref))
    np.testing.assert_array_equal(np.asarray(sde_exact._once(key, key)), np.asarray(key))
