"""``sgd``: one step of the optimiser on SGD's batch of step t (:mod:`jaxrelu.dynamics`)."""

from __future__ import annotations

from jaxrelu import dynamics, rng


def step(spec, params, opt_state, sample, keys, t, hp):
    """θ ← opt step on ∇L_B (label noise, weight decay, Langevin noise as switched on)."""
    x, y = sample.batch()
    k_ln, k_lv = rng.split(keys[1])
    grads = dynamics.batch_gradient(spec, params, x, y, k_ln, hp)
    return dynamics.apply_update(spec, params, opt_state, grads, k_lv, hp, dynamics.learning_rate(spec, hp, t))


SGD = dynamics.register("sgd", step, batch=True, ode=True)
