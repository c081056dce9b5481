r"""Deterministic ODE limit of online teacher–student SGD (d → ∞).

Conventions (fixed across :mod:`jaxrelu`)
----------------------------------------
* Student ``f(x) = c Σ_j a_j σ(w_j·x)`` with ``j = 1..K`` (``c = 1`` is the
  "standard" parametrisation); teacher ``f*(x) = Σ_n a*_n σ(w*_n·x)``,
  ``n = 1..M``; label ``y = f*(x) + ζ`` with optional label noise
  ``ζ ~ N(0, σ_noise²)``; inputs ``x ~ N(0, I_d)``.
* ``σ ∈ {relu, erf(·/√2), linear}``; the ODE here uses the *same* activation for
  student and teacher.
* Loss ``½ (f − y)²`` averaged over a mini-batch of ``B`` fresh samples; plain SGD
  ``W ← W − lr ∇_W``, ``a ← a − lr ∇_a`` (same ``lr`` for both layers).
* Student rows have norm O(1) (entries ~ N(0, 1/d)); teacher rows are unit norm
  (orthonormal, so ``T = I``; any ``T`` is accepted here).

Order parameters and units
--------------------------
``Q = W Wᵀ`` (K, K), ``R = W W*ᵀ`` (K, M), ``T = W* W*ᵀ`` (M, M) and the
*effective* second layer ``v = c·a`` (K,) with teacher ``v* = a*`` (M,).  These
are exactly the order parameters of Saad & Solla (PRL 74, 4337, 1995) and Goldt
et al. (NeurIPS 2019, "Dynamics of stochastic gradient descent for two-layer
neural networks in the teacher–student setup"): their weights are
``w = √d · W`` and their ``Q = w wᵀ / d``.  Their update is
``w ← w − (η/√d) ∇``, ``v ← v − (η₂/d) ∇_v`` (code sgoldt/nn2pp), so

* their learning rate ``η = lr · d`` (both layers: with ``c = 1`` our single
  ``lr`` is their ``η = η₂``; Goldt et al. scale the second layer's rate by
  ``1/N``, which is what our ``lr = η/d`` does automatically);
* their time ``t = steps / d`` (one SGD step, whatever the batch size, is
  ``dt = 1/d``).

With a general output scale ``c`` the first-layer equations in terms of ``v``
are unchanged while ``dv/dt`` acquires a factor ``c²`` (``v = c a``).

The ODEs (d → ∞, for fields ``λ_i = w_i·x``, ``ν_n = w*_n·x``)
-----------------------------------------------------------------
Write ``h = (λ_1..λ_K, ν_1..ν_M)`` with covariance ``C = [[Q, R], [Rᵀ, T]]``
(P × P, ``P = K + M``), ``u = (v, −v*)`` so that the noiseless error is
``e = f − f* = Σ_p u_p σ(h_p)``, and the Gaussian integrals ::

    I2(p, q)       = E[σ(h_p) σ(h_q)]
    I3(i, p, q)    = E[σ'(λ_i) h_p σ(h_q)]
    I4(i, k, p, q) = E[σ'(λ_i) σ'(λ_k) σ(h_p) σ(h_q)]
    J2(i, k)       = E[σ'(λ_i) σ'(λ_k)].

Then, with ``η = lr·d``, mini-batch size ``B`` and label-noise std ``σ_noise``::

    dR_in/dt = −η v_i Σ_q u_q I3(i, n, q)
    dQ_ik/dt = −η v_i Σ_q u_q I3(i, k, q) − η v_k Σ_q u_q I3(k, i, q)
               + (η²/B) v_i v_k [Σ_pq u_p u_q I4(i, k, p, q) + σ_noise² J2(i, k)]
    dv_i/dt  = −c² η Σ_q u_q I2(i, q)                   (if the 2nd layer trains)
    ε_g      = ½ Σ_pq u_p u_q I2(p, q)                  (noiseless population error)

The ``η²/B`` term comes from ``Δw_i·Δw_k`` (``‖x‖² ≈ d``; cross terms between
different samples of a batch are O(1/d)); the second layer's own ``η²`` terms are
O(1/d) and vanish.  The test error ε_g excludes the label noise (add σ²/2 for
the noisy test loss).

Closed forms (``ρ_ab = C_ab/√(C_aa C_bb)``, ``θ_ab = arccos ρ_ab``):

* linear: ``I2 = C01``, ``I3 = C12``, ``I4 = C23``, ``J2 = 1``.
* erf (σ(x) = erf(x/√2); Saad & Solla 1995, Goldt et al. 2019 / nn2pp):
  ``I2 = (2/π) asin(C01/√((1+C00)(1+C11)))``,
  ``I3 = (2/π) (C12(1+C00) − C01 C02) / ((1+C00) √((1+C00)(1+C22) − C02²))``,
  ``I4 = (4/π²) asin(Λ0/√(Λ1 Λ2)) / √Λ4`` (Λ's as in :func:`I4`),
  ``J2 = (2/π) / √(1 + C00 + C11 + C00 C11 − C01²)``.
* relu (derived via Stein's lemma, ``E[h_p F] = Σ_r C_pr E[∂_r F]``, and
  ``E[δ(a) G] = φ_a(0) E[G | a = 0]``):
  ``I2 = √(C00 C11)/(2π) (sin θ01 + (π − θ01) cos θ01)`` (arc-cosine kernel, degree 1),
  ``I3 = C01 √(C00 C22 − C02²)/(2π C00) + C12 (π − θ02)/(2π)``,
  ``J2 = (π − θ01)/(2π)`` (arc-cosine kernel of degree 0 = orthant probability).
  ``I4 = E[1{h0>0} 1{h1>0} h2⁺ h3⁺]`` contains a 4-variate orthant probability and
  has no closed form: it is computed with a *fixed* randomised quasi-Monte Carlo
  rule, ``h = L z`` with ``L Lᵀ = C`` (symmetric square root) and ``z`` the first
  ``2**log2_samples`` points of a scrambled Sobol sequence (``seed``) mapped
  through Φ⁻¹.  For unit-variance fields (I4 between ~0.002 and 0.22) the
  default 2¹⁴ points give an rms error of ≈ 6e-4 and a max error ≤ 3e-3
  (:data:`RELU_I4_ACCURACY`) over random covariances; 2¹⁶ points give rms
  ≈ 2.5e-4, max ≈ 1e-3 (the error falls roughly like N^-0.7, not N^-1, because
  the integrand is discontinuous).  The error scales like √(C22 C33).  It is
  measured in ``tests/test_ode.py`` against a semi-analytic reference (Stein's
  lemma reduces I4 to closed-form trivariate terms plus C23 times the
  quadrivariate orthant probability, computed with Genz's algorithm).  The ODE
  uses the same points for the whole P-dimensional field (so all I4 entries
  share common random numbers) and only needs the contraction
  E[σ'(λ_i) σ'(λ_k) e²] = Σ_pq u_p u_q I4(i, k, p, q), computed in O(N (P + K²)).
  The rule is deterministic, so the right-hand side is a fixed (piecewise
  smooth) function of the state and RK4 integrates it without noise; the
  resulting ε_g is insensitive to the number of points (in the relu SGD
  comparison at η = 2, 2¹⁴ vs 2¹⁶ points change ε_g(t ≤ 5) by ≈ 1e-4
  relative, 2¹² by ≈ 2e-3).

Public API
----------
``State``, ``Teacher``, ``state_from_weights``, ``teacher_from_weights``,
``covariance``, ``population_error``, ``I2``, ``I3``, ``I4``, ``J2``,
``i4_tensor``, ``rhs``, ``integrate``, ``Trajectory``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrelu.theory.kernels import kernel

ACTIVATIONS = ("relu", "erf", "linear")

#: default number of quasi-Monte Carlo points (log2) for the relu I4
RELU_I4_LOG2_SAMPLES = 14
#: default seed of the scrambled Sobol sequence of the relu I4
RELU_I4_SEED = 0
#: bound on the absolute error of the relu I4 with the default rule, for C with
#: unit diagonal (rms ≈ 6e-4; measured in tests/test_ode.py against a Stein +
#: Genz reference); scales like √(C22 C33)
RELU_I4_ACCURACY = 3e-3

_TWO_PI = 2.0 * np.pi


def _check(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")


def _sigma(x, activation: str):
    if activation == "relu":
        return jnp.maximum(x, 0.0)
    if activation == "erf":
        return jax.scipy.special.erf(x / np.sqrt(2.0))
    return x


def _dsigma(x, activation: str):
    if activation == "relu":
        return (x > 0).astype(x.dtype)
    if activation == "erf":
        return np.sqrt(2.0 / np.pi) * jnp.exp(-0.5 * x * x)
    return jnp.ones_like(x)


# --------------------------------------------------------------------------
# elementwise closed forms, in terms of covariance entries (broadcasting)
# --------------------------------------------------------------------------


def _theta(c00, c11, c01):
    norm = jnp.sqrt(c00 * c11)
    cos = jnp.clip(c01 / jnp.where(norm > 0, norm, 1.0), -1.0, 1.0)
    return jnp.where(norm > 0, jnp.arccos(cos), np.pi / 2)


def _i2_entries(c00, c01, c11, activation):
    return kernel(c00, c11, c01, activation, activation)


def _j2_entries(c00, c01, c11, activation):
    if activation == "relu":
        return (np.pi - _theta(c00, c11, c01)) / _TWO_PI
    if activation == "erf":
        return 2.0 / np.pi / jnp.sqrt(1.0 + c00 + c11 + c00 * c11 - c01 * c01)
    return jnp.ones_like(c00 + c01 + c11)


def _i3_entries(c00, c01, c02, c12, c22, activation):
    """E[σ'(h0) h1 σ(h2)]."""
    if activation == "relu":
        det = jnp.maximum(c00 * c22 - c02 * c02, 0.0)
        safe = jnp.where(c00 > 0, c00, 1.0)
        t1 = jnp.where(c00 > 0, c01 * jnp.sqrt(det) / (_TWO_PI * safe), 0.0)
        t2 = c12 * (np.pi - _theta(c00, c22, c02)) / _TWO_PI
        return t1 + t2
    if activation == "erf":
        lam3 = (1.0 + c00) * (1.0 + c22) - c02 * c02
        return 2.0 / np.pi / jnp.sqrt(lam3) * (c12 * (1.0 + c00) - c01 * c02) / (1.0 + c00)
    return c12 + 0.0 * (c00 + c01 + c02 + c22)


def _i4_entries_erf(c00, c01, c02, c03, c11, c12, c13, c22, c23, c33):
    """E[σ'(h0) σ'(h1) σ(h2) σ(h3)] for σ = erf(·/√2) (Saad & Solla 1995)."""
    lam4 = (1.0 + c00) * (1.0 + c11) - c01 * c01
    lam0 = lam4 * c23 - c12 * c13 * (1.0 + c00) - c02 * c03 * (1.0 + c11) + c01 * c02 * c13 + c01 * c03 * c12
    lam1 = lam4 * (1.0 + c22) - c12 * c12 * (1.0 + c00) - c02 * c02 * (1.0 + c11) + 2.0 * c01 * c02 * c12
    lam2 = lam4 * (1.0 + c33) - c13 * c13 * (1.0 + c00) - c03 * c03 * (1.0 + c11) + 2.0 * c01 * c03 * c13
    arg = jnp.clip(lam0 / jnp.sqrt(lam1 * lam2), -1.0, 1.0)
    return 4.0 / np.pi**2 / jnp.sqrt(lam4) * jnp.arcsin(arg)


# --------------------------------------------------------------------------
# the fixed quasi-Monte Carlo rule for relu
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _qmc_normal(dim: int, log2_samples: int, seed: int) -> np.ndarray:
    """(2**log2_samples, dim) standard-normal points: scrambled Sobol → Φ⁻¹."""
    from scipy.special import ndtri
    from scipy.stats import qmc

    u = qmc.Sobol(d=dim, scramble=True, seed=seed).random_base2(log2_samples)
    u = np.clip(u, 1e-12, 1.0 - 1e-12)
    z = ndtri(u)
    z.setflags(write=False)
    return z


def _sqrtm_psd(C):
    """Symmetric square root L (L Lᵀ = C) of a PSD matrix; tolerates singular C."""
    w, V = jnp.linalg.eigh(C)
    return V * jnp.sqrt(jnp.maximum(w, 0.0))[..., None, :]


def _relu_fields(C, log2_samples: int, seed: int):
    """Fixed QMC samples h (N, P) with covariance C (P, P)."""
    P = C.shape[-1]
    z = jnp.asarray(_qmc_normal(P, log2_samples, seed), dtype=C.dtype)
    return z @ jnp.swapaxes(_sqrtm_psd(C), -1, -2)


# --------------------------------------------------------------------------
# public Gaussian integrals on small covariance matrices
# --------------------------------------------------------------------------


def I2(C, activation: str):
    """E[σ(h0) σ(h1)] for h ~ N(0, C); C (..., 2, 2) -> (...)."""
    _check(activation)
    C = jnp.asarray(C)
    return _i2_entries(C[..., 0, 0], C[..., 0, 1], C[..., 1, 1], activation)


def J2(C, activation: str):
    """E[σ'(h0) σ'(h1)] for h ~ N(0, C); C (..., 2, 2) -> (...)."""
    _check(activation)
    C = jnp.asarray(C)
    return _j2_entries(C[..., 0, 0], C[..., 0, 1], C[..., 1, 1], activation)


def I3(C, activation: str):
    """E[σ'(h0) h1 σ(h2)] for h ~ N(0, C); C (..., 3, 3) -> (...)."""
    _check(activation)
    C = jnp.asarray(C)
    return _i3_entries(C[..., 0, 0], C[..., 0, 1], C[..., 0, 2], C[..., 1, 2], C[..., 2, 2], activation)


def I4(C, activation: str, *, log2_samples: int = RELU_I4_LOG2_SAMPLES, seed: int = RELU_I4_SEED):
    """E[σ'(h0) σ'(h1) σ(h2) σ(h3)] for h ~ N(0, C); C (..., 4, 4) -> (...).

    Closed form for erf (Λ4 = (1+C00)(1+C11) − C01²,
    Λ0 = Λ4 C23 − C12 C13 (1+C00) − C02 C03 (1+C11) + C01 C02 C13 + C01 C03 C12,
    Λ1 = Λ4 (1+C22) − C12² (1+C00) − C02² (1+C11) + 2 C01 C02 C12, Λ2 likewise
    with 2 → 3; I4 = (4/π²) asin(Λ0/√(Λ1Λ2))/√Λ4) and linear (I4 = C23).  For
    relu: the fixed quasi-Monte Carlo rule of the module docstring
    (``2**log2_samples`` scrambled-Sobol points, ``seed``); accuracy
    :data:`RELU_I4_ACCURACY` at the defaults.
    """
    _check(activation)
    C = jnp.asarray(C)
    if activation == "relu":

        def one(c):
            h = _relu_fields(c, log2_samples, seed)
            return jnp.mean((h[:, 0] > 0) * (h[:, 1] > 0) * jnp.maximum(h[:, 2], 0.0) * jnp.maximum(h[:, 3], 0.0))

        flat = C.reshape((-1, 4, 4))
        return jax.lax.map(one, flat).reshape(C.shape[:-2])
    if activation == "erf":
        e = {f"c{a}{b}": C[..., a, b] for a in range(4) for b in range(a, 4)}
        return _i4_entries_erf(**e)
    return C[..., 2, 3]


# --------------------------------------------------------------------------
# state
# --------------------------------------------------------------------------


class State(NamedTuple):
    """ODE state: Q = W Wᵀ (K, K), R = W W*ᵀ (K, M), v = c·a (K,)."""

    Q: jax.Array
    R: jax.Array
    v: jax.Array


class Teacher(NamedTuple):
    """Fixed teacher order parameters: T = W* W*ᵀ (M, M), v_star = a* (M,)."""

    T: jax.Array
    v_star: jax.Array


class Trajectory(NamedTuple):
    """ODE solution at the requested times (leading axis n_times).

    t (n,), eps (n,) population error ε_g, Q (n, K, K), R (n, K, M), v (n, K).
    """

    t: jax.Array
    eps: jax.Array
    Q: jax.Array
    R: jax.Array
    v: jax.Array


def state_from_weights(W, a, W_star, c=1.0) -> State:
    """Empirical initial conditions of the ODE from network weights.

    W (K, d), a (K,): student (jaxrelu convention, rows of norm O(1));
    W_star (M, d): teacher.  Returns ``State(Q=W Wᵀ, R=W W*ᵀ, v=c a)``.
    Pure jnp, so ``jax.vmap`` over a leading seed axis works (batch W and a,
    and W_star too if each seed has its own teacher).
    """
    W = jnp.asarray(W)
    W_star = jnp.asarray(W_star, dtype=W.dtype)
    return State(Q=W @ W.T, R=W @ W_star.T, v=c * jnp.asarray(a, dtype=W.dtype))


def teacher_from_weights(W_star, a_star) -> Teacher:
    """``Teacher(T=W* W*ᵀ, v_star=a*)`` from W_star (M, d), a_star (M,)."""
    W_star = jnp.asarray(W_star)
    return Teacher(T=W_star @ W_star.T, v_star=jnp.asarray(a_star, dtype=W_star.dtype))


def covariance(state: State, teacher: Teacher):
    """Covariance of the fields (λ, ν): C = [[Q, R], [Rᵀ, T]], shape (K+M, K+M)."""
    Q, R, _ = state
    T = jnp.asarray(teacher.T, dtype=Q.dtype)
    return jnp.block([[Q, R], [R.T, T]])


def _u(state: State, teacher: Teacher):
    return jnp.concatenate([state.v, -jnp.asarray(teacher.v_star, dtype=state.v.dtype)])


def population_error(state: State, teacher: Teacher, activation: str):
    """ε_g = ½ E[(f − f*)²] = ½ uᵀ I2(C) u with u = (v, −v*); scalar.

    Equals ``kernels.population_loss`` evaluated on the weights (without label
    noise).
    """
    _check(activation)
    C = covariance(state, teacher)
    d = jnp.diagonal(C)
    K2 = _i2_entries(d[:, None], C, d[None, :], activation)
    u = _u(state, teacher)
    return 0.5 * u @ K2 @ u


# --------------------------------------------------------------------------
# tensors over the full covariance
# --------------------------------------------------------------------------


def _i3_tensor(C, K: int, activation: str):
    """I3[i, p, q] = E[σ'(λ_i) h_p σ(h_q)]; (K, P, P)."""
    d = jnp.diagonal(C)
    Cs = C[:K, :]
    return _i3_entries(d[:K, None, None], Cs[:, :, None], Cs[:, None, :], C[None, :, :], d[None, None, :], activation)


def i4_tensor(C, K: int, activation: str, *, log2_samples: int = RELU_I4_LOG2_SAMPLES, seed: int = RELU_I4_SEED):
    """I4[i, k, p, q] = E[σ'(h_i) σ'(h_k) σ(h_p) σ(h_q)] for i, k < K; (K, K, P, P).

    C (P, P) is the joint covariance.  For relu all entries share one set of
    quasi-Monte Carlo points of the P-dimensional field (common random numbers).
    """
    _check(activation)
    C = jnp.asarray(C)
    if activation == "relu":
        h = _relu_fields(C, log2_samples, seed)
        gp = (h[:, :K] > 0).astype(C.dtype)
        g = jnp.maximum(h, 0.0)
        N = h.shape[0]
        return jnp.einsum("si,sk,sp,sq->ikpq", gp, gp, g, g) / N
    d = jnp.diagonal(C)
    if activation == "erf":
        Ck = C[:K, :K]
        Cp = C[:K, :]
        return _i4_entries_erf(
            c00=d[:K, None, None, None],
            c01=Ck[:, :, None, None],
            c02=Cp[:, None, :, None],
            c03=Cp[:, None, None, :],
            c11=d[None, :K, None, None],
            c12=Cp[None, :, :, None],
            c13=Cp[None, :, None, :],
            c22=d[None, None, :, None],
            c23=C[None, None, :, :],
            c33=d[None, None, None, :],
        )
    P = C.shape[0]
    return jnp.broadcast_to(C[None, None, :, :], (K, K, P, P))


def _i4_contracted(C, u, K: int, activation: str, log2_samples: int, seed: int):
    """Σ_pq u_p u_q I4[i, k, p, q] = E[σ'(λ_i) σ'(λ_k) e²], e = Σ_p u_p σ(h_p); (K, K)."""
    if activation == "relu":
        h = _relu_fields(C, log2_samples, seed)
        gp = (h[:, :K] > 0).astype(C.dtype)
        e = jnp.maximum(h, 0.0) @ u
        return (gp * (e * e)[:, None]).T @ gp / h.shape[0]
    if activation == "linear":
        return jnp.full((K, K), u @ C @ u)
    return jnp.einsum("ikpq,p,q->ik", i4_tensor(C, K, activation), u, u)


# --------------------------------------------------------------------------
# right-hand side and integrator
# --------------------------------------------------------------------------


def rhs(
    state: State,
    teacher: Teacher,
    *,
    activation: str,
    eta,
    batch_size=1,
    label_noise=0.0,
    second_order: bool = True,
    train_second_layer: bool = True,
    c=1.0,
    log2_samples: int = RELU_I4_LOG2_SAMPLES,
    seed: int = RELU_I4_SEED,
) -> State:
    """Time derivative d(Q, R, v)/dt of the ODEs in the module docstring.

    state: State (Q (K, K), R (K, M), v (K,)); teacher: Teacher (T (M, M),
    v_star (M,)); ``eta = lr·d``; ``batch_size`` B; ``label_noise`` the std σ of
    the additive label noise; ``second_order=False`` drops the (η²/B) terms
    (I4 and σ² J2); ``train_second_layer=False`` freezes v; ``c`` the output scale
    (v = c·a, dv/dt gets c²).  Returns a State of derivatives.
    """
    _check(activation)
    Q, R, v = state
    K = Q.shape[0]
    C = covariance(state, teacher)
    u = _u(state, teacher)
    d = jnp.diagonal(C)

    # A[i, p] = E[σ'(λ_i) h_p e] = Σ_q u_q I3(i, p, q)
    A = _i3_tensor(C, K, activation) @ u
    dR = -eta * v[:, None] * A[:, K:]
    first = v[:, None] * A[:, :K]
    dQ = -eta * (first + first.T)
    if second_order:
        S = _i4_contracted(C, u, K, activation, log2_samples, seed)
        S = S + label_noise**2 * _j2_entries(d[:K, None], Q, d[None, :K], activation)
        S = 0.5 * (S + S.T)
        dQ = dQ + eta**2 / batch_size * v[:, None] * v[None, :] * S
    if train_second_layer:
        I2m = _i2_entries(d[:K, None], C[:K, :], d[None, :], activation)
        dv = -(c**2) * eta * (I2m @ u)
    else:
        dv = jnp.zeros_like(v)
    return State(Q=dQ, R=dR, v=dv)


def _rk4_step(f, y, h):
    add = lambda y, k, s: jax.tree_util.tree_map(lambda a, b: a + s * b, y, k)
    k1 = f(y)
    k2 = f(add(y, k1, h / 2))
    k3 = f(add(y, k2, h / 2))
    k4 = f(add(y, k3, h))
    return jax.tree_util.tree_map(lambda a, b1, b2, b3, b4: a + h / 6 * (b1 + 2 * b2 + 2 * b3 + b4), y, k1, k2, k3, k4)


def _segments(times, dt, t0):
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0:
        raise ValueError("times must be a non-empty 1-d array")
    if np.any(np.diff(times) < 0) or times[0] < t0:
        raise ValueError(f"times must be sorted and ≥ t0={t0}")
    gaps = np.diff(np.concatenate([[t0], times]))
    ns = np.ceil(gaps / dt - 1e-9).astype(np.int32)
    hs = np.where(ns > 0, gaps / np.maximum(ns, 1), 0.0)
    return times, hs, ns


def integrate(
    state0: State,
    teacher: Teacher,
    times,
    *,
    activation: str,
    eta,
    batch_size=1,
    label_noise=0.0,
    second_order: bool = True,
    train_second_layer: bool = True,
    c=1.0,
    dt: float = 0.01,
    t0: float = 0.0,
    log2_samples: int = RELU_I4_LOG2_SAMPLES,
    seed: int = RELU_I4_SEED,
) -> Trajectory:
    """Integrate the ODEs with fixed-step RK4 and report at ``times``.

    state0: initial State (Q (K, K), R (K, M), v (K,)) at time ``t0``;
    teacher: Teacher (T, v_star); ``times`` (n,) sorted ODE times (= SGD steps / d,
    concrete numbers) ≥ t0.  Each gap between report times is cut into
    ``ceil(gap/dt)`` equal RK4 steps.  Keyword arguments as in :func:`rhs`
    (``eta = lr·d``).  Returns a :class:`Trajectory` (t, eps, Q, R, v) with a
    leading time axis.  Works under ``jax.vmap`` over batched ``state0`` (e.g.
    one initial condition per seed from :func:`state_from_weights`).

    The step is fixed, so ``dt`` must resolve the fastest rate of the system,
    roughly ``η |v|² (1 + η |v|²/B)``: for relu with η = 2 and |v| ≲ 3,
    ``dt = 0.05`` is stable and ``0.1`` is not.  A non-finite ``eps`` means
    ``dt`` was too large.  The relu I4 uses ``2**log2_samples`` fixed QMC points
    (``seed``); ``log2_samples`` and ``seed`` are static (changing them
    recompiles), as are ``activation``, ``second_order`` and
    ``train_second_layer``; ``eta``, ``batch_size``, ``label_noise`` and ``c``
    are traced.
    """
    _check(activation)
    times, hs, ns = _segments(times, dt, t0)
    dtype = jnp.result_type(state0.Q)
    state0 = State(*(jnp.asarray(x, dtype=dtype) for x in state0))
    teacher = Teacher(*(jnp.asarray(x, dtype=dtype) for x in teacher))

    traj_t = jnp.asarray(times, dtype=dtype)
    ys, eps = _integrate_core(
        state0,
        teacher,
        jnp.asarray(hs, dtype=dtype),
        jnp.asarray(ns),
        eta,
        batch_size,
        label_noise,
        c,
        activation=activation,
        second_order=second_order,
        train_second_layer=train_second_layer,
        log2_samples=log2_samples,
        seed=seed,
    )
    return Trajectory(t=traj_t, eps=eps, Q=ys.Q, R=ys.R, v=ys.v)


@functools.partial(
    jax.jit, static_argnames=("activation", "second_order", "train_second_layer", "log2_samples", "seed")
)
def _integrate_core(
    state0,
    teacher,
    hs,
    ns,
    eta,
    batch_size,
    label_noise,
    c,
    *,
    activation,
    second_order,
    train_second_layer,
    log2_samples,
    seed,
):
    def f(y):
        return rhs(
            y,
            teacher,
            activation=activation,
            eta=eta,
            batch_size=batch_size,
            label_noise=label_noise,
            second_order=second_order,
            train_second_layer=train_second_layer,
            c=c,
            log2_samples=log2_samples,
            seed=seed,
        )

    def segment(y, hn):
        h, n = hn
        y = jax.lax.fori_loop(0, n, lambda _, y: _rk4_step(f, y, h), y)
        return y, (y, population_error(y, teacher, activation))

    _, (ys, eps) = jax.lax.scan(segment, state0, (hs, ns))
    return ys, eps
