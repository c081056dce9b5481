"""Saddle-to-saddle plateaus on two 1-D toys: GD (= the paper's flow) vs SGD (B = 1) and label noise.

Boursier, Pillaud-Vivien & Flammarion (NeurIPS 2022, "Gradient flow dynamics of
shallow ReLU networks for square loss and orthogonal inputs"; code
eboursier/GFdynamics) train f(x) = Σ_j a_j relu(w_j x + b_j), m = 60, from a tiny
balanced initialisation by full-batch GD (lr 1e-3 on mean((f − y)²), 4·10⁵
steps) and see the training loss descend through a sequence of plateaus
(saddles).  We rerun their two toys with S seeds each and ask how SGD with
batch 1 and label noise change the plateau sequence and its timing.

Mapping to jaxrelu (see ``jaxrelu/conventions.py``):

* their loss mean((f − y)²) is 2 × ours (½ mean): the same trajectory needs
  lr_ours = 2 · lr_theirs = 2e-3, and every loss value we report is half theirs;
* their entries (weights and biases) ~ N(0, (λ/m)²) with λ = 1e-3; ours are
  N(0, init_scale²/d) with d = 1, so init_scale = λ/m;
* balanced second layer |a_j| = ‖(w_j, b_j)‖ with a random sign (``balanced``).

Each configuration (GD = batch n, SGD = batch 1; label-noise σ on a grid axis)
is one compiled program; seed k starts from the same initial weights in every
program (common random numbers), so GD vs SGD comparisons are paired by seed.
A gradient-flow reference (``method = "flow"``, 10 Euler substeps per step) is
run on toy 1 to check that GD at this lr is the flow.  First passages below
thresholds placed between the plateaus are read from the per-seed losses at the
(log-spaced) record times.

Usage: ``jaxrelu run saddle_to_saddle [--quick] [--seeds N] [--noise SIGMA] [--lr-scan]
[--set KEY=VALUE ...] [--figures DIR] [--out DIR] [--from DIR]``.  ``--set`` applies to
every run (e.g. ``--set run.steps=400000`` gives the paper's length for toy 1 too);
``--lr-scan`` adds SGD (B = 1) on toy 2 at lr = 2e-3 … 2.5e-4 at equal time.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
from matplotlib.transforms import blended_transform_factory
from scipy import stats

from jaxrelu import analysis
from jaxrelu.experiments import _common as common
from jaxrelu.plot import DPI, OKABE_ITO, new_figure

NAME = "saddle_to_saddle"
LAMBDA, WIDTH = 1e-3, 60
LR = 2e-3  # = 1e-3 on their mean((f − y)²)

# inputs, targets, steps, the plateau levels of the ½-MSE seen in GD, first-passage thresholds
TOYS: dict[str, dict[str, Any]] = {
    "toy1": {
        "x": [-0.5, 2.0],
        "y": [-1.0, 1.0],
        "steps": 30_000,
        "plateaus": [0.5, 0.25],
        "thresholds": [0.45, 0.2, 1e-3],
    },
    "toy2": {
        "x": [-1.5, -1.0, 0.0, 0.25, 2.0],
        "y": [0.7, -0.3, -0.4, 0.4, 0.2],
        "steps": 400_000,
        "plateaus": [0.094, 0.0388],
        "thresholds": [0.085, 0.035, 1e-3],
    },
}
PASSAGE_NAMES = ["leave plateau 1", "leave plateau 2", "fit (loss < 1e-3)"]


def base_config(toy: str, batch: int, noises, seeds: int, steps: int, records: int) -> dict:
    t = TOYS[toy]
    return {
        "description": f"{NAME} {toy}",
        "run": {"seeds": seeds, "steps": steps, "records": records, "spacing": "linear", "seed": 0},
        "task": {"kind": "dataset", "inputs": [[v] for v in t["x"]], "targets": t["y"]},
        "model": {"width": WIDTH, "bias": True, "init_scale": LAMBDA / WIDTH, "second_layer_init": "balanced"},
        "optimizer": {"lr": LR, "batch_size": batch},
        "sweep": {"optimizer.label_noise": list(noises)} if len(noises) > 1 else {},
        "record": {
            "observables": ["train_loss"],
            "keep_per_seed": ["train_loss"],
            "quantiles": [0.05, 0.25, 0.5, 0.75, 0.95],
            "histograms": {"train_loss": {"min": 1e-8, "max": 1.0, "bins": 64, "log": True}},
        },
    }


def passages(res, g: int, thresholds) -> np.ndarray:
    """(n_thresholds, seeds) first record step with train_loss ≤ threshold (inf: never)."""
    loss = np.asarray(res["train_loss.per_seed"], np.float64).reshape(-1, *res["train_loss.per_seed"].shape[-2:])[g]
    step = np.asarray(res.step, np.float64)
    out = np.full((len(thresholds), loss.shape[0]), np.inf)
    for i, thr in enumerate(thresholds):
        hit = loss <= thr
        first = np.argmax(hit, axis=1)
        out[i] = np.where(hit.any(axis=1), step[first], np.inf)
        out[i][np.isnan(loss).any(axis=1) & ~hit.any(axis=1)] = np.nan  # diverged, never crossed
    return out


def interval(x) -> dict:
    """Median of passage times (inf allowed) with its distribution-free 95 % interval."""
    x = np.asarray(x, float)
    x = x[~np.isnan(x)]
    hit = np.isfinite(x)
    k, n = int(hit.sum()), len(x)
    ci = stats.binomtest(k, n).proportion_ci(0.95, method="wilson") if n else None
    q = analysis.quantile_ci(x, 0.5) if n else None
    f = lambda v: None if v is None or not np.isfinite(v) else float(v)
    return {
        "n": n,
        "reached": k,
        "fraction": k / n if n else None,
        "fraction_wilson95": [float(ci.low), float(ci.high)] if ci else None,
        "median": f(q.estimate) if q else None,
        "median_ci95": [f(q.low), f(q.high)] if q else None,
        "q05": f(np.quantile(x, 0.05, method="inverted_cdf")) if n else None,
        "q95": f(np.quantile(x, 0.95, method="inverted_cdf")) if n else None,
    }


def main(argv=None) -> int:
    p = common.parser(
        NAME,
        __doc__,
        quick_help="tiny sizes (a smoke test, toy 1 only)",
        seeds_help="seeds per configuration (default 64; toy 2: 48)",
        set_example="model.width=100",
        source=True,
    )
    p.add_argument("--noise", type=float, default=0.3, help="label-noise sigma compared with 0 (default 0.3)")
    p.add_argument(
        "--lr-scan",
        action="store_true",
        help="also run SGD (B = 1) on toy 2 at lr = 2e-3 ... 2.5e-4 to equal time lr*steps = 800",
    )
    args = p.parse_args(argv)
    out = common.results_dir(NAME, args.out, source=args.source)

    def obtain(key: str, data: dict):
        """Run the study (saving it under out/key), or load it with --from."""
        return common.run_or_load(data, out, key, overrides=args.set, source=args.source)

    t_start = time.perf_counter()
    noises = [0.0, args.noise]
    toys = ["toy1"] if args.quick else ["toy1", "toy2"]
    runs: dict[str, dict] = {}  # label -> {"res", "toy", "batch", ...}
    for toy in toys:
        n = len(TOYS[toy]["x"])
        seeds = args.seeds or (4 if args.quick else (64 if toy == "toy1" else 48))
        steps = 2000 if args.quick else TOYS[toy]["steps"]
        records = 21 if args.quick else (301 if toy == "toy1" else 401)  # linear: every 100 / 1000 steps
        for label, batch in (("GD", n), ("SGD", 1)):
            t0 = time.perf_counter()
            res = obtain(f"{toy}_{label}", base_config(toy, batch, noises, seeds, steps, records))
            runs[f"{toy}_{label}"] = {"res": res, "toy": toy, "method": label, "seconds": time.perf_counter() - t0}
            print(f"{toy} {label}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        if toy == "toy1" and not args.quick:  # the gradient-flow reference (no noise)
            data = base_config(toy, n, [0.0], seeds, steps, records)
            data["optimizer"].update(method="flow", substeps=10)
            res = obtain(f"{toy}_flow", data)
            runs[f"{toy}_flow"] = {"res": res, "toy": toy, "method": "GF", "seconds": None}

    # ------------------------------------------------------------------ numbers
    summary = {
        "lambda": LAMBDA,
        "width": WIDTH,
        "lr_ours": LR,
        "lr_theirs": LR / 2,
        "noises": noises,
        "overrides": args.set,
        "configs": {},
    }
    rows = []  # (toy, config label, passages (3, S), res, g)
    for r in runs.values():
        res, toy = r["res"], r["toy"]
        ng = int(np.prod(res.grid_shape)) if res.grid_shape else 1
        for g in range(ng):
            sigma = float(res["optimizer.label_noise"][g]) if res.grid_axes else 0.0
            label = f"{r['method']}, σ={sigma:g}"
            T = passages(res, g, TOYS[toy]["thresholds"])
            rows.append((toy, label, T, res, g))
            per_seed = res["train_loss.per_seed"]
            loss = np.asarray(per_seed, np.float64).reshape(ng, *per_seed.shape[-2:])[g]
            final = analysis.quantile_ci(loss[:, -1], 0.5)
            summary["configs"][f"{toy} | {label}"] = {
                "seeds": int(loss.shape[0]),
                "steps": int(res.step[-1]),
                "run_seconds": res.meta["run_seconds"],
                "compile_seconds": res.meta["compile_seconds"],
                "final_loss_median": float(final.estimate),
                "final_loss_median_ci95": [float(final.low), float(final.high)],
                "passages": {nm: interval(T[i]) for i, nm in enumerate(PASSAGE_NAMES)},
                "plateau2_duration": interval(
                    np.where(np.isfinite(T[1]), T[1] - np.where(np.isfinite(T[0]), T[0], 0), T[1])
                ),
            }
    # paired GD vs SGD (same seeds = same initial weights): log10 ratio of passage times
    comp = {}
    for toy in toys:
        for sigma in noises:
            a = [r for r in rows if r[0] == toy and r[1] == f"GD, σ={sigma:g}"]
            b = [r for r in rows if r[0] == toy and r[1] == f"SGD, σ={sigma:g}"]
            if not a or not b:
                continue
            for i, nm in enumerate(PASSAGE_NAMES):
                x, y = np.log10(b[0][2][i]), np.log10(a[0][2][i])
                ok = np.isfinite(x) & np.isfinite(y)
                if ok.sum() >= 3:
                    d = analysis.paired_difference(x[ok], y[ok])
                    comp[f"{toy} | σ={sigma:g} | {nm}"] = {
                        "log10(T_SGD/T_GD)": float(d.estimate),
                        "ci95": [float(d.low), float(d.high)],
                        "ratio": float(10**d.estimate),
                        "pairs": int(ok.sum()),
                    }
        g0 = [r for r in rows if r[0] == toy and r[1] == f"GD, σ={noises[0]:g}"]
        g1 = [r for r in rows if r[0] == toy and r[1] == f"GD, σ={noises[1]:g}"]
        if g0 and g1:  # label noise vs none under GD, same seeds
            for i, nm in enumerate(PASSAGE_NAMES):
                x, y = np.log10(g1[0][2][i]), np.log10(g0[0][2][i])
                ok = np.isfinite(x) & np.isfinite(y)
                if ok.sum() >= 3:
                    d = analysis.paired_difference(x[ok], y[ok])
                    comp[f"{toy} | GD label noise {noises[1]:g} vs 0 | {nm}"] = {
                        "log10(T_noise/T_clean)": float(d.estimate),
                        "ci95": [float(d.low), float(d.high)],
                        "ratio": float(10**d.estimate),
                        "pairs": int(ok.sum()),
                    }
    summary["paired_comparisons"] = comp

    scan = []
    if (args.lr_scan or (args.source and (out / "toy2_SGD_lr0.002").is_dir())) and not args.quick:
        # is the SGD trapping on toy 2 an O(lr) noise effect?
        for lr in (2e-3, 1e-3, 5e-4, 2.5e-4):
            steps = round(800 / lr)
            data = base_config("toy2", 1, [0.0], args.seeds or 16, steps, 201)
            data["optimizer"]["lr"] = lr
            data["record"]["histograms"] = {}
            res = obtain(f"toy2_SGD_lr{lr:g}", data)
            T = passages(res, 0, TOYS["toy2"]["thresholds"])
            row = {"lr": lr, "steps": steps, "run_seconds": res.meta["run_seconds"]}
            for i, nm in enumerate(PASSAGE_NAMES):
                d = interval(T[i] * lr)  # in time units t = lr * step
                row[nm] = d
            scan.append(row)
            print(
                f"lr scan: lr={lr:g}: left plateau 2 in {row[PASSAGE_NAMES[1]]['reached']}/"
                f"{row[PASSAGE_NAMES[1]]['n']} seeds",
                file=sys.stderr,
            )
        summary["lr_scan_toy2_sgd_b1"] = scan

    # ------------------------------------------------------------------ figures
    fig_dir = args.figures
    fig_dir.mkdir(parents=True, exist_ok=True)
    written = []
    styles = {"GD": "-", "SGD": "--", "GF": ":"}
    fig = new_figure(height=7.6, width=6.2 * len(toys))
    grid = np.asarray(fig.subplots(2, len(toys), gridspec_kw={"height_ratios": [3, 2]})).reshape(2, len(toys))
    for col, toy in enumerate(toys):
        trs = [r for r in rows if r[0] == toy]
        for row, ax in enumerate(grid[:, col]):  # top: log loss, all scales; bottom: linear, the plateaus
            for c, (_, label, _, res, g) in zip(OKABE_ITO, trs):
                ng = int(np.prod(res.grid_shape)) if res.grid_shape else 1
                q = np.asarray(res["train_loss.quantiles"], np.float64).reshape(ng, len(res.step), -1)[g]
                step = np.asarray(res.step, np.float64)
                s = step > 0
                ls = styles[label.split(",")[0]]
                ax.fill_between(step[s], q[s, 0], q[s, 4], color=c, alpha=0.12, lw=0)
                ax.plot(step[s], q[s, 2], color=c, ls=ls, lw=1.6, label=f"{label} (median, 5–95 %)")
            for lvl in TOYS[toy]["plateaus"]:
                ax.axhline(lvl, color="0.5", lw=0.8, ls=":")
            for thr in TOYS[toy]["thresholds"]:
                ax.axhline(thr, color="0.75", lw=0.6, ls="-.")
            ax.set_xscale("log")
            ax.grid(True, which="major", alpha=0.3)
            ax.set_ylabel("training loss ½ mean (f − y)²" if row == 0 else "same, linear scale")
            if row == 0:
                ax.set_yscale("log")
                lowest = min(float(np.nanmin(np.asarray(r[3]["train_loss.quantiles"])[..., 2])) for r in trs)
                ax.set_ylim(max(1e-11, 0.3 * lowest), 1.8 * max(TOYS[toy]["plateaus"]))
                ax.set_title(
                    f"{toy}: n = {len(TOYS[toy]['x'])}, m = {WIDTH}, λ = {LAMBDA:g}, lr = {LR:g}", fontsize="medium"
                )
                ax.legend(fontsize="x-small", loc="lower left")
            else:
                ax.set_ylim(0, 1.1 * max(TOYS[toy]["plateaus"]))
                ax.set_xlabel("step (GD/SGD update; GF: time / lr)")
    fig.suptitle(
        "Saddle-to-saddle plateaus: dotted = plateau levels, dash-dot = first-passage thresholds", fontsize="medium"
    )
    path = fig_dir / "loss_quantiles.png"
    fig.savefig(path, dpi=DPI)
    written.append(path)

    # passage-time forest plot: median with its 95 % interval (bar) and the 5–95 % range (thin)
    fig = new_figure(height=4.2, width=6.2 * len(toys))
    axes = np.atleast_1d(fig.subplots(1, len(toys)))
    pcol = ["#0072B2", "#E69F00", "#009E73"]
    res_end = {r[0]: r[3].step[-1] for r in rows}
    for ax, toy in zip(axes, toys):
        trs = [r for r in rows if r[0] == toy]
        for yi, (_, _label, T, _, _) in enumerate(trs):
            for i in range(3):
                x = T[i][np.isfinite(T[i])]
                y = yi + (i - 1) * 0.22
                if x.size == 0:
                    ax.text(
                        0.99,
                        y,
                        f"{PASSAGE_NAMES[i]}: 0/{np.sum(~np.isnan(T[i]))} seeds by step {int(res_end[toy])}",
                        transform=blended_transform_factory(ax.transAxes, ax.transData),
                        ha="right",
                        va="center",
                        fontsize="xx-small",
                        color=pcol[i],
                    )
                    continue
                q = analysis.quantile_ci(T[i][~np.isnan(T[i])], 0.5)
                lo, hi = np.quantile(x, [0.05, 0.95])
                ax.plot([lo, hi], [y, y], color=pcol[i], lw=1, alpha=0.6)
                if np.isfinite(q.estimate):
                    ax.plot(
                        [max(q.low, x.min()), min(q.high, x.max())],
                        [y, y],
                        color=pcol[i],
                        lw=4,
                        alpha=0.8,
                        solid_capstyle="butt",
                    )
                    ax.plot(
                        [q.estimate],
                        [y],
                        "o",
                        color=pcol[i],
                        ms=4,
                        mec="k",
                        mew=0.5,
                        label=PASSAGE_NAMES[i] if yi == 0 else None,
                    )
                frac = np.isfinite(T[i]).mean()
                if frac < 1:
                    ax.annotate(
                        f"{100 * frac:.0f}% reached",
                        (hi, y),
                        xytext=(4, -3),
                        textcoords="offset points",
                        fontsize="xx-small",
                    )
        ax.set_yticks(range(len(trs)))
        ax.set_yticklabels([r[1] for r in trs], fontsize="small")
        ax.set_ylim(len(trs) - 0.6, -0.4)  # inverted: first configuration on top
        ax.set_xscale("log")
        ax.set_xlabel("first-passage step")
        ax.set_title(f"{toy}: median (dot), its 95 % CI (thick), 5–95 % of seeds (thin)", fontsize="small")
        ax.grid(True, axis="x", which="major", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize="small", frameon=False)
    path = fig_dir / "passage_times.png"
    fig.savefig(path, dpi=DPI)
    written.append(path)

    if scan:
        fig = new_figure(height=3.6, width=6.0)
        ax = fig.subplots()
        lrs = np.array([r["lr"] for r in scan])
        for i, c in zip((1, 2), ("#E69F00", "#009E73")):
            fr = np.array([r[PASSAGE_NAMES[i]]["fraction"] for r in scan])
            lo = np.array([r[PASSAGE_NAMES[i]]["fraction_wilson95"][0] for r in scan])
            hi = np.array([r[PASSAGE_NAMES[i]]["fraction_wilson95"][1] for r in scan])
            ax.errorbar(
                lrs * (1 + 0.04 * (i - 1.5)),
                fr,
                yerr=[fr - lo, hi - fr],
                marker="o",
                capsize=3,
                color=c,
                label=f"SGD B=1: {PASSAGE_NAMES[i]} by t = 800",
            )
        ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("learning rate (ours; theirs = lr/2), time t = lr·step fixed")
        ax.set_ylabel("fraction of seeds (Wilson 95 %)")
        ax.set_title("toy 2: SGD escapes the second plateau only at small lr", fontsize="medium")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="x-small")
        path = fig_dir / "lr_scan_toy2.png"
        fig.savefig(path, dpi=DPI)
        written.append(path)

    # density over seeds for the toy with the richest plateau structure, GD vs SGD with noise
    from jaxrelu.plot import plot_density

    toy = toys[-1]
    for key in (f"{toy}_GD", f"{toy}_SGD"):
        res = runs[key]["res"]
        fig = plot_density(res, "train_loss", (len(noises) - 1,) if res.grid_shape else ())
        fig.axes[0].set_title(f"{toy}, {runs[key]['method']}: " + fig.axes[0].get_title(), fontsize="medium")
        path = fig_dir / f"density_{key}_noise.png"
        fig.savefig(path, dpi=DPI)
        written.append(path)

    summary["seconds_total"] = time.perf_counter() - t_start
    summary["figures"] = [str(w) for w in written]
    (out / ("summary_replot.json" if args.source else "summary.json")).write_text(json.dumps(summary, indent=1))
    for k, v in summary["configs"].items():
        ps = ", ".join(f"{nm}: {d['median']:.3g}" if d["median"] else f"{nm}: -" for nm, d in v["passages"].items())
        print(f"{k:<24} final loss {v['final_loss_median']:.2e} | median passages {ps}", file=sys.stderr)
    print(f"total {summary['seconds_total']:.1f}s", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
