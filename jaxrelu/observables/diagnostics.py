"""Diagnostic observables: curvature, gradient noise and 1-D implicit-bias measures.

Registered on import (see :func:`jaxrelu.observables.register`):

``sharpness``         λ_max(∇²L): the largest (algebraic, *not* largest-|λ|)
                      eigenvalue of the Hessian of the training loss over all
                      parameters in the pytree.  Lanczos, ``LANCZOS_STEPS`` steps.
``grad_noise_trace``  tr Σ, Σ the covariance of the per-sample gradients.
``grad_noise_top``    λ_max(Σ), by the same Lanczos routine.
``noise_to_signal``   tr Σ / ‖∇L‖² (the gradient noise-to-signal ratio at batch size 1).
``kink_count``        number of distinct kinks of the learned function inside the
                      data range (d = 1, relu).
``nuclear_norm``      ‖Φ‖_* of the feature matrix Φ_ij = σ(w_j·x_i + b_j).

Conventions (one trajectory; :mod:`jaxrelu.conventions`).  The evaluation set
{(x_i, y_i)}_{i<n} is the training set with its labels at record time (fixed data
noise included; the fresh noise of label-noise SGD is not), or, online, the
shared held-out sample (``task.test_size`` rows, *noiseless* teacher labels).
With θ every leaf of the parameter pytree (W, a and b if present) flattened
(``jax.flatten_util.ravel_pytree``), P = dim θ,

    ℓ_i(θ) = ℓ(f_θ(x_i), y_i)  (the study's loss, ½ (f − y)² by default),   L(θ) = (1/n) Σ_i ℓ_i(θ),
    g_i = ∇ℓ_i,   ḡ = ∇L = (1/n) Σ_i g_i,
    Σ = (1/n) Σ_i (g_i − ḡ)(g_i − ḡ)ᵀ          (1/n, not 1/(n − 1)).

A mini-batch of B samples drawn with replacement has gradient covariance Σ/B;
without replacement from a finite set, Σ·(n − B)/(B (n − 1)).

**Frozen second layer.**  The :class:`~jaxrelu.observables.Context` does not say
whether ``a`` is trained, so curvature and noise are always taken over all of
(W, a, b).  With ``model.train_second_layer = false`` they include the
directions of ``a``, which SGD does not move.

**Non-finite values.**  The engine marks a trajectory *diverged* (and never counts
it again) as soon as any observable is non-finite, so these functions return finite
numbers for finite parameters (the one exception: ``noise_to_signal`` is +inf at an exact
critical point with nonzero noise), and the 1-D ``kink_count`` raises at trace
time instead of returning nan when it does not apply.

Precision: evaluated in float64 by the engine (:mod:`jaxrelu.observables.core`); the Lanczos
values are Ritz values, ≤ the top eigenvalue and exact to rounding when the Krylov space closes
(P ≤ 32) or the top eigenvalue is an outlier.

Costs are per trajectory per record; "pass" means one forward pass of the network
over the n evaluation rows, O(n·m·d).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxrelu import activations, model, rng
from jaxrelu.observables import register

LANCZOS_STEPS = 32  # Lanczos steps (at most P); fixed, so jit/vmap-safe
NOISE_CHUNK = 64  # rows per vmapped block of per-sample gradients
KINK_REL_THRESHOLD = 1e-3  # a kink counts if |Δslope| > this × max_j |c a_j w_j|
KINK_MERGE_TOL = 1e-3  # kinks closer than this × (max x − min x) are one kink


# ============================================================ helpers
def _flat_losses(params, x, y, ctx):
    """(θ, unravel, L(θ_flat), ℓ(θ_flat) -> (n,))."""
    flat, unravel = ravel_pytree(params)

    def per_sample(th):
        return ctx.loss(model.apply(unravel(th), x, ctx.c, ctx.activation), y)

    def mean_loss(th):
        return jnp.mean(per_sample(th))

    return flat, unravel, mean_loss, per_sample


def _orthogonalize(V, w):
    """w minus its projection on the rows of V (classical Gram–Schmidt, twice)."""
    w = w - V.T @ (V @ w)
    return w - V.T @ (V @ w)


def lanczos_max(matvec, size: int, dtype, steps: int = LANCZOS_STEPS):
    """Largest eigenvalue of a symmetric operator, by Lanczos with full reorthogonalisation.

    ``matvec`` maps (size,) -> (size,).  k = min(steps, size) steps (static), start
    vector a fixed standard-normal draw (PRNGKey(0)), so the result is a
    deterministic function of the operator.  Returns the largest eigenvalue of
    the k×k tridiagonal matrix T: a Ritz value, ≤ λ_max and converging to it
    from below; exact (to rounding) when k = size.

    Breakdown (an invariant Krylov subspace, e.g. repeated or zero eigenvalues):
    when the new residual β_i ≤ √ε · max_j ‖A v_j‖ the coupling β_i is set to 0 and
    the recursion restarts from a fresh fixed random vector orthogonalised
    against all previous ones.  T is then block-diagonal; dropping β_i perturbs
    its eigenvalues by at most β_i (Weyl), i.e. by ≤ √ε ‖A‖.

    Cost: k matvecs + O(k²·size) for the reorthogonalisation + one k×k eigvalsh.
    """
    k = min(steps, size)
    eps = jnp.finfo(dtype).eps
    tol = jnp.sqrt(eps).astype(dtype)
    R = rng.normal(jax.random.PRNGKey(0), (k, size), dtype)
    tiny = jnp.finfo(dtype).tiny

    def normalize(v):
        return v / jnp.maximum(jnp.linalg.norm(v), tiny)

    def body(i, carry):
        V, alpha, beta, v, scale = carry
        V = V.at[i].set(v)
        w = matvec(v)
        scale = jnp.maximum(scale, jnp.linalg.norm(w))
        a = jnp.vdot(v, w)
        w = _orthogonalize(V, w)
        b = jnp.linalg.norm(w)
        broken = b <= tol * scale
        fresh = normalize(_orthogonalize(V, R[(i + 1) % k]))
        v_next = jnp.where(broken, fresh, w / jnp.maximum(b, tiny))
        return V, alpha.at[i].set(a), beta.at[i].set(jnp.where(broken, 0.0, b)), v_next, scale

    init = (
        jnp.zeros((k, size), dtype),
        jnp.zeros(k, dtype),
        jnp.zeros(k, dtype),
        normalize(R[0]),
        jnp.zeros((), dtype),
    )
    _, alpha, beta, _, _ = jax.lax.fori_loop(0, k, body, init)
    T = jnp.diag(alpha) + jnp.diag(beta[:-1], 1) + jnp.diag(beta[:-1], -1)
    return jnp.max(jnp.linalg.eigvalsh(T))


# ============================================================ curvature
def sharpness(params, params0, data, ctx):
    """λ_max(H), H = ∇²_θ L(θ), the top (algebraic) Hessian eigenvalue of the training loss.

    L = ½ mean over the evaluation set of (f − y)² (training set; held-out sample
    online), θ = all parameters (W, a[, b]) flattened, P = dim θ.  Hessian–vector
    products by forward-over-reverse (``jax.linearize`` of ``jax.grad``), fed to
    :func:`lanczos_max` with k = min(32, P) steps from a fixed start vector.

    This is the largest eigenvalue, not the largest in modulus (plain power
    iteration would return a large negative eigenvalue if it dominated): the
    quantity that full-batch GD at learning rate lr keeps ≲ 2/lr (edge of
    stability, Cohen et al. 2021).  The Lanczos value is a lower bound that is
    exact for P ≤ 32 and typically accurate to rounding when the top eigenvalue
    is an outlier, as it is for these networks.  relu'' = 0, so H is the
    almost-everywhere Hessian (what ``jax.hessian`` gives).  f is linear in a, so
    the a-block of H is PSD and the result is ≥ 0 (up to rounding).

    Shapes: x (n, d) -> scalar.  Cost: one linearisation (≈ 3 passes) plus
    k Hessian–vector products (≈ 4 passes each), O(k²P) reorthogonalisation and
    memory O(n·m + k·P).
    """
    x, y = data.eval_set()
    flat, _, mean_loss, _ = _flat_losses(params, x, y, ctx)
    _, hvp = jax.linearize(jax.grad(mean_loss), flat)
    return lanczos_max(hvp, flat.size, flat.dtype)


# ============================================================ gradient noise
def _noise_parts(params, data, ctx):
    """(flat θ, ḡ, tr Σ, ℓ) on the evaluation set."""
    x, y = data.eval_set()
    flat, unravel, mean_loss, per_sample = _flat_losses(params, x, y, ctx)
    gbar = jax.grad(mean_loss)(flat)

    def centred_sq(xy):  # ‖g_i − ḡ‖² for one row
        xi, yi = xy

        def li(th):
            return ctx.loss(model.apply(unravel(th), xi[None], ctx.c, ctx.activation)[0], yi)

        d = jax.grad(li)(flat) - gbar
        return jnp.vdot(d, d)

    n = x.shape[0]
    sq = jax.lax.map(centred_sq, (x, y), batch_size=min(NOISE_CHUNK, n))
    return flat, gbar, jnp.sum(sq) / n, per_sample


def grad_noise_trace(params, params0, data, ctx):
    """tr Σ = (1/n) Σ_i ‖g_i − ḡ‖², the total variance of a one-sample gradient.

    g_i = ∇_θ ½ (f(x_i) − y_i)² over the whole evaluation set (training set; all
    ``task.test_size`` held-out rows online, whose labels are the noiseless
    teacher, so data/label noise does not enter Σ online).  Centred explicitly
    (no cancellation in E‖g‖² − ‖ḡ‖²).

    Shapes: per-sample gradients in blocks of 64 rows (``jax.lax.map``), so memory
    is O(64·P) on top of the forward pass.  Cost: one gradient pass for ḡ plus n
    per-sample gradients ≈ 2 passes.
    """
    return _noise_parts(params, data, ctx)[2]


def grad_noise_top(params, params0, data, ctx):
    """λ_max(Σ), the top eigenvalue of the per-sample gradient covariance.

    Σv = (1/n) Jᵀ(Jv − mean(Jv)) with J (n × P) the per-sample gradients, never
    formed: Jv = ``jax.jvp`` of the per-sample loss vector ℓ(θ) (n,), Jᵀu its
    ``jax.vjp`` (since Σ_i (Jv − mean)_i = 0, the ḡ term drops out).  Lanczos as in
    :func:`sharpness` (k = min(32, P) steps, fixed start vector; Σ is PSD of rank
    ≤ n − 1, so the Krylov space often closes early and the restart rule applies).

    Shapes: x (n, d) -> scalar.  Cost: one linearisation + k (jvp + vjp) ≈ 3k
    passes, memory O(n·m + k·P).
    """
    x, y = data.eval_set()
    flat, _, _, per_sample = _flat_losses(params, x, y, ctx)
    _, jvp = jax.linearize(per_sample, flat)
    _, vjp = jax.vjp(per_sample, flat)
    n = x.shape[0]

    def cov(v):
        u = jvp(v)
        return vjp(u - jnp.mean(u))[0] / n

    return lanczos_max(cov, flat.size, flat.dtype)


def noise_to_signal(params, params0, data, ctx):
    """tr Σ / ‖∇L‖², the gradient noise-to-signal ratio at batch size 1.

    Li, Malladi & Arora (NeurIPS 2021, "On the validity of modeling SGD with
    SDEs", the SVAG paper) compare the noise N = tr Σ with the signal G = ‖∇L‖²;
    for batch B the ratio is (tr Σ)/(B ‖∇L‖²) (the "simple noise scale"
    B_simple = tr Σ/‖∇L‖² of McCandlish et al. 2018 is the same quantity).  This
    observable is per trajectory and has B = 1: divide by the batch size
    yourself, and note that the mean over seeds of this ratio is not the ratio
    of the means (record ``grad_noise_trace`` and ``grad_norm`` for the latter).

    Both terms on the evaluation set as in :func:`grad_noise_trace`.  0/0 (no
    gradient and no noise, e.g. every neuron dead) is returned as 0; the ratio is
    +inf only at an exact critical point with nonzero noise, which the engine
    would count as a divergence.  Cost: as ``grad_noise_trace``.
    """
    _, gbar, tr, _ = _noise_parts(params, data, ctx)
    g2 = jnp.vdot(gbar, gbar)
    return jnp.where((g2 == 0) & (tr == 0), jnp.zeros_like(tr), tr / g2)


# ============================================================ 1-D implicit bias
def _require_1d(params, name):
    d = params["W"].shape[-1]
    if d != 1:
        raise ValueError(f"observable {name} needs 1-D inputs (task.input_dim = 1), got input_dim = {d}")


def kink_count(params, params0, data, ctx):
    """Number of distinct kinks of the learned relu function inside [min x, max x] (d = 1).

    With f(x) = c Σ_j a_j relu(w_j x + b_j) (b_j = 0 without bias), neuron j has a
    kink at t_j = −b_j / w_j where the slope of f jumps by s_j = c a_j |w_j|.  Here:

    1. a neuron is a candidate if w_j ≠ 0, |s_j| > ε·max_k |s_k| (ε =
       ``KINK_REL_THRESHOLD`` = 1e-3) and min x ≤ t_j ≤ max x (closed interval; x the
       training inputs, held-out inputs online);
    2. candidates are sorted and merged by single linkage: consecutive kinks
       closer than δ = ``KINK_MERGE_TOL``·(max x − min x) = 1e-3 × range are one kink
       (neurons that aligned on the same breakpoint);
    3. a merged kink counts if its net slope jump |Σ s_j| > ε·max_k |s_k|: kinks
       whose jumps cancel (e.g. relu(1 − x) − relu(x − 1) = 1 − x) are not kinks of f.

    Returned as a float.  Shapes: W (m, 1) -> scalar; cost O(m log m + n).
    Raises ValueError at trace time (when the run compiles) if input_dim ≠ 1 or the
    activation is not relu (a nan would make the engine drop every trajectory as
    diverged).
    """
    _require_1d(params, "kink_count")
    if ctx.activation is not activations.RELU:
        raise ValueError(f"observable kink_count needs model.activation = 'relu', got {ctx.activation.name!r}")
    x, _ = data.eval_set()
    lo, hi = jnp.min(x), jnp.max(x)
    w = params["W"][:, 0]
    b = params["b"] if "b" in params else jnp.zeros_like(w)
    m = w.shape[0]
    s = ctx.c * params["a"] * jnp.abs(w)  # slope jump at the kink
    thr = KINK_REL_THRESHOLD * jnp.max(jnp.abs(s))
    t = -b / jnp.where(w == 0, 1.0, w)
    ok = (w != 0) & (jnp.abs(s) > thr) & (t >= lo) & (t <= hi)
    t = jnp.where(ok, t, jnp.inf)
    order = jnp.argsort(t)
    t, s, ok = t[order], s[order], ok[order]  # candidates first
    gap = jnp.diff(t, prepend=-jnp.inf)
    new = ok & (gap > KINK_MERGE_TOL * (hi - lo))
    seg = jnp.where(ok, jnp.cumsum(new) - 1, m)  # cluster id; m = discarded
    jump = jax.ops.segment_sum(jnp.where(ok, s, 0.0), seg, num_segments=m + 1)[:m]
    real = (jnp.arange(m) < jnp.sum(new)) & (jnp.abs(jump) > thr)
    return jnp.sum(real).astype(x.dtype)


def nuclear_norm(params, params0, data, ctx):
    """‖Φ‖_* = Σ_k s_k(Φ), the nuclear norm of the feature matrix Φ (n × m).

    Φ_ij = σ(w_j·x_i + b_j): the hidden activations on the evaluation set (training
    inputs; held-out inputs online), not scaled by a_j or c and not row-normalised
    — the matrix whose singular values Andriushchenko et al. (ICML 2023, "SGD with
    large step sizes learns sparse features", tml-epfl/sgd-sparse-features,
    ``features(X, normalize=False, scaled=False)``) inspect as a measure of
    feature sparsity/low rank.  Their code looks at the singular values (a
    rank count), not this sum; the nuclear norm is the convex surrogate.

    Defined for any input dimension (unlike ``kink_count``): nothing here needs
    d = 1.  Shapes: Φ (n, m) -> scalar.  Cost: one pass plus a thin SVD,
    O(n·m·min(n, m)).
    """
    x, _ = data.eval_set()
    phi = ctx.activation.fn(model.preactivations(params, x))
    return jnp.sum(jnp.linalg.svd(phi, compute_uv=False))


register("sharpness", sharpness)
register("grad_noise_trace", grad_noise_trace)
register("grad_noise_top", grad_noise_top)
register("noise_to_signal", noise_to_signal)
register("kink_count", kink_count)
register("nuclear_norm", nuclear_norm)
