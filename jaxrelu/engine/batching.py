"""SGD's batch of step t, made once per seed (outside the per-grid-point step).

Online (``"block"``): the inputs of steps BLOCK·b .. BLOCK·b + BLOCK − 1 are the rows
of one draw ``normal(kx, (BLOCK, B, d))`` with ``kx, kn = split(fold_in(fold_in(seed_key,
BLOCKS), b))`` (``kn``: the data-noise normals, (BLOCK, B)); a step draws only its own
rows, so no block is stored.  Finite sets with a fixed batch size (``"epochs"``): the
permutations of the epochs a batch touches, drawn once per epoch.  Either is kept in a
per-seed cache in the loop carry, remade when its tag (a function of t) changes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrelu import rng, tasks
from jaxrelu.engine.trajectory import BLOCKS, SHUFFLE

BLOCK = 8                # online steps per key of the input stream


def batch_source(prog) -> str | None:
    """Where SGD's batch of step t comes from, when it is made per seed outside the step.

    ``"block"``: online inputs, the rows of a block of BLOCK steps (:func:`online_keys`);
    ``"epochs"``: a finite set visited in reshuffled epochs with a fixed batch size,
    its epoch permutations drawn once per epoch, not at every step.  Either is kept
    in the loop carry (:func:`cache`).  ``None``: the step draws its batch itself
    (full batch, replacement, a swept batch size, no dynamics reading SGD's batch).
    """
    if not any(d.batch for d in prog.step.methods):
        return None
    if prog.task.online:
        return "block"
    if not (prog.task.replacement or prog.task.full_batch or prog.step.masked_batch):
        return "epochs"
    return None


def online_keys(seed_key, t):
    """The keys (kx, kn) of the block of BLOCK online steps containing step t, (2, 2)."""
    return rng.split(rng.fold_in(rng.fold_in(seed_key, BLOCKS), t // BLOCK))


def cache(prog):
    """(tag(t), make(seed_key, t), batch(cache, data, t)) of the per-seed cache of the
    batch source: the keys of step t's online block, or the permutations of the epochs
    it touches.  ``tag`` depends on t only; the cache is remade when it changes."""
    task = prog.task
    if batch_source(prog) == "block":
        def batch(keys, data, t):
            # A real conditional (XLA cannot prove t >= 0), so that the step's inputs are drawn
            # once: left in the step's dataflow, XLA fuses the sampler into each of its consumers
            # and recomputes it for every element of W's update (4x slower).
            def draw():
                return tasks.draw_online_batch(task, keys, t % BLOCK, jnp.dtype(prog.dtype))
            unused = jax.tree.map(jnp.zeros_like, jax.eval_shape(draw))
            return tasks.online_batch(task, data, jax.lax.cond(t >= 0, draw, lambda: unused))
        return lambda t: t // BLOCK, online_keys, batch
    count = tasks.epochs_spanned(task, task.batch_max)
    epoch = lambda t: (t * task.batch_max) // task.train_size  # noqa: E731
    return (epoch, lambda k, t: tasks.epoch_permutations(task, rng.fold_in(k, SHUFFLE), epoch(t), count),
            lambda c, data, t: tasks.epoch_batch(task, data, c, t))


