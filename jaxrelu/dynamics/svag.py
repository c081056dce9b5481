"""``svag``: SVAG (Li, Malladi & Arora 2021), SGD's weak approximation by l small steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrelu import dynamics, rng


def step(spec, params, opt_state, sample, keys, t, hp):
    """l steps of size lr/l per SGD step of time, each with

        g = ((1 + √(2l−1))/2) ∇L_{B1} + ((1 − √(2l−1))/2) ∇L_{B2}

    on two independent batches of ``batch_max`` i.i.d. rows (substep i's from
    ``fold_in(k_batch, i)``); l = 1 is SGD and l → ∞ converges weakly to the SDE.  l
    (``optimizer.svag_l``, a grid axis) is traced, so ``spec.svag_max`` substeps run and
    those ≥ l are masked.
    """
    k_batch, key = keys
    rows = sample.rows

    def batches(i):
        k1, k2 = rng.split(rng.fold_in(k_batch, i))
        return sample.iid(k1, rows), sample.iid(k2, rows)

    l = hp["optimizer.svag_l"]
    lr = dynamics.learning_rate(spec, hp, t) / l
    r = jnp.sqrt(2 * l - 1)

    def sub(i, carry):
        p, s = carry
        (x1, y1), (x2, y2) = batches(i)
        k1, k2, kv = rng.split(rng.fold_in(key, i), 3)
        g1 = dynamics.batch_gradient(spec, p, x1, y1, k1, hp)
        g2 = dynamics.batch_gradient(spec, p, x2, y2, k2, hp)
        g = jax.tree.map(lambda a, b: (1 + r) / 2 * a + (1 - r) / 2 * b, g1, g2)
        new = dynamics.apply_update(spec, p, s, g, kv, hp, lr)
        return jax.tree.map(lambda a, b: jnp.where(i < l, a, b), new, (p, s))

    return jax.lax.fori_loop(0, spec.svag_max, sub, (params, opt_state))


SVAG = dynamics.register("svag", step, rows=2)
