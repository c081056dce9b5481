"""Large-step SGD learns sparse features: kinks, active neurons and feature nuclear norm vs lr and decay time.

Andriushchenko, Varre, Pillaud-Vivien & Flammarion (ICML 2023, "SGD with large
step sizes learns sparse features", code tml-epfl/sgd-sparse-features) fit 12
points in 1-D with a two-layer ReLU network (m = 100, biases) by SGD with batch
1 and a large step size that is decayed late or early, and observe that the
longer the large-step phase lasts, the sparser the learned features (fewer
kinks, fewer distinct active neurons, a low-rank feature matrix), at the same
(≈ 0) final training loss.  We measure distributions over seeds of the training
loss, the fraction of active neurons, the nuclear norm of the feature matrix
relu(w_j x_i + b_j) and the number of kinks inside the data range, for a sweep
of lr and a step decay (× 0.1) at 2 % vs 50 % of training.

Mapping to jaxrelu (``jaxrelu/conventions.py``):

* their loss mean((f − y)²) is 2 × ours: their step size γ is our lr / 2 (we
  quote our lr; losses are half theirs);
* their batches are drawn i.i.d. at every step (``np.random.choice`` per step),
  our ``replacement = true``;
* their schedule multiplies γ by a linear warm-up factor before the decay; our
  schedules are ``constant`` and ``step`` only, so **warm-up is omitted** (with
  it the first large steps would be gentler: without it, the larger lr kill
  neurons in the first hundred steps, see the notes);
* initialisation: we use ours (w_j, b_j ~ N(0, 1), a_j ~ N(0, 0.1²)), not the
  notebook's (not recoverable from the stored copy we could read).

Seed k sees the same initial weights and the same sample sequence under both
schedules (common random numbers): the two runs coincide up to the early decay,
and the 50 % − 2 % differences are paired by seed.

Usage: ``jaxrelu run sparse_features [--quick] [--seeds N] [--set KEY=VALUE ...]
[--figures DIR] [--out DIR] [--from DIR]``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from scipy import stats

from jaxrelu import analysis
from jaxrelu.experiments import _common as common
from jaxrelu.plot import DPI, OKABE_ITO, new_figure

NAME = "sparse_features"
X = [float(v) / 4 + 0.07 for v in np.arange(-5.5, 6.0, 1.0)]
Y = [0.345 + v for v in (-2, 1.5, 0, 0, 2, 1, 0, -1, 0, 1, 2, -1)]
WIDTH = 100
LRS = [0.005, 0.01, 0.015, 0.02, 0.03]
DECAYS = (0.02, 0.5)
OBS = ["train_loss", "active_fraction", "nuclear_norm", "kink_count"]
FIT = 1e-3  # "fits the data": ½-MSE below this


def base_config(decay_at: float, lrs, seeds: int, steps: int, records: int) -> dict:
    return {
        "description": f"{NAME} decay at {decay_at:g}",
        "run": {"seeds": seeds, "steps": steps, "records": records, "spacing": "log", "seed": 0},
        "task": {"kind": "dataset", "inputs": [[v] for v in X], "targets": Y},
        "model": {
            "width": WIDTH,
            "bias": True,
            "init_scale": 1.0,
            "second_layer_init": "gaussian",
            "second_layer_scale": 0.1,
        },
        "optimizer": {
            "lr": lrs[0],
            "batch_size": 1,
            "replacement": True,
            "schedule": "step",
            "decay_at": [decay_at],
            "decay_factor": 0.1,
        },
        "sweep": {"optimizer.lr": list(lrs)},
        "record": {"observables": OBS, "keep_per_seed": OBS, "quantiles": [0.05, 0.25, 0.5, 0.75, 0.95]},
    }


def median_ci(x) -> list:
    q = analysis.quantile_ci(np.asarray(x, float), 0.5)
    return [float(q.estimate), float(q.low), float(q.high)]


def main(argv=None) -> int:
    p = common.parser(
        NAME,
        __doc__,
        seeds_help="seeds per grid point (default 64)",
        steps_help="SGD steps (default 200000)",
        set_example="optimizer.decay_factor=0.01",
        source=True,
    )
    args = p.parse_args(argv)
    out = common.results_dir(NAME, args.out, source=args.source)
    t_start = time.perf_counter()
    seeds = args.seeds or (4 if args.quick else 64)
    steps = args.steps or (1000 if args.quick else 200_000)
    records = 6 if args.quick else 60
    lrs = [0.005, 0.02] if args.quick else LRS

    runs = {}
    for da in DECAYS:
        key = f"decay{da:g}"
        res = common.run_or_load(
            base_config(da, lrs, seeds, steps, records), out, key, overrides=args.set, source=args.source
        )
        runs[da] = res
        print(
            f"decay at {da:g}: run {res.meta['run_seconds']:.1f}s, compile {res.meta['compile_seconds']:.1f}s",
            file=sys.stderr,
        )
    lrs = [float(v) for v in runs[DECAYS[0]]["optimizer.lr"]]
    step = np.asarray(runs[DECAYS[0]].step, np.float64)

    # ------------------------------------------------------------------ numbers
    final = {da: {o: np.asarray(runs[da][f"{o}.per_seed"], np.float64)[..., -1] for o in OBS} for da in DECAYS}
    summary = {
        "width": WIDTH,
        "lrs_ours": lrs,
        "lrs_theirs": [v / 2 for v in lrs],
        "steps": int(step[-1]),
        "seeds": seeds,
        "decay_factor": runs[DECAYS[0]].meta["config"]["optimizer"]["decay_factor"],
        "overrides": args.set,
        "warmup": "omitted (not supported by jaxrelu schedules)",
        "run_seconds": {f"decay {da:g}": runs[da].meta["run_seconds"] for da in DECAYS},
        "compile_seconds": {f"decay {da:g}": runs[da].meta["compile_seconds"] for da in DECAYS},
        "final": {},
        "paired_50_minus_2": {},
    }
    for da in DECAYS:
        for i, lr in enumerate(lrs):
            loss = final[da]["train_loss"][i]
            ok = ~np.isnan(loss)
            k = int(np.sum(loss[ok] < FIT))
            w = stats.binomtest(k, int(ok.sum())).proportion_ci(0.95, method="wilson") if ok.sum() else None
            row = {
                "diverged": int((~ok).sum()),
                "fit_fraction": k / max(int(ok.sum()), 1),
                "fit_fraction_wilson95": [float(w.low), float(w.high)] if w else None,
            }
            for o in OBS:
                row[f"{o}_median_ci95"] = median_ci(final[da][o][i][ok])
                row[f"{o}_mean_sem"] = [
                    float(np.nanmean(final[da][o][i])),
                    float(np.nanstd(final[da][o][i], ddof=1) / np.sqrt(ok.sum())),
                ]
            summary["final"][f"decay {da:g} | lr={lr:g}"] = row
    for i, lr in enumerate(lrs):
        row = {}
        for o in OBS[1:]:
            d = analysis.paired_difference(final[DECAYS[1]][o][i], final[DECAYS[0]][o][i])
            row[o] = {
                "mean_difference": float(d.estimate),
                "ci95": [float(d.low), float(d.high)],
                "p_value": float(d.p_value),
                "pairs": int(d.n_x),
            }
        both = (final[DECAYS[0]]["train_loss"][i] < FIT) & (final[DECAYS[1]]["train_loss"][i] < FIT)
        row["seeds_fitting_under_both"] = int(both.sum())
        if both.sum() >= 3:  # the same comparison among seeds that fit the data under both
            for o in OBS[1:]:
                d = analysis.paired_difference(final[DECAYS[1]][o][i][both], final[DECAYS[0]][o][i][both])
                row[f"{o}_given_fit"] = {
                    "mean_difference": float(d.estimate),
                    "ci95": [float(d.low), float(d.high)],
                    "medians_2_50": [
                        float(np.median(final[DECAYS[0]][o][i][both])),
                        float(np.median(final[DECAYS[1]][o][i][both])),
                    ],
                }
        summary["paired_50_minus_2"][f"lr={lr:g}"] = row

    # ------------------------------------------------------------------ figures
    fig_dir = args.figures
    fig_dir.mkdir(parents=True, exist_ok=True)
    written = []
    labels = {
        "train_loss": "training loss ½ mean (f − y)²",
        "active_fraction": "fraction of active neurons",
        "nuclear_norm": "nuclear norm of relu(w x_i + b)",
        "kink_count": "kinks in the data range",
    }
    # trajectories: the smallest and a large lr, both schedules (median and 25–75 %)
    show = sorted({lrs[0], lrs[min(3, len(lrs) - 1)]})
    fig = new_figure(height=7.0, width=11.0)
    axes = fig.subplots(2, 2).ravel()
    s = step > 0
    for ax, o in zip(axes, OBS):
        k = 0
        for lr in show:
            i = lrs.index(lr)
            for da, ls in zip(DECAYS, ("--", "-")):
                q = np.asarray(runs[da][f"{o}.quantiles"], np.float64)[i]
                c = OKABE_ITO[k % len(OKABE_ITO)]
                ax.fill_between(step[s], q[s, 1], q[s, 3], color=c, alpha=0.15, lw=0)
                ax.plot(step[s], q[s, 2], color=c, ls=ls, lw=1.6, label=f"lr={lr:g}, decay at {100 * da:g}%")
                k += 1
            for da in DECAYS:
                ax.axvline(da * step[-1], color="0.6", lw=0.7, ls=":")
        ax.set_xscale("log")
        if o == "train_loss":
            ax.set_yscale("log")
        ax.set_xlabel("SGD step (dotted: decay points)")
        ax.set_ylabel(labels[o])
        ax.grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize="x-small", loc="lower left")
    fig.suptitle(
        f"SGD (B = 1) on 12 points, m = {WIDTH}: median and 25–75 % of {seeds} seeds; "
        f"lr × {summary['decay_factor']:g} at the decay",
        fontsize="medium",
    )
    path = fig_dir / "trajectories.png"
    fig.savefig(path, dpi=DPI)
    written.append(path)

    # final values against lr: median with its 95 % interval (order statistics)
    fig = new_figure(height=7.0, width=11.0)
    axes = fig.subplots(2, 2).ravel()
    for ax, o in zip(axes, OBS):
        for j, (da, c) in enumerate(zip(DECAYS, ("#E69F00", "#0072B2"))):
            m = np.array([summary["final"][f"decay {da:g} | lr={lr:g}"][f"{o}_median_ci95"] for lr in lrs])
            xs = np.asarray(lrs) * (1 + 0.03 * (2 * j - 1))
            ax.errorbar(
                xs,
                m[:, 0],
                yerr=[m[:, 0] - m[:, 1], m[:, 2] - m[:, 0]],
                marker="os"[j],
                capsize=3,
                color=c,
                label=f"decay at {100 * da:g}% of training",
            )
            q = np.nanquantile(final[da][o], [0.1, 0.9], axis=-1)
            ax.fill_between(xs, q[0], q[1], color=c, alpha=0.1, lw=0)
        ax.set_xscale("log")
        if o == "train_loss":
            ax.set_yscale("log")
            ax.axhline(FIT, color="0.5", lw=0.8, ls=":")
        ax.set_xlabel("lr before the decay (ours; theirs = lr / 2)")
        ax.set_ylabel(f"final {labels[o]}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.suptitle(
        f"At step {int(step[-1])}: median (95 % CI bars) and 10–90 % of {seeds} seeds (band)", fontsize="medium"
    )
    path = fig_dir / "final_vs_lr.png"
    fig.savefig(path, dpi=DPI)
    written.append(path)

    summary["seconds_total"] = time.perf_counter() - t_start
    summary["figures"] = [str(w) for w in written]
    (out / ("summary_replot.json" if args.source else "summary.json")).write_text(json.dumps(summary, indent=1))
    for k, v in summary["final"].items():
        print(
            f"{k:<22} fit {v['fit_fraction']:.2f}  kinks {v['kink_count_median_ci95'][0]:.0f}  "
            f"active {v['active_fraction_median_ci95'][0]:.2f}  nuc {v['nuclear_norm_median_ci95'][0]:.1f}  "
            f"loss {v['train_loss_median_ci95'][0]:.2g}",
            file=sys.stderr,
        )
    print(f"total {summary['seconds_total']:.1f}s", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
