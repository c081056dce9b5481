"""``jaxrelu bench``: jaxrelu against peer implementations and the machine's limits.

Workloads (:mod:`jaxrelu.bench.workloads`): W1 online teacher–student (d = 100,
m = 8, k = 4, batch 1, 1024 seeds); W2 wide (d = 1000, m = 512, batch 64, n =
4096, 64 seeds); W3 the 1-D toy, full-batch GD (n = 12, m = 100 with bias, 4096
seeds); W4 W1 over a 4 × 4 lr × label-noise grid × 256 seeds; W5 (not in the default
list) batch sizes [1, 4] swept on a finite set (n = 100, d = 50, m = 4, 512 seeds), which
the peers do not implement: jaxrelu alone, timed round-robin beside its reference run (the
fixed batch of 4), their ratio per trajectory-step a target.  ``--profile gpu``: the
accelerator profile instead (:mod:`jaxrelu.bench.profile`).

For each workload, in one run and for the same number of steps: (a) a naive
PyTorch loop, (b) batched PyTorch, (c) torch.func, (d) per-seed jitted JAX,
(e) jaxrelu, (f) jaxrelu as ``jaxrelu run --cpu-processes`` runs it, a pinned
process per core (:mod:`jaxrelu.bench.peers`).  Rates are trajectory-steps per
second of the stepping phase (compilation and setup reported apart); the
roofline time is normals / sampler rate + FLOPs / matmul rate
(:mod:`jaxrelu.bench.limits`).  Each implementation is timed ``--repeats``
times round-robin and its median run counts; the two rates are timed the same
way, once at the start of every round, and the workload's roofline uses their
medians, so that the machine's load moves the roofline as it moves the rates.
The machine-limits table at the start is a best-of (what the machine can do).  Memory is measured in
subprocesses (:mod:`jaxrelu.bench._memprobe`).  Before timing, every peer is
run on jaxrelu's own random stream and must reproduce jaxrelu's final weights.

``python -m jaxrelu.bench --help`` or ``jaxrelu bench --help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

__all__ = ["main"]

IMPLS = ("torch_naive", "torch_batched", "torch_func", "jax_per_seed", "jaxrelu", "jaxrelu_procs")
#: workloads (f) is timed on: the online ones, bound by the sampler.  Each of its timings launches
#: processes that compile (~14 s a round); W2 ran at half of (e)'s rate in it and W3 at (e)'s
#: (runs/bench_s3_c.json), and timing them would take the bench past 10 minutes.
PROCS_WORKLOADS = ("W1", "W4")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jaxrelu bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds; for tests, numbers not meaningful)")
    p.add_argument("--workloads", default="W1,W2,W3,W4", help="comma list of W1..W4, or 'none' (default: all)")
    p.add_argument("--impls", default=",".join(IMPLS), help=f"comma list of {', '.join(IMPLS)}")
    p.add_argument("--steps", type=int, help="steps for every selected workload (default: per workload)")
    p.add_argument(
        "--budget",
        type=float,
        help="seconds spent timing each one-trajectory-at-a-time peer "
        "before extrapolating (default 1.5; 0.2 with --quick)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        help="times each implementation is timed, round-robin; the median counts (default 3; 1 with --quick)",
    )
    p.add_argument("--no-scaling", action="store_true", help="skip the jaxrelu scaling tables")
    p.add_argument("--scaling-seeds", default="64,256,1024,4096,16384,65536", help="seed counts of the scaling table")
    p.add_argument("--scaling-widths", default="8,32,128,512", help="widths m of the scaling table")
    p.add_argument("--no-memory", action="store_true", help="skip the memory measurements (subprocesses)")
    p.add_argument("--no-check", action="store_true", help="skip the numerical agreement check")
    p.add_argument("--samplers", action="store_true", help="also run the sampler micro-benchmark")
    p.add_argument("--samplers-only", action="store_true", help="run only the sampler micro-benchmark")
    p.add_argument("--json", metavar="FILE", help="write all results as JSON to FILE")
    p.add_argument(
        "--profile",
        choices=("gpu",),
        help="gpu: the accelerator profile (correctness checks on the "
        "backend, then W1 at 65,536 and 262,144 seeds, W4 at 16 x 16,384, W2 and W5 with rates, memory "
        "and roofline fractions; jaxrelu.bench.profile); the other options are ignored but --json",
    )
    p.add_argument("--dry", action="store_true", help="with --profile: tiny sizes (minutes on a CPU; tests)")
    p.add_argument(
        "--only",
        help="with --profile: comma list of the checks (sampler, batch_sweep, grid_point, "
        "peers, chunks, devices) and timings (W1@65536, ..., or workload keys W1, W2, W4, W5) to run",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=480.0,
        help="with --profile: seconds after which the remaining timings are skipped (default 480)",
    )
    return p


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _list(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip() and x.strip().lower() != "none"]


def main(argv=None) -> int:
    """Run the benchmark; print tables; write ``--json``.  Returns 0, or 2 on bad options."""
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = _parser().parse_args(argv)
        args.argv = argv
    except SystemExit as e:  # --help exits 0, bad options 2
        return int(e.code or 0)
    from jaxrelu.bench import workloads as wl

    wks, impls = _list(args.workloads), _list(args.impls)
    bad = [w for w in wks if w not in wl.WORKLOADS] + [i for i in impls if i not in IMPLS]
    if bad:
        print(
            f"error: unknown workload or implementation: {', '.join(bad)} "
            f"(workloads {', '.join(wl.WORKLOADS)}; implementations {', '.join(IMPLS)})",
            file=sys.stderr,
        )
        return 2
    if args.repeats is not None and args.repeats < 1:
        print("error: --repeats must be >= 1", file=sys.stderr)
        return 2
    if args.steps is not None and args.steps < 2:
        print("error: --steps must be >= 2", file=sys.stderr)
        return 2
    if args.samplers_only:
        wks, args.no_scaling, args.samplers = [], True, True
    t_start = time.perf_counter()
    if args.profile:
        from jaxrelu.bench import profile

        result = profile.run_profile(
            dry=args.dry, time_limit=args.time_limit, log=_log, only=None if args.only is None else _list(args.only)
        )
        result["meta"]["argv"] = list(argv)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1, default=_json_default)
            _log(f"wrote {args.json}")
        return 0
    result = run(args, wks, impls)
    result["meta"]["total_seconds"] = time.perf_counter() - t_start
    print(
        f"\nTotal {result['meta']['total_seconds']:.0f} s; load average at start "
        f"{_fmt_load(result['meta']['load_start'])}, at end {_fmt_load(result['meta']['load_end'])}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=_json_default)
        _log(f"wrote {args.json}")
    return 0


def _fmt_load(x):
    return "-" if not x else " ".join(f"{v:.2f}" for v in x)


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


# ============================================================================ run
def run(args, wks: list[str], impls: list[str]) -> dict:
    from jaxrelu.bench import limits, peers, report
    from jaxrelu.bench import workloads as wl

    quick = args.quick
    budget = args.budget if args.budget is not None else (0.2 if quick else 1.5)
    repeats = args.repeats or (1 if quick else 3)
    torch_reason = peers.torch_missing()
    from jaxrelu.engine import cpu_cores

    procs_reason = None if len(cpu_cores()) > 1 else "one core: (e) already runs one process on it"
    if torch_reason:
        _log(f"note: {torch_reason}; the PyTorch peers are skipped")
    meta = {
        "argv": list(args.argv),
        "quick": quick,
        "load_start": _load(),
        "machine": limits.machine(),
        "budget_seconds": budget,
        "repeats": repeats,
        "repeats_note": "each implementation timed `repeats` times, round-robin; its row is the run of median rate",
        "rates": "trajectory-steps/s (seed-steps x grid points) of the stepping phase; compile and setup apart",
        "torch_threads_note": "torch.set_num_threads left at its default",
    }
    result = {"meta": meta, "limits": None, "workloads": {}, "targets": None, "scaling": None, "samplers": None}

    if wks or not args.no_scaling:
        _log("measuring machine limits ...")
        torch_rate = None if torch_reason else limits.torch_sampler_rate(*_SAMPLER_SIZE[quick])
        lim = {**_limits(quick), "torch_sampler": torch_rate}
        result["limits"] = lim
        print(report.limits_table(lim), flush=True)
        srate, mrate = lim["jax_sampler"]["normals_per_second"], lim["matmul"]["flops_per_second"]

    for key in wks:
        w = wl.WORKLOADS[key]
        _log(f"{key}: {w.title}")
        steps = args.steps or (w.quick_steps if quick else w.steps)
        study = w.study(quick=quick, steps=steps)
        try:
            prob = wl.problem(study)
        except wl.Unsupported as e:  # the peers lack a feature: jaxrelu alone (and its reference)
            result["workloads"][key] = entry = jaxrelu_only(w, quick, steps, repeats, str(e))
            print("\n" + report.jaxrelu_only_table(key, entry), flush=True)
            continue
        costs = wl.costs(prob)
        entry = {
            "title": w.title,
            "config": w.config(quick=quick, steps=steps),
            "describe": wl.describe(prob),
            "seeds": prob.S,
            "grid": prob.G,
            "trajectories": prob.trajectories,
            "steps": steps,
            "costs": costs,
            "impls": {},
        }
        if not args.no_check:
            entry["agreement"] = ag = peers.agreement(w, quick, impls)
            _log("  agreement: " + ", ".join(f"{k} {v['max_rel_err']:.1e}" for k, v in ag["peers"].items()))
        timings: dict[str, list[peers.Timing]] = {
            name: []
            for name in impls
            if not (name in peers.TORCH_PEERS and torch_reason)
            and not (name == "jaxrelu_procs" and (procs_reason or key not in PROCS_WORKLOADS))
        }
        rounds = []
        for rnd in range(repeats):  # round-robin, so a slow spell of the machine hits all
            rounds.append(_limits(quick, in_round=True))  # the roofline's rates: medians over rounds
            for name in timings:
                t0 = time.perf_counter()
                peer = peers.PEERS[name]
                tm = peer.time_study(w, steps, quick) if hasattr(peer, "time_study") else peer.time(prob, steps, budget)
                timings[name].append(tm)
                _log(
                    f"  {name:<14} {tm.rate:.3g} traj-steps/s  ({time.perf_counter() - t0:.1f} s)"
                    + (f"  [round {rnd + 1}/{repeats}]" if repeats > 1 else "")
                )
        w_srate = float(np.median([r["jax_sampler"]["normals_per_second"] for r in rounds]))
        w_mrate = float(np.median([r["matmul"]["flops_per_second"] for r in rounds]))
        roof_s = wl.roofline_seconds(prob, steps, w_srate, w_mrate)
        entry.update(
            roofline_seconds=roof_s,
            roofline_rate=prob.trajectories * steps / roof_s,
            roofline_limits={
                "normals_per_second": w_srate,
                "flops_per_second": w_mrate,
                "rounds": [{k: r[k][f] for k, f in _RATE_FIELDS.items()} for r in rounds],
                "roofline_seconds_at_start_limits": wl.roofline_seconds(prob, steps, srate, mrate),
            },
        )
        runs = {
            name: [_timing_row(tm, prob, steps, costs, roof_s, w_mrate) for tm in tms] for name, tms in timings.items()
        }
        for name in impls:
            r = {"label": peers.PEERS[name].label}
            if name not in runs:
                r["skipped"] = (
                    "torch not installed"
                    if name != "jaxrelu_procs"
                    else procs_reason or f"timed on {', '.join(PROCS_WORKLOADS)} only"
                )
            else:  # the run of median rate, and every rate
                rows = sorted(runs[name], key=lambda row: row["rate"])
                r.update(
                    rows[(len(rows) - 1) // 2],
                    rates=[row["rate"] for row in runs[name]],
                    compile_seconds=runs[name][0]["compile_seconds"],
                )  # the first run compiles
                if not args.no_memory and name != "jaxrelu_procs":  # (e)'s programs, per process
                    r["memory"] = _memory(name, key, quick)
            entry["impls"][name] = r
        jr = entry["impls"].get("jaxrelu")
        for r in entry["impls"].values():
            if jr and not jr.get("skipped") and not r.get("skipped"):
                r["jaxrelu_speedup"] = jr["rate"] / r["rate"]
        result["workloads"][key] = entry
        print("\n" + report.workload_table(key, entry), flush=True)

    if wks:
        result["targets"] = report.evaluate_targets(result["workloads"])
        print("\n" + report.targets_table(result["targets"], quick), flush=True)

    if not args.no_scaling:
        result["scaling"] = _scaling(args, quick, srate, mrate)
        print("\n" + report.scaling_table(result["scaling"]), flush=True)

    if args.samplers:
        _log("sampler micro-benchmark ...")
        kw = {"S": 64, "T": 32, "w1_steps": 32, "d": 20, "m": 4, "k": 2, "reps": 2} if quick else {}
        result["samplers"] = limits.sampler_benchmark(log=_log, **kw)
        print("\n" + report.samplers_table(result["samplers"]), flush=True)
    meta["load_end"] = _load()
    return result


def reference_workload(w):
    """The run timed beside workload ``w``: ``w`` with its ``reference`` section overrides (W5: the fixed
    largest batch instead of the swept batch sizes), or None."""
    import dataclasses

    if not w.reference:
        return None
    base = w.config(overrides=w.reference)
    base["run"] = {k: v for k, v in base["run"].items() if k not in ("seeds", "steps")}
    return dataclasses.replace(w, key=w.key + "_reference", base=base, reference=None)


def jaxrelu_only(w, quick: bool, steps: int, repeats: int, why: str) -> dict:
    """A workload the peers cannot run (``why``): jaxrelu's rate, median of ``repeats`` timings, and its
    reference run's (:func:`reference_workload`) timed round-robin with it; ``rate_vs_reference`` is
    the workload's rate ÷ the reference's, per trajectory-step."""
    from jaxrelu.bench import peers

    ref = reference_workload(w)
    runs: dict[str, list[peers.Timing]] = {"jaxrelu": [], **({"reference": []} if ref else {})}
    for rnd in range(repeats):
        for name, wk in (("jaxrelu", w), ("reference", ref)):
            if wk is None:
                continue
            tm = peers.PEERS["jaxrelu"].time_study(wk, steps, quick)
            runs[name].append(tm)
            _log(f"  {name:<14} {tm.rate:.3g} traj-steps/s" + (f"  [round {rnd + 1}/{repeats}]" if repeats > 1 else ""))
    study = w.study(quick=quick, steps=steps)
    entry = {
        "title": w.title,
        "config": w.config(quick=quick, steps=steps),
        "peers_skipped": why,
        "seeds": study.run.seeds,
        "grid": int(np.prod(study.grid_shape)) if study.sweep else 1,
        "steps": steps,
        "impls": {},
    }
    for name, tms in runs.items():
        rates = [tm.rate for tm in tms]
        med = sorted(tms, key=lambda tm: tm.rate)[(len(tms) - 1) // 2]
        entry["impls"][name] = {
            "rate": med.rate,
            "rates": rates,
            "compile_seconds": tms[0].compile_seconds,
            "step_seconds": med.step_seconds,
            "trajectories": med.trajectories,
            "notes": med.notes,
            **med.extra,
        }
    if ref:
        what = ", ".join(f"{k} = {v or 'none'}" for k, v in w.reference.items())
        entry["reference"] = {"title": "reference: " + what, "config": ref.config(quick=quick, steps=steps)}
        entry["rate_vs_reference"] = entry["impls"]["jaxrelu"]["rate"] / entry["impls"]["reference"]["rate"]
        entry["rate_vs_reference_by_round"] = [a.rate / b.rate for a, b in zip(runs["jaxrelu"], runs["reference"])]
    return entry


_SAMPLER_SIZE = {True: (64, 20), False: (1024, 200)}  # (seeds, steps) of the sampler-rate pattern
_RATE_FIELDS = {"jax_sampler": "normals_per_second", "matmul": "flops_per_second"}


def _limits(quick: bool, in_round: bool = False) -> dict:
    """The roofline's two rates, measured now: the matmul and the engine's sampler (:mod:`.limits`).

    At the start of the run, best of 3 and of 5 short timings (what the machine can do).  In a
    round (``in_round``), timed as the implementations are: once, the sampler for 5x the steps
    (~0.4 s, as long as jaxrelu's W1 stepping), so that its median over rounds and theirs see
    the same noise; a best-of against a median would put every burst of load against the engine.
    """
    from jaxrelu.bench import limits

    S, T = _SAMPLER_SIZE[quick]
    if in_round:
        return {
            "matmul": limits.matmul_rate(256 if quick else 2048, reps=1),
            "jax_sampler": limits.jax_sampler_rate(S, 5 * T, reps=1),
        }
    return {"matmul": limits.matmul_rate(256 if quick else 2048), "jax_sampler": limits.jax_sampler_rate(S, T)}


def _load():
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def _timing_row(tm, prob, steps, costs, roof_s, mrate) -> dict:
    scale = tm.trajectories / tm.timed_trajectories  # extrapolation to all trajectories
    step_s = tm.step_seconds * scale
    flops = steps * (prob.trajectories * costs["flops_per_traj_step"] + prob.S * costs["flops_per_seed_step"])
    return {
        "rate": tm.rate,
        "step_seconds": step_s,
        "setup_seconds": tm.setup_seconds * scale,
        "compile_seconds": tm.compile_seconds,
        "timed_trajectories": tm.timed_trajectories,
        "extrapolated": tm.extrapolated,
        "roofline_fraction": roof_s / step_s if step_s > 0 else None,
        "flops_per_second": flops / step_s if step_s > 0 else None,
        "matmul_fraction": flops / step_s / mrate if step_s > 0 else None,
        "notes": tm.notes,
        **tm.extra,
    }


def _memory(impl: str, key: str, quick: bool) -> dict | None:
    """Run :mod:`jaxrelu.bench._memprobe` in a fresh interpreter; its JSON line, or the error."""
    cmd = [sys.executable, "-m", "jaxrelu.bench._memprobe", impl, key] + (["--quick"] if quick else [])
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        line = [x for x in cp.stdout.splitlines() if x.startswith("{")]
        if cp.returncode != 0 or not line:
            return {"error": (cp.stderr.strip().splitlines() or ["failed"])[-1]}
        return json.loads(line[-1])
    except (subprocess.TimeoutExpired, OSError) as e:
        return {"error": f"{type(e).__name__}: {e}"}


def _scaling(args, quick: bool, srate: float, mrate: float) -> dict:
    """jaxrelu throughput against the number of seeds and against the width (W1 otherwise)."""
    from jaxrelu.bench import workloads as wl

    w = wl.WORKLOADS["W1"]
    out: dict[str, Any] = {
        "workload": "W1",
        "method": "per point a short run (compiles) and a full run; stepping rate = slope "
        "between them (setup and the 2 records cancel); end-to-end rate = full run's meta; the width rows record "
        "weight_norm",
        "seeds": [],
        "width": [],
    }
    seeds = [16, 64] if quick else [int(s) for s in _list(args.scaling_seeds)]
    widths = [4, 8] if quick else [int(s) for s in _list(args.scaling_widths)]
    for S in seeds:
        steps = 20 if quick else int(min(2000, max(20, 1_000_000 // S)))
        out["seeds"].append(_scale_point(w, quick, {"seeds": S, "steps": steps}, None, srate, mrate, "seeds", S))
    for m in widths:
        S = 16 if quick else 1024
        steps = 20 if quick else int(max(10, 16000 // m))
        # weight_norm recorded: the closed-form population loss costs O(m²) per record, which at
        # m = 512 swamps the stepping time the slope measures
        out["width"].append(
            _scale_point(
                w,
                quick,
                {"seeds": S, "steps": steps},
                {"model": {"width": m}, "record": {"observables": ["weight_norm"]}},
                srate,
                mrate,
                "width",
                m,
            )
        )
    return out


def _scale_point(w, quick, size, overrides, srate, mrate, axis, value) -> dict:
    import jaxrelu
    from jaxrelu import config
    from jaxrelu.bench import workloads as wl

    steps = size["steps"]
    short = max(1, steps // 10)
    first = jaxrelu.run(config.from_dict(w.config(quick=quick, overrides=overrides, seeds=size["seeds"], steps=short)))
    study = config.from_dict(w.config(quick=quick, overrides=overrides, **size))
    m = jaxrelu.run(study).meta
    prob = wl.problem(study)
    step_s = (m["run_seconds"] - first.meta["run_seconds"]) * steps / (steps - short)
    if step_s <= 0:  # noise: fall back to the full run
        step_s = m["run_seconds"]
    roof = wl.roofline_seconds(prob, steps, srate, mrate)
    row = {
        axis: value,
        "seeds_total": size["seeds"],
        "steps": steps,
        "rate": prob.trajectories * steps / step_s,
        "end_to_end_rate": m["trajectory_steps_per_second"],
        "compile_seconds": first.meta["compile_seconds"],
        "run_seconds": m["run_seconds"],
        "roofline_fraction": roof / step_s,
        "chunks": m["chunks"],
        "chunk_size": m["chunk_size"],
    }
    _log(f"  scaling {axis}={value}: {row['rate']:.3g} traj-steps/s")
    return row
