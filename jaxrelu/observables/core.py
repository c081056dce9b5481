"""The built-in observables, one trajectory each (registered on import; :mod:`jaxrelu.observables`).

``population_loss``   E_x[ℓ(f(x), f*(x))] with the noiseless teacher (½ E_x[(f − f*)²] for the
                      square loss).  Closed form (:mod:`jaxrelu.theory.kernels`) when neither
                      net has biases, the loss is square and the activations pair has a
                      kernel; otherwise the mean over the shared held-out sample of
                      ``task.test_size`` points.
``train_loss``        mean over the finite training set of ℓ(f(x), y).
``weight_norm``       ‖(W, b)‖_F of the first layer.
``second_layer_norm`` ‖a‖₂.
``max_teacher_cosine``  min over teacher neurons k of max_j cos(w_j, w*_k): 1 when
                      every teacher neuron is matched by some student neuron.
``mean_teacher_cosine`` mean over k of max_j cos(w_j, w*_k).
``active_fraction``   fraction of student neurons active (w_j·x + b_j > 0) on at
                      least one input of the training set (held-out sample online).
``distance_from_init`` ‖θ − θ₀‖₂ over all parameters.
``grad_norm``         ‖∇_θ L‖₂ of the training loss (held-out loss online).

Precision.  The engine evaluates every observable in float64 at record times, on the run's
parameters cast to float64 (:mod:`jaxrelu.engine.segment`), whatever ``run.dtype``.  Sums and
norms are then exact to ~1e-16 relative.  The closed-form ``population_loss`` is a difference
of terms of size O(‖c a‖² + ‖a*‖²) that cancel near a perfect fit: its absolute error is
~1e-16 × those terms (so a loss of 1e-12 is known to ~1e-4 relative), with no clip at 0; on
the held-out sample it is a Monte Carlo estimate whose error is its sampling error.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrelu import losses, model
from jaxrelu.observables import register
from jaxrelu.theory import kernels


def population_loss(params, params0, data, ctx):
    if ctx.closed_form:
        t = data.teacher
        return kernels.population_loss(
            params["W"], params["a"], ctx.c, ctx.activation, t["W"], t["a"], ctx.teacher_activation
        )
    return losses.mean_loss(ctx.loss, model.apply(params, data.x_test, ctx.c, ctx.activation), data.y_test)


def train_loss(params, params0, data, ctx):
    return losses.mean_loss(ctx.loss, model.apply(params, data.x_train, ctx.c, ctx.activation), data.y_train)


def weight_norm(params, params0, data, ctx):
    s = jnp.sum(params["W"] ** 2)
    return jnp.sqrt(s + jnp.sum(params["b"] ** 2)) if "b" in params else jnp.sqrt(s)


def second_layer_norm(params, params0, data, ctx):
    return jnp.linalg.norm(params["a"])


def _teacher_cosines(params, data):
    W, Ws = params["W"], data.teacher["W"]
    cos = (W @ Ws.T) / (jnp.linalg.norm(W, axis=1)[:, None] * jnp.linalg.norm(Ws, axis=1)[None, :] + 1e-30)
    return jnp.max(cos, axis=0)  # (k,): best student neuron per teacher neuron


def max_teacher_cosine(params, params0, data, ctx):
    return jnp.min(_teacher_cosines(params, data))


def mean_teacher_cosine(params, params0, data, ctx):
    return jnp.mean(_teacher_cosines(params, data))


def active_fraction(params, params0, data, ctx):
    x, _ = data.eval_set()
    active = jnp.any(model.preactivations(params, x) > 0, axis=0)
    return jnp.mean(active.astype(x.dtype))


def distance_from_init(params, params0, data, ctx):
    sq = jax.tree.map(lambda p, q: jnp.sum((p - q) ** 2), params, params0)
    return jnp.sqrt(sum(jax.tree.leaves(sq)))


def grad_norm(params, params0, data, ctx):
    x, y = data.eval_set()
    g = jax.grad(lambda p: losses.mean_loss(ctx.loss, model.apply(p, x, ctx.c, ctx.activation), y))(params)
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
