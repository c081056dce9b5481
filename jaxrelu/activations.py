"""Activations σ: one registered entry each (:data:`jaxrelu.registry.ACTIVATIONS`).

An entry holds the function σ (elementwise, any shape) and, optionally,

* ``kernels``: closed-form Gaussian kernels κ(q_self, q_other, r) = E[σ(u) σ_other(v)]
  for (u, v) ~ N(0, [[q_self, r], [r, q_other]]), keyed by the other activation's
  name.  When the pairs (student, student), (student, teacher) and (teacher, teacher)
  have one (from either entry, or built from the structure below) and neither net has
  biases, the population loss of a teacher–student task is evaluated in closed form
  (:mod:`jaxrelu.theory.kernels`); otherwise on the held-out sample.
* ``ode``: the family of Gaussian integrals the teacher–student ODE
  (:mod:`jaxrelu.theory.ode`) has for σ; without it ``record.theory = ["ode"]`` is
  refused.
* ``relu_linear = (p, s)``: σ(z) = p·relu(z) + s·z exactly (relu, leaky_relu, abs,
  linear).  Any two such entries have the arc-cosine kernel (Cho & Saul 2009)
  p1 p2 κ_relu,relu + (p1 s2 + s1 p2) r/2 + s1 s2 r.
* ``hermite``: β(k, q) = E_{u~N(0,q)}[σ^{(k)}(u)], the Gaussian means of σ's derivatives
  (distributional for kinks), in closed form; ``degree``: n when σ is a polynomial of
  degree n (then β(k, ·) = 0 for k > n), else None.  By Price's theorem (Mehler's formula),

      κ(q1, q2, r) = Σ_k  r^k β1(k, q1) β2(k, q2) / k!,

  a finite sum whenever one of the two is a polynomial: so any entry with ``hermite``
  has a closed-form kernel against any Hermite series, at any variances (q1, q2).
  At q = 1, β(k, 1) = E[σ(z) He_k(z)] = k! c_k with σ = Σ_k c_k He_k
  (:func:`hermite_coefficients`).

Built-ins (conventions: :mod:`jaxrelu.conventions`):

=====================  ==================================================  =====================
name                   σ(z)                                                closed-form kernels
=====================  ==================================================  =====================
``relu``               max(z, 0)                                           arc-cos, Hermite
``leaky_relu(α)``      max(z, αz) (α ∈ [−1, 1]; ``leaky_relu`` = α 0.01)  arc-cos, Hermite
``abs``                |z|                                                 arc-cos, Hermite
``linear``             z                                                   arc-cos, Hermite, erf
``erf``                erf(z/√2) (Saad & Solla)                            erf, linear, Hermite
``tanh``               tanh z                                              —
``sigmoid``            1/(1 + e^{−z})                                      —
``softplus``           log(1 + e^z)                                        —
``gelu``               z Φ(z) (exact, not the tanh approximation)          Hermite
``quadratic``          z²  (= He_2 + He_0)                                 Hermite
``he1`` … ``he8``      He_k(z), probabilists' Hermite, unnormalised        Hermite
``hermite(c0, …, cn)`` Σ_k c_k He_k(z), n ≤ 8                              Hermite
=====================  ==================================================  =====================

The Hermite entries are ``he1``, ``he2``, ``he3``, ``he4``, ``he5``, ``he6``, ``he7`` and ``he8``.
"Hermite": against every entry that has ``hermite`` (relu, leaky_relu, abs, linear, erf, gelu,
quadratic, He_k, Hermite series), when one of the two is a polynomial.  tanh, sigmoid and softplus have
no closed-form Gaussian means of their derivatives: their population losses use the held-out sample.  Parametric names
(``leaky_relu(0.1)``, ``hermite(0, 0, 1, 0.5)``) are built once per distinct argument
tuple (:meth:`jaxrelu.registry.Registry.register_family`), so equal names give the identical
entry.  Add your own with :func:`register`::

    jaxrelu.activations.register("swish", jax.nn.swish)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

from jaxrelu.registry import ACTIVATIONS

#: highest Hermite degree of the He_k entries and of ``hermite(...)`` series
MAX_HERMITE_DEGREE = 8


@dataclass(frozen=True, eq=False)
class Activation:
    """A registered activation: its name, σ, closed-form kernels, ODE integrals, and the
    structure other kernels are built from (``relu_linear``, ``hermite``/``degree``; see the
    module doc)."""

    name: str
    fn: Callable
    kernels: tuple[tuple[str, Callable], ...] = ()
    ode: str | None = None
    relu_linear: tuple[float, float] | None = None
    hermite: Callable | None = None
    degree: int | None = None


def register(
    name: str,
    fn: Callable,
    *,
    kernels: dict[str, Callable] | None = None,
    ode: str | None = None,
    relu_linear: tuple[float, float] | None = None,
    hermite: Callable | None = None,
    degree: int | None = None,
) -> Activation:
    """Register σ = ``fn`` under ``name``; ``kernels`` maps another activation's name to
    κ(q_self, q_other, r); ``relu_linear``, ``hermite`` and ``degree`` as in the module
    docstring.  Returns the entry."""
    return ACTIVATIONS.register(name, _entry(name, fn, kernels, ode, relu_linear, hermite, degree))


def _entry(name, fn, kernels=None, ode=None, relu_linear=None, hermite=None, degree=None) -> Activation:
    return Activation(name, fn, tuple(sorted((kernels or {}).items())), ode, relu_linear, hermite, degree)


def get(activation) -> Activation:
    """The entry of ``activation`` (a name, e.g. ``"relu"`` or ``"leaky_relu(0.1)"``, or an entry)."""
    return activation if isinstance(activation, Activation) else ACTIVATIONS.get(activation)


def pair_kernel(a1: Activation, a2: Activation) -> Callable | None:
    """κ(q1, q2, r) = E[σ1(u) σ2(v)] for the pair, or None.

    In order: an explicit kernel of either entry; the arc-cosine combination when both have
    ``relu_linear``; the Hermite (Mehler) sum when both have ``hermite`` and one is a polynomial.
    """
    own = dict(a1.kernels).get(a2.name)
    if own is not None:
        return own
    other = dict(a2.kernels).get(a1.name)
    if other is not None:
        return lambda q1, q2, r: other(q2, q1, r)
    if a1.relu_linear is not None and a2.relu_linear is not None:
        (p1, s1), (p2, s2) = a1.relu_linear, a2.relu_linear
        return lambda q1, q2, r: p1 * p2 * _relu_relu(q1, q2, r) + (p1 * s2 + s1 * p2) * r / 2 + s1 * s2 * r
    if a1.hermite is not None and a2.hermite is not None and (a1.degree is not None or a2.degree is not None):
        n = min(d for d in (a1.degree, a2.degree) if d is not None)
        return lambda q1, q2, r: mehler_kernel(a1.hermite, a2.hermite, n, q1, q2, r)
    return None


def mehler_kernel(beta1: Callable, beta2: Callable, n: int, q1, q2, r):
    """Σ_{k≤n} r^k β1(k, q1) β2(k, q2) / k!  (Price's theorem; exact when either σ has degree ≤ n).

    β1, β2: the entries' ``hermite`` functions; q1, q2, r broadcast (q ≥ 0, r² ≤ q1 q2)."""
    total = 0.0
    for k in range(n + 1):
        total = total + r**k * beta1(k, q1) * beta2(k, q2) / math.factorial(k)
    return total


def hermite_coefficients(activation, n: int, q: float = 1.0):
    """c_0..c_n with σ(√q z) = Σ_k c_k He_k(z) (z ~ N(0, 1)), i.e. c_k = q^{k/2} β(k, q)/k!.

    At q = 1 these are σ's Hermite coefficients; the *information exponent* of a link σ is the
    least k ≥ 1 with c_k ≠ 0.  Needs the entry's ``hermite``.  Returns a (n + 1,) array."""
    act = get(activation)
    if act.hermite is None:
        raise ValueError(f"activation {act.name!r} has no closed-form Hermite coefficients")
    return jnp.stack([q ** (k / 2) * jnp.asarray(act.hermite(k, q), float) / math.factorial(k) for k in range(n + 1)])


# ----------------------------------------------------------------- Hermite polynomials
def hermite_he(k: int, z):
    """Probabilists' Hermite polynomial He_k(z) (He_0 = 1, He_1 = z, He_{k+1} = z He_k − k He_{k−1})."""
    h0, h1 = jnp.ones_like(z), z
    if k == 0:
        return h0
    for j in range(1, k):
        h0, h1 = h1, z * h1 - j * h0
    return h1


def _hermite_series(coefs) -> Callable:
    coefs = tuple(float(c) for c in coefs)

    def fn(z):
        total = coefs[0] * jnp.ones_like(z)
        h0, h1 = jnp.ones_like(z), z
        for k in range(1, len(coefs)):
            if k > 1:
                h0, h1 = h1, z * h1 - (k - 1) * h0
            if coefs[k] != 0.0:
                total = total + coefs[k] * h1
        return total

    return fn


def _double_factorial(m: int) -> int:
    """m!! with (−1)!! = 0!! = 1."""
    return math.prod(range(m, 0, -2)) if m > 0 else 1


def _gauss_he_mean(m: int, q):
    """E[He_m(u)], u ~ N(0, q): (q − 1)^{m/2} (m − 1)!! for even m, 0 for odd m."""
    return 0.0 * q if m % 2 else (q - 1.0) ** (m // 2) * _double_factorial(m - 1)


def _hermite_beta(coefs) -> Callable:
    """β(k, q) of Σ_n c_n He_n: He_n^{(k)} = n!/(n − k)! He_{n−k}, so β = Σ_n c_n n!/(n−k)! E[He_{n−k}(u)]."""
    coefs = tuple(float(c) for c in coefs)

    def beta(k, q):
        q = jnp.asarray(q)
        total = 0.0 * q
        for n in range(k, len(coefs)):
            if coefs[n] != 0.0:
                total = total + coefs[n] * (math.factorial(n) // math.factorial(n - k)) * _gauss_he_mean(n - k, q)
        return total

    return beta


_PHI0 = 1 / math.sqrt(2 * math.pi)


def _relu_beta(k, q):
    """β(k, q) of relu: E[relu(u)] = √(q/2π), E[1{u>0}] = ½, and for k ≥ 2 the Gaussian density's
    (k − 2)-th derivative at 0: He_{k−2}(0) φ(0) q^{−(k−1)/2} (0 at q = 0, where r = 0)."""
    q = jnp.asarray(q)
    if k == 0:
        return jnp.sqrt(q) * _PHI0
    if k == 1:
        return 0.5 + 0.0 * q
    he0 = _gauss_he_mean(k - 2, 0.0)  # He_{k−2}(0)
    safe = jnp.where(q > 0, q, 1.0)
    return jnp.where(q > 0, he0 * _PHI0 * safe ** (-(k - 1) / 2), 0.0)


def _linear_beta(k, q):
    q = jnp.asarray(q)
    return (1.0 if k == 1 else 0.0) + 0.0 * q


def _relu_linear_beta(p: float, s: float) -> Callable:
    return lambda k, q: p * _relu_beta(k, q) + s * _linear_beta(k, q)


def _erf_beta(k, q):
    """β(k, q) of erf(z/√2): 0 for even k, √(2/π) (−1)^{(k−1)/2} (k − 2)!! (1 + q)^{−k/2} for odd k."""
    q = jnp.asarray(q)
    if k % 2 == 0:
        return 0.0 * q
    return math.sqrt(2 / math.pi) * (-1) ** ((k - 1) // 2) * _double_factorial(k - 2) * (1 + q) ** (-k / 2)


def _gelu_beta(k, q):
    """β(k, q) of gelu(z) = z Φ(z): with c = 1/√(2π(1 + q)), s = q/(1 + q) and M_j = E[He_j(v)],
    v ~ N(0, s): E[u Φ(u)] = q c, E[Φ(u) + u φ(u)] = ½, and for k ≥ 2 (gelu^{(k)} = k φ^{(k−2)} + u φ^{(k−1)},
    φ^{(j)} = (−1)^j He_j φ, E[φ(u) h(u)] = c E[h(v)])
    β = (−1)^k c (k M_{k−2} − M_k − (k − 1) M_{k−2}) = (−1)^k c (M_{k−2} − M_k)."""
    q = jnp.asarray(q)
    c = 1.0 / jnp.sqrt(2 * jnp.pi * (1 + q))
    if k == 0:
        return q * c
    if k == 1:
        return 0.5 + 0.0 * q
    s = q / (1 + q)
    return (-1) ** k * c * (_gauss_he_mean(k - 2, s) - _gauss_he_mean(k, s))


# ----------------------------------------------------------------- closed-form kernels
@jax.custom_jvp
def _relu_relu(q1, q2, r):
    """Arc-cosine kernel of degree 1 (Cho & Saul 2009): √(q1 q2)/(2π) (sin θ + (π − θ) cos θ).

    Its derivatives are written out (autodiff of arccos and √(1 − cos²) is ∞ · 0 at cos θ = ±1,
    e.g. on the diagonal of K(W, W)): ∂κ/∂r = (π − θ)/(2π) and ∂κ/∂q_i = √(q1 q2 − r²)/(4π q_i),
    finite everywhere (0 where q1 q2 = 0)."""
    norm = jnp.sqrt(q1 * q2)
    safe = jnp.where(norm > 0, norm, 1.0)
    cos = jnp.clip(r / safe, -1.0, 1.0)
    theta = jnp.arccos(cos)
    val = norm / (2 * jnp.pi) * (jnp.sqrt(1 - cos**2) + (jnp.pi - theta) * cos)
    return jnp.where(norm > 0, val, 0.0)


@_relu_relu.defjvp
def _relu_relu_jvp(primals, tangents):
    q1, q2, r = primals
    dq1, dq2, dr = tangents
    norm = jnp.sqrt(q1 * q2)
    ok = norm > 0
    cos = jnp.clip(r / jnp.where(ok, norm, 1.0), -1.0, 1.0)
    root = jnp.sqrt(jnp.maximum(q1 * q2 - r * r, 0.0))
    d_q1 = jnp.where(ok, root / (4 * jnp.pi * jnp.where(ok, q1, 1.0)), 0.0)
    d_q2 = jnp.where(ok, root / (4 * jnp.pi * jnp.where(ok, q2, 1.0)), 0.0)
    d_r = jnp.where(ok, (jnp.pi - jnp.arccos(cos)) / (2 * jnp.pi), 0.0)
    return _relu_relu(q1, q2, r), d_q1 * dq1 + d_q2 * dq2 + d_r * dr


def _erf_erf(q1, q2, r):
    """(2/π) arcsin(r / √((1 + q1)(1 + q2))) for σ = erf(·/√2) (Saad & Solla 1995)."""
    return 2 / jnp.pi * jnp.arcsin(r / jnp.sqrt((1 + q1) * (1 + q2)))


def _erf_linear(q_erf, q_lin, r):
    """r √(2/π) / √(1 + q_erf) (Stein's lemma)."""
    return r * jnp.sqrt(2 / jnp.pi) / jnp.sqrt(1 + q_erf)


_SQRT_HALF = 1 / math.sqrt(2)

RELU = register(
    "relu",
    jax.nn.relu,
    kernels={"relu": _relu_relu, "linear": lambda q1, q2, r: r / 2},
    ode="relu",
    relu_linear=(1.0, 0.0),
    hermite=_relu_beta,
)
ERF = register(
    "erf", lambda z: erf(z * _SQRT_HALF), kernels={"erf": _erf_erf, "linear": _erf_linear}, ode="erf", hermite=_erf_beta
)
LINEAR = register(
    "linear",
    lambda z: z,
    kernels={"linear": lambda q1, q2, r: r},
    ode="linear",
    relu_linear=(0.0, 1.0),
    hermite=_linear_beta,
    degree=1,
)
ABS = register("abs", jnp.abs, relu_linear=(2.0, -1.0), hermite=_relu_linear_beta(2.0, -1.0))
QUADRATIC = register("quadratic", lambda z: z * z, hermite=_hermite_beta((1.0, 0.0, 1.0)), degree=2)
TANH = register("tanh", jnp.tanh)
SIGMOID = register("sigmoid", jax.nn.sigmoid)
SOFTPLUS = register("softplus", jax.nn.softplus)
GELU = register("gelu", lambda z: jax.nn.gelu(z, approximate=False), hermite=_gelu_beta)


def leaky_relu(slope: float = 0.01) -> Activation:
    """The entry max(z, slope·z) = (1 − slope) relu(z) + slope·z, slope ∈ [−1, 1] (−1: |z|).

    Named ``"leaky_relu(slope)"``; look it up by that name (the registry caches one entry per slope)."""
    slope = float(slope)
    if not -1.0 <= slope <= 1.0 or not math.isfinite(slope):
        raise ValueError(f"the slope must be in [-1, 1], got {slope:g}")
    p, s = 1.0 - slope, slope
    return _entry(
        f"leaky_relu({slope:g})",
        lambda z: jnp.where(z >= 0, z, slope * z),
        relu_linear=(p, s),
        hermite=_relu_linear_beta(p, s),
    )


def hermite(*coefs: float) -> Activation:
    """The entry σ(z) = Σ_k coefs[k] He_k(z) (probabilists' Hermite, :func:`hermite_he`), degree ≤ 8.

    Named ``"hermite(c0, c1, ...)"``.  Trailing zeros are dropped, and equal series give the
    identical entry (``hermite(0, 0, 1)``, ``hermite(0, 0, 1, 0)`` and ``he2`` are one entry)."""
    coefs = tuple(float(c) for c in coefs)
    if not coefs or not all(math.isfinite(c) for c in coefs):
        raise ValueError(f"hermite(...) needs finite coefficients c0, c1, ..., got {coefs}")
    while len(coefs) > 1 and coefs[-1] == 0.0:
        coefs = coefs[:-1]
    if len(coefs) - 1 > MAX_HERMITE_DEGREE:
        raise ValueError(f"the degree must be at most {MAX_HERMITE_DEGREE}, got {len(coefs) - 1}")
    return _hermite_entry(coefs)


_HERMITE_ENTRIES: dict[tuple[float, ...], Activation] = {}


def _hermite_entry(coefs: tuple[float, ...], name: str | None = None) -> Activation:
    """The one entry of the (trailing-zero-free) series ``coefs``."""
    if coefs not in _HERMITE_ENTRIES:
        name = name or f"hermite({', '.join(f'{c:g}' for c in coefs)})"
        _HERMITE_ENTRIES[coefs] = _entry(
            name, _hermite_series(coefs), hermite=_hermite_beta(coefs), degree=len(coefs) - 1
        )
    return _HERMITE_ENTRIES[coefs]


ACTIVATIONS.register_family("leaky_relu", leaky_relu)
ACTIVATIONS.register_family("hermite", hermite)
LEAKY_RELU = ACTIVATIONS.register("leaky_relu", ACTIVATIONS.get("leaky_relu(0.01)"))
for _k in range(1, MAX_HERMITE_DEGREE + 1):
    ACTIVATIONS.register(f"he{_k}", _hermite_entry((0.0,) * _k + (1.0,), f"he{_k}"))
del _k
