"""Ahead-of-time compilation of a program's functions, cached per program and chunk shape.

The cache key holds the :class:`~jaxrelu.engine.program.Program`, which holds the
registered entries themselves: a changed registration is a new key, compiled afresh.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from jaxrelu.engine.segment import make_fns


class Init:
    """A chunk's initial (state, per-seed data), from two compiled programs: the per-seed
    draws alone, then everything else.  In one program the training inputs would have two
    consumers (the stored set and the teacher's labels), and XLA splits the sampler to
    store its intermediates instead of recomputing them: 3 GB for W2's 64 sets."""

    def __init__(self, draw, init):
        self.programs = (draw, init)

    def __call__(self, keys, hp, shared):
        draw, init = self.programs
        return init(keys, hp, shared, draw(keys))


class Segment:
    """One record segment from two compiled programs: the steps (in the run's dtype), then the
    observables and their statistics (traced with x64 on: float64 observables)."""

    def __init__(self, advance, observe):
        self.programs = (advance, observe)

    def __call__(self, state, per_seed, keys, hp, shared, valid, t0, t1, rec):
        advance, observe = self.programs
        state = advance(state, per_seed, keys, hp, shared, t0, t1)
        flags, summary = observe(state, per_seed, hp, shared, valid, rec)
        return {**state, **flags}, summary


COMPILED: dict = {}


def compiled(prog, keys, hp, shared, valid):
    """AOT-compiled (init, segment) for this Program and chunk shape, cached (:class:`Init`,
    :class:`Segment`).

    Returns them with the seconds spent compiling (0 when cached).
    """
    cache_key = (
        prog,
        keys.shape,
        str(getattr(keys, "sharding", None)),
        tuple((a.shape, str(a.dtype)) for a in jax.tree.leaves(shared)),
    )
    if cache_key in COMPILED:
        return COMPILED[cache_key], 0.0
    t0 = time.perf_counter()
    draw, init, segment, observe = make_fns(
        prog, getattr(keys, "sharding", None) if jax.local_device_count() > 1 else None
    )
    # each program is compiled for what the one before returns, shardings included
    typed = lambda shapes, shardings: jax.tree.map(  # noqa: E731
        lambda a, sh: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sh), shapes, shardings
    )
    draw_c = jax.jit(draw).lower(keys).compile()
    drawn = typed(jax.eval_shape(draw, keys), draw_c.output_shardings)
    init_c = jax.jit(init, donate_argnums=3).lower(keys, hp, shared, drawn).compile()
    state, per_seed = typed(jax.eval_shape(init, keys, hp, shared, drawn), init_c.output_shardings)
    i32 = jax.ShapeDtypeStruct((), jnp.int32)
    seg_c = jax.jit(segment, donate_argnums=0).lower(state, per_seed, keys, hp, shared, i32, i32).compile()
    stepped = typed(jax.eval_shape(segment, state, per_seed, keys, hp, shared, i32, i32), seg_c.output_shardings)
    with jax.enable_x64(True):
        obs_c = jax.jit(observe).lower(stepped, per_seed, hp, shared, valid, i32).compile()
    COMPILED[cache_key] = (Init(draw_c, init_c), Segment(seg_c, obs_c))
    return COMPILED[cache_key], time.perf_counter() - t0
