"""Observables: per-trajectory scalars evaluated at record times.

An observable is a pure function ``fn(params, params0, data, ctx) -> scalar``
of the current parameters, the initial parameters (``None`` unless the
observable declared ``needs_init``), the task arrays (:class:`TaskData`) and the
static :class:`Context`.  It is vmapped over grid points and seeds by the
engine.  Register your own with :func:`register`.

Built-ins (all for one trajectory):

``population_loss``   ½ E_x[(f(x) − f*(x))²], noiseless teacher.  Closed form
                      (:mod:`jaxrelu.theory.kernels`) when neither net has biases
                      and the activations pair has one; otherwise the mean over
                      the shared held-out sample of ``task.test_size`` points.
``train_loss``        ½ mean over the finite training set of (f(x) − y)².
``weight_norm``       ‖(W, b)‖_F of the first layer.
``second_layer_norm`` ‖a‖₂.
``max_teacher_cosine``  min over teacher neurons k of max_j cos(w_j, w*_k): 1 when
                      every teacher neuron is matched by some student neuron.
``mean_teacher_cosine`` mean over k of max_j cos(w_j, w*_k).
``active_fraction``   fraction of student neurons active (w_j·x + b_j > 0) on at
                      least one input of the training set (held-out sample online).
``distance_from_init`` ‖θ − θ₀‖₂ over all parameters.
``grad_norm``         ‖∇_θ L‖₂ of the training loss (held-out loss online).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp

from jaxrelu import model
from jaxrelu.theory import kernels


@dataclass(frozen=True)
class Context:
    """Static facts an observable may need."""
    c: float
    activation: str
    teacher_activation: str | None
    closed_form: bool            # population loss in closed form
    online: bool
    kind: str


@dataclass(frozen=True)
class Observable:
    fn: Callable
    needs_init: bool = False
    requires: str | None = None  # "teacher" or "train_set": checked against the task


REGISTRY: dict[str, Observable] = {}


def register(name: str, fn: Callable, needs_init: bool = False, requires: str | None = None) -> None:
    """Add an observable ``fn(params, params0, data, ctx) -> scalar`` under ``name``."""
    REGISTRY[name] = Observable(fn, needs_init, requires)


def _eval_inputs(data, ctx):
    return (data.x_test, data.y_test) if data.x_train is None else (data.x_train, data.y_train)


def population_loss(params, params0, data, ctx):
    if ctx.closed_form:
        t = data.teacher
        return kernels.population_loss(params["W"], params["a"], ctx.c, ctx.activation,
                                       t["W"], t["a"], ctx.teacher_activation)
    r = model.apply(params, data.x_test, ctx.c, ctx.activation) - data.y_test
    return 0.5 * jnp.mean(r * r)


def train_loss(params, params0, data, ctx):
    r = model.apply(params, data.x_train, ctx.c, ctx.activation) - data.y_train
    return 0.5 * jnp.mean(r * r)


def weight_norm(params, params0, data, ctx):
    s = jnp.sum(params["W"] ** 2)
    return jnp.sqrt(s + jnp.sum(params["b"] ** 2)) if "b" in params else jnp.sqrt(s)


def second_layer_norm(params, params0, data, ctx):
    return jnp.linalg.norm(params["a"])


def _teacher_cosines(params, data):
    W, Ws = params["W"], data.teacher["W"]
    cos = (W @ Ws.T) / (jnp.linalg.norm(W, axis=1)[:, None] * jnp.linalg.norm(Ws, axis=1)[None, :] + 1e-30)
    return jnp.max(cos, axis=0)            # (k,): best student neuron per teacher neuron


def max_teacher_cosine(params, params0, data, ctx):
    return jnp.min(_teacher_cosines(params, data))


def mean_teacher_cosine(params, params0, data, ctx):
    return jnp.mean(_teacher_cosines(params, data))


def active_fraction(params, params0, data, ctx):
    x, _ = _eval_inputs(data, ctx)
    active = jnp.any(model.preactivations(params, x) > 0, axis=0)
    return jnp.mean(active.astype(x.dtype))


def distance_from_init(params, params0, data, ctx):
    sq = jax.tree.map(lambda p, q: jnp.sum((p - q) ** 2), params, params0)
    return jnp.sqrt(sum(jax.tree.leaves(sq)))


def grad_norm(params, params0, data, ctx):
    x, y = _eval_inputs(data, ctx)

    def loss(p):
        r = model.apply(p, x, ctx.c, ctx.activation) - y
        return 0.5 * jnp.mean(r * r)
    g = jax.grad(loss)(params)
    return jnp.sqrt(sum(jnp.sum(v * v) for v in jax.tree.leaves(g)))


register("population_loss", population_loss, requires="teacher")
register("train_loss", train_loss, requires="train_set")
register("weight_norm", weight_norm)
register("second_layer_norm", second_layer_norm)
register("max_teacher_cosine", max_teacher_cosine, requires="teacher")
register("mean_teacher_cosine", mean_teacher_cosine, requires="teacher")
register("active_fraction", active_fraction)
register("distance_from_init", distance_from_init, needs_init=True)
register("grad_norm", grad_norm)


# diagnostics (sharpness, gradient-noise statistics, kinks, nuclear norm) register themselves
from jaxrelu import diagnostics  # noqa: E402,F401
