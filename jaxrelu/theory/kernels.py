"""Closed-form Gaussian integrals of two-layer networks.

For pre-activations (u, v) ~ N(0, [[q1, r], [r, q2]]) the *activation kernel*
is κ(q1, q2, r) = E[σ(u) σ'(v)].  Each activation entry carries its closed forms
(:mod:`jaxrelu.activations`); the built-ins:

* relu–relu (arc-cosine kernel of degree 1, Cho & Saul 2009):
  κ = √(q1 q2)/(2π) · (sin θ + (π − θ) cos θ),  cos θ = r / √(q1 q2);
* erf–erf with σ(x) = erf(x/√2) (Saad & Solla 1995):
  κ = (2/π) · arcsin(r / √((1 + q1)(1 + q2)));
* linear–linear: κ = r;  relu–linear: κ = r/2;
  erf–linear: κ = r · √(2/π) / √(1 + q1)   (Stein's lemma);
* any two of relu, leaky_relu(α), abs, linear (σ = p·relu + s·z): the arc-cosine kernel
  p1 p2 κ_relu + (p1 s2 + s1 p2) r/2 + s1 s2 r;
* a Hermite series (He_k, ``hermite(...)``, quadratic, linear) against any activation with
  Gaussian derivative means β(k, q) = E_{u~N(0,q)}[σ^{(k)}(u)] in closed form (relu,
  leaky_relu, abs, erf, gelu, linear, Hermite series): κ = Σ_{k≤n} r^k β1(k, q1) β2(k, q2)/k!
  (Price's theorem; n the polynomial's degree), exact at any variances q1, q2 (for two
  Hermite series at q1 = q2 = 1 this is Σ_k c1_k c2_k k! r^k).

Pairs without one (tanh, sigmoid, softplus, relu–erf, gelu–gelu, ...) fall back to the held-out
sample.  See :mod:`jaxrelu.activations` for where each form lives.

The population loss of a student f(x) = c Σ_j a_j σ(w_j·x) against a teacher
f*(x) = Σ_k a*_k σ*(w*_k·x), x ~ N(0, I_d), is then

  ε = ½ E[(f − f*)²] = ½ (c² aᵀ K(W, W) a − 2c aᵀ K(W, W*) a* + a*ᵀ K(W*, W*) a*),

with K(A, B)_ij = κ(‖A_i‖², ‖B_j‖², A_i·B_j).  This is the ``population_loss``
observable whenever both networks have no biases, the loss is square and κ exists for the
three pairs (student, student), (student, teacher) and (teacher, teacher)
(:func:`has_closed_form`).
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxrelu import activations


def has_closed_form(act1, act2) -> bool:
    """Whether the population loss of a student with activation ``act1`` against a teacher with
    ``act2`` (names or entries) has a closed form: κ exists for (act1, act1), (act1, act2) and
    (act2, act2)."""
    a1, a2 = activations.get(act1), activations.get(act2)
    return all(activations.pair_kernel(x, y) is not None for x, y in ((a1, a1), (a1, a2), (a2, a2)))


def kernel(q1, q2, r, act1, act2):
    """E[σ1(u) σ2(v)] for (u, v) ~ N(0, [[q1, r], [r, q2]]); broadcasts over arrays."""
    k = activations.pair_kernel(activations.get(act1), activations.get(act2))
    if k is None:
        raise ValueError(f"no closed-form kernel for activations {act1!r} and {act2!r}")
    return k(q1, q2, r)


def kernel_matrix(A, B, act1: str, act2: str):
    """K_ij = κ(‖A_i‖², ‖B_j‖², A_i·B_j); A (m, d), B (k, d) -> (m, k)."""
    qa = jnp.sum(A * A, axis=-1)
    qb = jnp.sum(B * B, axis=-1)
    # contracted by dimension numbers: ``A @ B.T`` makes XLA's CPU dot copy (transpose)
    # B, a whole first layer per trajectory when vmapped
    return kernel(qa[:, None], qb[None, :], jnp.einsum("id,jd->ij", A, B), act1, act2)


def population_loss(W, a, c, act: str, W_star, a_star, act_star: str):
    """ε = ½ E_x[(f(x) − f*(x))²] for bias-free networks, x ~ N(0, I_d).

    W (m, d), a (m,), c the output scale of the student; W_star (k, d), a_star (k,)
    the teacher (output scale 1).  Returns a scalar.  Precision: a difference of O(‖a‖² + ‖a*‖²)
    terms, so its absolute rounding error is ~eps × those terms (1e-16 in float64, the engine's
    evaluation dtype; 1e-7 in float32).
    """
    ss = c * c * a @ kernel_matrix(W, W, act, act) @ a
    st = c * a @ kernel_matrix(W, W_star, act, act_star) @ a_star
    tt = a_star @ kernel_matrix(W_star, W_star, act_star, act_star) @ a_star
    # no clip: near a perfect fit the three terms cancel, and the engine evaluates this in float64
    # (observables at record times), so ε is exact to ~1e-16 × the terms' size, and may be that
    # much below 0; a clip would report every loss below that floor as exactly 0
    return 0.5 * (ss - 2 * st + tt)
