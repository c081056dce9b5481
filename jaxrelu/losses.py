"""Per-sample losses ℓ(f, y): one registered entry each (:data:`jaxrelu.registry.LOSSES`).

Every use of the loss goes through its entry: the SGD step (the batch loss is the
mean of ℓ over the batch), the SDE's objective and its covariance, the observables
``train_loss``, ``population_loss`` (on the held-out sample) and ``grad_norm``, and
the diagnostics.

Built-in: ``square`` ℓ = ½ (f − y)² (:mod:`jaxrelu.conventions`), the only one with
``square = True``: the closed-form population loss, the teacher–student ODE and the
label-noise term of the SDE assume it.  Add one with :func:`register`::

    jaxrelu.losses.register("huber", lambda f, y: optax.huber_loss(f, y, delta=1.0))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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
