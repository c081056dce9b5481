"""Activations and their Gaussian kernels (issue #16, item 1).

Every closed-form kernel κ(q1, q2, r) = E[σ1(u) σ2(v)], (u, v) ~ N(0, [[q1, r], [r, q2]]), is
checked against a Monte Carlo mean over 2^18 correlated pairs at three (q1, q2, r), two of them
with non-unit variances: |MC − κ| < 5·se with se the sample standard deviation of σ1(u)σ2(v)
over √n (about 70 comparisons, so a false alarm at 5σ has probability ~4e-5 over the whole file;
the seeds are fixed, so the test is deterministic).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpy.polynomial import hermite_e

from jaxrelu import activations
from jaxrelu.config import ConfigError
from jaxrelu.registry import ACTIVATIONS
from jaxrelu.theory import kernels

N_MC = 2**18
POINTS = [(1.0, 1.0, 0.5), (2.0, 0.5, -0.6), (0.3, 1.7, 0.4)]  # r² < q1 q2 in each

PAIRS = [
    # explicit kernels (pre-existing)
    ("relu", "relu"),
    ("relu", "linear"),
    ("erf", "erf"),
    ("erf", "linear"),
    # arc-cosine family
    ("leaky_relu(0.1)", "leaky_relu(0.1)"),
    ("leaky_relu(0.1)", "relu"),
    ("leaky_relu(-0.3)", "abs"),
    ("abs", "abs"),
    ("abs", "linear"),
    ("abs", "relu"),
    ("leaky_relu", "linear"),
    # Hermite against Hermite (non-unit variances included)
    ("he1", "he1"),
    ("he2", "he2"),
    ("he3", "he3"),
    ("he4", "he4"),
    ("he2", "he4"),
    ("he3", "he5"),
    ("quadratic", "quadratic"),
    ("quadratic", "he2"),
    ("hermite(0, 0, 1, 0.5)", "hermite(1, -1, 0, 0.3, 0.2)"),
    # an activation with closed-form Gaussian derivative means against a Hermite series
    ("relu", "he2"),
    ("relu", "he3"),
    ("relu", "he4"),
    ("relu", "quadratic"),
    ("abs", "he4"),
    ("leaky_relu(0.2)", "hermite(0.5, 1, 0.5, 0, 0.1)"),
    ("erf", "he1"),
    ("erf", "he3"),
    ("erf", "he5"),
    ("linear", "he3"),
    ("linear", "quadratic"),
    ("gelu", "he1"),
    ("gelu", "he2"),
    ("gelu", "he4"),
    ("gelu", "hermite(0.3, -0.5, 1, 0.2, 0, 0.1)"),
]


@pytest.fixture(scope="module")
def samples():
    """Per point: (u, v) with the point's covariance, float64, 2^18 pairs (fixed seed)."""
    rng = np.random.default_rng(1234)
    out = {}
    for q1, q2, r in POINTS:
        z1, z2 = rng.standard_normal((2, N_MC))
        u = math.sqrt(q1) * z1
        v = r / math.sqrt(q1) * z1 + math.sqrt(q2 - r * r / q1) * z2
        out[(q1, q2, r)] = (u, v)
    return out


@pytest.mark.parametrize("a1,a2", PAIRS)
def test_kernel_matches_monte_carlo(a1, a2, samples):
    with jax.enable_x64(True):
        f1, f2 = activations.get(a1).fn, activations.get(a2).fn
        assert activations.pair_kernel(activations.get(a1), activations.get(a2)) is not None
        for (q1, q2, r), (u, v) in samples.items():
            prod = np.asarray(f1(jnp.asarray(u))) * np.asarray(f2(jnp.asarray(v)))
            mc, se = prod.mean(), prod.std() / math.sqrt(N_MC)
            exact = float(kernels.kernel(q1, q2, r, a1, a2))
            assert abs(mc - exact) < 5 * se + 1e-12, (a1, a2, (q1, q2, r), mc, exact, se)
            # the same kernel read from the other side
            assert float(kernels.kernel(q2, q1, r, a2, a1)) == pytest.approx(exact, rel=1e-12, abs=1e-14)


def test_hermite_kernel_is_exact_at_unit_variance():
    """E[He_j(u) He_k(v)] = δ_jk k! r^k for unit variances (exact, no sampling)."""
    with jax.enable_x64(True):
        for j in range(1, 9):
            for k in range(1, 9):
                for r in (-0.7, 0.3, 0.9):
                    want = math.factorial(k) * r**k if j == k else 0.0
                    assert float(kernels.kernel(1.0, 1.0, r, f"he{j}", f"he{k}")) == pytest.approx(want, abs=1e-12)


def test_hermite_polynomials_match_numpy():
    z = np.linspace(-3, 3, 13)
    with jax.enable_x64(True):
        for k in range(1, 9):
            np.testing.assert_allclose(
                activations.get(f"he{k}").fn(jnp.asarray(z)),
                hermite_e.hermeval(z, [0] * k + [1]),
                rtol=1e-12,
                atol=1e-9,
            )
        c = [0.5, -1.0, 0.0, 2.0, 0.25]
        np.testing.assert_allclose(
            activations.get("hermite(0.5, -1, 0, 2, 0.25)").fn(jnp.asarray(z)),
            hermite_e.hermeval(z, c),
            rtol=1e-12,
            atol=1e-9,
        )


def test_hermite_coefficients_against_quadrature():
    """c_k = E[σ(z) He_k(z)]/k! against 200-node Gauss–Hermite quadrature (smooth parts) for erf,
    and against the known series of relu: 1/√(2π), 1/2, 1/(2√(2π)), 0, −1/(24√(2π))."""
    x, w = hermite_e.hermegauss(200)
    w = w / w.sum()
    with jax.enable_x64(True):
        got = np.asarray(activations.hermite_coefficients("erf", 7))
        for k in range(8):
            want = np.sum(
                w * np.asarray(activations.get("erf").fn(jnp.asarray(x))) * hermite_e.hermeval(x, [0] * k + [1])
            )
            assert got[k] == pytest.approx(want / math.factorial(k), abs=1e-10)
        c = 1 / math.sqrt(2 * math.pi)
        np.testing.assert_allclose(
            activations.hermite_coefficients("relu", 4), [c, 0.5, c / 2, 0.0, -c / 24], atol=1e-12
        )


def test_smooth_activations_values():
    z = jnp.asarray(np.linspace(-4, 4, 17))
    from scipy.special import erf as sp_erf

    zn = np.asarray(z)
    np.testing.assert_allclose(activations.get("tanh").fn(z), np.tanh(zn), rtol=1e-6)
    np.testing.assert_allclose(activations.get("sigmoid").fn(z), 1 / (1 + np.exp(-zn)), rtol=1e-6)
    np.testing.assert_allclose(activations.get("softplus").fn(z), np.log1p(np.exp(zn)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        activations.get("gelu").fn(z), zn * 0.5 * (1 + sp_erf(zn / math.sqrt(2))), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(activations.get("leaky_relu(0.2)").fn(z), np.where(zn >= 0, zn, 0.2 * zn))
    np.testing.assert_allclose(activations.get("abs").fn(z), np.abs(zn))
    np.testing.assert_allclose(activations.get("quadratic").fn(z), zn**2, rtol=1e-6)
    for name in ("tanh", "sigmoid", "softplus", "gelu"):
        assert not kernels.has_closed_form(name, "he3")  # no self-kernel: held-out sample, as documented
    assert (
        kernels.has_closed_form("he3", "he3")
        and activations.pair_kernel(activations.get("gelu"), activations.get("he3")) is not None
    )


def test_parametric_names_give_identical_entries_and_one_line_errors():
    assert ACTIVATIONS.get("leaky_relu(0.1)") is ACTIVATIONS.get("leaky_relu( 0.10 )")
    assert ACTIVATIONS.get("hermite(0, 0, 1)") is ACTIVATIONS.get("hermite(0,0,1,0)") is ACTIVATIONS.get("he2")
    assert ACTIVATIONS.get("leaky_relu") is ACTIVATIONS.get("leaky_relu(0.01)")
    assert "leaky_relu(0.3)" in ACTIVATIONS and "leaky_relu(x)" not in ACTIVATIONS
    for bad, words in [
        ("leaky_relu(2)", "[-1, 1]"),
        ("leaky_relu(x)", "must be numbers"),
        ("hermite(" + ", ".join(["1"] * 10) + ")", "at most 8"),
        ("leaky_rleu(0.1)", "did you mean 'leaky_relu'"),
        ("hermit(1)", "did you mean 'hermite(...)'"),
        ("rleu", "did you mean 'relu'"),
    ]:
        with pytest.raises(ConfigError) as e:
            ACTIVATIONS.get(bad, "task.teacher_activation")
        msg = str(e.value)
        assert msg.startswith("task.teacher_activation: ") and words in msg and "\n" not in msg, msg


def test_closed_form_population_loss_needs_all_three_kernels():
    assert kernels.has_closed_form("relu", "he3") and kernels.has_closed_form("he4", "relu")
    assert kernels.has_closed_form("abs", "leaky_relu(0.5)")
    assert not kernels.has_closed_form("relu", "erf")  # relu–erf: no closed form
    assert not kernels.has_closed_form("tanh", "linear")


def test_population_loss_relu_student_hermite_teacher_matches_monte_carlo():
    """ε = ½ E[(f − f*)²] in closed form for 3 relu neurons against a 2-neuron He_2/He_3-series teacher."""
    rng = np.random.default_rng(7)
    d, n = 6, 2**16
    with jax.enable_x64(True):
        W = rng.standard_normal((3, d)) / math.sqrt(d) * 1.3
        a = rng.standard_normal(3)
        Ws = np.linalg.qr(rng.standard_normal((d, 2)))[0].T
        a_s = np.array([1.0, -0.5])
        act_s = "hermite(0, 0.5, 0.3, 0.2)"
        loss = jax.jit(lambda W, a, Ws, a_s: kernels.population_loss(W, a, 1.0, "relu", Ws, a_s, act_s))
        eps = float(loss(jnp.asarray(W), jnp.asarray(a), jnp.asarray(Ws), jnp.asarray(a_s)))
        x = rng.standard_normal((n, d))
        f = np.maximum(x @ W.T, 0) @ a
        fs = np.asarray(activations.get(act_s).fn(jnp.asarray(x @ Ws.T))) @ a_s
        vals = 0.5 * (f - fs) ** 2
        assert abs(vals.mean() - eps) < 5 * vals.std() / math.sqrt(n)


def test_parametric_names_run_as_student_and_teacher():
    """A leaky-relu student against a Hermite-series teacher through the engine: the program takes the
    closed-form population loss (all three kernels exist), equal names share one compiled program's
    entries, and online SGD lowers the loss on average over seeds."""
    from conftest import study

    import jaxrelu
    from jaxrelu.engine import program

    s = study(
        task={"teacher_activation": "hermite(0, 1, 0.5)", "teacher_width": 1},
        model={"activation": "leaky_relu(0.2)", "width": 2},
        run={"seeds": 16, "steps": 200, "record_every": 100},
    )
    prog, _ = program.build(s)
    assert prog.ctx.closed_form and prog.ctx.activation is ACTIVATIONS.get("leaky_relu(0.20)")
    eps = np.asarray(jaxrelu.run(s)["population_loss.mean"]).ravel()
    assert np.all(np.isfinite(eps)) and eps[-1] < eps[0]


def test_relu_kernel_derivatives_are_finite_at_correlation_one_and_match_finite_differences():
    """∂κ/∂r = (π − θ)/(2π), ∂κ/∂q_i = √(q1 q2 − r²)/(4π q_i): central differences (h = 1e-6, float64:
    error O(h²) + rounding ~1e-10) inside, the one-sided limits 1/2 and 0 at r = √(q1 q2), and a
    finite gradient of the closed-form population loss (whose K(W, W) diagonal sits at cos = 1)."""
    from jaxrelu.activations import _relu_relu as k
    from jaxrelu.theory import kernels

    with jax.enable_x64(True):
        for q1, q2, r in [(1.0, 2.0, 0.3), (0.5, 1.5, -0.6), (2.0, 0.7, 1.1)]:
            g = jax.grad(k, argnums=(0, 1, 2))(q1, q2, r)
            h = 1e-6
            fd = [
                (k(q1 + h, q2, r) - k(q1 - h, q2, r)) / (2 * h),
                (k(q1, q2 + h, r) - k(q1, q2 - h, r)) / (2 * h),
                (k(q1, q2, r + h) - k(q1, q2, r - h)) / (2 * h),
            ]
            np.testing.assert_allclose(np.array(g), np.array(fd), atol=1e-8)
        np.testing.assert_allclose(np.array(jax.grad(k, argnums=(0, 1, 2))(1.5, 1.5, 1.5)), [0.0, 0.0, 0.5])
        W = jax.random.normal(jax.random.PRNGKey(0), (3, 12), jnp.float64) / np.sqrt(12)
        W = W.at[1].set(jnp.eye(12)[0])  # a student row parallel to a teacher row
        loss = lambda W: kernels.population_loss(
            W, jnp.array([0.5, -0.3, 0.2]), 1.0, "relu", jnp.eye(12)[:2], jnp.ones(2), "relu"
        )
        assert bool(jnp.isfinite(jax.grad(loss)(W)).all())
