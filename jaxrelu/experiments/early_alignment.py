"""Early alignment and its failure: probability of escaping a spurious stationary point vs init scale.

Boursier & Flammarion ("Early alignment in two-layer networks training is a
two-edged sword", code eboursier/early_alignment) show that with a small
initialisation the neurons of f(x) = Σ_j a_j relu(w_j x + b_j) first align with
a few directions, and that on the three points x = (−0.75, −0.5, 0.125),
y = (1.1, 0.1, 0.8) this early alignment can trap gradient flow at a spurious
stationary point instead of a global minimum (zero loss).  We measure the
probability of reaching zero training loss as a phase diagram over the init
scale λ, balanced vs unbalanced initialisation, GD vs SGD (batch 1) and label
noise, with binomial intervals and Kaplan–Meier curves of the escape times.

Mapping to jaxrelu (``jaxrelu/conventions.py``):

* their entries (weights, biases; unbalanced: also a_j) ~ N(0, λ²/m); ours are
  N(0, init_scale²/d) with d = 1, so init_scale = λ/√m (and, unbalanced,
  second_layer_scale = λ/√m with ``second_layer_init = "gaussian"``);
  balanced: |a_j| = ‖(w_j, b_j)‖ with a random sign (``"balanced"``);
* their loss mean((f − y)²) is 2 × ours: their lr 1e-3 is our lr = 2e-3, and
  our losses are half theirs;
* "escape" = the ½-MSE training loss at the last record is below 1e-3 (the
  spurious point sits at 0.0875); the escape time is the first record at which
  it is below 1e-3 (right-censored at the last step).

Seed k starts from the same directions in every run (common random numbers),
so GD, SGD and label-noise outcomes are compared seed by seed.

Usage: ``jaxrelu run early_alignment [--quick] [--seeds N] [--set KEY=VALUE ...]
[--figures DIR] [--out DIR] [--from DIR]``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
from scipy import stats

from jaxrelu import analysis
from jaxrelu.experiments import _common as common
from jaxrelu.plot import DPI, OKABE_ITO, new_figure

NAME = "early_alignment"
X, Y = [-0.75, -0.5, 0.125], [1.1, 0.1, 0.8]
WIDTH = 50
LR = 2e-3  # = 1e-3 on their mean((f − y)²)
LAMBDAS = [0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0]
THRESHOLD = 1e-3
SPURIOUS = 0.0875  # the ½-MSE of the spurious stationary point (measured)
INITS = ("balanced", "unbalanced")


def base_config(init: str, batch: int, noises, seeds: int, steps: int, records: int, lambdas=None, lam=None) -> dict:
    """One program: ``lambdas`` on a grid axis (balanced) or one λ (unbalanced: a also scales with λ)."""
    d = {
        "description": f"{NAME} {init} B={batch}",
        "run": {"seeds": seeds, "steps": steps, "records": records, "seed": 0},
        "task": {"kind": "dataset", "inputs": [[v] for v in X], "targets": Y},
        "model": {
            "width": WIDTH,
            "bias": True,
            "init_scale": 0.1,
            "second_layer_init": "balanced" if init == "balanced" else "gaussian",
        },
        "optimizer": {"lr": LR, "batch_size": batch},
        "sweep": {},
        "record": {
            "observables": ["train_loss"],
            "keep_per_seed": ["train_loss"],
            "quantiles": [0.05, 0.25, 0.5, 0.75, 0.95],
        },
    }
    if lambdas is not None:
        d["sweep"]["model.init_scale"] = [lam_ / np.sqrt(WIDTH) for lam_ in lambdas]
    else:
        d["model"]["init_scale"] = lam / np.sqrt(WIDTH)
        d["model"]["second_layer_scale"] = lam / np.sqrt(WIDTH)
    if len(noises) > 1:
        d["sweep"]["optimizer.label_noise"] = list(noises)
    else:
        d["optimizer"]["label_noise"] = float(noises[0])
    return d


def escape_times(loss: np.ndarray, step: np.ndarray) -> np.ndarray:
    """(seeds,) first record step with loss ≤ THRESHOLD; inf if never; nan if diverged."""
    hit = loss <= THRESHOLD
    t = np.where(hit.any(axis=1), step[np.argmax(hit, axis=1)], np.inf)
    return np.where(np.isnan(loss[:, -1]) & ~hit.any(axis=1), np.nan, t)


def binomial(k: int, n: int) -> dict:
    if n == 0:
        return {"k": 0, "n": 0}
    bt = stats.binomtest(k, n)
    w, cp = bt.proportion_ci(0.95, method="wilson"), bt.proportion_ci(0.95, method="exact")
    return {
        "k": k,
        "n": n,
        "p": k / n,
        "wilson95": [float(w.low), float(w.high)],
        "clopper_pearson95": [float(cp.low), float(cp.high)],
    }


def main(argv=None) -> int:
    p = common.parser(
        NAME,
        __doc__,
        seeds_help="seeds per grid point (default 32)",
        steps_help="steps (default 160000 = time 320 at lr 2e-3)",
        set_example="model.width=200",
        source=True,
    )
    p.add_argument("--noise", type=float, default=0.3, help="label-noise sigma of the GD + label-noise runs")
    args = p.parse_args(argv)
    out = common.results_dir(NAME, args.out, source=args.source)
    t_start = time.perf_counter()
    seeds = args.seeds or (4 if args.quick else 32)
    steps = args.steps or (1000 if args.quick else 160_000)
    records = 11 if args.quick else 161
    lambdas = [3.0] if args.quick else LAMBDAS
    noises = [0.0, args.noise]

    def obtain(key: str, data: dict):
        return common.run_or_load(data, out, key, overrides=args.set, source=args.source)

    # outcome[init][config] = (lambdas, escape times (n_lambda, seeds), final loss (n_lambda, seeds), seconds)
    CONFIGS = ("GD", f"GD + label noise {args.noise:g}") + (() if args.quick else ("SGD B=1",))
    times: dict = {init: {c: [] for c in CONFIGS} for init in INITS}
    finals: dict = {init: {c: [] for c in CONFIGS} for init in INITS}
    seconds: dict = {}
    step = None
    for init in INITS:
        for batch, nz in ((len(X), noises),) + (() if args.quick else ((1, [0.0]),)):  # quick: GD only
            t0 = time.perf_counter()
            tag = "GD" if batch == len(X) else "SGD"
            cfgs = CONFIGS[:2] if batch == len(X) else CONFIGS[2:]
            if init == "balanced":
                groups: list[tuple[Any, float | None]] = [
                    (
                        obtain(f"{init}_{tag}", base_config(init, batch, nz, seeds, steps, records, lambdas=lambdas)),
                        None,
                    )
                ]
            else:
                groups = [
                    (
                        obtain(
                            f"{init}_{tag}_lambda{lam:g}", base_config(init, batch, nz, seeds, steps, records, lam=lam)
                        ),
                        lam,
                    )
                    for lam in lambdas
                ]
            for res, _lam in groups:
                step = np.asarray(res.step, np.float64)
                ps = np.asarray(res["train_loss.per_seed"], np.float64)  # (*grid, seeds, R)
                if init == "balanced":  # grid (λ[, noise])
                    ps = ps if ps.ndim == 4 else ps[:, None]
                    for ci, c in enumerate(cfgs):
                        times[init][c] = [escape_times(ps[li, ci], step) for li in range(len(lambdas))]
                        finals[init][c] = [ps[li, ci, :, -1] for li in range(len(lambdas))]
                else:  # grid (noise) or none
                    ps = ps if ps.ndim == 3 else ps[None]
                    for ci, c in enumerate(cfgs):
                        times[init][c].append(escape_times(ps[ci], step))
                        finals[init][c].append(ps[ci, :, -1])
            seconds[f"{init} {tag}"] = time.perf_counter() - t0
            print(f"{init} {tag}: {seconds[f'{init} {tag}']:.1f}s", file=sys.stderr)

    # ------------------------------------------------------------------ numbers
    censor = float(step[-1])
    summary = {
        "width": WIDTH,
        "lr_ours": LR,
        "lr_theirs": LR / 2,
        "threshold": THRESHOLD,
        "steps": int(censor),
        "seeds": seeds,
        "lambdas": lambdas,
        "overrides": args.set,
        "seconds": seconds,
        "phase": {},
    }
    for init in INITS:
        for c in CONFIGS:
            for li, lam in enumerate(lambdas):
                T = times[init][c][li]
                ok = ~np.isnan(T)
                k = int(np.isfinite(T[ok]).sum())
                row = binomial(k, int(ok.sum()))
                fin = finals[init][c][li]
                row["stuck_at_spurious"] = int(np.sum(np.abs(fin - SPURIOUS) < 2e-3))
                row["final_loss_median"] = float(np.nanmedian(fin))
                if k:
                    row["median_escape_step"] = analysis.median_survival(T[ok], censor).estimate
                    row["escape_step_q05_q95_of_escaped"] = [
                        float(np.quantile(T[np.isfinite(T)], q)) for q in (0.05, 0.95)
                    ]
                summary["phase"][f"{init} | {c} | lambda={lam:g}"] = row
    # seed-by-seed agreement of outcomes (same initial weights)
    agree = {}
    for init in INITS:
        for c in CONFIGS[1:]:
            same = [
                np.mean(np.isfinite(times[init][CONFIGS[0]][li]) == np.isfinite(times[init][c][li]))
                for li in range(len(lambdas))
            ]
            agree[f"{init} | {CONFIGS[0]} vs {c}"] = [float(v) for v in same]
    summary["same_outcome_fraction_per_lambda"] = agree
    # balanced vs unbalanced: seed k has the same (w_j, b_j) in both (a_j differs), so compare outcomes paired:
    # exact McNemar test on the discordant seeds
    summary["balanced_vs_unbalanced_GD"] = {}
    for li, lam in enumerate(lambdas):
        eb, eu = np.isfinite(times["balanced"]["GD"][li]), np.isfinite(times["unbalanced"]["GD"][li])
        only_b, only_u = int(np.sum(eb & ~eu)), int(np.sum(eu & ~eb))
        summary["balanced_vs_unbalanced_GD"][f"lambda={lam:g}"] = {
            "balanced": float(eb.mean()),
            "unbalanced": float(eu.mean()),
            "only_balanced_escaped": only_b,
            "only_unbalanced_escaped": only_u,
            "mcnemar_exact_p": float(stats.binomtest(min(only_b, only_u), only_b + only_u).pvalue)
            if only_b + only_u
            else 1.0,
        }

    # ------------------------------------------------------------------ figures
    fig_dir = args.figures
    fig_dir.mkdir(parents=True, exist_ok=True)
    written = []
    lam = np.asarray(lambdas)
    fig = new_figure(height=4.2, width=11.0)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, init in zip(axes, INITS):
        for j, (c, col) in enumerate(zip(CONFIGS, OKABE_ITO)):
            rows = [summary["phase"][f"{init} | {c} | lambda={v:g}"] for v in lambdas]
            pp = np.array([r["p"] for r in rows])
            lo = np.array([r["wilson95"][0] for r in rows])
            hi = np.array([r["wilson95"][1] for r in rows])
            xs = lam * (1 + 0.03 * (j - 1))
            ax.errorbar(
                xs,
                pp,
                yerr=[pp - lo, hi - pp],
                marker="os^"[j],
                ms=5,
                capsize=3,
                color=col,
                ls=["-", "--", ":"][j],
                label=c,
            )
        ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("init scale λ (entries ~ N(0, λ²/m))")
        ax.set_title(f"{init} initialisation", fontsize="medium")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(f"P(train loss < {THRESHOLD:g} by step {int(censor)})")
    axes[0].legend(fontsize="small", loc="upper left")
    fig.suptitle(
        f"Escape probability from the spurious point: 3 points, m = {WIDTH}, lr = {LR:g}, "
        f"{seeds} seeds per point (Wilson 95 % bars)",
        fontsize="medium",
    )
    path = fig_dir / "phase_diagram.png"
    fig.savefig(path, dpi=DPI)
    written.append(path)

    # Kaplan–Meier: P(not yet escaped by step t) with log-log 95 % bands, GD
    fig = new_figure(height=4.2, width=11.0)
    axes = fig.subplots(1, 2, sharey=True)
    cols = {v: c for v, c in zip(lambdas, OKABE_ITO)}
    for ax, init in zip(axes, INITS):
        for li, v in enumerate(lambdas):
            T = times[init]["GD"][li]
            T = T[~np.isnan(T)]
            if not np.isfinite(T).any():
                continue  # never escaped: flat at 1 (see the phase diagram)
            km = analysis.kaplan_meier(T, censor)
            t = np.concatenate([[0.0], km.time, [censor]])
            s = np.concatenate([[1.0], km.survival, [km.survival[-1]]])
            lo = np.concatenate([[1.0], km.low, [km.low[-1]]])
            hi = np.concatenate([[1.0], km.high, [km.high[-1]]])
            ax.step(t, s, where="post", color=cols[v], lw=1.6, label=f"λ = {v:g}")
            ax.fill_between(t, lo, hi, step="post", color=cols[v], alpha=0.15, lw=0)
        ax.set_xlim(0, censor)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("GD step")
        ax.set_title(f"{init}: Kaplan–Meier S(t) = P(loss > {THRESHOLD:g} at t), 95 % band", fontsize="small")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", loc="lower left")
    axes[0].set_ylabel("fraction of seeds not yet escaped")
    path = fig_dir / "escape_time_km.png"
    fig.savefig(path, dpi=DPI)
    written.append(path)

    summary["seconds_total"] = time.perf_counter() - t_start
    summary["figures"] = [str(w) for w in written]
    (out / ("summary_replot.json" if args.source else "summary.json")).write_text(json.dumps(summary, indent=1))
    for init in INITS:
        for c in CONFIGS:
            fr = [summary["phase"][f"{init} | {c} | lambda={v:g}"]["p"] for v in lambdas]
            print(f"{init:<10} {c:<24} " + " ".join(f"{v:.2f}" for v in fr), file=sys.stderr)
    print(f"total {summary['seconds_total']:.1f}s", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
