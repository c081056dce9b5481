"""A swept batch size on a finite training set (``"grid_epochs"``, :mod:`jaxrelu.engine.batching`):
each grid point's epoch permutations kept in the loop carry, and its trajectories bit for bit
those of a run with that fixed batch size."""

import jax
import jax.numpy as jnp
import numpy as np
from conftest import study

import jaxrelu
from jaxrelu import engine, rng, tasks

# n = 10 samples: B = 3 straddles epoch boundaries, record segments (every 7 steps) start mid-epoch
KW = dict(
    task={"train_size": 10, "label_noise": 0.3},
    model={"width": 3},
    run={"seeds": 3, "steps": 23, "record_every": 7, "dtype": "float64"},
    record={"observables": ["train_loss"], "keep_per_seed": ["train_loss"]},
)


def test_swept_batch_size_equals_fixed_batch_runs():
    """Grid point (B, lr) of a batch-size × lr sweep is, bit for bit, the run with ``optimizer.batch_size
    = B`` over the same lrs at B = batch_max (3: batches straddle epochs, segments start mid-epoch).
    Below batch_max the samples are the same (:func:`test_grid_batches_are_the_per_step_draws_and_share_
    the_epoch_permutations`) and the trajectories agree to rounding only, as before the cache: the loss
    is a mean over batch_max rows with those ≥ B masked, summed in another order than a mean over B rows.
    That the whole sweep equals the per-step draws bit for bit is checked by ``jaxrelu bench --profile
    gpu`` (``check_batch_sweep``; on a CPU by the slow test of tests/test_bench.py)."""
    swept = study(optimizer={"lr": 0.05}, sweep={"optimizer.batch_size": [1, 3], "optimizer.lr": [0.05, 0.1]}, **KW)
    assert engine.batching.batch_source(engine.build(swept)[0]) == "grid_epochs"
    got = jaxrelu.run(swept)["train_loss.per_seed"]  # (2 B, 2 lr, seeds, records)
    fixed = study(optimizer={"lr": 0.05, "batch_size": 3}, sweep={"optimizer.lr": [0.05, 0.1]}, **KW)
    assert engine.batching.batch_source(engine.build(fixed)[0]) == "epochs"
    np.testing.assert_array_equal(got[1], jaxrelu.run(fixed)["train_loss.per_seed"])
    assert not np.allclose(got[0], got[1], rtol=1e-3)  # the batch size does something


def test_grid_batches_are_the_per_step_draws_and_share_the_epoch_permutations():
    """The cache's batch of grid point g at step t is ``tasks.sample_batch`` with B_g (the per-step
    draw, which recomputes the permutations at every step); and the batch sizes read one permutation
    per (seed, epoch): B = 1 over steps 0..n−1 and B = 2 over steps 0..n/2−1 visit the same order."""
    st = study(optimizer={"lr": 0.05}, sweep={"optimizer.batch_size": [1, 2, 3]}, **KW)
    prog, hp_np = engine.build(st)
    hp = {k: jnp.asarray(v, jnp.float32) for k, v in hp_np.items()}
    tag, make, cut = engine.batching.cache(prog, hp)
    key = rng.fold_in(jax.random.PRNGKey(5), 2)
    n, d = prog.task.train_size, prog.task.input_dim
    data = tasks.TaskData(
        x_train=jnp.arange(n * d, dtype=jnp.float32).reshape(n, d),
        y_train=jnp.arange(n, dtype=jnp.float32),
        e_train=-jnp.arange(n, dtype=jnp.float32),
    )
    steps = jnp.arange(2 * n)
    cached = jax.jit(jax.vmap(lambda t: cut(make(key, t), data, t)))(steps)  # (T, G, batch_max, ...)
    assert cached["x"].shape == (2 * n, 3, prog.task.batch_max, d) and tag(3).shape == (3,)
    per_step = jax.jit(
        jax.vmap(
            lambda t: jax.vmap(
                lambda b: tasks.sample_batch(
                    prog.task, data, None, rng.fold_in(key, engine.SHUFFLE), t, b, None, jnp.float32
                )
            )(jnp.arange(1, 4, dtype=jnp.int32))
        )
    )(steps)
    np.testing.assert_array_equal(cached["x"], per_step[0])
    np.testing.assert_array_equal(cached["y"], per_step[1])
    np.testing.assert_array_equal(cached["e"], -per_step[1])
    y = np.asarray(cached["y"], int)
    order1, order2 = y[:n, 0, 0], y[: n // 2, 1, :2].ravel()
    np.testing.assert_array_equal(order1, order2)
    assert sorted(order1) == list(range(n))
