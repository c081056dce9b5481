"""Machine limits measured in the same run, and the sampler micro-benchmark.

* :func:`matmul_rate` — single-precision FLOP/s of a large ``jnp`` matmul;
* :func:`jax_sampler_rate` — Gaussian draws per second of the sampler the engine
  uses, in the engine's pattern: ``jax.random.normal`` (threefry) vmapped over
  seed keys, the key of step t being ``fold_in(fold_in(seed_key, 3), t)`` split
  twice, one (B, d) block per seed and step, accumulated in a ``fori_loop``;
* :func:`torch_sampler_rate` — ``torch.randn`` of the same blocks, for comparison;
* :func:`sampler_benchmark` (``--samplers``) — alternatives (raw threefry bits +
  Box–Muller, one draw per block of steps, the ``rbg``/``unsafe_rbg`` key
  implementations, hand-written counter-based hashes), each with a
  Kolmogorov–Smirnov normality check, and the W1 SGD step driven by the engine's
  sampler, a block draw, the fastest alternative and no sampling at all.

Rates are best-of-``reps`` (limits are what the machine can do).
"""

from __future__ import annotations

import math
import time

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


def matmul_rate(n: int = 2048, reps: int = 5) -> dict:
    """FLOP/s of an (n × n) @ (n × n) float32 matmul under ``jax.jit``."""
    import jax
    import jax.numpy as jnp
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    t = _best(lambda: f(a).block_until_ready(), reps)
    return {"flops_per_second": 2 * n ** 3 / t, "n": n, "seconds": t}


def _engine_pattern_fn(S: int, T: int, shape, sampler: str = "engine"):
    """jit fn(seed_keys) drawing S × T blocks of ``shape`` in the engine's vmap/fori pattern."""
    import jax
    import jax.numpy as jnp

    def draw(k, t):
        if sampler == "engine":
            key = jax.random.fold_in(jax.random.fold_in(k, 3), t)
            kb, _ = jax.random.split(key)
            kx, _ = jax.random.split(kb)
            return jax.random.normal(kx, shape)
        return SAMPLERS[sampler]["draw"](k, t, shape)

    def f(keys):
        def body(t, acc):
            return acc + jax.vmap(lambda k: jnp.sum(draw(k, t)))(keys)
        return jax.lax.fori_loop(0, T, body, jnp.zeros(keys.shape[0], jnp.float32))
    return jax.jit(f)


def seed_keys(S: int, impl: str | None = None):
    """S per-seed keys ``fold_in(base, i)``: raw threefry uint32[2] keys, or typed keys of ``impl``."""
    import jax
    import jax.numpy as jnp
    base = jax.random.PRNGKey(0) if impl is None else jax.random.key(0, impl=impl)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(S, dtype=jnp.uint32))


def jax_sampler_rate(S: int = 1024, T: int = 200, shape=(1, 100), reps: int = 3) -> dict:
    """Normals/s of ``jax.random.normal`` (threefry) in the engine's per-seed-key pattern."""
    import jax
    keys = seed_keys(S)
    f = _engine_pattern_fn(S, T, shape)
    jax.block_until_ready(f(keys))
    t = _best(lambda: jax.block_until_ready(f(keys)), reps)
    n = S * T * int(np.prod(shape))
    return {"normals_per_second": n / t, "seeds": S, "steps": T, "block": list(shape), "seconds": t,
            "pattern": "vmap over seed keys; fold_in(fold_in(seed_key, 3), t), split, split; normal (B, d)"}


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
    return {"normals_per_second": n / t, "one_block_normals_per_second": n / big, "seconds": t,
            "threads": torch.get_num_threads()}


# ====================================================================== samplers
def _box_muller(bits_a, bits_b):
    """Two uint32 arrays -> 2× as many standard normals (Box–Muller)."""
    import jax.numpy as jnp
    u1 = (bits_a >> 8).astype(jnp.float32) * (1.0 / 16777216.0) + (0.5 / 16777216.0)   # (0, 1)
    u2 = (bits_b >> 8).astype(jnp.float32) * (1.0 / 16777216.0)
    r = jnp.sqrt(-2.0 * jnp.log(u1))
    th = (2 * math.pi) * u2
    return jnp.concatenate([r * jnp.cos(th), r * jnp.sin(th)], axis=-1)


def _rotl(x, r):
    return (x << r) | (x >> (32 - r))


_ROT = (13, 15, 26, 6, 17, 29, 16, 24)


def threefry2x32(k0, k1, x0, x1, rounds: int = 20):
    """Threefry-2x32 with ``rounds`` rounds (20 = jax's), on uint32 arrays (Random123 constants)."""
    import jax.numpy as jnp
    u = jnp.uint32
    k2 = k0 ^ k1 ^ u(0x1BD11BDA)
    ks = (k0, k1, k2)
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
    import jax.numpy as jnp
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def _key_words(k):
    import jax
    return jax.random.key_data(k) if jax.dtypes.issubdtype(k.dtype, jax.dtypes.prng_key) else k


def _counter_normals(k, t, shape, mix):
    """Normals for step t from a counter-based mixer ``mix(k0, k1, c0, c1) -> (u32, u32)`` + Box–Muller."""
    import jax.numpy as jnp
    kw = _key_words(k)
    n = int(np.prod(shape))
    half = (n + 1) // 2
    c = jnp.arange(half, dtype=jnp.uint32)
    a, b = mix(kw[0], kw[1], c, jnp.broadcast_to(jnp.asarray(t).astype(jnp.uint32), c.shape))
    return _box_muller(a, b)[:n].reshape(shape)


def _draw_engine(k, t, shape):
    import jax
    key = jax.random.fold_in(jax.random.fold_in(k, 3), t)
    kb, _ = jax.random.split(key)
    kx, _ = jax.random.split(kb)
    return jax.random.normal(kx, shape)


def _draw_foldin(k, t, shape):
    import jax
    return jax.random.normal(jax.random.fold_in(k, t), shape)


def _draw_bits_bm(k, t, shape):
    import jax
    import jax.numpy as jnp
    n = int(np.prod(shape))
    bits = jax.random.bits(jax.random.fold_in(k, t), (2, (n + 1) // 2), jnp.uint32)
    return _box_muller(bits[0], bits[1])[:n].reshape(shape)


def _draw_tf20(k, t, shape):
    return _counter_normals(k, t, shape, lambda k0, k1, c0, c1: threefry2x32(k0, k1, c0, c1, 20))


def _draw_tf13(k, t, shape):
    return _counter_normals(k, t, shape, lambda k0, k1, c0, c1: threefry2x32(k0, k1, c0, c1, 13))


def _draw_fmix(k, t, shape):
    import jax.numpy as jnp

    def mix(k0, k1, c0, c1):
        h = _fmix32(k0 ^ _fmix32(c1 * jnp.uint32(0x9E3779B9) + k1))
        return _fmix32(h ^ (c0 * jnp.uint32(2) + jnp.uint32(1))), _fmix32(h ^ (c0 * jnp.uint32(2) + jnp.uint32(2)))
    return _counter_normals(k, t, shape, mix)


def _draw_typed(k, t, shape):
    import jax
    return jax.random.normal(jax.random.fold_in(k, t), shape)


SAMPLERS = {
    "engine": {"draw": _draw_engine, "impl": None,
               "what": "jax.random.normal, threefry; fold_in(fold_in(k,3),t) + 2 splits (the engine today)"},
    "normal_foldin": {"draw": _draw_foldin, "impl": None,
                      "what": "jax.random.normal, threefry; one fold_in(k,t), no splits"},
    "bits_boxmuller": {"draw": _draw_bits_bm, "impl": None,
                       "what": "jax.random.bits (threefry) + Box-Muller"},
    "threefry20_bm": {"draw": _draw_tf20, "impl": None,
                      "what": "hand-written threefry2x32-20 on (n, t) counters + Box-Muller"},
    "threefry13_bm": {"draw": _draw_tf13, "impl": None,
                      "what": "hand-written threefry2x32-13 (Random123's fast variant) + Box-Muller"},
    "fmix32_bm": {"draw": _draw_fmix, "impl": None,
                  "what": "murmur3 fmix32 counter hash + Box-Muller (cheap, statistically unvetted)"},
    "rbg": {"draw": _draw_typed, "impl": "rbg",
            "what": "jax.random.normal with impl='rbg' (XLA RngBitGenerator for bits)"},
    "unsafe_rbg": {"draw": _draw_typed, "impl": "unsafe_rbg",
                   "what": "jax.random.normal with impl='unsafe_rbg'"},
}


def _block_fn(S: int, T: int, shape, K: int, sample: bool = False):
    """Draw K steps of blocks at once per seed (one key per block of steps)."""
    import jax
    import jax.numpy as jnp
    nb = T // K

    def f(keys):
        def outer(j, acc):
            blk = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(jax.random.fold_in(k, 3), j),
                                                       (K,) + tuple(shape)))(keys)      # (S, K, B, d)

            def inner(i, a):
                return a + jnp.sum(jax.lax.dynamic_index_in_dim(blk, i, 1, keepdims=False), axis=(1, 2))
            return jax.lax.fori_loop(0, K, inner, acc)
        return jax.lax.fori_loop(0, nb, outer, jnp.zeros(keys.shape[0], jnp.float32))
    return jax.jit(f), nb * K


def _samples(name: str, S: int, T: int, shape) -> np.ndarray:
    """The draws of sampler ``name`` for S seeds × T steps (for the normality check)."""
    import jax
    import jax.numpy as jnp
    keys = seed_keys(S, SAMPLERS[name]["impl"])
    draw = SAMPLERS[name]["draw"]
    out = jax.jit(lambda ks: jax.vmap(lambda k: jax.vmap(lambda t: draw(k, t, shape))(jnp.arange(T)))(ks))(keys)
    return np.asarray(out, np.float64).reshape(S, -1)


def normality(v: np.ndarray) -> dict:
    """KS test against N(0, 1) over all draws, and the correlation of seeds 0 and 1."""
    from scipy import stats
    flat = v.ravel()
    ks = stats.kstest(flat, "norm")
    r = float(np.corrcoef(v[0], v[1])[0, 1])
    n = v.shape[1]
    return {"ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue), "n": int(flat.size),
            "mean": float(flat.mean()), "var": float(flat.var()), "seed_corr": r,
            "passed": bool(ks.pvalue > 1e-3 and abs(r) < 5 / math.sqrt(n))}


def sampler_benchmark(S: int = 1024, T: int = 200, shape=(1, 100), reps: int = 3, log=print,
                      w1_steps: int = 400, d: int = 100, m: int = 8, k: int = 4) -> dict:
    """Rates of the sampler alternatives in the engine's pattern, KS-checked, and their effect on W1."""
    import jax
    out = {"seeds": S, "steps": T, "block": list(shape), "jax": {}, "torch": None, "w1_step": {}}
    n = S * T * int(np.prod(shape))
    for name, spec in SAMPLERS.items():
        keys = seed_keys(S, spec["impl"])
        f = _engine_pattern_fn(S, T, shape, name)
        try:
            jax.block_until_ready(f(keys))
        except Exception as e:  # noqa: BLE001 - an impl unsupported on this backend is reported
            out["jax"][name] = {"what": spec["what"], "error": f"{type(e).__name__}: {e}"}
            continue
        t = _best(lambda f=f, keys=keys: jax.block_until_ready(f(keys)), reps)
        check = normality(_samples(name, 64, 32, shape))
        out["jax"][name] = {"what": spec["what"], "normals_per_second": n / t, "ks_pvalue": check["ks_pvalue"],
                            "ks_statistic": check["ks_statistic"], "seed_corr": check["seed_corr"],
                            "normal_ok": check["passed"]}
        log(f"  sampler {name:<15} {n / t / 1e6:8.1f} M normals/s  KS p={check['ks_pvalue']:.3f}")
    keys = seed_keys(S)
    for K in [K for K in (8, 32) if K <= T]:
        f, TT = _block_fn(S, T, shape, K)
        jax.block_until_ready(f(keys))
        t = _best(lambda f=f: jax.block_until_ready(f(keys)), reps)
        nn = S * TT * int(np.prod(shape))
        out["jax"][f"block{K}"] = {"what": f"jax.random.normal (threefry), one key per block of {K} steps "
                                           f"(S, {K}, B, d) drawn at once", "normals_per_second": nn / t,
                                   "normal_ok": True, "ks_pvalue": None}
        log(f"  sampler block{K:<10} {nn / t / 1e6:8.1f} M normals/s")
    out["torch"] = torch_sampler_rate(S, T, shape, reps)
    ok = {k_: v["normals_per_second"] for k_, v in out["jax"].items() if v.get("normal_ok") and "normals_per_second" in v}
    out["fastest_passing"] = max(ok, key=ok.get) if ok else None
    per_step = {k_: v for k_, v in ok.items() if not k_.startswith("block")}
    alt = max(per_step, key=per_step.get) if per_step else "engine"
    blocks = tuple(f"block{K}" for K in (8, 32) if K <= w1_steps)
    out["w1_step"] = w1_step_benchmark(S, w1_steps, d, m, k, samplers=("engine", "normal_foldin", *blocks, alt, "none"),
                                       reps=reps, log=log)
    return out


def w1_step_benchmark(S: int, T: int, d: int, m: int, k: int, samplers, reps: int = 3, log=print) -> dict:
    """The W1 SGD step (engine arithmetic: jax.grad of ½ mean (f − y)², vmapped over seeds,
    fori_loop over steps) with x drawn by each sampler; ``none`` reads x from a fixed pool
    (the step's cost without sampling)."""
    import jax
    import jax.numpy as jnp

    from jaxrelu import model, noise
    Wt = jax.random.normal(jax.random.PRNGKey(1), (k, d)) / math.sqrt(d)
    teacher = {"W": Wt, "a": jnp.ones(k)}
    pool = jax.random.normal(jax.random.PRNGKey(2), (64, 1, d))
    lr = 0.005
    res = {}
    for name in dict.fromkeys(samplers):
        K = int(name[5:]) if name.startswith("block") else 1

        def step(p, x):
            y = model.apply(teacher, x, 1.0, "relu")
            g = jax.grad(noise.batch_loss)(p, x, y, 1.0, "relu")
            return jax.tree.map(lambda q, gg: q - lr * gg, p, g)

        def run(keys, p0, name=name, K=K):
            if name.startswith("block"):
                def outer(j, p):
                    blk = jax.vmap(lambda kk, j=j: jax.random.normal(
                        jax.random.fold_in(jax.random.fold_in(kk, 3), j), (K, 1, d)))(keys)
                    return jax.lax.fori_loop(0, K, lambda i, q: jax.vmap(step)(
                        q, jax.lax.dynamic_index_in_dim(blk, i, 1, keepdims=False)), p)
                return jax.lax.fori_loop(0, T // K, outer, p0)

            def body(t, p):
                if name == "none":
                    x = jnp.broadcast_to(jax.lax.dynamic_index_in_dim(pool, t % 64, 0, keepdims=False),
                                         (keys.shape[0], 1, d))
                else:
                    x = jax.vmap(lambda kk, t=t: SAMPLERS[name]["draw"](kk, t, (1, d)))(keys)
                return jax.vmap(step)(p, x)
            return jax.lax.fori_loop(0, T, body, p0)

        impl = SAMPLERS[name]["impl"] if name in SAMPLERS else None
        keys = seed_keys(S, impl)
        p0 = {"W": jax.random.normal(jax.random.PRNGKey(3), (S, m, d)) / math.sqrt(d),
              "a": jax.random.normal(jax.random.PRNGKey(4), (S, m))}
        f = jax.jit(run)
        jax.block_until_ready(f(keys, p0))
        secs = _best(lambda f=f, keys=keys, p0=p0: jax.block_until_ready(f(keys, p0)), reps)
        steps = (T // K) * K
        res[name] = {"seed_steps_per_second": S * steps / secs, "seconds": secs, "steps": steps}
        log(f"  W1 step with {name:<15} {S * steps / secs / 1e6:7.3f} M seed-steps/s")
    return res


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
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
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
