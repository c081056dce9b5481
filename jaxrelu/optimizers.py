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
    u_a ← r u_a                        (``optimizer.second_layer_lr_ratio`` = r: the second layer's rate r η_t)
    θ ← θ + u [+ noise]                (:mod:`jaxrelu.dynamics.noise`: Langevin, anti-correlated, α-stable, t)

with η_t the scheduled learning rate.  ``optional`` keyword arguments are passed as
``None`` when their key is 0 and not swept (``sgd``'s momentum: no trace buffer, no
state).  ``optimizer.name`` names one entry, or several as a grid axis
(``"optimizer.name" = ["sgd", "adam"]``): every listed optimiser's state is carried and
each grid point's update is selected, so the optimisers run on the same seeds (common
random numbers).

Built-ins (optax's defaults are the keys' defaults)::

    sgd        optax.sgd                 momentum = optimizer.momentum (heavy ball; 0: plain SGD, no state)
    momentum   optax.sgd                 momentum = optimizer.momentum_beta (heavy ball, always a trace)
    nesterov   optax.sgd(nesterov=True)  momentum = optimizer.momentum_beta
    adam       optax.adam                b1, b2, eps = optimizer.adam_b1, adam_b2, adam_eps
    adamw      optax.adamw               the same and weight_decay = optimizer.adamw_weight_decay
    rmsprop    optax.rmsprop             decay, eps, initial_scale, momentum = optimizer.rmsprop_*
    adagrad    optax.adagrad             initial_accumulator_value, eps = optimizer.adagrad_initial, adagrad_eps
    sign_sgd   optax.sign_sgd            θ ← θ − η sign(g)
    lion       optax.lion                b1, b2, weight_decay = optimizer.lion_b1, lion_b2, lion_weight_decay
    sam        :func:`sam`               rho = optimizer.sam_rho, on SGD with momentum = optimizer.momentum

so ``"optimizer.name" = ["sgd", "momentum"]`` compares plain SGD (``optimizer.momentum = 0``)
with heavy ball at β = ``optimizer.momentum_beta`` on the same seeds.  Add one with
:func:`register`::

    jaxrelu.optimizers.register("yogi", optax.yogi)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from jaxrelu.registry import OPTIMIZERS


@dataclass(frozen=True, eq=False)
class Optimizer:
    """A registered optimiser: an optax factory and the config keys of its traced arguments.

    ``needs_loss``: its ``update`` takes the keyword ``grad_fn`` (θ' ↦ the gradient, at θ', of the
    objective whose gradient it is given: the same batch, label noise and weight decay), as SAM does.
    """

    name: str
    factory: Callable
    hyperparams: tuple[tuple[str, str], ...] = ()  # (factory keyword, dotted config key)
    optional: tuple[str, ...] = ()  # keywords passed as None when their key is off
    needs_loss: bool = False


def register(
    name: str,
    factory: Callable,
    *,
    hyperparams: dict[str, str] | None = None,
    optional: tuple[str, ...] = (),
    needs_loss: bool = False,
) -> Optimizer:
    """Register the optax alias ``factory(learning_rate, **kwargs)`` under ``name``.

    ``hyperparams`` maps keyword arguments of ``factory`` to dotted config keys (traced
    values, one per grid point); ``optional`` lists keywords passed as None when their key
    is 0 and not swept; ``needs_loss``: the transformation's ``update`` takes ``grad_fn``
    (:class:`Optimizer`).  Returns the entry.
    """
    return OPTIMIZERS.register(
        name, Optimizer(name, factory, tuple(sorted((hyperparams or {}).items())), tuple(optional), needs_loss)
    )


def transformation(opt: Optimizer, hp: dict, lr, on: frozenset) -> optax.GradientTransformation:
    """``opt``'s transformation at learning rate ``lr`` (a traced scalar) for one grid point's traced
    ``hp`` (dotted key -> scalar); ``on``: the config keys switched on (non-zero or swept)."""
    kwargs = {kw: (hp[key] if key in on or kw not in opt.optional else None) for kw, key in opt.hyperparams}
    return opt.factory(lr, **kwargs)


# ------------------------------------------------------------------------------------------- SAM
def sam(
    learning_rate, rho=0.05, momentum=None, base: optax.GradientTransformation | None = None
) -> optax.GradientTransformationExtraArgs:
    """Sharpness-aware minimisation (Foret, Kleiner, Mobahi & Neyshabur 2021) as an optax transformation
    given the loss::

        ε = ρ g / ‖g‖,     g' = ∇L(θ + ε),     u, s ← base.update(g', s, θ)

    with ‖·‖ the Euclidean norm over all parameters (ε = 0 when g = 0) and ``base`` SGD
    (``optax.sgd(learning_rate, momentum)``, as in the paper) unless given.  ``update(g, state,
    params, *, grad_fn)`` needs ``grad_fn``: θ' ↦ ∇L(θ') of the objective whose gradient g is.

    Why a transformation given the loss, and not a dynamics entry: SAM changes the direction
    an optimiser is given, not how time advances, so as an optimiser it composes with every
    dynamics-independent piece (weight decay, per-layer rates, noise models, label noise) and
    is one more value of the ``optimizer.name`` axis beside SGD and Adam on the same seeds.
    The ``sgd`` dynamics supplies ``grad_fn`` as the gradient of the same mini-batch with the
    same label noise (and weight decay, so SAM minimises the regularised loss's sharpness): the
    m-sharpness of the paper with m = the batch size.  The ascent costs a second backward
    pass per step.  Other dynamics (``sde``, ``flow``, ``svag``) supply none and are refused.
    optax's ``optax.contrib.sam`` instead alternates ascent and descent steps over successive
    calls, which would make one SAM step two of the engine's steps and two batches.

    Shapes: ``g``, ``params`` and ``grad_fn``'s input and output are the same pytree.
    """
    base = optax.sgd(learning_rate, momentum) if base is None else base

    def update(updates, state, params=None, *, grad_fn=None, **extra):
        if grad_fn is None:
            raise ValueError("sam: update needs grad_fn (the loss's gradient at another point)")
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree.leaves(updates)))
        step = jnp.where(norm > 0, rho / jnp.where(norm > 0, norm, 1), 0).astype(norm.dtype)
        g2 = grad_fn(jax.tree.map(lambda p, g: p + step * g, params, updates))
        return base.update(g2, state, params)

    return optax.GradientTransformationExtraArgs(base.init, update)


SGD = register("sgd", optax.sgd, hyperparams={"momentum": "optimizer.momentum"}, optional=("momentum",))
MOMENTUM = register(
    "momentum", functools.partial(optax.sgd, nesterov=False), hyperparams={"momentum": "optimizer.momentum_beta"}
)
NESTEROV = register(
    "nesterov", functools.partial(optax.sgd, nesterov=True), hyperparams={"momentum": "optimizer.momentum_beta"}
)
_ADAM = {"b1": "optimizer.adam_b1", "b2": "optimizer.adam_b2", "eps": "optimizer.adam_eps"}
ADAM = register("adam", optax.adam, hyperparams=_ADAM)
ADAMW = register("adamw", optax.adamw, hyperparams={**_ADAM, "weight_decay": "optimizer.adamw_weight_decay"})
RMSPROP = register(
    "rmsprop",
    optax.rmsprop,
    hyperparams={
        "decay": "optimizer.rmsprop_decay",
        "eps": "optimizer.rmsprop_eps",
        "initial_scale": "optimizer.rmsprop_initial_scale",
        "momentum": "optimizer.rmsprop_momentum",
    },
    optional=("momentum",),
)
ADAGRAD = register(
    "adagrad",
    optax.adagrad,
    hyperparams={"initial_accumulator_value": "optimizer.adagrad_initial", "eps": "optimizer.adagrad_eps"},
)
SIGN_SGD = register("sign_sgd", optax.sign_sgd)
LION = register(
    "lion",
    optax.lion,
    hyperparams={"b1": "optimizer.lion_b1", "b2": "optimizer.lion_b2", "weight_decay": "optimizer.lion_weight_decay"},
)
SAM = register(
    "sam",
    sam,
    hyperparams={"rho": "optimizer.sam_rho", "momentum": "optimizer.momentum"},
    optional=("momentum",),
    needs_loss=True,
)
