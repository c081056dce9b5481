"""SGD's batch of step t, made once per seed (outside the per-grid-point step).

Online (``"block"``): the inputs of steps BLOCK·b .. BLOCK·b + BLOCK − 1 are the rows
of one draw ``normal(kx, (BLOCK, B, d))`` with ``kx, kn = split(fold_in(fold_in(seed_key,
BLOCKS), b))`` (``kn``: the data-noise normals, (BLOCK, B)); a step draws only its own
rows, so no block is stored.  Finite sets with a fixed batch size (``"epochs"``): the
permutations of the epochs a batch touches, drawn once per epoch.  Finite sets with a swept
batch size (``"grid_epochs"``): the same, per grid point, since grid point g with batch size
B_g reads epoch ⌊t·B_g/n⌋ at step t; its batch (B_max rows, those ≥ B_g masked by the loss)
is exactly the batch of a run with a fixed batch size B_g, and the permutations depend on
(seed, epoch) only, so the batch sizes share them (common random numbers).  Each is kept in
a per-seed cache in the loop carry, remade when its tag (a function of t: the epoch, or
every grid point's epoch) changes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrelu import rng, tasks
from jaxrelu.engine.trajectory import BLOCKS, SHUFFLE

BLOCK = 8  # online steps per key of the input stream


def batch_source(prog) -> str | None:
    """Where SGD's batch of step t comes from, when it is made per seed outside the step.

    ``"block"``: online inputs, the rows of a block of BLOCK steps (:func:`online_keys`);
    ``"epochs"``: a finite set visited in reshuffled epochs with a fixed batch size,
    its epoch permutations drawn once per epoch, not at every step; ``"grid_epochs"``:
    the same with a swept batch size, the permutations of each grid point's epochs
    (its batch has a grid axis, :func:`per_point`).  Each is kept in the loop carry
    (:func:`cache`).  ``None``: the step draws its batch itself (full batch,
    replacement, no dynamics reading SGD's batch).
    """
    if not any(d.batch for d in prog.step.methods):
        return None
    if prog.task.online:
        return "block"
    if prog.task.replacement or prog.task.full_batch:
        return None
    return "grid_epochs" if prog.step.masked_batch else "epochs"


def per_point(prog) -> bool:
    """Whether the cache's batch has a grid axis (one batch per grid point, (G, batch_max, ...)),
    rather than one batch per seed shared by its grid points."""
    return batch_source(prog) == "grid_epochs"


def online_keys(seed_key, t):
    """The keys (kx, kn) of the block of BLOCK online steps containing step t, (2, 2)."""
    return rng.split(rng.fold_in(rng.fold_in(seed_key, BLOCKS), t // BLOCK))


def cache(prog, hp=None):
    """(tag(t), make(seed_key, t), batch(cache, data, t)) of the per-seed cache of the
    batch source: the keys of step t's online block, or the permutations of the epochs
    it touches.  ``tag`` depends on t only (an int32 scalar, or (G,) for ``"grid_epochs"``:
    every grid point's epoch); the cache is remade when any entry changes.

    ``hp``: the grid's hyperparameters, (G,) arrays; ``"grid_epochs"`` reads their batch
    sizes.  Its cache is (G, 2, n) int32 per seed (each grid point's epochs ⌊t·B_g/n⌋ and
    the next), its batch x (G, batch_max, d), y and e (G, batch_max): batch t of a fixed
    batch size B_g (:func:`jaxrelu.tasks.epoch_batch`), bit for bit.
    """
    task = prog.task
    source = batch_source(prog)
    if source == "block":
        r = prog.step.repeat  # data repetition: step t reads the batch of step ⌊t/r⌋·r
        fresh = (lambda t: t) if r == 1 else (lambda t: (t // r) * r)  # noqa: E731

        def batch(keys, data, t):
            # A real conditional (XLA cannot prove t >= 0), so that the step's inputs are drawn
            # once: left in the step's dataflow, XLA fuses the sampler into each of its consumers
            # and recomputes it for every element of W's update (4x slower).
            def draw():
                return tasks.draw_online_batch(task, keys, fresh(t) % BLOCK, jnp.dtype(prog.dtype))

            unused = jax.tree.map(jnp.zeros_like, jax.eval_shape(draw))
            return tasks.online_batch(task, data, jax.lax.cond(t >= 0, draw, lambda: unused))

        return lambda t: fresh(t) // BLOCK, lambda k, t: online_keys(k, fresh(t)), batch
    if source == "grid_epochs":
        sizes = hp["optimizer.batch_size"].astype(jnp.int32)  # (G,)
        epochs = lambda t: (t * sizes) // task.train_size  # noqa: E731

        def make(k, t):
            key = rng.fold_in(k, SHUFFLE)
            return jax.vmap(lambda e: tasks.epoch_permutations(task, key, e, 2))(epochs(t))

        return (
            epochs,
            make,
            lambda c, data, t: jax.vmap(lambda perms, b: tasks.epoch_batch(task, data, perms, t, b))(c, sizes),
        )
    count = tasks.epochs_spanned(task, task.batch_max)
    epoch = lambda t: (t * task.batch_max) // task.train_size  # noqa: E731
    return (
        epoch,
        lambda k, t: tasks.epoch_permutations(task, rng.fold_in(k, SHUFFLE), epoch(t), count),
        lambda c, data, t: tasks.epoch_batch(task, data, c, t),
    )
