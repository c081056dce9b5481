"""Seeds × grid points: the compiled functions of a program.

:func:`make_fns` returns (draw, init, segment, observe): the per-seed training sets; the
initial state of every trajectory (vmap over seeds, vmap over grid points); one record
segment, a ``fori_loop`` of steps t0 .. t1 − 1 in the run's dtype; and the observables at a
record, in float64 one seed at a time, with their statistics over seeds
(:mod:`jaxrelu.stats`) reduced on the device.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrelu import rng, stats, tasks
from jaxrelu.engine import batching, trajectory


def merge_data(shared, per_seed):
    """The task's arrays of one seed: the shared ones with the seed's own."""
    return shared._replace(**per_seed)


def make_fns(prog, sharding=None):
    """The (draw, init, segment, observe) functions of a Program, to be jitted; ``observe``
    is traced with x64 on (observables in float64, whatever the run's dtype).

    With a ``sharding`` over the seed axis, per-seed arrays are constrained to it
    (statistics over seeds then reduce across devices).
    """

    def shard(tree):
        if sharding is None:
            return tree
        return jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, sharding), tree)

    def draw(seed_keys):
        return shard(
            jax.vmap(lambda k: tasks.draw_seed_data(rng.fold_in(k, trajectory.DATA), prog.task, jnp.dtype(prog.dtype)))(
                seed_keys
            )
        )

    def init(seed_keys, hp, shared, drawn):
        per_seed = jax.vmap(lambda d: tasks.label_seed_data(d, shared, prog.task))(drawn) if drawn else {}
        state = jax.vmap(lambda k: jax.vmap(lambda h: trajectory.init_one(prog, k, h, shared))(hp))(seed_keys)
        S, G = seed_keys.shape[0], prog.grid_size
        state["alive"] = jnp.ones((S, G), bool)
        state["fpt"] = jnp.full((S, G, len(prog.first_passage)), -1, jnp.int32)
        return shard(state), shard(per_seed)

    G = prog.grid_size

    def step_all(t, state, per_seed, seed_keys, hp, shared, cache):
        """Step t of every trajectory: state leaves (S, G, ...), or (S, ...) when G = 1.

        SGD's batch of step t, when made per seed (:func:`batching.batch_source`), is cut from
        the seed's cache and labelled once per seed, then broadcast over the seed's
        grid points before the network sees it: left unbatched over the grid, XLA's
        CPU dot copies (transposes) W at every step.  A swept batch size on a finite set
        gives each grid point its own batch (:func:`batching.per_point`), (S, G, ...).
        """
        batches = None
        if cache is not None:
            cut = batching.cache(prog, hp)[2]
            batches = jax.vmap(lambda c, ps: cut(c, merge_data(shared, ps), t))(cache, per_seed)
            if G == 1 and batching.per_point(prog):
                batches = jax.tree.map(lambda a: a[:, 0], batches)
        if G == 1:
            h1 = jax.tree.map(lambda a: a[0], hp)
            return jax.vmap(lambda s, ps, k, b: trajectory.step_one(prog, t, s, merge_data(shared, ps), k, h1, b))(
                state, per_seed, seed_keys, batches
            )

        def seed_fn(st, ps, k, b):
            data = merge_data(shared, ps)
            if b is None:
                return jax.vmap(lambda s, h: trajectory.step_one(prog, t, s, data, k, h, None))(st, hp)
            if not batching.per_point(prog):
                b = jax.tree.map(lambda a: jnp.broadcast_to(a, (G,) + a.shape), b)
            return jax.vmap(lambda s, h, bb: trajectory.step_one(prog, t, s, data, k, h, bb))(st, hp, b)

        return jax.vmap(seed_fn)(state, per_seed, seed_keys, batches)

    def advance(t0, t1, dyn, per_seed, seed_keys, hp, shared):
        """Steps t0 .. t1 − 1.  A per-seed cache (:func:`batching.cache`) is remade whenever its tag changes and at
        t0: a real conditional, its predicate depends on t only.

        With one grid point the loop carries the state without its size-1 grid axis,
        which otherwise makes XLA copy W at every step (half the speed of W1).
        """
        if G == 1:
            dyn = jax.tree.map(lambda a: a[:, 0], dyn)
        if batching.batch_source(prog) is None:
            out = jax.lax.fori_loop(t0, t1, lambda t, s: step_all(t, s, per_seed, seed_keys, hp, shared, None), dyn)
        else:
            tag, make, _ = batching.cache(prog, hp)
            make_all = jax.vmap(make, in_axes=(0, None))

            def body(t, carry):
                s, c, c_tag = carry
                c = jax.lax.cond(jnp.any(tag(t) != c_tag) | (t == t0), lambda: make_all(seed_keys, t), lambda: c)
                return step_all(t, s, per_seed, seed_keys, hp, shared, c), c, tag(t)

            c0 = jax.tree.map(jnp.zeros_like, jax.eval_shape(make_all, seed_keys, t0))
            out = jax.lax.fori_loop(t0, t1, body, (dyn, c0, tag(t0)))[0]
        return jax.tree.map(lambda a: a[:, None], out) if G == 1 else out

    def segment(state, per_seed, seed_keys, hp, shared, t0, t1):
        """Steps t0 .. t1 − 1 of every trajectory (``alive`` and ``fpt`` pass through)."""
        dyn = {k: state[k] for k in ("params", "opt", "params0") if k in state}
        # a diverged trajectory is stepped on with the others (its parameters go to inf or nan):
        # ``alive`` stays false for it, so it never enters a statistic again.  Freezing it would
        # keep a copy of every trajectory's state through the segment (3.2 of W1's 10 KiB per
        # trajectory), or cost a select at every step.
        return shard({**state, **advance(t0, t1, dyn, per_seed, seed_keys, hp, shared)})

    def values(params, params0, per_seed, hp, shared):
        """(S, G, n_obs) float64 observables and (S, G) health flags, one seed at a time (``lax.map``):
        each seed's values come from the same compiled computation whatever the chunk, vmap width or
        device count, so they are bitwise independent of them."""

        def one_seed(args):
            p, p0, ps = _f64(args)
            data = merge_data(shared, ps)

            def one(q, q0, h):
                return trajectory.observe_one(
                    prog, {"params": q, **({"params0": q0} if prog.needs_init else {})}, data, h
                )

            return jax.vmap(one)(p, p0, hp)

        return jax.lax.map(one_seed, (params, params0, per_seed))

    def observe(state, per_seed, hp, shared, valid, rec):
        """The observables of every trajectory at record ``rec``, in float64 (traced with x64 on), and
        their statistics over seeds; updates ``alive`` and the first passages."""
        hp64, shared64 = _f64(hp), _f64(shared)
        args = (state["params"], state.get("params0", state["params"]), per_seed)
        if sharding is None:
            vals, ok = values(*args, hp64, shared64)
        else:  # each device its own seeds: no collective inside the loop
            spec = jax.sharding.PartitionSpec("seeds")
            vals, ok = jax.shard_map(
                lambda p, p0, ps: values(p, p0, ps, hp64, shared64),
                mesh=sharding.mesh,
                in_specs=(spec, spec, spec),
                out_specs=(spec, spec),
                check_vma=False,
            )(*args)
        alive = state["alive"] & ok
        mask = alive & valid[:, None]
        fpt = state["fpt"]
        for j, (i, thr, below) in enumerate(prog.first_passage):
            crossed = mask & ((vals[..., i] <= thr) if below else (vals[..., i] >= thr))
            fpt = fpt.at[..., j].set(jnp.where((fpt[..., j] < 0) & crossed, rec, fpt[..., j]))
        m3 = jnp.broadcast_to(mask[..., None], vals.shape)
        summary = {
            "moments": stats.moments(vals, m3, axis=0),
            "diverged": jnp.sum(valid[:, None] & ~alive, axis=0),
            "hist": tuple(
                stats.histogram(vals[..., i], mask, jnp.asarray(e, vals.dtype), axis=0) for i, e in prog.histograms
            ),
        }
        if prog.return_values:
            summary["values"] = jnp.where(m3, vals, jnp.nan)
        return shard({"alive": alive, "fpt": fpt}), summary

    return draw, init, segment, observe


def _f64(tree):
    """Floating leaves of ``tree`` as float64 (traced with x64 on)."""
    return jax.tree.map(lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)
