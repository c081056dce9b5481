"""Threefry-2x32 keys and normals, bit-identical to ``jax.random``, fused by XLA.

Every random number of a run goes through this module.  Its functions return
exactly what ``jax.random.fold_in``, ``split``, ``bits``, ``normal`` and ``uniform`` return
for raw threefry keys (uint32[2], ``jax.random.PRNGKey``) under JAX's default
``jax_threefry_partitionable = True`` (``tests/test_rng.py`` checks it bit for
bit), so swapping one for the other changes no trajectory.  They differ in how
they compile: on a CPU, JAX lowers the threefry hash as a rolled five-iteration
while loop (to save compile time), so every draw is a loop whose state goes
through memory.  Written here as plain ``jnp`` integer arithmetic (20 rounds,
unrolled), the hash of a whole block of draws, its conversion to normals and
whatever consumes them fuse into one loop that stays in registers: 1.5-2x the
normals per second of ``jax.random.normal`` in the engine's pattern
(``jaxrelu bench --samplers``), and no separate loops for the per-step key
derivations.

Threefry-2x32 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2,
3"; Random123's constants): a keyed bijection of a pair of 32-bit counters.
A key's stream is the hash of the counters (0, i), i = 0, 1, ... (JAX's
partitionable layout: one hash per 32-bit output, the two output words xor-ed).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax import lax

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _rotl(x, r: int):
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(key, x1, x2):
    """Threefry-2x32 (20 rounds) of counters (x1, x2) under ``key`` (uint32[2]) -> (y1, y2)."""
    k1, k2 = key[0], key[1]
    ks = (k1, k2, k1 ^ k2 ^ _PARITY)
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = _rotl(x2, r) ^ x1
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def fold_in(key, data):
    """``jax.random.fold_in(key, data)``: a new key from a key and a 32-bit integer."""
    y1, y2 = threefry2x32(key, jnp.uint32(0), jnp.asarray(data, dtype=jnp.uint32))
    return jnp.stack([y1, y2])


def split(key, num: int = 2):
    """``jax.random.split(key, num)``: ``num`` new keys, shape (num, 2)."""
    y1, y2 = threefry2x32(key, jnp.zeros((num,), jnp.uint32), lax.iota(jnp.uint32, num))
    return jnp.stack([y1, y2], axis=1)


def bits(key, shape, start=0) -> jnp.ndarray:
    """``jax.random.bits(key, shape, uint32)``: uniform 32-bit words.

    ``start`` (an int or a traced integer scalar) skips the stream's first
    ``start`` words: ``bits(key, (n,), start)`` is ``bits(key, (N,))[start:start + n]``
    (flattened, row-major) for any N ≥ start + n, since word i hashes counter (0, i) alone.
    """
    shape = tuple(shape)
    n = math.prod(shape)
    if n >= 2**32:
        raise ValueError(f"rng.bits draws fewer than 2**32 words at once, asked for shape {shape}")
    c = (lax.iota(jnp.uint32, n) + jnp.asarray(start, jnp.uint32)).reshape(shape)
    y1, y2 = threefry2x32(key, jnp.zeros_like(c), c)
    return y1 ^ y2


_LO = np.nextafter(np.float32(-1), np.float32(0))  # jax.random.normal's open interval (-1, 1)
_SQRT2 = np.float32(math.sqrt(2))


def normal(key, shape, dtype=jnp.float32, start=0) -> jnp.ndarray:
    """Standard normals, ``jax.random.normal(key, shape, float32)`` bit for bit, cast to ``dtype``.

    ``start``: skip the stream's first ``start`` normals, as in :func:`bits`.

    u = the 23 high bits of a word as a float in [1, 2), mapped to (-1, 1);
    z = √2 erf⁻¹(u).  Always drawn in float32, so float32 and float64 runs of a
    seed see the same random numbers.
    """
    word = bits(key, shape, start)
    f = lax.bitcast_convert_type((word >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32) - np.float32(1)
    u = lax.max(_LO, f * (np.float32(1) - _LO) + _LO)
    return (_SQRT2 * lax.erf_inv(u)).astype(dtype)


def uniform(key, shape, dtype=jnp.float32, start=0) -> jnp.ndarray:
    """Uniforms on [0, 1), ``jax.random.uniform(key, shape, float32)`` bit for bit, cast to ``dtype``.

    ``start``: skip the stream's first ``start`` numbers, as in :func:`bits`.  u = the 23 high
    bits of a word as a float in [1, 2), minus 1 (so ``uniform(k, s) < p`` is a Bernoulli(p)
    draw for every p in [0, 1], never true at p = 0 and always at p = 1).  Drawn in float32.
    """
    word = bits(key, shape, start)
    f = lax.bitcast_convert_type((word >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32) - np.float32(1)
    return lax.max(np.float32(0), f).astype(dtype)


def normal_from_bits(word, dtype=jnp.float32) -> jnp.ndarray:
    """The standard normals :func:`normal` makes of the words ``bits(key, shape, start)``, bit for bit:
    ``normal_from_bits(bits(key, shape, start), dtype) == normal(key, shape, dtype, start)``.

    For callers that need the words materialised before the transform (XLA's fusion duplicates the
    integer hash into every consumer of a draw; a caller can make the words an expensive op's output)."""
    f = lax.bitcast_convert_type((word >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32) - np.float32(1)
    u = lax.max(_LO, f * (np.float32(1) - _LO) + _LO)
    return (_SQRT2 * lax.erf_inv(u)).astype(dtype)
