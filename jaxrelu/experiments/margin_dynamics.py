"""Margin dynamics on separable data: GD vs SGD vs label-flip SGD, logistic loss, small vs large initialisation.

On linearly separable data, gradient descent on the logistic loss drives the loss to 0
and the parameters to infinity, w(t) = ŵ log t + O(1) for a linear model, ŵ the hard-margin
SVM solution with min_i y_i ŵ·x_i = 1 (Soudry, Hoffer, Nacson, Gunasekar & Srebro, JMLR
2018): the unnormalised margin grows like log t with slope 1, the norm like log t, and the
direction converges to the max-margin one only at the rate 1/log t.  For L-homogeneous
networks (a bias-free two-layer relu net: L = 2) Lyu & Li (ICLR 2020) show the same
picture: the normalised margin min_i y_i f(x_i)/‖θ‖^L increases once the data are fitted
and converges to a KKT point of the max-margin problem, with ‖θ‖^L ∝ log t; SGD with a
fixed step converges to the max-margin direction at the same 1/log t rate for linear
models (Nacson, Srebro & Soudry, AISTATS 2019).  Label-flip SGD, which flips each sampled
label with probability p at every step, makes the expected loss minimised at finite
margins, log((1 − p)/p) per point for the logistic loss.

Study: ``orthogonally_separable`` data (n = 32 points in d = 16, every pair of one class
with positive and of different classes with negative inner product, so every seed's
training set is separable), a bias-free relu network of m = 16 neurons with a balanced
second layer (|a_j| = ‖w_j‖), logistic loss, lr = 0.05, 2 × 2 × 2 grid: initial scale
0.05 (small) or 2 (large) × full batch (GD, B = 32) or B = 4 (SGD, epochs reshuffled) ×
label flip p = 0 or 0.1.  Time is counted in steps.  Every seed has its own training set,
initial directions and batch sequence, shared across the grid (paired comparisons).

Measured per seed, at log-spaced records: the normalised margin γ̃ = min y f/‖θ‖², the
margin q = min y f, ‖θ‖, the test error on 2000 held-out points, and over the last decade
of steps [T/10, T]: the slopes dq/dlog t (theory 1 without flips) and d‖θ‖²/dlog t (theory
1/γ̃_∞), and the fit γ̃(t) = γ̃_∞ − c/log t (Soudry et al.'s 1/log t convergence).

Usage: ``jaxrelu run margin_dynamics [--quick] [--seeds N] [--steps T] [--set KEY=VALUE ...]
[--figures DIR] [--out DIR] [--from DIR]``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from jaxrelu import analysis
from jaxrelu.experiments import _common as common
from jaxrelu.plot import DPI, OKABE_ITO, new_figure

NAME = "margin_dynamics"
N, D, WIDTH, LR = 32, 16, 16, 0.05
INITS = (0.05, 2.0)
BATCHES = (N, 4)
FLIPS = (0.0, 0.1)
OBS = [
    "train_loss",
    "train_error",
    "test_error",
    "margin",
    "normalized_margin",
    "param_norm",
    "stable_rank",
    "direction_cosine",
]
KEEP = ["margin", "normalized_margin", "param_norm", "test_error", "train_error"]


def base_config(seeds: int, steps: int, records: int) -> dict:
    """The study: one program, grid init scale × batch size × label flip."""
    return {
        "description": f"{NAME}: GD/SGD/label-flip SGD, logistic loss, separable data",
        "run": {"seeds": seeds, "steps": steps, "records": records, "spacing": "log", "seed": 0},
        "task": {
            "kind": "orthogonally_separable",
            "input_dim": D,
            "train_size": N,
            "loss": "logistic",
            "test_size": 2000,
            "params": {"margin": 1.0, "radius": 0.9},
        },
        "model": {"width": WIDTH, "second_layer_init": "balanced"},
        "optimizer": {"lr": LR, "batch_size": N},
        "sweep": {
            "model.init_scale": list(INITS),
            "optimizer.batch_size": list(BATCHES),
            "optimizer.label_flip": list(FLIPS),
        },
        "record": {"observables": OBS, "keep_per_seed": KEEP, "quantiles": [0.05, 0.25, 0.5, 0.75, 0.95]},
    }


def method_name(batch: int, flip: float, n: int = N) -> str:
    """'GD', 'SGD B=4', 'label-flip GD p=0.1', ..."""
    base = "GD" if batch == n else f"SGD B={batch}"
    return base if flip == 0 else f"label-flip {base} p={flip:g}"


def window(step, lo: float, hi: float) -> np.ndarray:
    """Record indices with lo ≤ step ≤ hi (and step > 0). step (R,) -> (k,) int."""
    step = np.asarray(step, float)
    return np.flatnonzero((step >= lo) & (step <= hi) & (step > 0))


def slope_in_log_t(step, values, idx) -> np.ndarray:
    """Least-squares slope of values against log t over the records ``idx``, per seed.

    step (R,), values (..., R) -> (...,); nan where a seed has a nan in the window.
    """
    x = np.log(np.asarray(step, float)[idx])
    y = np.asarray(values, float)[..., idx]
    xc = x - x.mean()
    return np.sum((y - y.mean(axis=-1, keepdims=True)) * xc, axis=-1) / np.sum(xc * xc)


def fit_inverse_log(step, values, idx):
    """Per-seed fit values(t) = lim − c / log t over the records ``idx`` (least squares in 1/log t).

    step (R,), values (..., R) -> (lim, c, r2), each (...,): the extrapolated limit, the coefficient
    of 1/log t (c > 0: approaching from below) and the fit's R².
    """
    u = 1.0 / np.log(np.asarray(step, float)[idx])
    y = np.asarray(values, float)[..., idx]
    uc = u - u.mean()
    b = np.sum((y - y.mean(axis=-1, keepdims=True)) * uc, axis=-1) / np.sum(uc * uc)
    lim = y.mean(axis=-1) - b * u.mean()
    resid = y - (lim[..., None] + b[..., None] * u)
    ss = np.sum((y - y.mean(axis=-1, keepdims=True)) ** 2, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = 1 - np.sum(resid**2, axis=-1) / ss
    return lim, -b, r2


def median_ci(x) -> list:
    """[median, low, high]: the median over seeds with its 95 % order-statistic interval (nan dropped)."""
    q = analysis.quantile_ci(np.asarray(x, float), 0.5)
    return [float(q.estimate), float(q.low), float(q.high)]


def mean_ci(x) -> list:
    """[mean, low, high]: the mean over seeds with its 95 % t interval (nan dropped)."""
    m = analysis.mean_ci(np.asarray(x, float))
    return [float(m.mean), float(m.low), float(m.high)]


def paired(x, y) -> dict:
    """Mean of the per-seed differences x − y with its 95 % interval (paired by seed)."""
    d = analysis.paired_difference(np.asarray(x, float), np.asarray(y, float))
    return {"mean_difference": float(d.estimate), "ci95": [float(d.low), float(d.high)], "pairs": int(d.n_x)}


def main(argv=None) -> int:
    p = common.parser(
        NAME,
        __doc__,
        seeds_help="seeds per grid point (default 48)",
        steps_help="steps (default 20000)",
        set_example="optimizer.lr=0.1",
        source=True,
    )
    args = p.parse_args(argv)
    out = common.results_dir(NAME, args.out, source=args.source)
    t_start = time.perf_counter()
    seeds = args.seeds or (4 if args.quick else 48)
    steps = args.steps or (300 if args.quick else 20_000)
    records = 12 if args.quick else 40
    res = common.run_or_load(base_config(seeds, steps, records), out, "margins", overrides=args.set, source=args.source)
    print(f"run {res.meta['run_seconds']:.1f}s, compile {res.meta['compile_seconds']:.1f}s", file=sys.stderr)
    step = np.asarray(res.step, np.float64)
    T = step[-1]
    idx = window(step, T / 10, T)
    inits = [float(v) for v in res["model.init_scale"]]
    batches = [int(v) for v in res["optimizer.batch_size"]]
    flips = [float(v) for v in res["optimizer.label_flip"]]
    n = int(res.meta["config"]["task"]["train_size"])
    per = {o: np.asarray(res[f"{o}.per_seed"], np.float64) for o in KEEP}  # (I, B, F, S, R)
    rho2 = per["param_norm"] ** 2

    # ------------------------------------------------------------------ numbers
    summary = {
        "config": {
            "n": n,
            "d": D,
            "width": WIDTH,
            "lr": LR,
            "steps": int(T),
            "seeds": seeds,
            "init_scales": inits,
            "batch_sizes": batches,
            "label_flips": flips,
            "window": [int(step[idx[0]]), int(T)] if len(idx) else None,
            "overrides": args.set,
        },
        "run_seconds": res.meta["run_seconds"],
        "compile_seconds": res.meta["compile_seconds"],
        "final": {},
        "paired": {},
    }
    fits = {}
    for i, s in enumerate(inits):
        for b, B in enumerate(batches):
            for f, pf in enumerate(flips):
                key = f"init {s:g} | {method_name(B, pf, n)}"
                g = per["normalized_margin"][i, b, f]
                q = per["margin"][i, b, f]
                row = {
                    "diverged": int(np.sum(np.isnan(g[:, -1]))),
                    "normalized_margin_median_ci95": median_ci(g[:, -1]),
                    "margin_median_ci95": median_ci(q[:, -1]),
                    "param_norm_median_ci95": median_ci(per["param_norm"][i, b, f][:, -1]),
                    "test_error_mean_ci95": mean_ci(per["test_error"][i, b, f][:, -1]),
                    "train_error_mean_ci95": mean_ci(per["train_error"][i, b, f][:, -1]),
                }
                if len(idx) >= 3:
                    dq = slope_in_log_t(step, q, idx)
                    dr = slope_in_log_t(step, rho2[i, b, f], idx)
                    lim, c, r2 = fit_inverse_log(step, g, idx)
                    fits[(i, b, f)] = (lim, c)
                    row.update(
                        {
                            "margin_slope_dlogt_median_ci95": median_ci(dq),
                            "norm2_slope_dlogt_median_ci95": median_ci(dr),
                            "norm2_slope_times_final_normalized_margin_median_ci95": median_ci(dr * g[:, -1]),
                            "inverse_log_fit": {
                                "limit_median_ci95": median_ci(lim),
                                "c_median_ci95": median_ci(c),
                                "r2_median": float(np.nanmedian(r2)),
                                "remaining_gap_median_ci95": median_ci(lim - g[:, -1]),
                            },
                        }
                    )
                summary["final"][key] = row
        # paired by seed: SGD − GD and label flip − none, at T
        gT = per["normalized_margin"][i, ..., -1]
        eT = per["test_error"][i, ..., -1]
        summary["paired"][f"init {s:g}"] = {
            "normalized_margin: SGD - GD (no flip)": paired(gT[1, 0], gT[0, 0]),
            "normalized_margin: label-flip SGD - SGD": paired(gT[1, 1], gT[1, 0]),
            "test_error: SGD - GD (no flip)": paired(eT[1, 0], eT[0, 0]),
            "test_error: label-flip SGD - SGD": paired(eT[1, 1], eT[1, 0]),
        }
    if len(inits) == 2:
        summary["paired"]["normalized_margin: small - large init (GD)"] = paired(
            per["normalized_margin"][0, 0, 0, :, -1], per["normalized_margin"][1, 0, 0, :, -1]
        )
        summary["paired"]["test_error: small - large init (GD)"] = paired(
            per["test_error"][0, 0, 0, :, -1], per["test_error"][1, 0, 0, :, -1]
        )

    # ------------------------------------------------------------------ figures
    fig_dir = args.figures
    fig_dir.mkdir(parents=True, exist_ok=True)
    written = []
    s_ok = step > 0
    colours = {(b, f): OKABE_ITO[2 * f + b] for b in range(len(batches)) for f in range(len(flips))}

    def band(ax, x, v, c, label, ls="-"):
        """Median and 25–75 % over seeds of v (S, R) against x (R,)."""
        qs = np.nanquantile(v, [0.25, 0.5, 0.75], axis=0)
        ax.fill_between(x, qs[0], qs[2], color=c, alpha=0.15, lw=0)
        ax.plot(x, qs[1], color=c, lw=1.6, ls=ls, label=label)

    fig = new_figure(height=7.5, width=13.0)
    axes = fig.subplots(2, 3)
    for i, s in enumerate(inits):
        a0, a1, a2 = axes[i]
        for b, B in enumerate(batches):
            for f, pf in enumerate(flips):
                c, lab = colours[(b, f)], method_name(B, pf, n)
                band(a0, step[s_ok], per["normalized_margin"][i, b, f][:, s_ok], c, lab)
                band(a1, step[s_ok], per["margin"][i, b, f][:, s_ok], c, lab)
                band(a2, step[s_ok], per["test_error"][i, b, f][:, s_ok], c, lab)
        # slope-1 reference for q = log t + const through GD's median at T
        q_gd = np.nanmedian(per["margin"][i, 0, 0][:, -1])
        ref = step[s_ok] >= T / 100
        a1.plot(
            step[s_ok][ref],
            q_gd + np.log(step[s_ok][ref] / T),
            color="0.3",
            ls=":",
            lw=1.2,
            label="slope 1 in log t (theory)",
        )
        for ax, yl in ((a0, "normalised margin min y f / ‖θ‖²"), (a1, "margin min y f"), (a2, "test error")):
            ax.set_xscale("log")
            ax.set_xlabel("step t")
            ax.set_ylabel(yl)
            ax.grid(True, which="major", alpha=0.3)
        a0.set_title(f"init scale {s:g} ({'small' if s == min(inits) else 'large'})", fontsize="medium")
        a1.set_ylim(-2.0, None)  # large init starts near −26: show the separable phase
        a2.set_yscale("symlog", linthresh=1e-3)
        a2.set_ylim(0, 1)
    axes[0, 1].legend(fontsize="x-small", loc="upper left")
    fig.suptitle(
        f"Logistic loss on orthogonally separable data (n = {n}, d = {D}, m = {WIDTH}, lr = {LR:g}): "
        f"median and 25–75 % of {seeds} seeds",
        fontsize="medium",
    )
    path = fig_dir / "margins.png"
    fig.savefig(path, dpi=DPI)
    written.append(path)

    fig = new_figure(height=7.5, width=11.0)
    axes = fig.subplots(2, 2)
    u = 1.0 / np.log(step[s_ok & (step > 1)])
    u_ok = s_ok & (step > 1)
    for i, s in enumerate(inits):
        a0, a1 = axes[0, i], axes[1, i]
        for b, B in enumerate(batches):
            for f, pf in enumerate(flips):
                c, lab = colours[(b, f)], method_name(B, pf, n)
                band(a0, step[s_ok], rho2[i, b, f][:, s_ok], c, lab)
                if pf == 0:
                    band(a1, u, per["normalized_margin"][i, b, f][:, u_ok], c, lab)
                    if (i, b, f) in fits:
                        lim, cc = (float(np.nanmedian(v)) for v in fits[(i, b, f)])
                        uu = np.linspace(0, 1 / np.log(T / 10), 50)
                        a1.plot(
                            uu,
                            lim - cc * uu,
                            color=c,
                            ls="--",
                            lw=1.0,
                            label=f"fit γ̃∞ − c/log t: γ̃∞ = {lim:.3g}, c = {cc:.3g}",
                        )
        a0.set_xscale("log")
        a0.set_xlabel("step t")
        a0.set_ylabel("‖θ‖²")
        a0.set_title(f"init scale {s:g}", fontsize="medium")
        a1.set_xlabel("1 / log t  (t → ∞ at the left)")
        a1.set_ylabel("normalised margin")
        a1.set_xlim(0, 1 / np.log(max(T / 1000, 2.0)))
        for ax in (a0, a1):
            ax.grid(True, alpha=0.3)
        a1.legend(fontsize="x-small")
    axes[0, 0].legend(fontsize="x-small")
    fig.suptitle(
        "Norm growth (theory: ‖θ‖² ∝ log t) and the approach of the normalised margin against 1/log t "
        "(Soudry et al.: linear in 1/log t)",
        fontsize="medium",
    )
    path = fig_dir / "norm_and_rate.png"
    fig.savefig(path, dpi=DPI)
    written.append(path)

    summary["seconds_total"] = time.perf_counter() - t_start
    summary["figures"] = [str(w) for w in written]
    (out / ("summary_replot.json" if args.source else "summary.json")).write_text(json.dumps(summary, indent=1))
    for k, v in summary["final"].items():
        extra = ""
        if "margin_slope_dlogt_median_ci95" in v:
            extra = (
                f"  dq/dlogt {v['margin_slope_dlogt_median_ci95'][0]:.2f}"
                f"  dρ²/dlogt·γ̃ {v['norm2_slope_times_final_normalized_margin_median_ci95'][0]:.2f}"
            )
        print(
            f"{k:<36} γ̃ {v['normalized_margin_median_ci95'][0]:.4f}  q {v['margin_median_ci95'][0]:.2f}"
            f"  test {v['test_error_mean_ci95'][0]:.4f}{extra}",
            file=sys.stderr,
        )
    print(f"total {summary['seconds_total']:.1f}s", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
