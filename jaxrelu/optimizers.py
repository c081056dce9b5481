"""Optimisers: optax factories by name (:data:`jaxrelu.registry.OPTIMIZERS`).

An entry is an optax alias ``factory(learning_rate, **kwargs) -> GradientTransformation``
and the config keys whose traced values feed its keyword arguments.  The engine builds
the transformation inside the compiled step, for one grid point, from that point's
traced hyperparameters (closed over, like ``optax.inject_hyperparams`` would feed them,
but without storing them in the optimiser state): a new value of any of them never
recompiles, and each is a grid axis if it is in :data:`jaxrelu.config.SWEEPABLE`.

Every optimiser gets, in this order (:mod:`jaxrelu.dynamics`):

    g ← ∇L_B(θ) + λ θ                  (``optimizer.weight_decay`` = λ, ``optax.add_decayed_weights``)
    u, state ← factory(η_t, ...).update(g, state, θ)
    θ ← θ + u [+ √(2 η_t T) ζ]          (Langevin noise, ``optimizer.langevin_temperature`` = T)

with η_t the scheduled learning rate.  ``optional`` keyword arguments are passed as
``None`` when their key is 0 and not swept (``sgd``'s momentum: no trace buffer, no
state).  Built-ins: ``sgd`` (``optax.sgd``, heavy-ball ``optimizer.momentum``) and
``adam`` (``optax.adam`` with its defaults).  Add one with :func:`register`::

    jaxrelu.optimizers.register("rmsprop", optax.rmsprop)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import optax

from jaxrelu.registry import OPTIMIZERS


@dataclass(frozen=True, eq=False)
class Optimizer:
    """A registered optimiser: an optax factory and the config keys of its traced arguments."""
    name: str
    factory: Callable
    hyperparams: tuple[tuple[str, str], ...] = ()    # (factory keyword, dotted config key)
    optional: tuple[str, ...] = ()                   # keywords passed as None when their key is off


def register(name: str, factory: Callable, *, hyperparams: dict[str, str] | None = None,
             optional: tuple[str, ...] = ()) -> Optimizer:
    """Register the optax alias ``factory(learning_rate, **kwargs)`` under ``name``.

    ``hyperparams`` maps keyword arguments of ``factory`` to dotted config keys (traced
    values, one per grid point).  Returns the entry.
    """
    return OPTIMIZERS.register(name, Optimizer(name, factory, tuple(sorted((hyperparams or {}).items())),
                                               tuple(optional)))


def transformation(opt: Optimizer, hp: dict, lr, on: frozenset) -> optax.GradientTransformation:
    """``opt``'s transformation at learning rate ``lr`` for one grid point's traced ``hp``;
    ``on``: the config keys switched on (non-zero or swept)."""
    kwargs = {kw: (hp[key] if key in on or kw not in opt.optional else None) for kw, key in opt.hyperparams}
    return opt.factory(lr, **kwargs)


SGD = register("sgd", optax.sgd, hyperparams={"momentum": "optimizer.momentum"}, optional=("momentum",))
ADAM = register("adam", optax.adam)
