"""Memory of one implementation on one workload, measured in a fresh process.

``python -m jaxrelu.bench._memprobe IMPL WORKLOAD [--quick] [--steps T]`` prints one
JSON line.  Method: the peak resident set size (``getrusage`` ru_maxrss) after
imports and building the problem is the baseline.  A batched implementation is
then run at S/4 seeds and at S seeds in turn: the growth of the peak between
the two, divided by the extra trajectories, is the memory per trajectory (fixed
costs — interpreter, libraries, compiled code, XLA's compile-time workspace —
cancel); the peak after the S-seed run is the peak memory.  A one-trajectory-
at-a-time implementation runs one trajectory; peak − baseline is then an upper
bound on its memory per trajectory (it includes compilation and warm-up).
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("impl")
    ap.add_argument("workload")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args(argv)
    from jaxrelu.bench.limits import rss_peak_bytes
    start = rss_peak_bytes()
    import jax  # noqa: F401
    if a.impl.startswith("torch"):
        import torch  # noqa: F401
    from jaxrelu.bench import peers, workloads
    w = workloads.WORKLOADS[a.workload]
    study = w.study(quick=a.quick, steps=a.steps)
    p = workloads.problem(study)
    peer = peers.PEERS[a.impl]
    base = rss_peak_bytes()
    out = {"impl": a.impl, "workload": a.workload, "start_bytes": start, "base_bytes": base}
    if peer.per_trajectory:
        peer.time(p, a.steps, budget=0.0)
        peak = rss_peak_bytes()
        out.update(peak_bytes=peak, per_traj_bytes=peak - base, concurrent=1, method="peak - baseline, 1 trajectory")
    else:
        small = max(1, p.S // 4)
        if a.impl == "jaxrelu":
            import jaxrelu
            jaxrelu.run(w.study(quick=a.quick, steps=a.steps, seeds=small))
            p1 = rss_peak_bytes()
            jaxrelu.run(study)
        else:
            peer.time(workloads.Problem(**{**p.__dict__, "S": small}), a.steps)
            p1 = rss_peak_bytes()
            peer.time(p, a.steps)
        peak = rss_peak_bytes()
        extra = (p.S - small) * p.G
        out.update(peak_bytes=peak, small_peak_bytes=p1, per_traj_bytes=(peak - p1) / extra if extra else None,
                   concurrent=p.trajectories, method=f"peak growth from {small} to {p.S} seeds")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
