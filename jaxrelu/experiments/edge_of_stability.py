"""Edge of stability on a 1-D regression: sharpness of full-batch GD against 2/lr, over seeds and lr.

Cohen, Kaur, Li, Kolter & Talwalkar (ICLR 2021, "Gradient descent on neural
networks typically occurs at the edge of stability") observe that full-batch
GD at learning rate lr first *sharpens* (the top Hessian eigenvalue of the
training loss, the sharpness, rises) until it reaches 2/lr, the stability
threshold of GD on a quadratic, and then hovers at or just above 2/lr while the
loss keeps decreasing non-monotonically.  We test this on a small two-layer
ReLU network (m = 32, biases) fitting y = sin(πx) at 20 points of [−1, 1], with
full-batch GD at several lr and S seeds each, recording the sharpness
(``jaxrelu.observables.diagnostics``: Lanczos on Hessian–vector products) at every record.

Conventions (``jaxrelu/conventions.py``): our loss is ½ mean (f − y)²; the
sharpness is that of the same loss, so the stability threshold of our GD is
2/lr with our lr.  (With their mean (f − y)² both the sharpness and 1/lr double,
so the ratio sharpness·lr/2 that we report does not depend on the convention.)

Two initialisations share one compiled program: ``standard`` (w, b ~ N(0, 1),
a ~ N(0, 1/m)), where many seeds start above 2/lr, and ``small`` (w, b ~ N(0, 0.3²),
a ~ N(0, 0.05²)), which starts flat and sharpens progressively.

Measured per lr: quantiles over seeds of the sharpness against step; the
fraction of seeds *at the edge* (sharpness·lr/2 within ±10 % of 1) with Wilson
intervals; the largest ratio ever reached; the fraction of record intervals in
which the loss went up (non-monotone loss); divergences.

Usage: ``jaxrelu run edge_of_stability [--quick] [--seeds N] [--set KEY=VALUE ...]
[--figures DIR] [--out DIR] [--from DIR]``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

from jaxrelu import analysis
from jaxrelu.experiments import _common as common
from jaxrelu.plot import DPI, OKABE_ITO, new_figure

NAME = "edge_of_stability"
N_POINTS, WIDTH = 20, 32
# two initialisations (same compiled program: the scales are traced) with their own lr grids
INITS = {
    "standard": {"init_scale": 1.0, "second_layer_scale": 1 / np.sqrt(WIDTH), "lrs": [0.02, 0.1, 0.14, 0.2, 0.3]},
    "small": {"init_scale": 0.3, "second_layer_scale": 0.05, "lrs": [0.05, 0.3, 0.4, 0.5, 0.7]},
}
EDGE = 0.1  # "at the edge": |sharpness·lr/2 − 1| ≤ EDGE


def base_config(init: str, lrs, seeds: int, steps: int, records: int) -> dict:
    x = np.linspace(-1.0, 1.0, N_POINTS)
    return {
        "description": f"{NAME}",
        "run": {"seeds": seeds, "steps": steps, "records": records, "seed": 0},
        "task": {
            "kind": "dataset",
            "inputs": [[float(v)] for v in x],
            "targets": [float(np.sin(np.pi * v)) for v in x],
        },
        "model": {
            "width": WIDTH,
            "bias": True,
            "init_scale": INITS[init]["init_scale"],
            "second_layer_init": "gaussian",
            "second_layer_scale": INITS[init]["second_layer_scale"],
        },
        "optimizer": {"lr": lrs[0], "batch_size": N_POINTS},  # full batch: GD
        "sweep": {"optimizer.lr": list(lrs)},
        "record": {
            "observables": ["train_loss", "sharpness"],
            "keep_per_seed": ["train_loss", "sharpness"],
            "quantiles": [0.05, 0.25, 0.5, 0.75, 0.95],
        },
    }


def wilson(k: int, n: int) -> list:
    if n == 0:
        return [float("nan"), float("nan")]
    ci = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    return [float(ci.low), float(ci.high)]


def analyse(res) -> dict:
    """Per-lr numbers of one run (see the module docstring)."""
    lrs = [float(v) for v in res["optimizer.lr"]]
    step = np.asarray(res.step, np.float64)
    sharp = np.asarray(res["sharpness.per_seed"], np.float64)  # (lr, seeds, R)
    loss = np.asarray(res["train_loss.per_seed"], np.float64)
    ratio = sharp * np.asarray(lrs)[:, None, None] / 2  # sharpness / (2/lr)
    late = step >= 0.5 * step[-1]  # second half of training
    out = {}
    for i, lr in enumerate(lrs):
        alive = ~np.isnan(ratio[i, :, -1])
        n = int(alive.sum())
        r = ratio[i][alive]
        at_edge = np.abs(r[:, -1] - 1) <= EDGE
        start_above = r[:, 0] > 1
        above = np.any(r[:, 1:] > 1 + EDGE, axis=1)
        up = np.mean(np.diff(loss[i][alive][:, late], axis=1) > 0, axis=1)  # per seed, second half
        fl = loss[i][alive][:, -1]
        grow = sharp[i][alive][:, -1] / sharp[i][alive][:, 0]
        q = np.quantile(sharp[i][alive][:, -1], [0.05, 0.5, 0.95]) if n else [np.nan] * 3
        rc = analysis.quantile_ci(r[:, -1], 0.5) if n else None
        gc = analysis.quantile_ci(grow, 0.5) if n else None
        out[f"lr={lr:g}"] = {
            "two_over_lr": 2 / lr,
            "seeds_alive": n,
            "diverged": int((~alive).sum()),
            "initial_sharpness_median": float(np.median(sharp[i, :, 0])),
            "initial_ratio_above_1": {"k": int(start_above.sum()), "n": n},
            "final_sharpness_q05_q50_q95": [float(v) for v in q],
            "final_ratio_median_ci95": [float(rc.estimate), float(rc.low), float(rc.high)] if rc else None,
            "sharpening_factor_final_over_initial_median_ci95": [float(gc.estimate), float(gc.low), float(gc.high)]
            if gc
            else None,
            "at_edge_final": {
                "k": int(at_edge.sum()),
                "n": n,
                "fraction": float(at_edge.mean()) if n else None,
                "wilson95": wilson(int(at_edge.sum()), n),
            },
            "at_edge_final_started_above": int((at_edge & start_above).sum()),
            "at_edge_final_started_below": int((at_edge & ~start_above).sum()),
            "initial_ratio_of_edge_seeds_started_below_q05_q50": [
                float(v) for v in np.quantile(r[at_edge & ~start_above, 0], [0.05, 0.5])
            ]
            if (at_edge & ~start_above).any()
            else None,
            "ever_above_1.1_after_step0": {"k": int(above.sum()), "n": n},
            "max_ratio_after_step0": float(np.nanmax(ratio[i][:, 1:])) if n else None,
            "not_fitting_final_loss_above_0.01": int(np.sum(fl > 0.01)),
            "loss_up_fraction_second_half_mean_sem": [float(np.mean(up)), float(np.std(up, ddof=1) / np.sqrt(n))]
            if n > 1
            else None,
            "final_loss_median": float(np.nanmedian(fl)),
        }
    return out


def sharpness_figure(res, init: str, path: Path) -> None:
    lrs = [float(v) for v in res["optimizer.lr"]]
    step = np.asarray(res.step, np.float64)
    qs = np.asarray(res["sharpness.quantiles"], np.float64)  # (lr, R, 5)
    ql = np.asarray(res["train_loss.quantiles"], np.float64)
    ncol = 3
    nrow = -(-(len(lrs) + 1) // ncol)
    fig = new_figure(height=3.3 * nrow, width=12.0)
    axes = np.atleast_1d(fig.subplots(nrow, ncol)).ravel()
    for ax, (i, lr), c in zip(axes, enumerate(lrs), OKABE_ITO):
        ax.fill_between(step, qs[i, :, 0], qs[i, :, 4], color=c, alpha=0.15, lw=0, label="5–95 % of seeds")
        ax.fill_between(step, qs[i, :, 1], qs[i, :, 3], color=c, alpha=0.3, lw=0, label="25–75 %")
        ax.plot(step, qs[i, :, 2], color=c, lw=1.6, label="median")
        ax.axhline(2 / lr, color="k", ls="--", lw=1.2, label="2 / lr")
        top = max(float(np.nanmax(qs[i, :, 4])), 2 / lr)
        ax.set_ylim(0, 1.15 * top)
        ax.set_title(f"lr = {lr:g} (2/lr = {2 / lr:.3g})", fontsize="medium")
        ax.set_xlabel("GD step")
        ax.set_ylabel("sharpness λ_max(∇²L)")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize="x-small", loc="lower right")
    ax = axes[len(lrs)]
    for (i, lr), c in zip(enumerate(lrs), OKABE_ITO):
        ax.plot(step[1:], ql[i, 1:, 2], color=c, lw=1.4, label=f"lr = {lr:g}")
        ax.fill_between(step[1:], ql[i, 1:, 1], ql[i, 1:, 3], color=c, alpha=0.15, lw=0)
    ax.set_yscale("log")
    ax.set_title("training loss: median, 25–75 %", fontsize="medium")
    ax.set_xlabel("GD step")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small")
    for ax in axes[len(lrs) + 1 :]:
        ax.set_visible(False)
    cfg = res.meta["config"]["model"]
    fig.suptitle(
        f"{init} init (w, b ~ N(0, {cfg['init_scale']:.3g}²), a ~ N(0, {cfg['second_layer_scale']:.3g}²)): "
        f"full-batch GD, m = {WIDTH}, {N_POINTS} points of sin(πx), "
        f"{res['sharpness.per_seed'].shape[1]} seeds",
        fontsize="medium",
    )
    fig.savefig(path, dpi=DPI)


def main(argv=None) -> int:
    p = common.parser(
        NAME,
        __doc__,
        seeds_help="seeds per lr (default 64)",
        steps_help="GD steps (default 20000)",
        set_example="model.width=64",
        source=True,
    )
    args = p.parse_args(argv)
    out = common.results_dir(NAME, args.out, source=args.source)
    t_start = time.perf_counter()
    seeds = args.seeds or (4 if args.quick else 64)
    steps = args.steps or (300 if args.quick else 20_000)
    records = 7 if args.quick else 101
    runs = {}
    for init, spec in INITS.items():
        lrs = [spec["lrs"][0], spec["lrs"][-1]] if args.quick else spec["lrs"]
        runs[init] = common.run_or_load(
            base_config(init, lrs, seeds, steps, records), out, f"gd_{init}", overrides=args.set, source=args.source
        )
        print(
            f"{init}: run {runs[init].meta['run_seconds']:.1f}s, compile {runs[init].meta['compile_seconds']:.1f}s",
            file=sys.stderr,
        )

    summary = {
        "n_points": N_POINTS,
        "width": WIDTH,
        "steps": int(runs["standard"].step[-1]),
        "edge_band": EDGE,
        "overrides": args.set,
        "inits": {},
    }
    for init, res in runs.items():
        summary["inits"][init] = {
            "model": res.meta["config"]["model"],
            "seeds": int(res["sharpness.per_seed"].shape[1]),
            "run_seconds": res.meta["run_seconds"],
            "compile_seconds": res.meta["compile_seconds"],
            "per_lr": analyse(res),
        }

    # ------------------------------------------------------------------ figures
    fig_dir = args.figures
    fig_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for init, res in runs.items():
        path = fig_dir / f"sharpness_{init}.png"
        sharpness_figure(res, init, path)
        written.append(path)

    fig = new_figure(height=7.4, width=11.0)
    axes = fig.subplots(2, 2)
    for (a1, a2), (init, res) in zip(axes, runs.items()):
        lrs = [float(v) for v in res["optimizer.lr"]]
        step = np.asarray(res.step, np.float64)
        ratio = np.asarray(res["sharpness.per_seed"], np.float64) * np.asarray(lrs)[:, None, None] / 2
        for (i, lr), c in zip(enumerate(lrs), OKABE_ITO):
            alive = ~np.isnan(ratio[i])
            k = np.sum(np.abs(ratio[i] - 1) <= EDGE, axis=0)
            nn = alive.sum(axis=0)
            band = np.array([wilson(int(a), int(b)) for a, b in zip(k, nn)])
            a1.plot(step, k / np.maximum(nn, 1), color=c, lw=1.5, label=f"lr = {lr:g}")
            a1.fill_between(step, band[:, 0], band[:, 1], color=c, alpha=0.15, lw=0)
            r = ratio[i, :, -1]
            r = r[~np.isnan(r)]
            jitter = np.random.default_rng(i).uniform(-0.12, 0.12, r.size)
            a2.plot(np.full(r.size, i) + jitter, r, "o", ms=3, color=c, alpha=0.6)
            if r.size:
                a2.plot([i - 0.3, i + 0.3], [np.median(r)] * 2, color="k", lw=2)
        a1.set_ylim(-0.03, 1.03)
        a1.set_xlabel("GD step")
        a1.set_ylabel(f"fraction with |sharpness·lr/2 − 1| ≤ {EDGE:g}")
        a1.set_title(f"{init} init: seeds at the edge (Wilson 95 % band)", fontsize="medium")
        a1.grid(True, alpha=0.3)
        a1.legend(fontsize="x-small", loc="center right")
        a2.axhspan(1 - EDGE, 1 + EDGE, color="0.85", zorder=0)
        a2.axhline(1, color="k", ls="--", lw=1)
        a2.set_xticks(range(len(lrs)))
        a2.set_xticklabels([f"{v:g}" for v in lrs])
        a2.set_xlabel("lr")
        a2.set_ylabel("final sharpness / (2 / lr)")
        a2.set_ylim(-0.03, 1.25)
        a2.set_title(f"{init} init, step {int(step[-1])}: dots = seeds, bar = median", fontsize="medium")
        a2.grid(True, alpha=0.3)
    path = fig_dir / "edge_fraction.png"
    fig.savefig(path, dpi=DPI)
    written.append(path)

    summary["seconds_total"] = time.perf_counter() - t_start
    summary["figures"] = [str(w) for w in written]
    (out / ("summary_replot.json" if args.source else "summary.json")).write_text(json.dumps(summary, indent=1))
    for init, d in summary["inits"].items():
        for k, v in d["per_lr"].items():
            e = v["at_edge_final"]
            print(
                f"{init:<9} {k:<9} 2/lr={v['two_over_lr']:<7.3g} final sharpness q05/50/95 "
                + "/".join(f"{x:.3g}" for x in v["final_sharpness_q05_q50_q95"])
                + f"  at edge {e['k']}/{e['n']}  max ratio {v['max_ratio_after_step0']:.3f}",
                file=sys.stderr,
            )
    print(f"total {summary['seconds_total']:.1f}s", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
