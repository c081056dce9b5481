"""When is SGD an SDE? Weak error of SGD vs its SDE against lr, and SVAG converging as l grows.

Li, Tai & E (2017, 2019) show that SGD with step lr is a weak order-1
approximation of its stochastic modified equation (SME)
dθ = −∇L dt + √(lr/B) Σ(θ)^{1/2} dW at fixed time T = lr·steps; Li, Malladi &
Arora (NeurIPS 2021) make the SME testable with SVAG, whose iterates converge
weakly to the SME as l → ∞ at rate O(1/l).  We measure both on a finite
teacher–student set, with φ = the training loss at time T:

* weak error |E φ(θ_SGD) − E φ(θ_SDE)| against lr on log–log axes (exponent
  fitted with its interval; theory: 1);
* |E φ(θ_SVAG,l) − E φ(θ_SDE)| against l at the largest lr (theory: ∝ 1/l);
* the noise-to-signal ratio along SGD trajectories, when the diagnostics
  observables are available.

The SDE is integrated by Euler–Maruyama with 32 steps per SGD step, so its own
discretisation error is ~32 times smaller than SGD's.  SGD draws batches with
replacement (the SME's ansatz).  Parameters above ``run.blowup = 20`` count as
diverged and are excluded (the counts are in summary.json).

Usage: ``jaxrelu run sgd_vs_sde [--quick] [--seeds N] [--figures DIR] [--out DIR]``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

import jaxrelu
from jaxrelu import analysis, config
from jaxrelu.experiments import _common as common
from jaxrelu.plot import DPI, new_figure

NAME = "sgd_vs_sde"


def study(lr: float, T: float, seeds: int, methods, svag_l=None, substeps: int = 32) -> config.Study:
    steps = max(1, round(T / lr))
    sweep = {"optimizer.svag_l": list(svag_l)} if svag_l is not None else {"optimizer.method": list(methods)}
    return config.from_dict(
        {
            "description": "SGD vs SDE",
            "run": {"seeds": seeds, "steps": steps, "records": 2, "seed": 0, "blowup": 20.0},
            "task": {"input_dim": 20, "teacher_width": 2, "train_size": 64, "label_noise": 0.3},
            "model": {"width": 4, "init_scale": 1.0, "second_layer_scale": 0.5},
            "optimizer": {
                "lr": lr,
                "batch_size": 1,
                "replacement": True,
                "substeps": substeps,
                "method": "svag" if svag_l is not None else "sgd",
            },
            "sweep": sweep,
            "record": {"observables": ["train_loss"], "keep_per_seed": ["train_loss"], "quantiles": []},
        }
    )


def final(res, g):
    """Per-seed training loss at time T (diverged: nan)."""
    return np.asarray(res["train_loss.per_seed"][g, :, -1], np.float64)


def weak_error(a, b):
    """|mean(a − b)| over seeds finite in both, with the paired standard error.

    Seed k starts SGD, SDE and SVAG from the same initial weights (common random
    numbers), so the per-seed difference cancels the spread due to initialisation;
    the noises differ, and the pairs are independent across seeds.
    """
    ok = np.isfinite(a) & np.isfinite(b)
    d = analysis.paired_difference(a[ok], b[ok])
    return abs(float(d.estimate)), float(d.sem)


def main(argv=None) -> int:
    p = common.parser(
        NAME,
        __doc__,
        seeds_help="seeds per point (default 4096; --quick: 64)",
        set_example=None,
        out_help="folder for summary.json (default: a fresh folder under runs/)",
    )
    p.add_argument("--time", type=float, default=1.0, help="time T = lr * steps")
    args = p.parse_args(argv)
    out = common.results_dir(NAME, args.out)
    seeds = args.seeds or (64 if args.quick else 4096)
    lrs = [0.02, 0.01] if args.quick else [0.02, 0.01, 0.005, 0.0025]
    ls = [1, 2] if args.quick else [1, 2, 4, 8, 16]
    t0 = time.perf_counter()

    rows = []
    for lr in lrs:
        res = jaxrelu.run(study(lr, args.time, seeds, ["sgd", "sde"]))
        err, se = weak_error(final(res, 0), final(res, 1))
        rows.append(
            {
                "lr": lr,
                "weak_error": err,
                "se": se,
                "diverged": res["diverged.count"][:, -1].tolist(),
                "sgd_mean": float(np.nanmean(final(res, 0))),
                "sde_mean": float(np.nanmean(final(res, 1))),
            }
        )
        print(f"lr={lr:<6} |E phi_SGD - E phi_SDE| = {err:.5f} +- {se:.5f}", file=sys.stderr)
    lr_svag = lrs[0]
    sde = final(jaxrelu.run(study(lr_svag, args.time, seeds, ["sde"])), 0)
    svag = jaxrelu.run(study(lr_svag, args.time, seeds, None, svag_l=ls))
    srows = []
    for g, l in enumerate(ls):
        err, se = weak_error(final(svag, g), sde)
        srows.append({"l": l, "weak_error": err, "se": se, "diverged": int(svag["diverged.count"][g, -1])})
        print(f"SVAG l={l:<3} |E phi_SVAG - E phi_SDE| = {err:.5f} +- {se:.5f}", file=sys.stderr)

    x = np.array([r["lr"] for r in rows])
    y = np.array([r["weak_error"] for r in rows])
    e = np.array([r["se"] for r in rows])
    resolved = y > 2 * e  # fit only errors resolved above the Monte Carlo noise
    fit = analysis.fit_power_law(x[resolved], y[resolved], e[resolved]) if resolved.sum() >= 2 else None
    summary = {
        "time": args.time,
        "seeds": seeds,
        "sgd_vs_sde": rows,
        "svag_lr": lr_svag,
        "svag": srows,
        "exponent": None
        if fit is None
        else {"estimate": float(fit.exponent), "low": float(fit.exponent_low), "high": float(fit.exponent_high)},
        "seconds": time.perf_counter() - t0,
    }

    fig_dir = args.figures
    fig_dir.mkdir(parents=True, exist_ok=True)
    fig = new_figure(width=10.0)
    a1, a2 = fig.subplots(1, 2)
    a1.errorbar(x, y, yerr=e, marker="o", capsize=3, label="|E φ(SGD) − E φ(SDE)| ± 1 SE")
    if fit is not None:
        a1.plot(
            x,
            fit.prefactor * x**fit.exponent,
            "k:",
            label=f"fit: exponent {fit.exponent:.2f} [{fit.exponent_low:.2f}, {fit.exponent_high:.2f}]",
        )
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_xlabel("learning rate")
    a1.set_ylabel(f"weak error of training loss at T = {args.time:g}")
    a1.legend(fontsize="small")
    a1.grid(True, which="both", alpha=0.3)
    lv = np.array([r["l"] for r in srows])
    a2.errorbar(
        lv,
        [r["weak_error"] for r in srows],
        yerr=[r["se"] for r in srows],
        marker="o",
        capsize=3,
        label=f"|E φ(SVAG_l) − E φ(SDE)|, lr = {lr_svag:g}",
    )
    a2.set_xscale("log", base=2)
    a2.set_yscale("log")
    a2.set_xlabel("SVAG l")
    a2.legend(fontsize="small")
    a2.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"SGD vs its SDE: {seeds} seeds per point", fontsize="medium")
    fig.savefig(fig_dir / "weak_error.png", dpi=DPI)

    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
