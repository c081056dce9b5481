"""Memory of one implementation on one workload, measured in a fresh process.

``python -m jaxrelu.bench._memprobe IMPL WORKLOAD [--quick] [--steps T]`` prints one
JSON line.  Method (Linux):

* ``peak_bytes``: the process's peak resident set size (``VmHWM`` of
  ``/proc/self/status``, see :func:`jaxrelu.bench.limits.rss_peak_bytes`) over
  everything — imports, compilation, warm-up and the run at the workload's size;
* the per-run cost: everything is first run once (compiled, warmed), then the
  high-water mark is reset (``echo 5 > /proc/self/clear_refs``) and the run
  repeated (freed heap returned to the OS first, glibc ``malloc_trim``); its
  peak minus the resident size just before it is the memory the run itself
  needs (``run_bytes``).
* ``per_traj_bytes``: a batched implementation is measured so at S/4 and at S
  seeds; the difference over the extra trajectories is the memory per
  trajectory (fixed costs cancel).  A one-trajectory-at-a-time implementation
  keeps one trajectory alive: its ``run_bytes`` is the memory per trajectory.
  jaxrelu is measured exactly instead: XLA's buffer assignment of its compiled
  programs (``memory_analysis``: arguments + outputs + temporaries − donated
  aliases) at chunks of C/4 and C seeds, C the chunk it runs in; the
  difference over the extra trajectories, in the largest of its programs, is
  what each concurrently simulated trajectory costs; each program's is reported
  too.  (RSS differences are swamped by XLA's and glibc's cached allocations, and
  a chunked run holds one chunk at a time.)

Where ``clear_refs`` is unavailable the run costs are peak growths (less exact).
"""

from __future__ import annotations

import argparse
import json
import sys


def _rss() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak() -> bool:
    """Give freed heap back to the OS (glibc ``malloc_trim``), then reset the high-water mark."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("impl")
    ap.add_argument("workload")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args(argv)
    import jax  # noqa: F401

    from jaxrelu.bench.limits import rss_peak_bytes

    if a.impl.startswith("torch"):
        import torch  # noqa: F401
    from jaxrelu.bench import peers, workloads

    w = workloads.WORKLOADS[a.workload]
    study = w.study(quick=a.quick, steps=a.steps)
    p = workloads.problem(study)
    peer = peers.PEERS[a.impl]
    small = max(1, p.S // 4)

    problems = {p.S: p}  # one Problem per size: peers cache compiled code per Problem

    def run(S):
        if a.impl == "jaxrelu":
            import jaxrelu

            jaxrelu.run(w.study(quick=a.quick, steps=a.steps, seeds=S))
        else:
            q = problems.setdefault(S, workloads.Problem(**{**p.__dict__, "S": S}))
            peer.time(q, a.steps, budget=0.0)

    def measured(S):
        """Memory the run needs above what is resident before it."""
        exact = _reset_peak()
        before = _rss() if exact else rss_peak_bytes()
        run(S)
        return rss_peak_bytes() - before, exact

    if a.impl == "jaxrelu":
        out = _jaxrelu_xla(study)
        run(p.S)
        out.update(impl=a.impl, workload=a.workload, peak_bytes=rss_peak_bytes())
        print(json.dumps(out))
        return 0
    sizes = [1] if peer.per_trajectory else [small, p.S]
    for S in sizes:  # compile and warm every size first
        run(S)
    peak = rss_peak_bytes()
    out = {"impl": a.impl, "workload": a.workload, "peak_bytes": peak}
    if peer.per_trajectory:
        rb, exact = measured(1)
        out.update(
            run_bytes=rb,
            per_traj_bytes=rb,
            concurrent=1,
            method="run one trajectory (compiled, warm): peak above resident",
        )
    else:
        rs, exact = measured(small)
        rb, _ = measured(p.S)
        extra = (p.S - small) * p.G
        out.update(
            run_bytes=rb,
            small_run_bytes=rs,
            per_traj_bytes=(rb - rs) / extra if extra else None,
            concurrent=p.trajectories,
            method=f"run at {small} and {p.S} seeds (compiled, warm): "
            "difference of peaks above resident / extra trajectories",
        )
    out["peak_bytes"] = max(peak, rss_peak_bytes())
    out["exact_reset"] = exact
    print(json.dumps(out))
    return 0


def _jaxrelu_xla(study) -> dict:
    """jaxrelu's memory per trajectory from XLA's buffer assignment (see the module docstring)."""
    import jax
    import jax.numpy as jnp

    from jaxrelu import engine, rng, tasks

    prog, hp_np = engine.build(study)
    dt = jnp.dtype(prog.dtype)
    hp = {k: jnp.asarray(v, dt) for k, v in hp_np.items()}
    seeds_key, shared_key = rng.split(jax.random.PRNGKey(study.run.seed))
    shared = tasks.make_shared(shared_key, study.task, dt)
    C = engine.chunk_size(prog, study)
    sizes = sorted({max(1, C // 4), C})
    totals = {}  # chunk -> bytes of each program: draw, init, segment, observe
    for c in sizes:
        keys = engine.loop._seed_keys(seeds_key, jnp.arange(c, dtype=jnp.uint32))
        (init_c, seg_c), _ = engine.compile.compiled(prog, keys, hp, shared, jnp.ones(c, bool))
        stats = [f.memory_analysis() for f in (*init_c.programs, *seg_c.programs)]
        totals[c] = [
            m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes
            for m in stats
        ]
    lo, hi = sizes[0], sizes[-1]
    per = [
        (b - a) / ((hi - lo) * prog.grid_size) if hi > lo else b / prog.grid_size
        for a, b in zip(totals[lo], totals[hi])
    ]
    return {
        "run_bytes": max(totals[hi]),
        "small_run_bytes": max(totals[lo]),
        "per_traj_bytes": max(per),
        "per_traj_bytes_by_program": dict(zip(("draw", "init", "segment", "observe"), per)),
        "concurrent": C * prog.grid_size,
        "chunk_seeds": C,
        "exact_reset": True,
        "method": f"XLA buffer assignment at chunks of {lo} and {hi} seeds: difference / extra "
        "trajectories, the largest of the programs (draw, init, segment, observe)",
    }


if __name__ == "__main__":
    sys.exit(main())
