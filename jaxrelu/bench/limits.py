"""Machine limits measured in the same run, and the sampler micro-benchmark.

* :func:`matmul_rate` — single-precision FLOP/s of a large ``jnp`` matmul;
* :func:`jax_sampler_rate` — Gaussian draws per second of the sampler the engine
  uses (:func:`jaxrelu.rng.normal`, threefry), the better of the engine's pattern
  (per seed and step, the step's (B, d) inputs drawn alone as their rows of the
  block stream under the key ``split(fold_in(fold_in(seed_key, 4), t // BLOCK))[0]``,
  made once per ``engine.BLOCK`` steps) and whole blocks of BLOCK steps per draw;
  vmapped over seed keys, in a ``fori_loop``;
* :func:`torch_sampler_rate` — ``torch.randn`` of the same per-step blocks (the
  batched peers' pattern), for comparison;
* :func:`sampler_benchmark` (``--samplers``) — the alternatives in that same
  pattern, each with tests of normality (Kolmogorov–Smirnov) and independence
  (correlation between seeds and between consecutive draws of a seed): the
  engine's sampler as the engine draws it, with a key per step, and in whole
  blocks of 8 and 32 steps,
  ``jax.random.normal``, threefry bits + Box–Muller (XLA's sin/cos or a
  polynomial), both words of one threefry hash, 13-round threefry and a cheap
  murmur3 hash; and the W1 SGD step fed by each.  (``rbg``/``unsafe_rbg`` keys
  are left out: under ``vmap`` they draw every member from the first key.)

Rates are best-of-``reps`` (limits are what the machine can do).
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

import numpy as np

# ====================================================================== helpers


def _best(fn, reps: int = 3) -> float:
    """Smallest wall time of fn() over reps calls (fn must block)."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@functools.cache
def _jit_matmul():
    import jax

    return jax.jit(lambda x: x @ x)


def matmul_rate(n: int = 2048, reps: int = 5) -> dict:
    """FLOP/s of an (n × n) @ (n × n) float32 matmul under ``jax.jit``."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    f = _jit_matmul()
    f(a).block_until_ready()
    t = _best(lambda: f(a).block_until_ready(), reps)
    return {"flops_per_second": 2 * n**3 / t, "n": n, "seconds": t}


def seed_keys(S: int):
    """S per-seed keys ``fold_in(base, i)`` (raw threefry uint32[2] keys)."""
    import jax
    import jax.numpy as jnp

    from jaxrelu import rng

    return jax.vmap(lambda i: rng.fold_in(jax.random.PRNGKey(0), i))(jnp.arange(S, dtype=jnp.uint32))


def _block_key(k, j):
    """The engine's key for block j of a seed's online inputs."""
    from jaxrelu import engine, rng

    return rng.split(rng.fold_in(rng.fold_in(k, engine.BLOCKS), j))[0]


ROWS = "rows"  # steps per draw of a sampler drawn as the engine draws: a step's rows of its block


@functools.cache  # the limits are re-measured in every bench round: compile once
def _pattern_fn(S: int, T: int, shape, draw, block):
    """jit fn(seed_keys) -> (S,): T steps of ``shape`` normals per seed, summed so that every
    draw is used.  ``block`` steps per draw under the key of draw j, or (``ROWS``) one step
    per draw, its rows of a block of ``engine.BLOCK`` steps under the block's key, made once
    per block (the engine's pattern)."""
    import jax
    import jax.numpy as jnp

    from jaxrelu import engine

    n = int(np.prod(shape))
    K = engine.BLOCK if block == ROWS else block

    def f(keys):
        def body(j, acc):
            if block != ROWS:
                return acc + jax.vmap(lambda k: jnp.sum(draw(_block_key(k, j), (K,) + tuple(shape))))(keys)
            kj = jax.vmap(lambda k: _block_key(k, j))(keys)
            return jax.lax.fori_loop(
                0, K, lambda i, a: a + jax.vmap(lambda k: jnp.sum(draw(k, tuple(shape), start=i * n)))(kj), acc
            )

        return jax.lax.fori_loop(0, T // K, body, jnp.zeros(keys.shape[0], jnp.float32))

    return jax.jit(f), (T // K) * K


def _rate(S: int, T: int, shape, draw, block: int, reps: int) -> tuple[float, float]:
    """(normals/s, seconds) of ``draw`` in the engine's pattern, the seeds sharded over the
    local devices as the engine shards them."""
    import jax

    keys = seed_keys(S)
    if jax.local_device_count() > 1 and S % jax.local_device_count() == 0:
        mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ("seeds",))
        keys = jax.device_put(keys, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds")))
    f, steps = _pattern_fn(S, T, tuple(shape), draw, block)
    jax.block_until_ready(f(keys))
    t = _best(lambda: jax.block_until_ready(f(keys)), reps)
    return S * steps * int(np.prod(shape)) / t, t


def jax_sampler_rate(S: int = 1024, T: int = 200, shape=(1, 100), reps: int = 3) -> dict:
    """Normals/s of the engine's sampler (``rng.normal``): the better of the engine's pattern and
    whole blocks of ``engine.BLOCK`` steps (the same numbers), so that the roofline is the
    sampler's limit, not the engine's way of calling it."""
    from jaxrelu import engine, rng

    rows, t = _rate(S, T, shape, rng.normal, ROWS, reps)
    block, tb = _rate(S, T, shape, rng.normal, engine.BLOCK, reps)
    return {
        "normals_per_second": max(rows, block),
        "rows_normals_per_second": rows,
        "block_normals_per_second": block,
        "seeds": S,
        "steps": T,
        "block": list(shape),
        "seconds": t if rows >= block else tb,
        "pattern": "vmap over seed keys, threefry jaxrelu.rng.normal; the better of: per step, its "
        f"rows of a block of {engine.BLOCK} steps under the block's key "
        "split(fold_in(fold_in(seed_key, 4), t // BLOCK))[0], made once per block (the "
        f"engine), and the whole block of {engine.BLOCK} steps in one draw",
    }


def torch_sampler_rate(S: int = 1024, T: int = 200, shape=(1, 100), reps: int = 3) -> dict | None:
    """Normals/s of ``torch.randn(S, *shape)`` once per step (the batched peers' pattern)."""
    try:
        import torch
    except ImportError:
        return None
    gen = torch.Generator().manual_seed(0)

    def run():
        acc = torch.zeros(S)
        for _ in range(T):
            acc += torch.randn(S, *shape, generator=gen).sum(dim=(1, 2))

    run()
    t = _best(run, reps)
    big = _best(lambda: torch.randn(S * T * int(np.prod(shape)), generator=gen), reps)
    n = S * T * int(np.prod(shape))
    return {
        "normals_per_second": n / t,
        "one_block_normals_per_second": n / big,
        "seconds": t,
        "threads": torch.get_num_threads(),
    }


# ====================================================================== samplers
def _uniform24(w, open_zero: bool = False):
    """The 24 high bits of uint32 words as floats in [0, 1), or (0, 1)."""
    import jax.numpy as jnp

    u = (w >> np.uint32(8)).astype(jnp.float32) * np.float32(2.0**-24)
    return u + np.float32(2.0**-25) if open_zero else u


def _sin2pi(t):
    """sin(2πt) for float32 t: reduction to [-1/4, 1/4] and a degree-9 odd polynomial (error < 4e-6)."""
    import jax.numpy as jnp

    t = t - jnp.round(t)
    t = jnp.where(t > 0.25, 0.5 - t, jnp.where(t < -0.25, -0.5 - t, t))
    x = np.float32(2 * math.pi) * t
    x2 = x * x
    return x * (1 + x2 * (-1 / 6 + x2 * (1 / 120 + x2 * (-1 / 5040 + x2 / 362880))))


def _box_muller(wa, wb, poly: bool = False):
    """Two uint32 arrays -> 2× as many standard normals (Box–Muller)."""
    import jax.numpy as jnp

    r = jnp.sqrt(-2.0 * jnp.log(_uniform24(wa, open_zero=True)))
    u = _uniform24(wb)
    if poly:
        s, c = _sin2pi(u), _sin2pi(u + np.float32(0.25))
    else:
        th = np.float32(2 * math.pi) * u
        s, c = jnp.sin(th), jnp.cos(th)
    return jnp.concatenate([r * c, r * s], axis=-1)


def _rotl(x, r):
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


_ROT = (13, 15, 26, 6, 17, 29, 16, 24)


def threefry2x32(k0, k1, x0, x1, rounds: int = 20):
    """Threefry-2x32 with ``rounds`` rounds (20 = jax's), on uint32 arrays (Random123 constants)."""
    u = np.uint32
    ks = (k0, k1, k0 ^ k1 ^ u(0x1BD11BDA))
    x0, x1 = x0 + k0, x1 + k1
    for r in range(rounds):
        x0 = x0 + x1
        x1 = _rotl(x1, _ROT[r % 8]) ^ x0
        if r % 4 == 3:
            i = r // 4 + 1
            x0 = x0 + ks[i % 3]
            x1 = x1 + ks[(i + 1) % 3] + u(i)
    return x0, x1


def _fmix32(h):
    """murmur3's 32-bit finaliser: a cheap bijective mixer (not a vetted RNG)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _hash_normals(key, shape, mix, poly: bool = True):
    """Normals from a keyed hash of counters (0, i): both output words feed one Box–Muller pair."""
    import jax.numpy as jnp

    n = int(np.prod(shape))
    c = jnp.arange((n + 1) // 2, dtype=jnp.uint32)
    a, b = mix(key[0], key[1], jnp.zeros_like(c), c)
    return _box_muller(a, b, poly)[:n].reshape(shape)


def _draw_jax(k, shape):
    import jax

    return jax.random.normal(k, shape)


def _draw_bits_bm(k, shape):
    from jaxrelu import rng

    n = int(np.prod(shape))
    w = rng.bits(k, (2, (n + 1) // 2))
    return _box_muller(w[0], w[1])[:n].reshape(shape)


def _draw_engine(k, shape, start=0):
    from jaxrelu import rng

    return rng.normal(k, shape, start=start)


SAMPLERS = {  # name: (draw(key, shape), steps per draw (ROWS: the engine's), what)
    "engine": (
        _draw_engine,
        ROWS,
        "jaxrelu.rng.normal (threefry-2x32-20 + erf^-1, = jax.random.normal bit for "
        "bit), a step's rows of its block of engine.BLOCK steps: the engine today",
    ),
    "engine_step": (_draw_engine, 1, "the same, a key per step"),
    "engine_block8": (_draw_engine, 8, "the same, whole blocks of 8 steps (the engine until the rows)"),
    "engine_block32": (_draw_engine, 32, "the same, blocks of 32 steps"),
    "jax_normal": (_draw_jax, 8, "jax.random.normal (threefry lowered as a rolled loop on CPU), blocks of 8"),
    "jax_normal_step": (_draw_jax, 1, "jax.random.normal, one draw per step (the first engine)"),
    "bits_boxmuller": (_draw_bits_bm, 8, "threefry bits (rng.bits) + Box-Muller with XLA sin/cos, blocks of 8"),
    "threefry_2w_bm": (
        lambda k, s: _hash_normals(k, s, lambda k0, k1, x0, x1: threefry2x32(k0, k1, x0, x1, rounds=20), poly=False),
        8,
        "both words of one threefry-20 hash per Box-Muller pair, XLA sin/cos, blocks of 8",
    ),
    "threefry_2w_bmpoly": (
        lambda k, s: _hash_normals(k, s, lambda k0, k1, x0, x1: threefry2x32(k0, k1, x0, x1, rounds=20)),
        8,
        "both words of one threefry-20 hash per pair, polynomial sin/cos, blocks of 8",
    ),
    "threefry13_bmpoly": (
        lambda k, s: _hash_normals(k, s, lambda k0, k1, x0, x1: threefry2x32(k0, k1, x0, x1, rounds=13)),
        8,
        "threefry-13 (Random123's fast variant), both words, polynomial sin/cos, blocks of 8",
    ),
    "fmix32_bmpoly": (
        lambda k, s: _hash_normals(
            k,
            s,
            lambda k0, k1, c0, c1: (
                _fmix32(_fmix32(c1 * np.uint32(2) + k0) ^ k1),
                _fmix32(_fmix32(c1 * np.uint32(2) + np.uint32(1) + k0) ^ k1),
            ),
        ),
        8,
        "murmur3 fmix32 counter hash (statistically unvetted), polynomial sin/cos, blocks of 8",
    ),
}


#: the samplers built on JAX's default PRNG hash (threefry-2x32, 20 rounds); the others are faster
#: hashes that pass these tests but are not vetted beyond them
THREEFRY20 = (
    "engine",
    "engine_step",
    "engine_block8",
    "engine_block32",
    "jax_normal",
    "jax_normal_step",
    "bits_boxmuller",
    "threefry_2w_bm",
    "threefry_2w_bmpoly",
)


def _sampler(name: str):
    """(draw, steps per draw, what) of SAMPLERS[name]."""
    return SAMPLERS[name]


def _samples(name: str, S: int, T: int, shape) -> np.ndarray:
    """Sampler ``name``'s draws for S seeds × T steps, in the engine's key pattern -> (S, T·prod(shape))."""
    import jax
    import jax.numpy as jnp

    from jaxrelu import engine

    draw, K, _ = _sampler(name)
    n = int(np.prod(shape))

    def one(k):
        if K == ROWS:
            return jax.vmap(
                lambda t: draw(_block_key(k, t // engine.BLOCK), tuple(shape), start=(t % engine.BLOCK) * n)
            )(jnp.arange(T)).reshape(-1)
        return jax.vmap(lambda j: draw(_block_key(k, j), (K,) + tuple(shape)))(jnp.arange(T // K)).reshape(-1)

    return np.asarray(jax.jit(jax.vmap(one))(seed_keys(S)), np.float64)


def normality(v: np.ndarray) -> dict:
    """KS test against N(0, 1) over all draws (S, n); correlation of seeds 0 and 1, and lag-1
    correlation within a seed's stream, each against 5/√n."""
    from scipy import stats

    flat = v.ravel()
    ks = stats.kstest(flat, "norm")
    n = v.shape[1]
    r_seeds = float(np.corrcoef(v[0], v[1])[0, 1])
    a, b = v[:, :-1].ravel(), v[:, 1:].ravel()
    r_lag = float(np.corrcoef(a, b)[0, 1])
    return {
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "n": int(flat.size),
        "mean": float(flat.mean()),
        "var": float(flat.var()),
        "seed_corr": r_seeds,
        "lag1_corr": r_lag,
        "passed": bool(ks.pvalue > 1e-3 and abs(r_seeds) < 5 / math.sqrt(n) and abs(r_lag) < 5 / math.sqrt(a.size)),
    }


def sampler_benchmark(
    S: int = 1024,
    T: int = 256,
    shape=(1, 100),
    reps: int = 3,
    log=print,
    w1_steps: int = 512,
    d: int = 100,
    m: int = 8,
    k: int = 4,
) -> dict:
    """Rates of the sampler alternatives in the engine's pattern, tested, and their effect on W1."""
    out: dict[str, Any] = {"seeds": S, "steps": T, "block": list(shape), "jax": {}, "torch": None, "w1_step": {}}
    for name in SAMPLERS:
        draw, K, what = _sampler(name)
        rate, _ = _rate(S, T, shape, draw, K, reps)
        check = normality(_samples(name, 64, 64, shape))
        out["jax"][name] = {
            "what": what,
            "steps_per_draw": K,
            "normals_per_second": rate,
            **{f: check[f] for f in ("ks_pvalue", "ks_statistic", "seed_corr", "lag1_corr")},
            "normal_ok": check["passed"],
        }
        log(f"  sampler {name:<20} {rate / 1e6:8.1f} M normals/s  KS p={check['ks_pvalue']:.3f}")
    out["torch"] = torch_sampler_rate(S, T, shape, reps)
    ok = {n: v["normals_per_second"] for n, v in out["jax"].items() if v["normal_ok"]}
    out["fastest_passing"] = max(ok, key=ok.get) if ok else None
    tf = {n: r for n, r in ok.items() if n in THREEFRY20}
    out["fastest_threefry20"] = max(tf, key=tf.get) if tf else None
    picks = ("engine", "engine_block8", "engine_step", "jax_normal", out["fastest_passing"], "none")
    out["w1_step"] = w1_step_benchmark(S, w1_steps, d, m, k, samplers=tuple(p for p in picks if p), reps=reps, log=log)
    return out


def w1_step_benchmark(S: int, T: int, d: int, m: int, k: int, samplers, reps: int = 3, log=print) -> dict:
    """The W1 SGD step (engine arithmetic: jax.grad of ½ mean (f − y)², vmapped over seeds,
    fori_loop over steps) with x drawn by each sampler in its blocks; ``none`` reads x from a
    fixed pool (the step's cost without sampling).  ``ROWS``: as the engine, each step's rows
    drawn in a conditional (so that XLA draws them once, not in every consumer)."""
    import jax
    import jax.numpy as jnp

    from jaxrelu import engine, losses, model

    Wt = jax.random.normal(jax.random.PRNGKey(1), (k, d)) / math.sqrt(d)
    teacher = {"W": Wt, "a": jnp.ones(k)}
    pool = jax.random.normal(jax.random.PRNGKey(2), (64, 1, d))
    lr = 0.005

    def step(p, x):
        y = model.apply(teacher, x, 1.0, "relu")
        g = jax.grad(lambda q: losses.mean_loss(losses.SQUARE, model.apply(q, x, 1.0, "relu"), y))(p)
        return jax.tree.map(lambda q, gg: q - lr * gg, p, g)

    res = {}
    for name in dict.fromkeys(samplers):
        draw, K, _ = _sampler(name) if name != "none" else (None, 8, None)

        def run(keys, p0, draw=draw, K=K):
            if K == ROWS:

                def block(j, p):
                    kj = jax.vmap(lambda kk: _block_key(kk, j))(keys)

                    def one(i, q):
                        def rows():
                            return jax.vmap(lambda kk: draw(kk, (1, d), start=i * d))(kj)

                        x = jax.lax.cond(i >= 0, rows, lambda: jnp.zeros((keys.shape[0], 1, d)))
                        return jax.vmap(step)(q, x)

                    return jax.lax.fori_loop(0, engine.BLOCK, one, p)

                return jax.lax.fori_loop(0, T // engine.BLOCK, block, p0)

            def outer(j, p):
                if draw is None:
                    blk = jnp.broadcast_to(
                        jax.lax.dynamic_slice_in_dim(jnp.concatenate([pool, pool]), j % 64, K), (keys.shape[0], K, 1, d)
                    )
                else:
                    blk = jax.vmap(lambda kk: draw(_block_key(kk, j), (K, 1, d)))(keys)
                return jax.lax.fori_loop(
                    0, K, lambda i, q: jax.vmap(step)(q, jax.lax.dynamic_index_in_dim(blk, i, 1, keepdims=False)), p
                )

            return jax.lax.fori_loop(0, T // K, outer, p0)

        keys = seed_keys(S)
        p0 = {
            "W": jax.random.normal(jax.random.PRNGKey(3), (S, m, d)) / math.sqrt(d),
            "a": jax.random.normal(jax.random.PRNGKey(4), (S, m)),
        }
        f = jax.jit(run)
        jax.block_until_ready(f(keys, p0))
        secs = _best(lambda f=f, keys=keys, p0=p0: jax.block_until_ready(f(keys, p0)), reps)
        per = engine.BLOCK if K == ROWS else K
        steps = (T // per) * per
        res[name] = {"seed_steps_per_second": S * steps / secs, "seconds": secs, "steps": steps}
        log(f"  W1 step with {name:<20} {S * steps / secs / 1e6:7.3f} M seed-steps/s")
    return res


# ====================================================================== accelerators
#: Vendor peak rates of accelerators, matched against ``jax.Device.device_kind`` (first match wins):
#: (pattern, name, memory bandwidth in bytes/s, FP32 FLOP/s, memory in bytes).  GPUs: the FP32 rate
#: of the CUDA cores (no tensor cores: TF32 matmuls can exceed it); TPUs: the matrix units' bf16
#: rate, which float32 matmuls at JAX's default precision use (the vector units' f32 rate is far
#: lower).  Sources: NVIDIA and Google Cloud datasheets (SXM/OAM boards unless named).
ACCELERATORS = (
    (r"H200 NVL", "NVIDIA H200 NVL", 4.8e12, 60e12, 141e9),
    (r"H200", "NVIDIA H200 SXM", 4.8e12, 67e12, 141e9),
    (r"GH200", "NVIDIA GH200 (96 GB HBM3)", 4.0e12, 67e12, 96e9),
    (r"H100 NVL", "NVIDIA H100 NVL", 3.9e12, 60e12, 94e9),
    (r"H100 PCIe", "NVIDIA H100 PCIe", 2.0e12, 51e12, 80e9),
    (r"H100", "NVIDIA H100 SXM", 3.35e12, 67e12, 80e9),
    (r"A100.*(80GB|80 GB).*PCIe|A100 80GB PCIe", "NVIDIA A100 80GB PCIe", 1.935e12, 19.5e12, 80e9),
    (r"A100.*(80GB|80 GB)", "NVIDIA A100 80GB SXM", 2.039e12, 19.5e12, 80e9),
    (r"A100", "NVIDIA A100 40GB", 1.555e12, 19.5e12, 40e9),
    (r"L40S", "NVIDIA L40S", 864e9, 91.6e12, 48e9),
    (r"L40", "NVIDIA L40", 864e9, 90.5e12, 48e9),
    (r"L4\b", "NVIDIA L4", 300e9, 30.3e12, 24e9),
    (r"A10G", "NVIDIA A10G", 600e9, 31.2e12, 24e9),
    (r"A10\b", "NVIDIA A10", 600e9, 31.2e12, 24e9),
    (r"V100.*PCIE|V100.*PCIe", "NVIDIA V100 PCIe", 900e9, 14e12, 16e9),
    (r"V100", "NVIDIA V100 SXM2", 900e9, 15.7e12, 16e9),
    (r"T4\b", "NVIDIA T4", 320e9, 8.1e12, 16e9),
    (r"RTX 4090", "NVIDIA GeForce RTX 4090", 1008e9, 82.6e12, 24e9),
    (r"RTX 3090", "NVIDIA GeForce RTX 3090", 936e9, 35.6e12, 24e9),
    (r"TPU v6 ?lite|TPU v6e", "TPU v6e (Trillium)", 1640e9, 918e12, 32e9),
    (r"TPU v5 ?lite|TPU v5e", "TPU v5e", 819e9, 197e12, 16e9),
    (r"TPU v5p|TPU v5", "TPU v5p", 2765e9, 459e12, 95e9),
    (r"TPU v4", "TPU v4", 1228e9, 275e12, 32e9),
)


def accelerator(device_kind: str) -> dict | None:
    """The vendor peak rates of a device by its ``device_kind`` (:data:`ACCELERATORS`), or None."""
    import re

    for pattern, name, bw, flops, mem in ACCELERATORS:
        if re.search(pattern, device_kind, re.IGNORECASE):
            return {"name": name, "memory_bandwidth": bw, "fp32_flops": flops, "memory_bytes": mem, "matched": pattern}
    return None


def device_memory(device=None) -> dict | None:
    """``memory_stats()`` of a device (default the first): bytes_limit, bytes_in_use, peak_bytes_in_use
    (the process's high-water mark so far), or None where the backend keeps none (a CPU)."""
    import jax

    dev = device or jax.devices()[0]
    try:
        st = dev.memory_stats()
    except Exception:  # noqa: BLE001 - best effort
        return None
    if not st:
        return None
    return {k: int(st[k]) for k in ("bytes_limit", "bytes_in_use", "peak_bytes_in_use") if k in st}


# ====================================================================== memory
def rss_peak_bytes() -> int:
    """Peak resident set size of this process so far.

    ``VmHWM`` of ``/proc/self/status`` where there is one (Linux): the high-water
    mark of this address space, which starts afresh at ``exec``.  Elsewhere
    ``getrusage`` ru_maxrss — on Linux that one is inherited from the parent
    across fork/exec, so a child would start at its parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    import sys

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024


def machine() -> dict:
    import os
    import platform

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        import jax

        info["jax"] = jax.__version__
        info["jax_devices"] = [str(dv) for dv in jax.devices()]
    except Exception as e:  # noqa: BLE001 - machine info is best effort
        info["jax"] = f"unavailable ({type(e).__name__})"
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        info["torch"] = None
    return info
