"""The benchmark workloads W1–W4, each a jaxrelu config, and what the peers need of them.

A :class:`Workload` is a config dict (``jaxrelu.config.from_dict``) plus its
default number of seeds and steps.  :func:`problem` turns a study into the plain
arrays and sizes the peer implementations work from (same teacher, same
dataset, same hyperparameters per grid point), :func:`costs` is the cost model
of one step (Gaussian draws per seed, FLOPs per trajectory) used for the
roofline, and :func:`replay` reproduces jaxrelu's own random stream (initial
parameters and the batch of every step) so the peers can be checked against
jaxrelu number for number.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

# The 1-D toy of W3: 12 points, x = (−5.5, −4.5, …, 5.5)/4 + 0.07.
TOY_X = [(-5.5 + i) / 4 + 0.07 for i in range(12)]
TOY_Y = [0.345 + v for v in (-2, 1.5, 0, 0, 2, 1, 0, -1, 0, 1, 2, -1)]


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    base: dict  # config dict without run.seeds / run.steps
    seeds: int
    steps: int
    quick: dict = field(default_factory=dict)  # overrides for --quick (sections merged)
    quick_seeds: int = 8
    quick_steps: int = 30
    reference: dict | None = None  # section overrides of a run timed beside it (e.g. W5's fixed batch)

    def config(
        self, *, quick: bool = False, seeds: int | None = None, steps: int | None = None, overrides: dict | None = None
    ) -> dict:
        """The config dict of this workload (``quick`` sizes, explicit seeds/steps, section overrides)."""
        d = copy.deepcopy(self.base)
        for src in ((self.quick if quick else {}), overrides or {}):
            for sec, vals in src.items():
                if sec == "sweep":
                    d["sweep"] = copy.deepcopy(vals)
                else:
                    d.setdefault(sec, {}).update(copy.deepcopy(vals))
        d.setdefault("run", {})
        d["run"]["seeds"] = seeds or (self.quick_seeds if quick else self.seeds)
        d["run"]["steps"] = steps or (self.quick_steps if quick else self.steps)
        return d

    def study(self, **kw):
        from jaxrelu import config

        return config.from_dict(self.config(**kw))


_REC = {"run": {"records": 2}}

WORKLOADS: dict[str, Workload] = {
    "W1": Workload(
        "W1",
        "online teacher-student, d=100, m=8, k=4, batch 1",
        {
            **_REC,
            "task": {"kind": "teacher_student", "input_dim": 100, "teacher_width": 4, "train_size": "online"},
            "model": {"width": 8, "activation": "relu"},
            "optimizer": {"lr": 0.005, "batch_size": 1},
            "record": {"observables": ["population_loss"], "quantiles": []},
        },
        seeds=1024,
        steps=1000,
        quick={"task": {"input_dim": 20, "teacher_width": 2}, "model": {"width": 4}},
        quick_seeds=16,
        quick_steps=40,
    ),
    "W2": Workload(
        "W2",
        "wide, d=1000, m=512, batch 64, finite training set n=4096",
        {
            "run": {"records": 2, "chunk_size": 64},
            "task": {"kind": "teacher_student", "input_dim": 1000, "teacher_width": 4, "train_size": 4096},
            "model": {"width": 512, "activation": "relu", "parametrization": "ntk"},
            "optimizer": {"lr": 0.002, "batch_size": 64},
            "record": {"observables": ["weight_norm"], "quantiles": []},
        },
        seeds=64,
        steps=40,
        quick={
            "task": {"input_dim": 40, "train_size": 128},
            "model": {"width": 16},
            "optimizer": {"batch_size": 16, "lr": 0.01},
            "run": {"chunk_size": None},
        },
        quick_seeds=8,
        quick_steps=12,
    ),
    "W3": Workload(
        "W3",
        "1-D toy, full-batch GD, n=12, m=100 with bias",
        {
            **_REC,
            "task": {"kind": "dataset", "inputs": TOY_X, "targets": TOY_Y},
            "model": {"width": 100, "activation": "relu", "bias": True, "parametrization": "ntk"},
            "optimizer": {"lr": 0.02, "batch_size": 12},
            "record": {"observables": ["train_loss"], "quantiles": []},
        },
        seeds=4096,
        steps=300,
        quick={"model": {"width": 16}},
        quick_seeds=32,
        quick_steps=40,
    ),
    "W4": Workload(
        "W4",
        "W1 over a 4x4 lr x label-noise grid (16 points)",
        {
            **_REC,
            "task": {"kind": "teacher_student", "input_dim": 100, "teacher_width": 4, "train_size": "online"},
            "model": {"width": 8, "activation": "relu"},
            "optimizer": {"lr": 0.005, "batch_size": 1},
            "sweep": {"optimizer.lr": [0.001, 0.002, 0.005, 0.01], "optimizer.label_noise": [0.0, 0.1, 0.3, 1.0]},
            "record": {"observables": ["population_loss"], "quantiles": []},
        },
        seeds=256,
        steps=400,
        quick={"task": {"input_dim": 20, "teacher_width": 2}, "model": {"width": 4}},
        quick_seeds=8,
        quick_steps=40,
    ),
    "W5": Workload(  # issue #21: a swept batch size on a finite set, timed beside the fixed largest batch
        "W5",
        "batch sizes [1, 4] swept on a finite set n=100, d=50, m=4, k=4 (beside fixed B=4)",
        {
            **_REC,
            "task": {"kind": "teacher_student", "input_dim": 50, "teacher_width": 4, "train_size": 100},
            "model": {"width": 4, "activation": "relu"},
            "optimizer": {"lr": 0.01, "batch_size": 4},
            "sweep": {"optimizer.batch_size": [1, 4]},
            "record": {"observables": ["train_loss"], "quantiles": []},
        },
        seeds=512,
        steps=2000,
        quick={"task": {"input_dim": 10, "train_size": 20}},
        quick_seeds=8,
        quick_steps=40,
        reference={"sweep": {}},
    ),
}


# ==================================================================== peers' view
@dataclass
class Problem:
    """A study as the peer implementations see it (relu, plain SGD, numpy float32)."""

    kind: str  # "online" | "finite" | "full"
    d: int
    m: int
    k: int  # teacher width (0 for a dataset)
    B: int  # batch size
    n: int  # training-set size (0 online)
    bias: bool
    c: float  # output scale
    S: int  # seeds
    G: int  # grid points
    lr: np.ndarray  # (G,)
    sigma: np.ndarray  # (G,) label-noise SGD σ (zeros when off)
    label_noise: bool  # draw ξ each step
    init_scale: float
    second_layer_scale: float
    teacher_W: np.ndarray | None  # (k, d)
    teacher_a: np.ndarray | None  # (k,)
    x_data: np.ndarray | None  # (n, d) for kind "full"
    y_data: np.ndarray | None  # (n,)

    @property
    def trajectories(self) -> int:
        return self.S * self.G


class Unsupported(ValueError):
    """The study uses a feature the peers do not implement."""


def problem(study) -> Problem:
    """The peers' view of a study; raises :class:`Unsupported` for features they lack."""
    import jax
    import jax.numpy as jnp

    from jaxrelu import engine, tasks

    prog, hp = engine.build(study)
    s, t, m, o = prog.step, study.task, study.model, study.optimizer
    bad = [
        name
        for name, cond in [
            (
                "activation != relu",
                m.activation != "relu" or (t.kind == "teacher_student" and t.teacher_activation != "relu"),
            ),
            ("momentum", "optimizer.momentum" in s.on),
            ("weight decay", "optimizer.weight_decay" in s.on),
            ("Langevin noise", "optimizer.langevin_temperature" in s.on),
            ("optimizer other than sgd", o.name != "sgd"),
            ("loss other than square", not s.loss.square),
            ("task other than teacher_student or dataset", t.kind not in ("teacher_student", "dataset")),
            ("step schedule", bool(s.decay_steps)),
            ("swept batch size", s.masked_batch),
            ("frozen second layer", not s.train_second_layer),
            ("task.label_noise", prog.task.label_noise),
            ("sampling with replacement", prog.task.replacement),
            ("float64", prog.dtype != "float32"),
            ("non-gaussian init", m.first_layer_init != "gaussian" or m.second_layer_init != "gaussian"),
            ("swept init scales", any(k.startswith("model.") for k in study.grid_axes)),
        ]
        if cond
    ]
    if bad:
        raise Unsupported("peers do not implement: " + ", ".join(bad))
    kind = "online" if prog.task.online else ("full" if prog.task.full_batch else "finite")
    _, shared_key = jax.random.split(jax.random.PRNGKey(study.run.seed))
    shared = tasks.make_shared(shared_key, t, jnp.float32)
    f32 = lambda a: None if a is None else np.array(a, np.float32)  # writable copies
    return Problem(
        kind=kind,
        d=prog.task.input_dim,
        m=prog.width,
        k=t.teacher_width if t.kind == "teacher_student" else 0,
        B=prog.task.batch_max,
        n=prog.task.train_size,
        bias=prog.bias,
        c=float(s.c),
        S=study.run.seeds,
        G=prog.grid_size,
        lr=f32(hp["optimizer.lr"]),
        sigma=f32(hp["optimizer.label_noise"]),
        label_noise="optimizer.label_noise" in s.on,
        init_scale=float(m.init_scale),
        second_layer_scale=float(m.second_layer_scale),
        teacher_W=f32(shared.teacher["W"]) if shared.teacher is not None else None,
        teacher_a=f32(shared.teacher["a"]) if shared.teacher is not None else None,
        x_data=f32(shared.x_train) if kind == "full" else None,
        y_data=f32(shared.y_train) if kind == "full" else None,
    )


# ==================================================================== cost model
def costs(p: Problem) -> dict:
    """What one step costs, by the count of an ideal implementation.

    ``normals_per_seed_step``: Gaussian draws per seed and step (the batch x for
    online data, ξ for label-noise SGD; shared by the grid points of a seed,
    as jaxrelu shares them: common random numbers).  ``flops_per_traj_step``:
    multiply-adds count 2 — forward 2Bdm, back-propagation to W 2Bdm, the
    O(Bm) vector work and the update 2·(#params); ``flops_per_seed_step`` the
    teacher's forward pass on the fresh batch (online).  ``setup_normals_per_seed``:
    the initialisation and the per-seed training set, drawn once.
    """
    B, d, m, k = p.B, p.d, p.m, p.k
    n_params = m * d + m * (2 + p.bias)
    per_traj = 4 * B * d * m + (8 + 2 * p.bias) * B * m + 2 * n_params
    per_seed = (2 * B * d * k + 3 * B * k) if p.kind == "online" else 0
    normals = (B * d if p.kind == "online" else 0) + (B if p.label_noise else 0)
    setup = n_params - m + (p.n * d + p.n if p.kind == "finite" else 0)
    return {
        "normals_per_seed_step": normals,
        "flops_per_traj_step": per_traj,
        "flops_per_seed_step": per_seed,
        "matmul_flops_per_traj_step": 4 * B * d * m,
        "setup_normals_per_seed": setup,
        "params_per_traj": n_params,
    }


def roofline_seconds(p: Problem, steps: int, sampler_rate: float, matmul_rate: float) -> float:
    """(normals it must draw / sampler rate) + (its FLOPs / matmul rate), for the stepping phase."""
    c = costs(p)
    normals = p.S * steps * c["normals_per_seed_step"]
    flops = steps * (p.S * p.G * c["flops_per_traj_step"] + p.S * c["flops_per_seed_step"])
    return normals / sampler_rate + flops / matmul_rate


# ==================================================================== jaxrelu's stream
def replay(study, seeds: int, steps: int) -> dict:
    """jaxrelu's randomness for seeds 0..seeds-1 and steps 0..steps-1, as numpy arrays.

    Follows the contract stated in :mod:`jaxrelu.engine`: trajectory k draws its
    initialisation from ``fold_in(seed_key, 0)``, its training set from
    ``fold_in(seed_key, 1)``, epoch permutations from ``fold_in(seed_key, 2)``
    and step t from ``fold_in(fold_in(seed_key, 3), t)`` (split into batch and
    SGD keys; ξ of label-noise SGD from the first half of the SGD key); online
    inputs of step t are row t % BLOCK of ``normal(kx, (BLOCK, B, d))`` with
    ``kx = split(fold_in(fold_in(seed_key, 4), t // BLOCK))[0]``, drawn here as whole
    blocks with ``jax.random`` (the engine draws the rows alone).
    Returns ``W0, a0[, b0]`` (seeds, ...), ``x`` (seeds, steps, B, d), ``y``
    (seeds, steps, B) clean labels and ``xi`` (seeds, steps, B).
    """
    import jax
    import jax.numpy as jnp

    from jaxrelu import engine, model, tasks

    prog, hp = engine.build(study)
    dt = jnp.float32
    seeds_key, shared_key = jax.random.split(jax.random.PRNGKey(study.run.seed))
    shared = tasks.make_shared(shared_key, study.task, dt)
    B = prog.task.batch_max
    scale = jnp.asarray(hp["model.init_scale"][0], dt)
    scale2 = jnp.asarray(hp["model.second_layer_scale"][0], dt)

    def one_seed(k):
        sk = jax.random.fold_in(seeds_key, k)
        p = model.init(
            jax.random.fold_in(sk, engine.INIT),
            width=prog.width,
            input_dim=prog.task.input_dim,
            bias=prog.bias,
            first_layer=prog.first_layer,
            second_layer=prog.second_layer,
            init_scale=scale,
            second_layer_scale=scale2,
            dtype=dt,
        )
        per = tasks.make_seed_data(jax.random.fold_in(sk, engine.DATA), shared, prog.task, dt)
        data = shared._replace(**per)

        def at(t):
            key = jax.random.fold_in(jax.random.fold_in(sk, engine.STEPS), t)
            kb, ks = jax.random.split(key)
            if engine.batching.batch_source(prog) == "block":
                kx, _ = jax.random.split(jax.random.fold_in(jax.random.fold_in(sk, engine.BLOCKS), t // engine.BLOCK))
                x = jax.random.normal(kx, (engine.BLOCK, B, prog.task.input_dim), dt)[t % engine.BLOCK]
                y = prog.task.task.label(shared, x, prog.task)
            else:
                x, y = tasks.sample_batch(prog.task, data, kb, jax.random.fold_in(sk, engine.SHUFFLE), t, B, None, dt)
            kl, _ = jax.random.split(ks)
            return x, y, jax.random.normal(kl, y.shape, dt)

        x, y, xi = jax.vmap(at)(jnp.arange(steps, dtype=jnp.int32))
        return p, x, y, xi

    idx = jnp.arange(study.run.first_seed, study.run.first_seed + seeds, dtype=jnp.uint32)
    p, x, y, xi = jax.jit(jax.vmap(one_seed))(idx)
    out = {"W0": p["W"], "a0": p["a"], "x": x, "y": y, "xi": xi}
    if "b" in p:
        out["b0"] = p["b"]
    return {k: np.array(v, np.float32) for k, v in out.items()}


def final_norms(W, a, b=None):
    """‖(W, b)‖_F and ‖a‖ over the trailing axes: (..., m, d), (..., m) -> (...), (...)."""
    W, a = np.asarray(W, np.float64), np.asarray(a, np.float64)
    s = np.sum(W * W, axis=(-2, -1))
    if b is not None:
        b = np.asarray(b, np.float64)
        s = s + np.sum(b * b, axis=-1)
    return np.sqrt(s), np.sqrt(np.sum(a * a, axis=-1))


def describe(p: Problem) -> str:
    parts = [f"{p.kind}", f"d={p.d}", f"m={p.m}"]
    if p.k:
        parts.append(f"k={p.k}")
    parts += [f"B={p.B}"] + ([f"n={p.n}"] if p.n else []) + (["bias"] if p.bias else [])
    parts += [f"seeds={p.S}", f"grid={p.G}", f"trajectories={p.trajectories}"]
    return " ".join(parts)


def fmt_count(x: float) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"
