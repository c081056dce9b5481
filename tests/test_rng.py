"""jaxrelu.rng reproduces jax.random's threefry stream bit for bit (so no trajectory changes)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrelu import rng

KEYS = [jax.random.PRNGKey(0), jax.random.PRNGKey(12345), jax.random.fold_in(jax.random.PRNGKey(7), 2**31 + 5)]
SHAPES = [(), (1,), (7,), (3, 5), (8, 1, 100), (2, 3, 4, 5)]


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(
        a.view(np.uint32) if a.dtype == np.float32 else a, b.view(np.uint32) if b.dtype == np.float32 else b
    )


@pytest.mark.parametrize("ki", range(len(KEYS)))
def test_keys_match_jax_random(ki):
    key = KEYS[ki]
    for data in (0, 1, 3, 4, 1000, 2**32 - 1):
        _same(rng.fold_in(key, data), jax.random.fold_in(key, data))
    for num in (1, 2, 3, 4, 17):
        _same(rng.split(key, num), jax.random.split(key, num))


@pytest.mark.parametrize("shape", SHAPES)
def test_bits_and_normals_match_jax_random(shape):
    for key in KEYS:
        _same(rng.bits(key, shape), jax.random.bits(key, shape, jnp.uint32))
        _same(rng.normal(key, shape), jax.random.normal(key, shape, jnp.float32))
        _same(
            jax.jit(lambda k, s=shape: rng.normal(k, s))(key),
            jax.jit(lambda k, s=shape: jax.random.normal(k, s, jnp.float32))(key),
        )


def test_vmapped_over_keys_and_traced_data():
    keys = jax.vmap(lambda i: jax.random.fold_in(KEYS[1], i))(jnp.arange(64, dtype=jnp.uint32))
    ours = jax.jit(jax.vmap(lambda k, t: rng.normal(rng.split(rng.fold_in(k, t))[0], (8, 3))))
    ref = jax.jit(jax.vmap(lambda k, t: jax.random.normal(jax.random.split(jax.random.fold_in(k, t))[0], (8, 3))))
    t = jnp.arange(64, dtype=jnp.int32) * 977
    _same(ours(keys, t), ref(keys, t))


def test_float64_draws_are_float32_draws_cast():
    with jax.enable_x64(True):
        z64 = rng.normal(KEYS[0], (50,), jnp.float64)
        assert z64.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(z64), np.asarray(rng.normal(KEYS[0], (50,)), np.float64))


def test_too_many_words_is_refused():
    with pytest.raises(ValueError, match="2\\*\\*32"):
        jax.eval_shape(lambda k: rng.bits(k, (2**16, 2**16)), KEYS[0])


def test_a_draw_from_start_is_that_slice_of_the_whole_stream():
    """Rows of a block drawn alone (the engine's online inputs) equal the block's rows."""
    whole = jax.random.normal(KEYS[2], (8, 3, 100), jnp.float32)
    rows = jax.jit(jax.vmap(lambda i: rng.normal(KEYS[2], (3, 100), start=i * 300)))(jnp.arange(8))
    _same(rows, whole)
    _same(rng.bits(KEYS[1], (5,), start=7), jax.random.bits(KEYS[1], (20,), jnp.uint32)[7:12])
