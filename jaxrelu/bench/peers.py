"""The implementations timed against each other, all on the same :class:`Problem`.

(a) ``torch_naive``    a PyTorch loop over trajectories, autograd + ``torch.optim.SGD``,
                       one trajectory at a time (a subset is timed, then extrapolated);
(b) ``torch_batched``  PyTorch with the trajectories (seeds × grid points) as one batch
                       dimension: bmm + autograd, one step for every trajectory at once
                       (one mm when every trajectory sees the same inputs);
(c) ``torch_func``     ``torch.func.vmap(grad(loss))`` over stacked parameters;
(d) ``jax_per_seed``   a jitted ``lax.scan`` over steps for one trajectory, called in a
                       Python loop over trajectories (a subset is timed, then extrapolated);
(e) ``jaxrelu``        ``jaxrelu.run`` on the workload's config.

Every peer does the same arithmetic: f(x) = c Σ_j a_j relu(w_j·x + b_j), loss
½ mean (f − ỹ)², plain SGD, Gaussian init W, b ~ N(0, s²/d), a ~ N(0, s₂²).
Online data are drawn fresh each step (x ~ N(0, I), y from the shared
teacher, ỹ = y + σ ξ for label-noise SGD); like jaxrelu, every grid point of a
seed sees the same draws (common random numbers).  A finite training set is
drawn per seed and visited in reshuffled epochs; a dataset is used full-batch.

Each peer has ``time(problem, steps, budget)`` -> :class:`Timing` (a batched torch
peer that runs past :data:`MAX_SECONDS` stops and is extrapolated per step) and
``replay(problem, stream)`` -> final (‖(W, b)‖, ‖a‖) per (seed, grid point),
where ``stream`` is :func:`workloads.replay` (jaxrelu's own init and batches):
the numerical agreement check.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jaxrelu.bench.workloads import Problem, final_norms


@dataclass
class Timing:
    impl: str
    steps: int
    trajectories: int  # trajectories of the workload
    timed_trajectories: int  # trajectories actually run (fewer: extrapolated)
    step_seconds: float  # stepping phase of the timed trajectories
    setup_seconds: float  # initialisation and per-seed data (timed trajectories)
    compile_seconds: float  # compilation / tracing / warm-up
    notes: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Trajectory-steps (seed-steps × grid points) per second in the stepping phase."""
        return self.timed_trajectories * self.steps / self.step_seconds if self.step_seconds > 0 else float("nan")

    @property
    def extrapolated(self) -> bool:
        return self.timed_trajectories < self.trajectories


def torch_missing() -> str | None:
    """None if torch is importable, else the reason."""
    try:
        import torch  # noqa: F401
    except ImportError as e:
        return f"torch is not installed ({e}); pip install 'jaxrelu[bench]' to time the PyTorch peers"
    return None


# ============================================================= torch helpers
def _torch():
    import torch

    return torch


class _TorchData:
    """Per-step batches for S seeds from a torch.Generator (or from a replay stream).

    ``batch(t)`` -> x (S, B, d) or (n, d) shared, y (S, G, B) or (S, 1, B).
    """

    def __init__(self, p: Problem, S: int, gen, stream=None, seeds=None):
        torch = _torch()
        self.p, self.S, self.gen, self.stream = p, S, gen, stream
        self.seeds = seeds if seeds is not None else slice(None)
        self.sig = torch.as_tensor(p.sigma).view(1, -1, 1)
        if stream is not None:
            return
        if p.kind == "online":
            self.tW, self.ta = torch.as_tensor(p.teacher_W), torch.as_tensor(p.teacher_a)
        elif p.kind == "finite":
            tW, ta = torch.as_tensor(p.teacher_W), torch.as_tensor(p.teacher_a)
            self.X = torch.randn(S, p.n, p.d, generator=gen)
            self.Y = torch.relu(self.X @ tW.T) @ ta
            self.perms: dict[int, Any] = {}  # epoch: (S, n) permutation tensor
        else:
            self.X, self.Y = torch.as_tensor(p.x_data), torch.as_tensor(p.y_data)

    def _perm(self, e):
        torch = _torch()
        if e not in self.perms:
            self.perms = {k: v for k, v in self.perms.items() if k >= e - 1}
            self.perms[e] = torch.argsort(torch.rand(self.S, self.p.n, generator=self.gen), dim=1)
        return self.perms[e]

    def batch(self, t):
        torch, p = _torch(), self.p
        if self.stream is not None:
            s = self.stream
            x = torch.as_tensor(s["x"][self.seeds, t])
            y = torch.as_tensor(s["y"][self.seeds, t])[:, None, :]
            if p.label_noise:
                y = y + self.sig * torch.as_tensor(s["xi"][self.seeds, t])[:, None, :]
            return x, y
        if p.kind == "online":
            x = torch.randn(self.S, p.B, p.d, generator=self.gen)
            y = (torch.relu(x @ self.tW.T) @ self.ta)[:, None, :]
        elif p.kind == "finite":
            pos = t * p.B + np.arange(p.B)
            ep = pos // p.n
            idx = self._perm(ep[0])[:, pos % p.n]
            if (ep != ep[0]).any():  # the batch runs into the next epoch
                idx = torch.where(torch.as_tensor(ep == ep[0])[None], idx, self._perm(ep[0] + 1)[:, pos % p.n])
            rows = torch.arange(self.S)[:, None]
            x, y = self.X[rows, idx], self.Y[rows, idx][:, None, :]
        else:
            x, y = self.X, self.Y.view(1, 1, -1).expand(self.S, 1, p.n)
        if p.label_noise:
            y = y + self.sig * torch.randn(self.S, 1, p.B, generator=self.gen)
        return x, y


def _torch_init(p: Problem, S: int, gen, stream=None, seeds=None):
    """Initial (W (S, m, d), a (S, m), b (S, m) | None), per seed."""
    torch = _torch()
    if stream is not None:
        sl = seeds if seeds is not None else slice(None)
        W, a = torch.as_tensor(stream["W0"][sl]), torch.as_tensor(stream["a0"][sl])
        b = torch.as_tensor(stream["b0"][sl]) if p.bias else None
        return W.clone(), a.clone(), (b.clone() if b is not None else None)
    s = p.init_scale / math.sqrt(p.d)
    W = torch.randn(S, p.m, p.d, generator=gen) * s
    b = torch.randn(S, p.m, generator=gen) * s if p.bias else None
    a = torch.randn(S, p.m, generator=gen) * p.second_layer_scale
    return W, a, b


#: a batched peer stops after this many seconds and is extrapolated per step (says so in its notes)
MAX_SECONDS = 8.0


def _timed_loop(step, steps: int, max_seconds: float) -> tuple[int, float]:
    """Run step(0..steps-1), stopping early after max_seconds -> (steps done, seconds)."""
    t0 = time.perf_counter()
    for t in range(steps):
        step(t)
        if time.perf_counter() - t0 > max_seconds and t + 1 < steps:
            return t + 1, time.perf_counter() - t0
    return steps, time.perf_counter() - t0


def _batched_timing(key, p: Problem, steps: int, done: int, run: float, setup: float, warm: float) -> Timing:
    torch = _torch()
    notes = [f"torch threads: {torch.get_num_threads()} (default)"]
    if done < steps:
        notes.append(f"stopped after {done} of {steps} steps ({run:.0f} s), extrapolated per step")
    return Timing(key, steps, p.trajectories, p.trajectories, run * steps / done, setup, warm, notes=notes)


def _small(p: Problem) -> Problem:
    """The same problem with at most 4 seeds (for warm-up)."""
    return Problem(**{**p.__dict__, "S": min(p.S, 4)})


def _expand(t, G):
    """(S, ...) -> (S, G, ...) copy (every grid point starts from its seed's init)."""
    return t[:, None].expand(t.shape[0], G, *t.shape[1:]).clone() if t is not None else None


# ============================================================= (b) batched torch
class TorchBatched:
    key = "torch_batched"
    label = "(b) PyTorch batched (bmm+autograd)"
    per_trajectory = False

    def _run(self, p: Problem, steps: int, gen=None, stream=None):
        """Trajectories flattened to one batch dimension N = S·G (index s·G + g).

        Per-seed inputs: one bmm (N, B, d) @ (N, d, m), the seed's batch repeated over
        its grid points.  Inputs shared by every trajectory (full batch): one mm
        (n, d) @ (d, N·m).  Backward by autograd.
        """
        torch = _torch()
        t0 = time.perf_counter()
        S = p.S if stream is None else stream["x"].shape[0]
        G, N, m, d = p.G, S * p.G, p.m, p.d
        W, a, b = (
            None if q is None else _expand(q, G).reshape(N, *q.shape[1:]) for q in _torch_init(p, S, gen, stream)
        )
        params = [q.requires_grad_() for q in (W, a, b) if q is not None]
        data = _TorchData(p, S, gen, stream)
        lr = torch.as_tensor(p.lr).repeat(S)  # (N,)
        lrs = [lr.view(-1, *([1] * (q.dim() - 1))) for q in params]
        setup = time.perf_counter() - t0

        def step(t):
            x, y = data.batch(t)
            if x.dim() == 3:  # (S, B, d) per seed
                xx = x if G == 1 else x[:, None].expand(S, G, *x.shape[1:]).reshape(N, *x.shape[1:])
                z = torch.bmm(xx, W.transpose(1, 2))  # (N, B, m)
            else:  # (n, d) shared
                z = (x @ W.reshape(N * m, d).T).view(x.shape[0], N, m).transpose(0, 1)
            if b is not None:
                z = z + b.unsqueeze(1)
            out = p.c * torch.bmm(torch.relu(z), a.unsqueeze(-1)).squeeze(-1)  # (N, B)
            yy = y.expand(S, G, y.shape[-1]).reshape(N, -1)
            loss = 0.5 * ((out - yy) ** 2).mean(-1).sum()
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for q, g, r in zip(params, grads, lrs):
                    q.sub_(r * g)

        assert W is not None and a is not None  # _torch_init always gives W and a (b is optional)
        return step, setup, (W.view(S, G, m, d), a.view(S, G, m), None if b is None else b.view(S, G, m))

    def time(
        self, p: Problem, steps: int, budget: float = 0.0, warmup: int = 2, max_seconds: float = MAX_SECONDS
    ) -> Timing:
        torch = _torch()
        gen = torch.Generator().manual_seed(0)
        step, _, _ = self._run(_small(p), warmup, gen)
        t0 = time.perf_counter()
        for t in range(warmup):
            step(t)
        warm = time.perf_counter() - t0
        step, setup, _ = self._run(p, steps, gen)
        done, run = _timed_loop(step, steps, max_seconds)
        return _batched_timing(self.key, p, steps, done, run, setup, warm)

    def replay(self, p: Problem, stream) -> tuple[np.ndarray, np.ndarray]:
        torch = _torch()
        step, _, (W, a, b) = self._run(p, 0, None, stream)
        for t in range(stream["x"].shape[1]):
            step(t)
        with torch.no_grad():
            return final_norms(W.numpy(), a.numpy(), None if b is None else b.numpy())


# ============================================================= (c) torch.func
class TorchFunc:
    key = "torch_func"
    label = "(c) torch.func vmap(grad)"
    per_trajectory = False

    def _run(self, p: Problem, gen=None, stream=None):
        torch = _torch()
        from torch.func import grad, vmap

        t0 = time.perf_counter()
        S = p.S if stream is None else stream["x"].shape[0]
        W, a, b = _torch_init(p, S, gen, stream)
        params = [_expand(q, p.G) for q in (W, a, b) if q is not None]
        data = _TorchData(p, S, gen, stream)
        lr = torch.as_tensor(p.lr)
        lrs = [lr.view(1, -1, *([1] * (q.dim() - 2))) for q in params]
        c, bias = p.c, p.bias

        def loss(ps, x, y):  # one trajectory
            z = x @ ps[0].T
            if bias:
                z = z + ps[2]
            out = c * (torch.relu(z) @ ps[1])
            return 0.5 * ((out - y) ** 2).mean()

        g = grad(loss)
        per_seed_x = vmap(vmap(g, in_dims=(0, None, 0)), in_dims=(0, 0, 0))
        shared_x = vmap(vmap(g, in_dims=(0, None, 0)), in_dims=(0, None, 0))
        state = {"params": params}
        setup = time.perf_counter() - t0

        def step(t):
            x, y = data.batch(t)
            y = y.expand(y.shape[0], p.G, y.shape[-1])
            fn = per_seed_x if x.dim() == 3 else shared_x
            grads = fn(state["params"], x, y)
            state["params"] = [q - r * gq for q, gq, r in zip(state["params"], grads, lrs)]

        return step, setup, state

    def time(
        self, p: Problem, steps: int, budget: float = 0.0, warmup: int = 2, max_seconds: float = MAX_SECONDS
    ) -> Timing:
        torch = _torch()
        gen = torch.Generator().manual_seed(0)
        step, _, _ = self._run(_small(p), gen)
        t0 = time.perf_counter()
        for t in range(warmup):
            step(t)
        warm = time.perf_counter() - t0
        step, setup, _ = self._run(p, gen)
        with torch.no_grad():
            done, run = _timed_loop(step, steps, max_seconds)
        return _batched_timing(self.key, p, steps, done, run, setup, warm)

    def replay(self, p: Problem, stream):
        step, _, state = self._run(p, None, stream)
        for t in range(stream["x"].shape[1]):
            step(t)
        ps = [q.detach().numpy() for q in state["params"]]
        return final_norms(ps[0], ps[1], ps[2] if p.bias else None)


# ============================================================= (a) naive torch
class TorchNaive:
    key = "torch_naive"
    label = "(a) PyTorch naive loop (autograd+optim.SGD)"
    per_trajectory = True

    def _trajectory(self, p: Problem, s: int, g: int, steps: int, stream=None):
        """One trajectory (seed s, grid point g) -> (setup s, step s, W, a, b)."""
        torch = _torch()
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(1000 + s)  # same draws at every grid point of seed s
        sl = slice(s, s + 1)
        W, a, b = _torch_init(p, 1, gen, stream, sl)
        params = [torch.nn.Parameter(q[0].clone()) for q in (W, a, b) if q is not None]
        Wp, ap = params[0], params[1]
        bp = params[2] if p.bias else None
        sub = Problem(**{**p.__dict__, "sigma": p.sigma[g : g + 1], "lr": p.lr[g : g + 1], "G": 1})
        data = _TorchData(sub, 1, gen, stream, sl)
        opt = torch.optim.SGD(params, lr=float(p.lr[g]))
        t1 = time.perf_counter()
        for t in range(steps):
            x, y = data.batch(t)
            x = x[0] if x.dim() == 3 else x
            y = y.reshape(-1)
            opt.zero_grad(set_to_none=True)
            z = x @ Wp.T
            if bp is not None:
                z = z + bp
            out = p.c * (torch.relu(z) @ ap)
            loss = 0.5 * ((out - y) ** 2).mean()
            loss.backward()
            opt.step()
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, Wp.detach(), ap.detach(), (bp.detach() if bp is not None else None)

    def time(self, p: Problem, steps: int, budget: float = 2.0, warmup: int = 2) -> Timing:
        torch = _torch()
        t0 = time.perf_counter()
        self._trajectory(p, 0, 0, warmup)
        warm = time.perf_counter() - t0
        setup = run = 0.0
        done = 0
        for i in range(p.trajectories):
            s, g = divmod(i, p.G)
            a, b, *_ = self._trajectory(p, s, g, steps)
            setup, run, done = setup + a, run + b, done + 1
            if setup + run >= budget:
                break
        notes = [
            f"timed {done} of {p.trajectories} trajectories, extrapolated"
            if done < p.trajectories
            else "all trajectories timed",
            f"torch threads: {torch.get_num_threads()} (default)",
        ]
        return Timing(self.key, steps, p.trajectories, done, run, setup, warm, notes=notes)

    def replay(self, p: Problem, stream):
        S, T = stream["x"].shape[:2]
        wn, an = np.zeros((S, p.G)), np.zeros((S, p.G))
        for s in range(S):
            for g in range(p.G):
                *_, W, a, b = self._trajectory(p, s, g, T, stream)
                wn[s, g], an[s, g] = final_norms(W.numpy(), a.numpy(), None if b is None else b.numpy())
        return wn, an


# ============================================================= (d) per-seed jitted JAX
class JaxPerSeed:
    key = "jax_per_seed"
    label = "(d) JAX per-seed jit(scan), Python loop"
    per_trajectory = True

    def __init__(self):
        self._cache = {}

    def _fns(self, p: Problem, steps: int, replayed: bool):
        """(setup, run) jitted for this problem and step count (cached; the cache keeps p alive)."""
        key = (id(p), steps, replayed)
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[0] == id(p)}
            self._cache[key] = (p, *self._build(p, steps, replayed))
        return self._cache[key][1:]

    def _build(self, p: Problem, steps: int, replayed: bool):
        import jax
        import jax.numpy as jnp

        c, bias, B, d, n = p.c, p.bias, p.B, p.d, p.n
        tW = jnp.asarray(p.teacher_W) if p.teacher_W is not None else None
        ta = jnp.asarray(p.teacher_a) if p.teacher_a is not None else None

        def loss(ps, x, y):
            z = x @ ps["W"].T
            if bias:
                z = z + ps["b"]
            r = c * (jax.nn.relu(z) @ ps["a"]) - y
            return 0.5 * jnp.mean(r * r)

        def update(ps, x, y, lr):
            gr = jax.grad(loss)(ps, x, y)
            return jax.tree.map(lambda q, g: q - lr * g, ps, gr)

        if replayed:

            @jax.jit
            def run(ps, xs, ys, xis, lr, sig):
                def body(q, xyz):
                    x, y, xi = xyz
                    return update(q, x, y + sig * xi, lr), None

                return jax.lax.scan(body, ps, (xs, ys, xis))[0]

            return None, run

        @jax.jit
        def setup(key):
            kW, kb, ka, kx = jax.random.split(jax.random.fold_in(key, 0), 4)
            s = p.init_scale / math.sqrt(d)
            ps = {"W": s * jax.random.normal(kW, (p.m, d)), "a": p.second_layer_scale * jax.random.normal(ka, (p.m,))}
            if bias:
                ps["b"] = s * jax.random.normal(kb, (p.m,))
            if p.kind == "finite":
                X = jax.random.normal(kx, (n, d))
                data = (X, jax.nn.relu(X @ tW.T) @ ta)
            elif p.kind == "full":
                data = (jnp.asarray(p.x_data), jnp.asarray(p.y_data))
            else:
                data = ()
            return ps, data

        @jax.jit  # type: ignore[no-redef]  # the replayed branch above returns its own run
        def run(ps, data, key, lr, sig):
            sk = jax.random.fold_in(key, 3)

            def body(q, t):
                kb, ks = jax.random.split(jax.random.fold_in(sk, t))
                if p.kind == "online":
                    kx, _ = jax.random.split(kb)
                    x = jax.random.normal(kx, (B, d))
                    y = jax.nn.relu(x @ tW.T) @ ta
                elif p.kind == "finite":
                    X, Y = data
                    pos = t * B + jnp.arange(B)
                    e0 = (t * B) // n
                    pk = jax.random.fold_in(key, 2)
                    perm0 = jax.random.permutation(jax.random.fold_in(pk, e0), n)
                    if n % B == 0:
                        idx = perm0[pos % n]
                    else:
                        perm1 = jax.random.permutation(jax.random.fold_in(pk, e0 + 1), n)
                        idx = jnp.where(pos // n == e0, perm0[pos % n], perm1[pos % n])
                    x, y = X[idx], Y[idx]
                else:
                    x, y = data
                if p.label_noise:
                    y = y + sig * jax.random.normal(jax.random.split(ks)[0], y.shape)
                return update(q, x, y, lr), None

            return jax.lax.scan(body, ps, jnp.arange(steps))[0]

        return setup, run

    def time(self, p: Problem, steps: int, budget: float = 2.0, warmup: int = 0) -> Timing:
        import jax
        import jax.numpy as jnp

        setup_fn, run_fn = self._fns(p, steps, False)
        base = jax.random.PRNGKey(0)
        lr, sig = jnp.float32(p.lr[0]), jnp.float32(p.sigma[0])
        t0 = time.perf_counter()
        ps, data = setup_fn(base)
        jax.block_until_ready(run_fn(ps, data, base, lr, sig))  # compiles both
        compile_s = time.perf_counter() - t0
        setup = run = 0.0
        done = 0
        for i in range(p.trajectories):
            s, g = divmod(i, p.G)
            key = jax.random.fold_in(base, s)
            a = time.perf_counter()
            ps, data = jax.block_until_ready(setup_fn(key))
            b = time.perf_counter()
            jax.block_until_ready(run_fn(ps, data, key, jnp.float32(p.lr[g]), jnp.float32(p.sigma[g])))
            c = time.perf_counter()
            setup, run, done = setup + b - a, run + c - b, done + 1
            if setup + run >= budget:
                break
        notes = [
            f"timed {done} of {p.trajectories} trajectories, extrapolated"
            if done < p.trajectories
            else "all trajectories timed"
        ]
        return Timing(self.key, steps, p.trajectories, done, run, setup, compile_s, notes=notes)

    def replay(self, p: Problem, stream):
        import jax.numpy as jnp

        _, run = self._fns(p, stream["x"].shape[1], True)
        S = stream["x"].shape[0]
        wn, an = np.zeros((S, p.G)), np.zeros((S, p.G))
        for s in range(S):
            ps = {"W": jnp.asarray(stream["W0"][s]), "a": jnp.asarray(stream["a0"][s])}
            if p.bias:
                ps["b"] = jnp.asarray(stream["b0"][s])
            for g in range(p.G):
                q = run(
                    ps,
                    stream["x"][s],
                    stream["y"][s],
                    stream["xi"][s],
                    jnp.float32(p.lr[g]),
                    jnp.float32(p.sigma[g] if p.label_noise else 0.0),
                )
                wn[s, g], an[s, g] = final_norms(q["W"], q["a"], q.get("b"))
        return wn, an


# ============================================================= (e) jaxrelu
class JaxRelu:
    key = "jaxrelu"
    label = "(e) jaxrelu.run"
    per_trajectory = False

    def time_study(self, workload, steps: int, quick: bool) -> Timing:
        """Three runs: a short one that compiles, the same short one warm, the full one.

        The stepping rate is the slope between the two warm runs, so initialisation,
        per-seed data and the record-time observables (identical in both) cancel.
        """
        import jaxrelu

        short = max(1, steps // 10)
        st_short = workload.study(quick=quick, steps=short)
        first = jaxrelu.run(st_short)
        warm = jaxrelu.run(st_short)
        full = jaxrelu.run(workload.study(quick=quick, steps=steps))
        m = full.meta
        S, G = m["seeds"], int(np.prod(m["grid_shape"]))
        slope = (m["run_seconds"] - warm.meta["run_seconds"]) / (steps - short)
        notes = [f"stepping time = slope between warm runs of {short} and {steps} steps"]
        if slope <= 0:  # noise swamped the difference: fall back
            slope = m["run_seconds"] / steps
            notes.append("slope not positive (noise); used the full run's time")
        step_s = slope * steps
        setup = max(0.0, m["run_seconds"] - step_s)
        if m["chunks"] > 1:
            notes.append(f"{m['chunks']} chunks of {m['chunk_size']} seeds")
        return Timing(
            self.key,
            steps,
            S * G,
            S * G,
            step_s,
            setup,
            first.meta["compile_seconds"],
            notes=notes,
            extra={
                "end_to_end_rate": m["trajectory_steps_per_second"],
                "run_seconds": m["run_seconds"],
                "chunk_size": m["chunk_size"],
                "chunks": m["chunks"],
            },
        )

    def replay_study(self, study) -> tuple[np.ndarray, np.ndarray]:
        """Final ‖(W, b)‖ and ‖a‖ per (seed, grid point) from jaxrelu's per-seed records."""
        import dataclasses

        import jaxrelu

        rec = dataclasses.replace(
            study.record,
            observables=("weight_norm", "second_layer_norm"),
            quantiles=(),
            histograms=(),
            first_passage=(),
            keep_per_seed=("weight_norm", "second_layer_norm"),
        )
        res = jaxrelu.run(dataclasses.replace(study, record=rec))
        G = int(np.prod(res.grid_shape))
        w = res["weight_norm.per_seed"].reshape(G, study.run.seeds, -1)[..., -1].T
        a = res["second_layer_norm.per_seed"].reshape(G, study.run.seeds, -1)[..., -1].T
        return w, a


# ====================================================== (f) jaxrelu, a process per core
class JaxReluProcs:
    """jaxrelu as ``jaxrelu run --cpu-processes N`` runs it: N processes on this machine, each
    pinned to a core with one JAX CPU device (:func:`jaxrelu.engine.devices.launch_cpu_processes`)."""

    key = "jaxrelu_procs"
    label = "(f) jaxrelu, a pinned process per core"
    per_trajectory = False

    def time_study(self, workload, steps: int, quick: bool) -> Timing:
        """A short and a full run, each launched afresh (each compiles; compile time is not in
        ``run_seconds``); the stepping rate is the slope between them, as for (e)."""
        import json
        import subprocess
        import tempfile
        from pathlib import Path

        from jaxrelu.engine import cpu_cores
        from jaxrelu.engine.devices import launch_cpu_processes

        n = len(cpu_cores())
        short = max(1, steps // 10)
        metas = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, st in enumerate((short, steps)):
                study, meta = Path(tmp) / f"study{i}.json", Path(tmp) / f"meta{i}.json"
                study.write_text(json.dumps(workload.study(quick=quick, steps=st).to_dict()))
                code = launch_cpu_processes(
                    n, ["-m", "jaxrelu.bench._procrun", str(study), str(meta)], stdout=subprocess.DEVNULL
                )  # gloo's chatter: the tables alone on stdout
                if code:
                    raise RuntimeError(f"{self.label}: the launched run exited {code}")
                metas.append(json.loads(meta.read_text()))
        m = metas[1]
        S, G = m["seeds"], int(np.prod(m["grid_shape"]))
        slope = (m["run_seconds"] - metas[0]["run_seconds"]) / (steps - short)
        notes = [f"{n} processes; stepping time = slope between runs of {short} and {steps} steps"]
        if slope <= 0:
            slope = m["run_seconds"] / steps
            notes.append("slope not positive (noise); used the full run's time")
        step_s = slope * steps
        notes.append(f"{m['chunks']} chunks of {m['chunk_size']} seeds")
        return Timing(
            self.key,
            steps,
            S * G,
            S * G,
            step_s,
            max(0.0, m["run_seconds"] - step_s),
            m["compile_seconds"],
            notes=notes,
            extra={
                "end_to_end_rate": m["trajectory_steps_per_second"],
                "run_seconds": m["run_seconds"],
                "chunk_size": m["chunk_size"],
                "chunks": m["chunks"],
                "processes": n,
            },
        )


PEERS: dict[str, Any] = {  # heterogeneous: Torch*/JaxPerSeed .time/.replay, JaxRelu* .time_study
    "torch_naive": TorchNaive(),
    "torch_batched": TorchBatched(),
    "torch_func": TorchFunc(),
    "jax_per_seed": JaxPerSeed(),
    "jaxrelu": JaxRelu(),
    "jaxrelu_procs": JaxReluProcs(),
}
TORCH_PEERS = ("torch_naive", "torch_batched", "torch_func")


def agreement(
    workload, quick: bool = False, impls=tuple(PEERS), seeds: int = 2, steps: int = 12, tolerance: float = 1e-4
) -> dict:
    """Every peer on jaxrelu's own random stream against jaxrelu's final ‖(W, b)‖ and ‖a‖.

    The peers get jaxrelu's initial parameters and the batch (and ξ) of every step
    (:func:`workloads.replay`); jaxrelu runs the same study keeping per-seed
    ``weight_norm`` and ``second_layer_norm``.  Returns the largest relative
    difference per peer (float32 on both sides: expect ~1e-7).
    """
    from jaxrelu.bench import workloads as wl

    study = workload.study(quick=quick, seeds=seeds, steps=steps)
    prob = wl.problem(study)
    stream = wl.replay(study, seeds, steps)
    ref_w, ref_a = PEERS["jaxrelu"].replay_study(study)
    w0, _ = wl.final_norms(stream["W0"], stream["a0"], stream.get("b0"))
    out: dict[str, Any] = {
        "seeds": seeds,
        "steps": steps,
        "tolerance": tolerance,
        "peers": {},
        "jaxrelu_moved": float(np.max(np.abs(ref_w / w0[:, None] - 1))),
    }
    torch_off = torch_missing() is not None
    for name in impls:
        if not hasattr(PEERS[name], "replay") or (name in TORCH_PEERS and torch_off):
            continue  # jaxrelu itself (per process: tests/test_scale.py)
        wn, an = PEERS[name].replay(prob, stream)
        err = float(max(np.max(np.abs(wn / ref_w - 1)), np.max(np.abs(an / ref_a - 1))))
        out["peers"][name] = {"max_rel_err": err, "passed": err < tolerance}
    out["passed"] = all(v["passed"] for v in out["peers"].values())
    return out
