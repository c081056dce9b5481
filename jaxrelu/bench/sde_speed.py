"""SGD against its SDE on online teacher–student: trajectory-steps/s of each, in one process.

``python -m jaxrelu.bench.sde_speed [--seeds 256] [--steps 8000] [--rounds 5]``

The workload of the SDE comparisons (relu, d = 200, K = M = 2, batch 1, lr 0.005, default
chunking): ``sgd``, ``sde`` (``optimizer.sde_samples`` fresh inputs per step) and ``sde_exact``
(:mod:`jaxrelu.dynamics.sde_exact`) at several ``sde_samples``.  Each timing is one
:func:`jaxrelu.run`, its rate ``meta["trajectory_steps_per_second"]`` (stepping time,
compilation excluded); the cases are timed round-robin, and each method's slowdown against SGD
(SGD's rate over the method's) is taken within each round, so that a machine whose speed drifts
slows both sides of a ratio alike; the medians over the rounds are reported.
"""

from __future__ import annotations

import argparse
import statistics

import jaxrelu
from jaxrelu import config

BASE = {
    "run": {"records": 2},
    "task": {"kind": "teacher_student", "input_dim": 200, "teacher_width": 2, "train_size": "online"},
    "model": {"width": 2, "activation": "relu"},
    "optimizer": {"lr": 0.005, "batch_size": 1},
    "record": {"observables": ["population_loss"], "quantiles": []},
}


def cases(steps: int) -> list[tuple[str, int | None, int]]:
    """(method, sde_samples, steps) of each timing: the slow settings run fewer steps."""
    out: list[tuple[str, int | None, int]] = [("sgd", None, steps), ("sde", 256, max(steps // 200, 10))]
    out += [("sde_exact", n, steps // 2 if n <= 64 else max(steps // 20, 10)) for n in (256, 64, 16, 4)]
    return out


def rate(method: str, samples: int | None, seeds: int, steps: int) -> float:
    """Trajectory-steps/s of one run of the workload."""
    d = {k: dict(v) for k, v in BASE.items()}
    d["optimizer"]["method"] = method
    if samples is not None:
        d["optimizer"]["sde_samples"] = samples
    d["run"].update(seeds=seeds, steps=steps)
    return float(jaxrelu.run(config.from_dict(d)).meta["trajectory_steps_per_second"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jaxrelu.bench.sde_speed", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=256)
    p.add_argument("--steps", type=int, default=8000, help="SGD's steps (the SDE cases run fewer)")
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args(argv)
    rates: dict[str, list[float]] = {}
    for r in range(a.rounds):
        for method, n, steps in cases(a.steps):
            key = method if n is None else f"{method}, sde_samples = {n}"
            rates.setdefault(key, []).append(rate(method, n, a.seeds, steps))
            print(f"round {r}: {key:<28} {rates[key][-1]:12.4g} trajectory-steps/s", flush=True)
    print(f"\nmedian of {a.rounds} rounds, {a.seeds} seeds; slowdown = SGD's rate / the method's, in each round")
    for key, v in rates.items():
        slow = statistics.median(s / x for s, x in zip(rates["sgd"], v))
        print(f"{key:<28} {statistics.median(v):12.4g}   {slow:7.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
