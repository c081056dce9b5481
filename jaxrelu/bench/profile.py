"""``jaxrelu bench --profile gpu``: the first run on a new accelerator, in one command.

Two parts, written to ``--json`` and printed as a table (:func:`jaxrelu.bench.report.profile_table`):

* **Checks** that matter on a new backend, each against a reference computed in the same run
  (no stored numbers): the sampler (``jaxrelu.rng`` = ``jax.random`` bit for bit on the device, a
  step's rows = its rows of the block draw, normality and independence of the engine's stream);
  engine equivalences (a swept batch size on a finite set = the per-step draws bit for bit, and
  = fixed-batch runs; a grid point = the run at that learning rate alone; the engine = a plain
  per-seed JAX loop on the same random stream, W1 and W2); chunk invariance (per-seed values bit
  for bit with chunks of 20 and 6 seeds, and a seed subset); device invariance (the same study
  with one local device, when there are several; and on the CPU backend, float64, when the
  default backend is an accelerator), each in a subprocess.
* **Timings** of jaxrelu: W1 at 65,536 and 262,144 seeds, W4 (16 grid points × 16,384 seeds), W2
  and W5 (batch sizes [1, 4] swept on a finite set, beside the fixed batch of 4), each with
  trajectory-steps/s (slope between a short and a full warm run, as the bench times jaxrelu),
  the chunk the default memory budget gave (:func:`jaxrelu.engine.chunking.memory_budget_bytes`),
  memory (XLA's buffer assignment of the compiled programs per trajectory; the device's peak
  bytes in use) and the fraction of the card's roofline: max(FLOPs / FP32 peak + normals /
  the measured sampler rate, bytes / memory bandwidth) over the measured stepping time, with
  the peaks looked up by device name (:data:`jaxrelu.bench.limits.ACCELERATORS`).  Bytes per
  step: every trajectory's parameters (and optimiser state) read and written once, and on a
  finite set each seed's batch rows read once.

Sized to take at most 8 minutes on one H200 (``--time-limit`` skips the timings left when it
has passed); ``--dry`` runs the same code at tiny sizes (seconds on a CPU: the tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any

import numpy as np

#: (label, workload, seeds, steps): the timings of the profile; ``DRY_TIMINGS`` at ``--dry`` (quick configs)
#: W1 at 262,144 seeds last: its records (observables one seed at a time, ``lax.map``) may be slow on a GPU
TIMINGS = (
    ("W1@65536", "W1", 65536, 2000),
    ("W4@16x16384", "W4", 16384, 1000),
    ("W2@64", "W2", 64, 200),
    ("W5@512", "W5", 512, 2000),
    ("W1@262144", "W1", 262144, 1000),
)
DRY_TIMINGS = (
    ("W1@16", "W1", 16, 20),
    ("W1@32", "W1", 32, 20),
    ("W4@16x8", "W4", 8, 20),
    ("W2@8", "W2", 8, 10),
    ("W5@8", "W5", 8, 20),
)


def _small(**sections):
    """A small study (the tests' base), sections merged in."""
    from jaxrelu import config

    base = {
        "run": {"seeds": 8, "steps": 40, "record_every": 10},
        "task": {"input_dim": 12, "teacher_width": 2},
        "model": {"width": 3},
        "optimizer": {"lr": 0.05},
        "record": {"observables": ["population_loss"]},
    }
    for k, v in sections.items():
        base[k] = v if k == "sweep" else {**base.get(k, {}), **v}
    return base, config.from_dict(base)


def _rel(a, b) -> float:
    """Largest relative difference of two arrays (nan where both nan counts as equal)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    both = np.isnan(a) & np.isnan(b)
    d = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
    return float(np.max(np.where(both, 0.0, d))) if d.size else 0.0


def _same(a, b) -> bool:
    return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))


# ================================================================ checks
def check_sampler(dry: bool) -> dict:
    """``jaxrelu.rng.normal`` = ``jax.random.normal`` bit for bit on the device (three shapes, and a
    step's rows drawn alone = its rows of the block), and the engine's stream passes
    :func:`jaxrelu.bench.limits.normality` (KS, seed-seed and lag-1 correlation)."""
    import jax
    import jax.numpy as jnp

    from jaxrelu import rng
    from jaxrelu.bench import limits

    key = jax.random.PRNGKey(1234)
    draw = jax.jit(rng.normal, static_argnums=(1, 2))
    bitwise = {
        str(s): _same(draw(key, s, jnp.float32, 0), jax.random.normal(key, s, jnp.float32))
        for s in ((7,), (8, 100), (3, 5, 13))
    }
    block = jax.random.normal(key, (8, 2, 50), jnp.float32)
    rows = all(_same(draw(key, (2, 50), jnp.float32, jnp.int32(i * 100)), block[i]) for i in range(8))
    S = 64 if dry else 256
    stats = limits.normality(limits._samples("engine", S, 64, (1, 100)))
    return {
        "passed": all(bitwise.values()) and rows and stats["passed"],
        "bitwise_vs_jax_random": bitwise,
        "rows_equal_block": rows,
        "normality": stats,
    }


def check_batch_sweep(dry: bool) -> dict:
    """A batch-size sweep [1, 3, 4] on a finite set (n = 10, float64): (a) the cached per-grid-point
    epochs = the per-step draws, bit for bit; (b) B = 4 = the fixed-batch run bit for bit, B = 3
    within 1e-12 (a masked mean over 4 rows sums in another order)."""
    import jaxrelu
    from jaxrelu import engine

    kw = dict(
        task={"train_size": 10, "label_noise": 0.3},
        run={"seeds": 3, "steps": 23, "record_every": 7, "dtype": "float64"},
        record={"observables": ["train_loss"], "keep_per_seed": ["train_loss"]},
    )
    _, swept = _small(sweep={"optimizer.batch_size": [1, 3, 4]}, **kw)
    got = jaxrelu.run(swept)["train_loss.per_seed"]
    source, saved = engine.batching.batch_source, engine.compile.COMPILED
    try:  # the per-step path: permutations drawn at every step
        engine.batching.batch_source, engine.compile.COMPILED = (lambda prog: None), {}
        per_step = jaxrelu.run(swept)["train_loss.per_seed"]
    finally:
        engine.batching.batch_source, engine.compile.COMPILED = source, saved
    fixed = {B: jaxrelu.run(_small(optimizer={"batch_size": B}, **kw)[1])["train_loss.per_seed"] for B in (3, 4)}
    out = {
        "cached_equals_per_step_bitwise": _same(got, per_step),
        "B4_equals_fixed_bitwise": _same(got[2], fixed[4]),
        "B3_vs_fixed_max_rel": _rel(got[1], fixed[3]),
    }
    out["passed"] = (
        out["cached_equals_per_step_bitwise"] and out["B4_equals_fixed_bitwise"] and out["B3_vs_fixed_max_rel"] < 1e-12
    )
    return out


def check_grid_point(dry: bool) -> dict:
    """Common random numbers: each point of an lr grid (float64, label noise) = the run at that lr alone."""
    import jaxrelu

    rec = {"observables": ["population_loss", "weight_norm"], "keep_per_seed": ["population_loss", "weight_norm"]}
    kw = dict(run={"dtype": "float64"}, optimizer={"label_noise": 0.2}, record=rec)
    grid = jaxrelu.run(_small(sweep={"optimizer.lr": [0.02, 0.07]}, **kw)[1])
    errs, bitwise = [], []
    for g, lr in enumerate((0.02, 0.07)):
        alone = jaxrelu.run(_small(**{**kw, "optimizer": {"label_noise": 0.2, "lr": lr}})[1])
        a, b = grid["population_loss.per_seed"][g], alone["population_loss.per_seed"]
        errs.append(_rel(a, b))
        bitwise.append(_same(a, b))
    return {"passed": max(errs) < 1e-12, "max_rel": max(errs), "bitwise": all(bitwise)}


def check_peers(dry: bool) -> dict:
    """The engine against a plain per-seed jitted JAX loop (:class:`jaxrelu.bench.peers.JaxPerSeed`) on
    jaxrelu's own random stream: W1 (online) and W2 (finite set), final norms within 1e-4, both with
    float32 matmuls at full precision (a GPU's default may round them to TF32)."""
    import jax

    from jaxrelu.bench import peers, workloads

    out = {}
    for key in ("W1", "W2"):
        with jax.default_matmul_precision("highest"):
            ag = peers.agreement(workloads.WORKLOADS[key], quick=True, impls=("jax_per_seed",))
        out[key] = {
            "max_rel_err": ag["peers"]["jax_per_seed"]["max_rel_err"],
            "moved": ag["jaxrelu_moved"],
            "passed": ag["passed"],
        }
    out["passed"] = all(v["passed"] for v in out.values())
    return out


CHUNK_CFG: dict[str, dict[str, Any]] = dict(
    run={"seeds": 20, "steps": 30, "record_every": 10},
    sweep={"optimizer.lr": [0.03, 0.1]},
    record={"observables": ["population_loss"], "keep_per_seed": ["population_loss"]},
)


def check_chunks(dry: bool) -> dict:
    """Per-seed values bit for bit with chunks of 20 and 6 seeds (float32, an lr grid), and seeds 8..15
    run alone = those seeds of the full run."""
    import jaxrelu

    runs = {c: jaxrelu.run(_small(**{**CHUNK_CFG, "run": {**CHUNK_CFG["run"], "chunk_size": c}})[1]) for c in (20, 6)}
    a, b = (runs[c]["population_loss.per_seed"] for c in (20, 6))
    part = jaxrelu.run(_small(**{**CHUNK_CFG, "run": {**CHUNK_CFG["run"], "seeds": 8, "first_seed": 8}})[1])
    p = part["population_loss.per_seed"]
    out = {
        "chunks_bitwise": _same(a, b),
        "chunks_max_rel": _rel(a, b),
        "subset_bitwise": _same(a[:, 8:16], p),
        "chunk_counts": [runs[c].meta["chunks"] for c in (20, 6)],
    }
    out["passed"] = out["chunks_bitwise"] and out["subset_bitwise"]
    return out


_ELSEWHERE = (
    "import json, sys\nimport numpy as np\nimport jaxrelu\nfrom jaxrelu import config\n"
    "res = jaxrelu.run(config.from_dict(json.load(open(sys.argv[1]))))\n"
    "np.save(sys.argv[2], res[sys.argv[3] + '.per_seed'])\n"
)


def run_elsewhere(cfg: dict, observable: str, env: dict, timeout: float = 300) -> np.ndarray:
    """Per-seed values of ``observable`` for the study ``cfg`` run in a fresh interpreter with ``env`` set
    (another backend, another device count)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "study.json"), os.path.join(tmp, "values.npy")
        with open(src, "w") as f:
            json.dump(cfg, f)
        cp = subprocess.run(
            [sys.executable, "-c", _ELSEWHERE, src, dst, observable],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if cp.returncode != 0:
            raise RuntimeError((cp.stderr.strip().splitlines() or ["failed"])[-1])
        return np.load(dst)


def check_devices(dry: bool, force_cpu_compare: bool = False) -> dict:
    """Device invariance, each in a subprocess: with several local devices, the chunk study run on one
    device = here, bit for bit; on an accelerator, a float64 study (online lr grid with label noise,
    and a swept batch size on a finite set) on the CPU backend = here within 1e-9."""
    import jax

    import jaxrelu

    out: dict[str, Any] = {"local_devices": jax.local_device_count(), "backend": jax.default_backend()}
    n = jax.local_device_count()
    if n > 1:
        cfg, st = _small(**CHUNK_CFG)
        here = jaxrelu.run(st)["population_loss.per_seed"]
        one = {"cpu": {"JAX_NUM_CPU_DEVICES": "1"}, "gpu": {"CUDA_VISIBLE_DEVICES": "0"}}.get(jax.default_backend())
        if one is None:
            out["one_device"] = {"skipped": f"no way to pick one {jax.default_backend()} device"}
        else:
            there = run_elsewhere(cfg, "population_loss", one)
            out["one_device"] = {"bitwise": _same(here, there), "max_rel": _rel(here, there), "env": one}
    else:
        out["one_device"] = {"skipped": "one local device"}
    if jax.default_backend() != "cpu" or force_cpu_compare:
        rec = {"observables": ["weight_norm"], "keep_per_seed": ["weight_norm"]}
        errs = {}
        for name, kw in (
            ("online_lr_grid", dict(optimizer={"label_noise": 0.2}, sweep={"optimizer.lr": [0.02, 0.07]})),
            ("finite_batch_sweep", dict(task={"train_size": 10}, sweep={"optimizer.batch_size": [1, 3, 4]})),
        ):
            cfg, st = _small(run={"dtype": "float64"}, record=rec, **kw)
            here = jaxrelu.run(st)["weight_norm.per_seed"]
            there = run_elsewhere(cfg, "weight_norm", {"JAX_PLATFORMS": "cpu"})
            errs[name] = _rel(here, there)
        out["vs_cpu_float64"] = {"max_rel": errs, "passed": max(errs.values()) < 1e-9}
    else:
        out["vs_cpu_float64"] = {"skipped": "the default backend is the CPU"}
    parts = [v for v in (out["one_device"], out["vs_cpu_float64"]) if "skipped" not in v]
    out["passed"] = all(v.get("passed", v.get("bitwise")) for v in parts)
    return out


CHECKS = {
    "sampler": check_sampler,
    "batch_sweep": check_batch_sweep,
    "grid_point": check_grid_point,
    "peers": check_peers,
    "chunks": check_chunks,
    "devices": check_devices,
}


# ================================================================ timings
def _xla_bytes(prog, chunk: int) -> dict | None:
    """XLA's buffer assignment (arguments + outputs + temporaries − donated aliases) of each compiled
    program of ``prog`` at chunks of ``chunk`` seeds (:mod:`jaxrelu.engine.compile`'s cache)."""
    from jaxrelu.engine import compile as comp

    for key, (init_c, seg_c) in comp.COMPILED.items():
        if key[0] == prog and key[1][0] == chunk:
            out = {}
            for name, f in zip(("draw", "init", "segment", "observe"), (*init_c.programs, *seg_c.programs)):
                m = f.memory_analysis()
                out[name] = (
                    (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)
                    if m is not None
                    else None
                )
            return out
    return None


def bytes_per_step(prob, prog) -> tuple[float, float]:
    """(bytes per trajectory-step, bytes per seed-step) a step must move at least: the parameters and
    optimiser state read and written once; on a finite set the seed's batch rows read once."""
    from jaxrelu.engine import chunking

    item = np.dtype(prog.dtype).itemsize
    per_traj = 2 * item * chunking.n_params(prog) * (1 + chunking.opt_state_copies(prog))
    per_seed = item * prob.B * (prob.d + 1) if prob.kind != "online" else 0
    return per_traj, per_seed


def time_workload(
    label: str,
    key: str,
    seeds: int,
    steps: int,
    quick: bool,
    peak: dict | None,
    sampler_rate: float,
    matmul_rate: float,
    log=print,
) -> dict:
    """One timing of the profile (see the module docstring); W5 with its reference run beside it."""
    import dataclasses

    from jaxrelu import engine
    from jaxrelu.bench import limits, peers, reference_workload
    from jaxrelu.bench import workloads as wl

    w = dataclasses.replace(wl.WORKLOADS[key], seeds=seeds, quick_seeds=seeds)
    study = w.study(quick=quick, steps=steps)
    prog, _ = engine.build(study)
    ref = reference_workload(w)
    tm = peers.PEERS["jaxrelu"].time_study(w, steps, quick)
    out = {
        "workload": key,
        "title": w.title,
        "seeds": seeds,
        "grid": prog.grid_size,
        "steps": steps,
        "trajectories": seeds * prog.grid_size,
        "rate": tm.rate,
        "step_seconds": tm.step_seconds,
        "compile_seconds": tm.compile_seconds,
        "end_to_end_rate": tm.extra["end_to_end_rate"],
        "chunk_size": tm.extra["chunk_size"],
        "chunks": tm.extra["chunks"],
        "notes": tm.notes,
    }
    xla = _xla_bytes(prog, tm.extra["chunk_size"])
    per = None
    if xla and all(v is not None for v in xla.values()):
        per = max(xla.values()) / (tm.extra["chunk_size"] * prog.grid_size)
    out["memory"] = {"xla_bytes_by_program": xla, "per_traj_bytes": per, "device": limits.device_memory()}
    try:
        prob = wl.problem(study if ref is None else ref.study(quick=quick, steps=steps, seeds=seeds))
        prob = wl.Problem(**{**prob.__dict__, "G": prog.grid_size})
    except wl.Unsupported as e:
        prob, out["roofline_note"] = None, str(e)
    if prob is not None:
        flops_rate = peak["fp32_flops"] if peak else matmul_rate
        compute_s = wl.roofline_seconds(prob, steps, sampler_rate, flops_rate)
        b_traj, b_seed = bytes_per_step(prob, prog)
        bytes_total = steps * (prob.trajectories * b_traj + prob.S * b_seed)
        bw_s = bytes_total / peak["memory_bandwidth"] if peak else None
        roof = max(compute_s, bw_s or 0.0)
        out["roofline"] = {
            "compute_seconds": compute_s,
            "bandwidth_seconds": bw_s,
            "seconds": roof,
            "fraction": roof / tm.step_seconds,
            "bytes_per_traj_step": b_traj,
            "bytes_per_seed_step": b_seed,
            "achieved_bytes_per_second": bytes_total / tm.step_seconds,
            "flops_rate": flops_rate,
            "flops_rate_source": "device table" if peak else "measured matmul",
            "sampler_rate": sampler_rate,
        }
    if ref is not None:
        rt = peers.PEERS["jaxrelu"].time_study(ref, steps, quick)
        out["reference"] = {"title": "fixed batch (no sweep)", "rate": rt.rate, "compile_seconds": rt.compile_seconds}
        out["rate_vs_reference"] = tm.rate / rt.rate
    log(
        f"  {label}: {tm.rate:.3g} traj-steps/s"
        + (f" (x{out['rate_vs_reference']:.2f} of the fixed batch)" if ref is not None else "")
        + (f", {out['roofline']['fraction']:.1%} of roofline" if "roofline" in out else "")
    )
    return out


# ================================================================ the profile
def _guard(fn, *args, **kw) -> dict:
    t0 = time.perf_counter()
    try:
        out = fn(*args, **kw)
    except Exception as e:  # noqa: BLE001 - a failing check is a result, not the end of the profile
        out = {"passed": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=6)}
    out["seconds"] = time.perf_counter() - t0
    return out


def run_profile(dry: bool = False, time_limit: float = 480.0, log=print, only=None) -> dict:
    """Run the checks, then the timings; print the table; return everything (JSON-able).

    ``only``: names of checks (:data:`CHECKS`) and timings (labels, or workload keys such as ``W5``)
    to run, the others skipped (default: all)."""
    import jax

    import jaxrelu
    from jaxrelu.bench import limits, report
    from jaxrelu.engine import chunking

    t_start = time.perf_counter()
    dev = jax.devices()[0]
    peak = limits.accelerator(dev.device_kind)
    meta = {
        "dry": dry,
        "backend": jax.default_backend(),
        "device_kind": dev.device_kind,
        "devices": [str(d) for d in jax.devices()],
        "local_device_count": jax.local_device_count(),
        "jax": jax.__version__,
        "jaxrelu": jaxrelu.__version__,
        "time_limit_seconds": time_limit,
        "matmul_precision": str(jax.config.jax_default_matmul_precision),  # type: ignore[attr-defined]  # jax stub
        "peak": peak,
        "memory": limits.device_memory(dev),
        "free_bytes": chunking.device_free_bytes(),
    }
    if peak is None:
        log(f"note: no peak rates known for {dev.device_kind!r}; the roofline uses the measured matmul rate")
    result = {"meta": meta, "checks": {}, "limits": {}, "timings": {}}
    picked = lambda name, key=None: only is None or name in only or key in only  # noqa: E731
    for name, fn in CHECKS.items():
        if not picked(name):
            continue
        log(f"check {name} ...")
        result["checks"][name] = r = _guard(fn, dry)
        log(
            f"  {'PASS' if r.get('passed') else 'FAIL'} ({r['seconds']:.1f} s)"
            + (f": {r['error']}" if "error" in r else "")
        )
    S, T = (64, 16) if dry else (4096, 200)
    result["limits"]["matmul"] = _guard(limits.matmul_rate, 256 if dry else 8192, reps=3)
    result["limits"]["sampler"] = _guard(limits.jax_sampler_rate, S, T, reps=3)
    mrate = result["limits"]["matmul"].get("flops_per_second") or float("nan")
    srate = result["limits"]["sampler"].get("normals_per_second") or float("nan")
    for label, key, seeds, steps in DRY_TIMINGS if dry else TIMINGS:
        if not picked(label, key):
            continue
        if time.perf_counter() - t_start > time_limit:
            result["timings"][label] = {"skipped": f"time limit of {time_limit:.0f} s reached"}
            continue
        log(f"timing {label} ...")
        result["timings"][label] = _guard(time_workload, label, key, seeds, steps, dry, peak, srate, mrate, log)
    meta["total_seconds"] = time.perf_counter() - t_start
    meta["checks_passed"] = all(c.get("passed") for c in result["checks"].values())
    print(report.profile_table(result), flush=True)
    return result
