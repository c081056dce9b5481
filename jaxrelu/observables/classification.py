"""Classification observables, labels y ∈ {−1, +1} (registered on import; :mod:`jaxrelu.observables`).

With f = f_θ the network (:mod:`jaxrelu.conventions`), θ = every leaf of the parameter pytree
(W (m, d), a (m,), and b (m,) if present) and ‖θ‖² = ‖W‖_F² + ‖a‖² (+ ‖b‖²):

``train_error``        (1/n) Σ_i 1[y_i f(x_i) ≤ 0] over the training set (0–1 error; f = 0 counts as
                       an error).  Labels as at record time (``task.label_noise`` included).
``test_error``         the same on the task's held-out test set ``TaskData.x_test, y_test`` (clean labels;
                       requires a task that provides ``"test_set"``: the classification tasks, a
                       ``dataset`` with ``task.test_inputs``, ``teacher_student``).
``test_loss``          (1/n_test) Σ ℓ(f(x), y) on the test set, ℓ the study's loss.
``margin``             min_i y_i f(x_i) over the training set (unnormalised; negative while a point is
                       misclassified).
``normalized_margin``  min_i y_i f(x_i) / ‖θ‖^L with L = 2.  For a bias-free two-layer network with a
                       positively 1-homogeneous activation (relu, linear) and both layers trained,
                       f_{cθ} = c² f_θ, so this is the normalised margin of Lyu & Li (2020), which gradient
                       descent on the logistic or exponential loss increases once the data are fitted
                       and which converges to a KKT point of max-margin.  With biases (f is then not
                       homogeneous in θ), with a frozen second layer (f is 1-homogeneous in W alone) or a
                       non-homogeneous activation (erf) it is still min y f / ‖θ‖² over all parameters,
                       which is **not** a homogeneous margin: compare values within one such model only.
                       0 at θ = 0.
``param_norm``         ‖θ‖₂ over all parameters (it grows like log t under gradient descent on separable
                       data with the logistic loss, Soudry et al. 2018; Lyu & Li 2020).
``stable_rank``        ‖W‖_F² / ‖W‖₂² of the first layer (1 ≤ · ≤ min(m, d); 1 when the rows are
                       parallel); 0 at W = 0.
``direction_cosine``   min_k max_j cos(w_j, u_k) over the task's directions u_k (``TaskData.directions``
                       (k, d): a mixture's mean direction, the XOR's four cluster directions, a sign
                       teacher's rows): 1 when every direction has a neuron aligned with it (for one
                       direction u, max_j cos(w_j, u)).  Requires a task that provides ``"direction"``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrelu import losses, model
from jaxrelu.observables import register


def signed_outputs(params, x, y, ctx):
    """y_i f(x_i) for x (n, d), y (n,) -> (n,)."""
    return y * model.apply(params, x, ctx.c, ctx.activation)


def zero_one_error(params, x, y, ctx):
    """(1/n) Σ 1[y_i f(x_i) ≤ 0] for x (n, d), y (n,) -> scalar."""
    return jnp.mean((signed_outputs(params, x, y, ctx) <= 0).astype(x.dtype))


def squared_norm(params):
    """‖θ‖² over every leaf of the parameter pytree -> scalar."""
    return sum(jnp.sum(v * v) for v in jax.tree.leaves(params))


def train_error(params, params0, data, ctx):
    return zero_one_error(params, data.x_train, data.y_train, ctx)


def test_error(params, params0, data, ctx):
    return zero_one_error(params, data.x_test, data.y_test, ctx)


def test_loss(params, params0, data, ctx):
    return losses.mean_loss(ctx.loss, model.apply(params, data.x_test, ctx.c, ctx.activation), data.y_test)


def margin(params, params0, data, ctx):
    return jnp.min(signed_outputs(params, data.x_train, data.y_train, ctx))


def normalized_margin(params, params0, data, ctx):
    n2 = squared_norm(params)
    return jnp.where(n2 > 0, margin(params, params0, data, ctx) / jnp.where(n2 > 0, n2, 1), 0)


def param_norm(params, params0, data, ctx):
    return jnp.sqrt(squared_norm(params))


def stable_rank(params, params0, data, ctx):
    W = params["W"]
    gram = W @ W.T if W.shape[0] <= W.shape[1] else W.T @ W  # the smaller of the two Gram matrices
    top = jnp.linalg.eigvalsh(gram)[-1]
    fro = jnp.trace(gram)
    return jnp.where(top > 0, fro / jnp.where(top > 0, top, 1), 0)


def direction_cosine(params, params0, data, ctx):
    W, U = params["W"], data.directions
    cos = (W @ U.T) / (jnp.linalg.norm(W, axis=1)[:, None] * jnp.linalg.norm(U, axis=1)[None, :] + 1e-30)
    return jnp.min(jnp.max(cos, axis=0))


register("train_error", train_error, requires="train_set")
register("test_error", test_error, requires="test_set")
register("test_loss", test_loss, requires="test_set")
register("margin", margin, requires="train_set")
register("normalized_margin", normalized_margin, requires="train_set")
register("param_norm", param_norm)
register("stable_rank", stable_rank)
register("direction_cosine", direction_cosine, requires="direction")
