"""Activations σ: one registered entry each (:data:`jaxrelu.registry.ACTIVATIONS`).

An entry holds the function σ (elementwise, any shape) and, optionally,

* ``kernels``: closed-form Gaussian kernels κ(q_self, q_other, r) = E[σ(u) σ_other(v)]
  for (u, v) ~ N(0, [[q_self, r], [r, q_other]]), keyed by the other activation's
  name.  When the student's and the teacher's activations have one (in either
  entry) and neither net has biases, the population loss of a teacher–student task
  is evaluated in closed form (:mod:`jaxrelu.theory.kernels`); otherwise on the
  held-out sample.
* ``ode``: the family of Gaussian integrals the teacher–student ODE
  (:mod:`jaxrelu.theory.ode`) has for σ; without it ``record.theory = ["ode"]`` is
  refused.

Built-ins (:mod:`jaxrelu.conventions`): ``relu``, ``erf`` (σ(z) = erf(z/√2), Saad &
Solla's convention) and ``linear``.  Add one with :func:`register`::

    jaxrelu.activations.register("softplus", jax.nn.softplus)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

from jaxrelu.registry import ACTIVATIONS


@dataclass(frozen=True, eq=False)
class Activation:
    """A registered activation: its name, σ, closed-form kernels and ODE integrals (see module doc)."""
    name: str
    fn: Callable
    kernels: tuple[tuple[str, Callable], ...] = ()
    ode: str | None = None


def register(name: str, fn: Callable, *, kernels: dict[str, Callable] | None = None,
             ode: str | None = None) -> Activation:
    """Register σ = ``fn`` under ``name``; ``kernels`` maps another activation's name to
    κ(q_self, q_other, r) (see the module docstring).  Returns the entry."""
    return ACTIVATIONS.register(name, Activation(name, fn, tuple(sorted((kernels or {}).items())), ode))


def get(activation) -> Activation:
    """The entry of ``activation`` (a name or an entry)."""
    return activation if isinstance(activation, Activation) else ACTIVATIONS.get(activation)


def pair_kernel(a1: Activation, a2: Activation) -> Callable | None:
    """κ(q1, q2, r) = E[σ1(u) σ2(v)] for the pair, from either entry, or None."""
    own = dict(a1.kernels).get(a2.name)
    if own is not None:
        return own
    other = dict(a2.kernels).get(a1.name)
    if other is not None:
        return lambda q1, q2, r: other(q2, q1, r)
    return None


# ----------------------------------------------------------------- built-ins
def _relu_relu(q1, q2, r):
    """Arc-cosine kernel of degree 1 (Cho & Saul 2009): √(q1 q2)/(2π) (sin θ + (π − θ) cos θ)."""
    norm = jnp.sqrt(q1 * q2)
    safe = jnp.where(norm > 0, norm, 1.0)
    cos = jnp.clip(r / safe, -1.0, 1.0)
    theta = jnp.arccos(cos)
    val = norm / (2 * jnp.pi) * (jnp.sqrt(1 - cos**2) + (jnp.pi - theta) * cos)
    return jnp.where(norm > 0, val, 0.0)


def _erf_erf(q1, q2, r):
    """(2/π) arcsin(r / √((1 + q1)(1 + q2))) for σ = erf(·/√2) (Saad & Solla 1995)."""
    return 2 / jnp.pi * jnp.arcsin(r / jnp.sqrt((1 + q1) * (1 + q2)))


def _erf_linear(q_erf, q_lin, r):
    """r √(2/π) / √(1 + q_erf) (Stein's lemma)."""
    return r * jnp.sqrt(2 / jnp.pi) / jnp.sqrt(1 + q_erf)


_SQRT_HALF = 1 / math.sqrt(2)

RELU = register("relu", jax.nn.relu, kernels={"relu": _relu_relu, "linear": lambda q1, q2, r: r / 2}, ode="relu")
ERF = register("erf", lambda z: erf(z * _SQRT_HALF), kernels={"erf": _erf_erf, "linear": _erf_linear}, ode="erf")
LINEAR = register("linear", lambda z: z, kernels={"linear": lambda q1, q2, r: r}, ode="linear")
