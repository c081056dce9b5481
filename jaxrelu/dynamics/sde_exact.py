r"""``sde_exact``: SGD's SDE for online Gaussian teacher–student, with the exact drift and noise covariance.

The SDE of online SGD (step lr, batch B; :mod:`jaxrelu.dynamics.sde`) is

    dθ = −∇ε(θ) dt + √(lr/B) Σ(θ)^{1/2} dW,      Σ(θ) = Cov_x[g(x)],

in time t = lr·steps, with ε the population loss and g(x) the per-sample gradient.  The
``sde`` method estimates both ∇ε and Σ from ``optimizer.sde_samples`` fresh inputs x ∈ R^d
per step (n·d normals and two d-dimensional passes per step).  For the online
teacher–student task (x ~ N(0, I_d), labels y = f*(x) + s ζ, no biases, square loss, and a
closed-form kernel for the pair of activations) this method uses the structure of the
Gaussian instead.  Notation (:mod:`jaxrelu.conventions`): student f(x) = c Σ_j a_j σ(w_j·x),
W (m, d); teacher f*(x) = Σ_k a*_k σ*(w*_k·x), W* (K, d); ℓ = ½ (f − y)².

**Drift.**  ∇ε(θ) exactly, from the closed-form population loss (that of
:func:`jaxrelu.theory.kernels.population_loss`, with the diagonal of K(W, W) given a derivative
that avoids the arccos kernels' 0·∞ at correlation one, :func:`self_kernel`) written as a function
of the Gram matrices W Wᵀ, W W*ᵀ (:func:`gram_loss`): ∇_W ε = (E + Eᵀ) W + F W* with E, F its
``jax.grad`` in those m × (m + K) entries, which the span basis below supplies (:func:`drift`), so
the drift costs no pass over R^d beyond the final combination; label noise adds a constant to ε only.

**Per-sample gradient.**  With e = f(x) − y, λ = W x (student fields), ν = W* x (teacher's)

    g_W(x) = r xᵀ,   r_j = c a_j σ'(λ_j) e   (r ∈ R^m);       g_a(x) = c σ(λ) e.

**Splitting off the isotropic part.**  Let Q (d, p) have orthonormal (or zero) columns spanning
the rows of W and W* (Gram–Schmidt of [W; W*], p = m + K, :func:`span_basis`; Q = I_d when p ≥ d).
Write x = Q z + x⊥ with z = Qᵀx ~ N(0, I_p) and x⊥ = (I − QQᵀ) x ~ N(0, P⊥),
P⊥ = I − QQᵀ; z and x⊥ are independent (Gaussian, uncorrelated).  The fields λ = (WQ) z,
ν = (W*Q) z, hence r, e and g_a, depend on (z, ζ) only, and

    g_W = (r zᵀ) Qᵀ + r x⊥ᵀ.

Let G(z, ζ) = (r zᵀ ∈ R^{m×p}, g_a ∈ R^m), the gradient in span coordinates, with mean
Ḡ = E G = (∇_W ε Q, ∇_a ε) (since E[r x⊥ᵀ] = E[r] E[x⊥]ᵀ = 0, E g = ∇ε has its W-rows in
the span).  Because x⊥ has mean zero and is independent of (z, ζ),

    Cov(g_W ⊕ g_a) = Cov(G) [embedded through Q]  +  M ⊗ P⊥  [on the W entries],
    M = E[r rᵀ] (m × m),   cross-covariance between the two parts = E[(r ⊗ x⊥)(G − Ḡ)ᵀ] = 0.

So Σ is a small ((p + 1)·m)-dimensional block on the span (the first layer's projection on
span(W, W*) and the whole second layer, with their cross-covariance) plus an isotropic
part M ⊗ P⊥ on the (d − p)-dimensional complement.  Both need Gaussian integrals of the
fields only (E over z ∈ R^p and ζ): 4-point integrals such as E[σ'(λ_i) σ'(λ_k) e²], which
have no closed form for relu (a 4-variate orthant probability; :mod:`jaxrelu.theory.ode`).

**Noise.**  Per Euler–Maruyama step, n = ``optimizer.sde_samples`` fresh field samples
(z_i, ζ_i) ~ N(0, I_p) ⊗ N(0, 1) (p + 1 normals each instead of d + 1), weights ξ ~ N(0, I_n)
and Ξ ~ N(0, I_{m×d}) give

    η_span = n^{-1/2} Σ_i ξ_i (G(z_i, ζ_i) − Ḡ),       (exact mean Ḡ, not the sample mean)
    η⊥     = M̂^{1/2} Ξ P⊥,   M̂ = (1/n) Σ_i r_i r_iᵀ,
    η      = (η_span,W Qᵀ + η⊥,  η_span,a).

Conditionally on the samples η is Gaussian with covariance Σ̂ = Cov-estimate(G) ⊕ M̂ ⊗ P⊥
(ξ and Ξ independent); E[Σ̂] = Σ, so **Cov(η) = Σ(θ) exactly, for every n** (the samples
make the noise a Gaussian scale mixture, which tends to N(0, Σ) as n grows; Euler–Maruyama
keeps weak order one with increments whose first three moments are the Gaussian's, Kloeden &
Platen 1992, §14.1: here mean zero, covariance Σ, and third moments zero since η is symmetric).
In code the span coordinates come with the basis (Gram–Schmidt's R = [W; W*] Q gives the
fields' coefficients and the Gram matrices), ∇_W ε = D Qᵀ with D in span coordinates, and the
step's first-layer gradient ∇_W ε − c η_W = [(1 + c Σξ/√n) D − c (span_W − L Ξ Q)] Qᵀ − c L Ξ (L = M̂^{1/2}) is one
combination over R^{m×d}; the passes over R^d are Gram–Schmidt's, Ξ Q's and that combination.
The basis is computed teacher first (Qᵀ = O U, :func:`span`), so the teacher's part of Gram–Schmidt
is the same at every step and XLA computes it outside the step loop.
Cost per step: a Gram–Schmidt of the m student rows against p vectors in R^d, n·(p + 1) + m·d
normals (n more with label noise) and O(n p (m + K) + d p (m + p)) flops, against SGD's B·d normals
and O(B m d) flops (the speed against SGD's: ``python -m jaxrelu.bench.sde_speed``, in
``docs/performance.md``).
XLA's CPU fusion duplicates cheap elementwise producers into every consumer: the keys and the
normals' hash words and values are therefore made to be computed once (:func:`_once`), and
contractions over p, m are unrolled (:func:`_mm`).
``tests/test_sde_exact.py`` checks Cov(η) against a brute-force Monte Carlo of Cov_x[g(x)].

**Step** (as ``sde``): ``optimizer.substeps`` steps of size h = lr_t/substeps,
θ ← θ − h ∇ε + √(h·lr_t/B) η, through the optimiser chain (:func:`jaxrelu.dynamics.apply_update`,
so weight decay, per-layer rates and the noise models apply as for ``sde``).  Label noise:
s² = ``optimizer.label_noise``² (label-noise SGD) + ``task.label_noise``² (noisy online data),
both fresh per sample.  Randomness: substep j of step t draws from
``split(fold_in(k_step, j))[0]``: one stream, the n field samples first, then Ξ (``rng.normal``'s
numbers; no existing stream changes).

Requires (checked when the program is built, :class:`~jaxrelu.config.ConfigError`): a task
with a teacher and Gaussian inputs read online (``task.train_size = "online"``), no biases,
square loss, a closed-form kernel for (``model.activation``, ``task.teacher_activation``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxrelu import dynamics, rng
from jaxrelu.config import ConfigError
from jaxrelu.theory import kernels


def check(spec, task, bias: bool) -> None:
    """Raise :class:`~jaxrelu.config.ConfigError` unless the study is one ``sde_exact`` describes
    (the registry entry's ``check``, called when the program is built).

    ``spec`` the :class:`~jaxrelu.dynamics.StepSpec`, ``task`` the :class:`~jaxrelu.tasks.TaskSpec`,
    ``bias`` whether the student has biases (refused)."""
    why = None
    if not task.task.teacher:
        why = "a task with a teacher network (task.kind = 'teacher_student')"
    elif not task.online:
        why = "online data (task.train_size = 'online')"
    elif bias:
        why = "a student without biases (model.bias = false)"
    elif not spec.loss.square:
        why = "the square loss (task.loss = 'square')"
    elif not kernels.has_closed_form(spec.activation, task.teacher_activation):
        why = f"a closed-form kernel for the activations {spec.activation.name!r} and {task.teacher_activation.name!r}"
    if why is not None:
        raise ConfigError(f"optimizer.method: sde_exact needs {why}; use optimizer.method = 'sde'")


#: Gauss–Hermite nodes (probabilists', symmetric, even count) of the diagonal kernels' derivative
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(256)
_GH_WEIGHTS = _GH_WEIGHTS / _GH_WEIGHTS.sum()
_GH_NODES, _GH_WEIGHTS = _GH_NODES[_GH_WEIGHTS > 1e-20], _GH_WEIGHTS[_GH_WEIGHTS > 1e-20]  # symmetric pruning


def self_kernel(act, q):
    """κ(q, q, q) = E[σ(u)²], u ~ N(0, q), for q (...,): the kernel's value, with a derivative that
    does not pass through the kernel at correlation one.

    Autodiff of a kernel written with arccos (relu's) is 0·∞ at cos θ = 1, the diagonal of K(W, W).
    The derivative here is dκ/dq = E[σ(√q u) σ'(√q u) u] / √q, u ~ N(0, 1), by the 256-node
    Gauss–Hermite rule (nodes of weight < 1e-20 dropped, symmetrically): exact for relu and linear
    (σσ'·u is then u² or u² 1{u > 0}, and the rule is symmetric), spectrally accurate for smooth σ
    (erf: relative error < 1e-10 for q ≤ 10, 5e-4 at q = 30, where σ' gets narrow against the nodes)."""

    @jax.custom_jvp
    def f(q):
        return kernels.kernel(q, q, q, act, act)

    @f.defjvp
    def f_jvp(primals, tangents):
        (q,), (dq,) = primals, tangents
        pos = q > 0
        sq = jnp.sqrt(jnp.where(pos, q, 1.0))
        v = sq[..., None] * jnp.asarray(_GH_NODES, q.dtype)
        s, ds = jax.jvp(act.fn, (v,), (jnp.ones_like(v),))
        deriv = jnp.sum(jnp.asarray(_GH_WEIGHTS * _GH_NODES, q.dtype) * s * ds, axis=-1) / sq
        return f(q), jnp.where(pos, deriv, 0.0) * dq

    return f(q)


def gram_loss(spec, G_ss, G_st, a, teacher, teacher_activation):
    """ε(θ) of :func:`population_loss` as a function of the Gram matrices G_ss = W Wᵀ (m, m) and
    G_st = W W*ᵀ (m, K) (and a (m,)): the kernels read only the inputs' inner products, so
    ∇_W ε = (E + Eᵀ) W + F W* with E = ∂ε/∂G_ss, F = ∂ε/∂G_st (:func:`drift`).  ``teacher``
    {"q": ‖w*_k‖² (K,), "a": (K,)}.  Diagonal of K(W, W) by :func:`self_kernel`, its off-diagonal
    kernel evaluated with r = 0 on the diagonal (no 0·∞ leaks through ``where``)."""
    c, act = spec.c, spec.activation
    eye = jnp.eye(G_ss.shape[0], dtype=bool)
    q = jnp.diagonal(G_ss)
    r = jnp.where(eye, 0.0, G_ss)
    K_ss = jnp.where(eye, self_kernel(act, q)[:, None], kernels.kernel(q[:, None], q[None, :], r, act, act))
    K_st = kernels.kernel(q[:, None], teacher["q"][None, :], G_st, act, teacher_activation)
    # as elementwise sums: a vmapped (m,)·(m, m) ``dot`` (and its transpose in the gradient) is a library
    # call per trajectory on a CPU
    ss = jnp.sum(a[:, None] * K_ss * a[None, :])
    return 0.5 * c * c * ss - c * jnp.sum(a[:, None] * K_st * teacher["a"][None, :])


def population_loss(spec, params, teacher, teacher_activation):
    """ε(θ) = ½ E_x[(f − f*)²] of :func:`jaxrelu.theory.kernels.population_loss`, written so that its
    autodiff gradient is finite (:func:`gram_loss`).  Teacher term omitted (no θ-dependence).
    ``params`` {"W": (m, d), "a": (m,)}, ``teacher`` {"W": (K, d), "a": (K,)}."""
    W, Ws = params["W"], teacher["W"]
    t = {"q": jnp.sum(Ws * Ws, axis=-1), "a": teacher["a"]}
    return gram_loss(spec, _mmt(W, W), _mmt(W, Ws), params["a"], t, teacher_activation)


def drift(spec, Rs, Rt, a, teacher_a, teacher_activation):
    """∇ε in span coordinates from the coefficients R = A Vᵀ (P, p) of A = [W; W*] (:func:`gram_schmidt`):
    (D (m, p), ∇_a ε (m,)) with ∇_W ε = D V.  The Gram matrices are R's (A Aᵀ = R Rᵀ, no pass over
    R^d), and ∇_W ε = [E + Eᵀ, F] A = [E + Eᵀ, F] R V (:func:`gram_loss`)."""
    t = {"q": jnp.sum(Rt * Rt, axis=-1), "a": teacher_a}
    E, F, ga = jax.grad(lambda G_ss, G_st, a: gram_loss(spec, G_ss, G_st, a, t, teacher_activation), argnums=(0, 1, 2))(
        _mmt(Rs, Rs), _mmt(Rs, Rt), a
    )
    return _mm(E + E.T, Rs) + _mm(F, Rt), ga


def population_gradient(spec, params, teacher, teacher_activation):
    """∇_θ ε of the closed-form population loss (:func:`drift`): {"W": (m, d), "a": (m,)}
    for ``params`` {"W": (m, d), "a": (m,)} and ``teacher`` {"W": (K, d), "a": (K,)}."""
    W = params["W"]
    O, U, Rs, Rt = span(W, teacher["W"].astype(W.dtype))
    D, ga = drift(spec, Rs, Rt, params["a"], teacher["a"].astype(W.dtype), teacher_activation)
    return {"W": _mm(_mm(D, O), U), "a": ga}


#: contractions up to this length are unrolled into fused multiply-adds (:func:`_mm`)
_UNROLL = 16


def _mm(A, B):
    """A (i, k) · B (k, j) without a ``dot``: a vmapped tiny ``dot`` is a library call per trajectory on
    a CPU.  Short contractions (k ≤ 16: the span's p = m + K, the widths) are unrolled into k
    multiply-adds, which XLA fuses with their neighbours (a reduction is a separate YNNPACK call,
    whose overhead dominates at these sizes); longer ones (over the n field samples, over R^d) are a
    broadcast product and one sum."""
    if A.shape[1] <= _UNROLL:
        out = A[:, 0, None] * B[None, 0, :]
        for k in range(1, A.shape[1]):
            out = out + A[:, k, None] * B[None, k, :]
        return out
    return jnp.sum(A[:, :, None] * B[None, :, :], axis=1)


def _mmt(A, B):
    """A (i, k) · B (j, k)ᵀ (see :func:`_mm`)."""
    if A.shape[1] <= _UNROLL:
        return _mm(A, B.T)
    return jnp.sum(A[:, None, :] * B[None, :, :], axis=2)


def _rowsum(x):
    """Σ_j x[:, j] for a few columns, unrolled (see :func:`_mm`)."""
    return _mm(x, jnp.ones((x.shape[1], 1), x.dtype))[:, 0]


def span_basis(W, W_star):
    """V (p, d), p = m + K: the rows of :func:`gram_schmidt` of [W; W*] (orthonormal or zero, spanning
    the rows of W (m, d) and W* (K, d)); the identity (p = d) when m + K ≥ d.  Formed explicitly
    here; the step keeps it as V = O U (:func:`span`)."""
    O, U, _, _ = span(W, W_star)
    return _mm(O, U)


def span(W, W_star):
    """(O (p, p), U (p, d), R_W (m, p), R_* (K, p)) with V = O U the basis of :func:`gram_schmidt` of
    [W; W*] and R_W = W Vᵀ, R_* = W* Vᵀ its coordinates (p = m + K; O = U = I_d when p ≥ d).

    Computed teacher first: U, C = gram_schmidt([W*; W]) (its teacher rows depend on W* alone, so XLA
    computes them outside the step loop), then O, R = gram_schmidt of C's rows reordered to
    [W; W*], a p × p problem: [W; W*] = R O U, so V = O U is the student-first basis to rounding, and
    every random number keeps the direction it had with the student-first Gram–Schmidt."""
    m, K, d = W.shape[0], W_star.shape[0], W.shape[1]
    if m + K >= d:
        eye = jnp.eye(d, dtype=W.dtype)
        return eye, eye, W, W_star
    U, C = gram_schmidt(jnp.concatenate([W_star, W], axis=0))
    O, R = gram_schmidt(jnp.concatenate([C[K:], C[:K]], axis=0))
    return O, U, R[:m], R[m:]


def _dot(u, v):
    """u · v of two vectors: unrolled when short (:func:`_mm`), else a product and one sum."""
    if u.shape[0] > _UNROLL:
        return jnp.sum(u * v)
    out = u[0] * v[0]
    for i in range(1, u.shape[0]):
        out = out + u[i] * v[i]
    return out


def gram_schmidt(A):
    """(V, R) for A (P, d): V (P, d) with orthonormal or zero rows spanning A's rows, and the
    coordinates R = A Vᵀ (P, P), lower triangular (A = R V).

    Gram–Schmidt, twice per row ("twice is enough", Giraud et al. 2005), written as fused
    elementwise products (a vmapped LAPACK QR costs a library call per trajectory); R is
    accumulated on the way (row k's coefficients of both passes and its residual norm), so the
    fields' coefficients cost nothing more.  A row whose residual is below 100 ε of its norm is
    linearly dependent on the earlier ones (to rounding) and gives a zero row of V; zero rows
    add nothing to x's span part, so the decomposition of the module docstring holds with them."""
    P = A.shape[0]
    tol = 100 * jnp.finfo(A.dtype).eps
    rows, coef = [], []
    for k in range(P):
        v = A[k]
        c = [jnp.zeros((), A.dtype) for _ in range(k)]
        for _ in range(2):
            for i, u in enumerate(rows):
                t = _dot(v, u)
                v = v - t * u
                c[i] = c[i] + t
        nrm2 = _dot(v, v)
        ref2 = nrm2 + sum(ci * ci for ci in c)  # ‖A_k‖² (Pythagoras; a tolerance's scale)
        nrm = jnp.sqrt(nrm2)
        keep = nrm2 > tol * tol * ref2
        rows.append(jnp.where(keep, v / jnp.where(keep, nrm, 1.0), 0.0))
        coef.append(jnp.stack(c + [jnp.where(keep, nrm, 0.0)] + [jnp.zeros((), A.dtype)] * (P - k - 1)))
    return jnp.stack(rows), jnp.stack(coef)


def sqrtm_psd(M):
    """Symmetric square root of a positive semi-definite (m, m) matrix (negative rounding clipped).

    m = 1, 2 in closed form (√M = (M + √det M · I) / √(tr M + 2 √det M) for m = 2), else ``eigh``."""
    m = M.shape[0]
    if m == 1:
        return jnp.sqrt(jnp.maximum(M, 0.0))
    if m == 2:
        det = jnp.maximum(M[0, 0] * M[1, 1] - M[0, 1] * M[1, 0], 0.0)
        s = jnp.sqrt(det)
        tau2 = M[0, 0] + M[1, 1] + 2 * s
        tau = jnp.sqrt(jnp.where(tau2 > 0, tau2, 1.0))
        return jnp.where(tau2 > 0, (M + s * jnp.eye(2, dtype=M.dtype)) / tau, 0.0)
    lam, V = jnp.linalg.eigh(M)
    return (V * jnp.sqrt(jnp.maximum(lam, 0.0))) @ V.T


def _derivative(fn, x):
    """σ'(x) elementwise (forward mode)."""
    return jax.jvp(fn, (x,), (jnp.ones_like(x),))[1]


def _once(x, key):
    """x (a key, or draws from it), computed once and read back: divided by a 1 that XLA cannot fold
    (key[0]'s top bit or'ed with 1; exact: x / 1 = x).

    XLA's CPU fusion duplicates cheap elementwise producers into each consumer, and the threefry hash
    is integer arithmetic: without this, every element of the passes over R^d below redoes the step's
    key derivations and its normals' hash (measured at d = 200, m = 2: 26 against 8 µs per
    trajectory-step).  A division is "expensive" to XLA, so it is computed once."""
    return x // ((key[0] >> np.uint32(31)) | np.uint32(1))


def _normal(key, shape, dtype, start=0):
    """``rng.normal(key, shape, dtype, start)`` (bit for bit), its hash words and its values each
    computed once (:func:`_once`; the values through their bits: a float division does not stop XLA
    from redoing erf⁻¹'s polynomial in every consumer)."""
    z = rng.normal_from_bits(_once(rng.bits(key, shape, start), key), jnp.float32)
    z = jax.lax.bitcast_convert_type(_once(jax.lax.bitcast_convert_type(z, jnp.uint32), key), jnp.float32)
    return z.astype(dtype)


def _noise_parts(spec, a, teacher_a, teacher_activation, O, U, B, Bs, key, n, label_sd):
    """The pieces of one draw of η (module docstring), for the span basis V = O U (p, d)
    (:func:`span`) with coefficients B = W Vᵀ, Bs = W* Vᵀ: (Y (m, p), L (m, m), Ξ (m, d) or None
    when p = d, Σξ/√n, η_a + Σξ/√n ∇_a ε) with η_W = Y V + L Ξ − (Σξ/√n) ∇_W ε and
    η_a = (the last) − (Σξ/√n) ∇_a ε.

    Normals of ``key``'s one stream: the n field samples (p + 1 [+ 1] each) first, then Ξ."""
    p, d = U.shape
    dt = U.dtype
    key = _once(key, key)
    m = B.shape[0]  # fields: λ = B z, ν = Bs z
    cols = p + (2 if label_sd is not None else 1)
    full = p == d  # V = I: no isotropic part
    draws = _normal(key, (n * cols,), dt).reshape(n, cols)  # drawn flat: (n, p + 1) vectorises badly
    z, xi = draws[:, :p], draws[:, p]
    lam, nu = _mmt(z, B), _mmt(z, Bs)  # (n, m), (n, K)
    act = spec.activation.fn
    s_lam = act(lam)
    e = spec.c * _rowsum(s_lam * a) - _rowsum(teacher_activation.fn(nu) * teacher_a)
    if label_sd is not None:
        e = e - label_sd * draws[:, p + 1]
    r = spec.c * a * _derivative(act, lam) * e[:, None]  # (n, m)
    ga = spec.c * s_lam * e[:, None]  # (n, m)
    scale = 1.0 / math.sqrt(n)
    span_W = scale * _mm((r * xi[:, None]).T, z)  # (m, p): n^{-1/2} Σ_i ξ_i r_i z_iᵀ
    span_a = scale * jnp.sum(xi[:, None] * ga, axis=0)
    mean = scale * jnp.sum(xi)
    if full:
        return span_W, jnp.zeros((m, m), dt), None, mean, span_a
    Xi = _normal(key, (m, d), dt, start=n * cols)
    L = sqrtm_psd(_mm(r.T, r) / n)
    # η_W = span_W V + L Ξ (I − VᵀV) = L Ξ + (span_W − L (Ξ Vᵀ)) V, Ξ Vᵀ = (Ξ Uᵀ) Oᵀ: one reduction over Ξ
    return span_W - _mm(L, _mmt(_mmt(Xi, U), O)), L, Xi, mean, span_a


def noise(spec, params, teacher, teacher_activation, grad, key, n: int, label_sd=None):
    """One draw of η with Cov(η) = Σ(θ) = Cov_x[g(x)] exactly (module docstring): {"W": (m, d), "a": (m,)}.

    ``grad`` the exact ∇ε (the mean Ḡ), ``n`` field samples, ``label_sd`` s (traced scalar) or
    None when the labels carry no noise; ``key`` a substep's key (uint32[2])."""
    W, a = params["W"], params["a"]
    O, U, Rs, Rt = span(W, teacher["W"])  # x = Vᵀ z + x⊥, V = O U
    Y, L, Xi, mean, span_a = _noise_parts(spec, a, teacher["a"], teacher_activation, O, U, Rs, Rt, key, n, label_sd)
    eta_W = _mm(_mm(Y, O), U) - mean * grad["W"]
    if Xi is not None:
        eta_W = eta_W + _mm(L, Xi)
    return {"W": eta_W, "a": span_a - mean * grad["a"]}


def label_sd(spec, task, hp):
    """s = √(σ_LN² + σ_data²) of the labels' fresh noise (traced), or None when neither is on."""
    parts = []
    if "optimizer.label_noise" in spec.on:
        parts.append(hp["optimizer.label_noise"] ** 2)
    if task.label_noise:
        parts.append(hp["task.label_noise"] ** 2)
    return jnp.sqrt(sum(parts)) if parts else None


def step(spec, params, opt_state, sample, keys, t, hp):
    """``spec.substeps`` Euler–Maruyama steps of size h = lr_t / substeps of SGD's SDE with the exact
    drift and an exact-covariance noise (module docstring); one SGD step of time."""
    task, teacher = sample.task, sample.data.teacher
    act_star = task.teacher_activation
    n = max(1, task.population_rows)
    lr = dynamics.learning_rate(spec, hp, t)
    h = lr / spec.substeps
    sd = label_sd(spec, task, hp)
    bs = hp["optimizer.batch_size"]
    c = jnp.sqrt(lr / (bs * h))
    key = keys[1]
    teacher = {"W": teacher["W"].astype(params["W"].dtype), "a": teacher["a"].astype(params["W"].dtype)}

    def sub(j, carry):
        p, s = carry
        kg, kv = rng.split(rng.fold_in(key, j))
        W = p["W"]
        O, U, Rs, Rt = span(W, teacher["W"])
        D, grad_a = drift(spec, Rs, Rt, p["a"], teacher["a"], act_star)  # ∇_W ε = D V, V = O U
        Y, L, Xi, mean, span_a = _noise_parts(spec, p["a"], teacher["a"], act_star, O, U, Rs, Rt, kg, n, sd)
        # g = ∇ε − c η: first layer (1 + c Σξ/√n) D V − c (Y V + L Ξ), in one pass over R^{m×d}
        g_W = _mm(_mm((1 + c * mean) * D - c * Y, O), U)
        if Xi is not None:
            g_W = g_W - _mm(c * L, Xi)
        g = {"W": g_W, "a": (1 + c * mean) * grad_a - c * span_a}
        return dynamics.apply_update(spec, p, s, g, kv, hp, h)

    return jax.lax.fori_loop(0, spec.substeps, sub, (params, opt_state))


SDE_EXACT = dynamics.register("sde_exact", step, population=True, check=check)
