"""``sgd``: one step of the optimiser on SGD's batch of step t (:mod:`jaxrelu.dynamics`)."""

from __future__ import annotations

from jaxrelu import dynamics, rng


def step(spec, params, opt_state, sample, keys, t, hp):
    """θ ← opt step on ∇L_B (label noise, weight decay, noise models as switched on); ``grad_fn``, the
    gradient of the same batch with the same label noise at another point, is there for SAM."""
    x, y = sample.batch()
    k_ln, k_lv = rng.split(keys[1])

    def grad_fn(p):
        return dynamics.batch_gradient(spec, p, x, y, k_ln, hp)

    return dynamics.apply_update(
        spec, params, opt_state, grad_fn(params), k_lv, hp, dynamics.learning_rate(spec, hp, t), grad_fn=grad_fn
    )


SGD = dynamics.register("sgd", step, batch=True, ode=True)
