"""SGD's SDE (Euler–Maruyama), gradient flow and SVAG on a quadratic problem with known moments.

Problem: d = 1, one linear neuron with a frozen second layer a = 1, no bias, so
f(x) = w x and ℓ_i = ½ (w x_i − y_i)² with data x = (1, 2), y = (1, 0).  Then
∇L = μ2 w − μxy and the per-sample gradient covariance is
Σ(w) = v22 w² − 2 c w + vxy (means/variances over the two samples), so the
first two moments of SGD, of every Euler–Maruyama discretisation and of the SDE
itself obey closed linear recursions / ODEs in (1, E w, E w²).
"""

import dataclasses

import numpy as np
import pytest
from conftest import study
from scipy.linalg import expm

import jaxrelu
from jaxrelu import observables
from jaxrelu.registry import OBSERVABLES

X, Y = np.array([1.0, 2.0]), np.array([1.0, 0.0])
MU2, MUXY = np.mean(X * X), np.mean(X * Y)
V22, C, VXY = np.var(X * X), np.mean(X * X * X * Y) - MU2 * MUXY, np.var(X * Y)
S0 = 0.5  # init_scale: w0 ~ N(0, 0.25)


def quad_study(method, lr, steps, seeds, **opt):
    return study(
        task={"kind": "dataset", "inputs": [[1.0], [2.0]], "targets": [1.0, 0.0]},
        model={
            "width": 1,
            "activation": "linear",
            "train_second_layer": False,
            "second_layer_init": 1.0,
            "init_scale": S0,
        },
        optimizer={"lr": lr, "batch_size": 1, "method": method, **opt},
        run={"seeds": seeds, "steps": steps, "record_every": steps, "dtype": "float64"},
        record={"observables": ["weight_norm"], "keep_per_seed": ["weight_norm"]},
    )


def em_moments(lr, h, n_steps, B=1):
    """(E w, E w²) after n_steps Euler–Maruyama steps of size h of dw = −∇L dt + √(lr/B) Σ^{1/2} dW."""
    m1, m2 = 0.0, S0**2
    for _ in range(n_steps):
        a = 1 - h * MU2
        m1, m2 = (
            a * m1 + h * MUXY,
            a * a * m2 + 2 * a * h * MUXY * m1 + (h * MUXY) ** 2 + h * lr / B * (V22 * m2 - 2 * C * m1 + VXY),
        )
    return m1, m2


def sde_moments(lr, T, B=1):
    """Exact (E w, E w²) of the SDE at time T (matrix exponential of the moment ODEs)."""
    g = lr / B
    A = np.array([[0, 0, 0], [MUXY, -MU2, 0], [g * VXY, 2 * MUXY - 2 * g * C, -2 * MU2 + g * V22]])
    return tuple((expm(A * T) @ np.array([1.0, 0.0, S0**2]))[1:])


def w2(res):
    v = res["weight_norm.per_seed"][:, -1] ** 2  # |w| is the first-layer norm; w² = its square
    return v.mean(), v.std(ddof=1) / np.sqrt(v.size)


def test_euler_maruyama_weak_error_shrinks_linearly_with_the_step():
    lr, steps, S = 0.2, 10, 40000
    exact = sde_moments(lr, lr * steps)[1]
    sim, ses, em_bias = [], [], []
    for k in (1, 2, 4):
        mean, se = w2(jaxrelu.run(quad_study("sde", lr, steps, S, substeps=k)))
        em = em_moments(lr, lr / k, steps * k)[1]
        assert abs(mean - em) < 4 * se  # the engine is exactly this EM scheme (4 SE)
        sim.append(mean - exact)
        ses.append(se)
        em_bias.append(em - exact)
    # weak order one: the scheme's bias halves with h ...
    np.testing.assert_allclose(np.array(em_bias[:-1]) / np.array(em_bias[1:]), 2.0, rtol=0.25)
    # ... and the simulation shows it: the k = 1 bias is many SE, and it shrinks by more than
    # 4 SE of the difference at each halving of h
    assert abs(sim[0]) > 10 * ses[0]
    for a, b, sa, sb in zip(sim, sim[1:], ses, ses[1:]):
        assert abs(a) - abs(b) > 4 * np.hypot(sa, sb) * 0.5


def test_sgd_matches_its_moment_recursion_and_shares_it_with_em_at_h_equal_lr():
    """SGD (B = 1, i.i.d. batches) has the first two moments of EM with h = lr: the SDE's ansatz.

    Without replacement the two samples alternate within each epoch and the moments
    differ (the SDE describes sampling with replacement): the test would fail.
    """
    lr, steps, S = 0.2, 10, 20000
    mean, se = w2(jaxrelu.run(quad_study("sgd", lr, steps, S, replacement=True)))
    assert abs(mean - em_moments(lr, lr, steps)[1]) < 4 * se


@pytest.mark.parametrize("l", [1, 4])
def test_svag_moments_equal_em_with_step_lr_over_l(l):
    """One SVAG substep has mean −(lr/l)∇L and covariance (lr/l)²·l·Σ: EM with h = lr/l."""
    lr, steps, S = 0.2, 10, 20000
    mean, se = w2(jaxrelu.run(quad_study("svag", lr, steps, S, svag_l=l)))
    assert abs(mean - em_moments(lr, lr / l, steps * l)[1]) < 4 * se


def test_gradient_flow_is_explicit_euler_per_seed():
    """w_k = w* + (w0 − w*)(1 − h μ2)^k exactly, with h = lr/substeps, per seed."""
    observables.register("w_signed", lambda p, p0, data, ctx: p["W"][0, 0])
    try:
        lr, steps, k = 0.2, 10, 5
        st = quad_study("flow", lr, steps, 4, substeps=k)
        st = dataclasses.replace(
            st, record=dataclasses.replace(st.record, observables=("w_signed",), keep_per_seed=("w_signed",))
        )
        w = jaxrelu.run(st)["w_signed.per_seed"]
    finally:
        OBSERVABLES.unregister("w_signed")
    w_star = MUXY / MU2
    np.testing.assert_allclose(w[:, -1], w_star + (w[:, 0] - w_star) * (1 - lr / k * MU2) ** (steps * k), rtol=1e-10)


def test_method_axis_equals_standalone_runs():
    rec = {"observables": ["population_loss"], "keep_per_seed": ["population_loss"]}
    grid = jaxrelu.run(
        study(run={"dtype": "float64"}, task={"train_size": 32}, sweep={"optimizer.method": ["sgd", "sde"]}, record=rec)
    )
    for g, m in enumerate(["sgd", "sde"]):
        alone = jaxrelu.run(
            study(run={"dtype": "float64"}, task={"train_size": 32}, optimizer={"method": m}, record=rec)
        )
        np.testing.assert_allclose(grid["population_loss.per_seed"][g], alone["population_loss.per_seed"], rtol=1e-12)
    assert list(grid["optimizer.method"]) == ["sgd", "sde"]
