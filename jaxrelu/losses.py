"""Per-sample losses ℓ(f, y): one registered entry each (:data:`jaxrelu.registry.LOSSES`).

Every use of the loss goes through its entry: the SGD step (the batch loss is the
mean of ℓ over the batch), the SDE's objective and its covariance, the observables
``train_loss``, ``population_loss`` (on the held-out sample) and ``grad_norm``, and
the diagnostics.

Built-in: ``square`` ℓ = ½ (f − y)² (:mod:`jaxrelu.conventions`), the only one with
``square = True``: the closed-form population loss, the teacher–student ODE and the
label-noise term of the SDE assume it.

Classification losses, for labels y ∈ {−1, +1} (the tasks of :mod:`jaxrelu.tasks.classification`),
functions of the margin y·f alone:

``logistic``     ℓ = log(1 + e^{−y f}), computed as ``logaddexp(0, −y f)``: exact and finite for
                 |f| ≫ 1 (ℓ ≈ −y f for y f ≪ 0, ℓ ≈ e^{−y f} for y f ≫ 0; gradient
                 −y·sigmoid(−y f));
``exponential``  ℓ = e^{−y f}: exact, so it overflows to +inf (never nan) once −y f exceeds the
                 float's log-maximum (≈ 88.7 in float32, ≈ 709.8 in float64); it underflows to 0,
                 with a zero gradient, for large positive margins;
``hinge``        ℓ = max(0, 1 − y f) (gradient −y on y f < 1, 0 beyond; the kink at y f = 1 takes ½ of it);
``correlation``  ℓ = −y f (unbounded below: the linear loss of a margin-maximising first step).

Add one with :func:`register`::

    jaxrelu.losses.register("huber", lambda f, y: optax.huber_loss(f, y, delta=1.0))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp

from jaxrelu.registry import LOSSES


@dataclass(frozen=True, eq=False)
class Loss:
    """A registered loss ℓ(f, y) = ``scale · fn(f, y)``, ``fn`` elementwise on arrays of one shape.

    ``scale`` is a constant kept outside every sum (½ for the square loss, which is then
    computed as ½ Σ (f − y)² rather than Σ ½ (f − y)²: the same number up to rounding).
    """

    name: str
    fn: Callable
    square: bool = False
    scale: float = 1.0

    def __call__(self, f, y):
        """ℓ(f, y), elementwise."""
        return self.scale * self.fn(f, y)


def register(name: str, fn: Callable, *, square: bool = False, scale: float = 1.0) -> Loss:
    """Register ℓ = ``scale · fn(f, y)`` (elementwise) under ``name``; returns the entry."""
    return LOSSES.register(name, Loss(name, fn, square, scale))


def get(loss) -> Loss:
    """The entry of ``loss`` (a name or an entry)."""
    return loss if isinstance(loss, Loss) else LOSSES.get(loss)


def mean_loss(loss: Loss, f, y, mask=None, count=None):
    """(1/B) Σ_i ℓ(f_i, y_i) over the last axis; with ``mask`` (B,), Σ_i mask_i ℓ_i / ``count``."""
    per = loss.fn(f, y)
    if mask is None:
        return loss.scale * jnp.mean(per, axis=-1)
    return loss.scale * jnp.sum(mask * per, axis=-1) / count


def weighted_sum(loss: Loss, w, f, y):
    """Σ_i w_i ℓ(f_i, y_i) over the last axis (the SDE's weighted objective)."""
    return jnp.sum(w * loss.scale * loss.fn(f, y), axis=-1)


SQUARE = register("square", lambda f, y: (f - y) ** 2, square=True, scale=0.5)


# classification losses, labels ±1 (the module docstring)
LOGISTIC = register("logistic", lambda f, y: jnp.logaddexp(0.0, -y * f))
EXPONENTIAL = register("exponential", lambda f, y: jnp.exp(-y * f))
HINGE = register("hinge", lambda f, y: jnp.maximum(0.0, 1.0 - y * f))
CORRELATION = register("correlation", lambda f, y: -y * f)
