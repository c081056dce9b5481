"""Escape from the quickstart's plateau with SGD, heavy-ball momentum, Adam and sign-SGD on the same seeds.

The quickstart study (online teacher–student SGD, relu, K = M = 2, d = 100, small
initialisation init_scale = 0.01: every trajectory first sits on the plateau at ε ≈ 0.1,
then escapes at a random time) run with four optimisers as one grid axis,
``"optimizer.name" = ["sgd", "momentum", "adam", "sign_sgd"]`` (optax's defaults: heavy
ball β = 0.9, Adam b1 = 0.9, b2 = 0.999, ε = 1e-8), times a learning-rate axis: one
compiled program, and seed k starts from the same weights and sees the same samples at
every grid point (common random numbers), so escape times are *paired* across optimisers.

The escape time is the first record step with ε < 0.01 (records every 100 steps;
``inf`` = not escaped by the end, right-censored; a seed that diverges before escaping
counts as censored too).  For each (optimiser, lr):

* the fraction escaped (Wilson 95 % interval) and the Kaplan–Meier median escape time
  with its 95 % interval (``jaxrelu.analysis.median_survival``, Brookmeyer–Crowley);
* paired comparisons against SGD: at the same lr, and with each optimiser at its own best
  lr (smallest median): the fraction of seeds that escape first (ties and pairs censored
  on both sides dropped; a seed escaping while its partner never does counts as a win),
  Wilson interval, and the paired mean difference of log10 escape time over the seeds
  where both escaped (``paired_difference``), with the correlation between the pairs.

Run:  ``jaxrelu run optimizers`` (≈ 1 min on 2 CPU cores); ``--quick`` for a smoke test;
``--seeds N``, ``--set key=value``.
"""

from __future__ import annotations

import json
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

NAME = "optimizers"
OPTIMIZERS = ("sgd", "momentum", "adam", "sign_sgd")
LRS = (0.001, 0.0025, 0.005, 0.01)
THRESHOLD = 0.01
COLORS = {"sgd": "#0072B2", "momentum": "#E69F00", "adam": "#009E73", "sign_sgd": "#D55E00"}


def study_config(seeds: int, steps: int, lrs, names=OPTIMIZERS, every: int = 100) -> dict:
    """The quickstart study with an optimiser axis and an lr axis, records every ``every`` steps."""
    data = tomllib.loads((Path(__file__).parent / "quickstart.toml").read_text())
    data["description"] = "quickstart escape with SGD, momentum, Adam and sign-SGD on the same seeds"
    data["run"].update(seeds=seeds, steps=steps, record_every=every)
    for k in ("records", "spacing", "precision", "max_seeds"):  # a fixed number of seeds, paired
        data["run"].pop(k, None)
    data["record"].pop("histograms", None)
    data["record"]["first_passage"] = {"observable": "population_loss", "below": THRESHOLD}
    data["sweep"] = {"optimizer.name": list(names), "optimizer.lr": list(lrs)}
    return data


def _plain(x):
    """JSON for numpy scalars."""
    return x.item() if hasattr(x, "item") else str(x)


def escape_table(res) -> list[dict]:
    """Per (optimiser, lr) of the results ``res`` (``fpt.population_loss.steps`` (names, lrs, seeds)):
    escaped fraction, KM median escape time (steps) and their 95 % intervals, one dict each."""
    from jaxrelu import analysis

    fpt = res["fpt.population_loss.steps"]  # (names, lrs, seeds)
    end = float(res.step[-1])
    rows = []
    for i, name in enumerate(res["optimizer.name"]):
        for j, lr in enumerate(res["optimizer.lr"]):
            t = fpt[i, j]
            ok = ~np.isnan(t)
            esc = analysis.binomial_ci(int(np.sum(np.isfinite(t))), int(ok.sum()))
            med = analysis.median_survival(t[ok], end) if ok.any() else None
            rows.append(
                {
                    "optimizer": str(name),
                    "lr": float(lr),
                    "n": int(ok.sum()),
                    "diverged": float(res["diverged.fraction"][i, j, -1]),
                    "escaped": esc.estimate,
                    "escaped_low": esc.low,
                    "escaped_high": esc.high,
                    "median": med.estimate if med else np.nan,
                    "median_low": med.low if med else np.nan,
                    "median_high": med.high if med else np.nan,
                    "final_loss_median": float(res["population_loss.quantiles"][i, j, -1, 2]),
                }
            )
    return rows


def paired(ta, tb) -> dict:
    """Paired comparison of escape times ``ta`` against ``tb``, both (seeds,) (same seeds; inf = censored,
    nan dropped): the fraction of untied pairs where ``ta`` is first (Wilson 95 %) and, over the pairs
    where both escaped, the paired mean of log10(ta/tb) (t interval) and the pairs' correlation."""
    from jaxrelu import analysis

    ok = ~(np.isnan(ta) | np.isnan(tb))
    ta, tb = ta[ok], tb[ok]
    first = ta < tb  # inf < inf is False, so both censored: a tie
    untied = ta != tb
    if untied.any():
        wins = analysis.binomial_ci(int(np.sum(first & untied)), int(np.sum(untied)))
        frac, low, high = wins.estimate, wins.low, wins.high
    else:  # no pair tells them apart
        frac, low, high = float("nan"), 0.0, 1.0
    both = np.isfinite(ta) & np.isfinite(tb)
    out = {
        "pairs": int(ok.sum()),
        "untied": int(untied.sum()),
        "first_fraction": frac,
        "first_low": low,
        "first_high": high,
        "both_escaped": int(both.sum()),
    }
    if both.sum() >= 3:
        d = analysis.paired_difference(np.log10(ta[both]), np.log10(tb[both]))
        out.update(log10_ratio=d.estimate, log10_ratio_low=d.low, log10_ratio_high=d.high, correlation=d.correlation)
    return out


def comparisons(res, rows) -> dict:
    """:func:`paired` comparisons against SGD at the same lr (``same_lr``), and each optimiser at its best lr
    (smallest KM median, from ``rows``) against SGD at its best (``best_lr``; the best lrs in ``best``)."""
    fpt = res["fpt.population_loss.steps"]
    names = [str(n) for n in res["optimizer.name"]]
    lrs = list(res["optimizer.lr"])
    out: dict[str, Any] = {"same_lr": [], "best_lr": []}
    if "sgd" not in names:
        return out
    s = names.index("sgd")
    for i, name in enumerate(names):
        if i == s:
            continue
        for j, lr in enumerate(lrs):
            out["same_lr"].append({"optimizer": name, "lr": float(lr), **paired(fpt[i, j], fpt[s, j])})
    best = {}
    for name in names:
        cand = [r for r in rows if r["optimizer"] == name]
        best[name] = min(cand, key=lambda r: (r["median"], -r["escaped"], r["lr"]))["lr"]
    out["best"] = best
    for i, name in enumerate(names):
        if i != s:
            out["best_lr"].append(
                {
                    "optimizer": name,
                    "lr": best[name],
                    "sgd_lr": best["sgd"],
                    **paired(fpt[i, lrs.index(best[name])], fpt[s, lrs.index(best["sgd"])]),
                }
            )
    return out


def figure(res, rows, comp, path):
    """Kaplan–Meier curves at the best lrs, median escape step against lr, and the paired escape steps
    against SGD's; ``rows``/``comp`` as :func:`escape_table`/:func:`comparisons` return; returns ``path``."""
    from matplotlib.figure import Figure

    from jaxrelu import analysis

    fpt = res["fpt.population_loss.steps"]
    names = [str(n) for n in res["optimizer.name"]]
    lrs = list(res["optimizer.lr"])
    end = float(res.step[-1])
    fig = Figure(figsize=(16.5, 4.8), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    best = comp.get("best", {})
    for i, name in enumerate(names):
        c = COLORS.get(name, "0.3")
        lr = best.get(name, lrs[0])
        t = fpt[i, lrs.index(lr)]
        t = t[~np.isnan(t)]
        if len(t):
            km = analysis.kaplan_meier(t, end)
            grid = np.linspace(0, end, 400)
            lo, hi = km.evaluate_band(grid)
            ax1.step(grid, km.evaluate(grid), where="post", color=c, label=f"{name}, lr = {lr:g}")
            ax1.fill_between(grid, lo, hi, step="post", color=c, alpha=0.15)
        sel = [r for r in rows if r["optimizer"] == name]
        x = np.array([r["lr"] for r in sel])
        med = np.array([r["median"] for r in sel])
        lo = np.array([r["median_low"] for r in sel])
        hi = np.array([np.minimum(r["median_high"], end) for r in sel])
        fin = np.isfinite(med)
        ax2.errorbar(
            x[fin], med[fin], yerr=[med[fin] - lo[fin], hi[fin] - med[fin]], fmt="o-", color=c, capsize=3, label=name
        )
        ax2.plot(x[~fin], [end * 1.15] * int((~fin).sum()), "^", color=c, ms=7)
    ax1.set_xlabel("step")
    ax1.set_ylabel(f"P(not escaped: ε ≥ {THRESHOLD:g})")
    ax1.set_title("Kaplan–Meier survival at each optimiser's best lr (95 % band)", fontsize="medium")
    ax1.grid(True, alpha=0.3)
    ax1.legend(fontsize="small")
    ax2.axhline(end, color="0.5", lw=0.8, ls=":")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("lr")
    ax2.set_ylabel("median escape step (95 %); ▲ = median not reached")
    ax2.set_title("median escape time against lr", fontsize="medium")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize="small")
    if "sgd" in names and best:
        s = names.index("sgd")
        ts = fpt[s, lrs.index(best["sgd"])]
        cap = end * 1.3
        for i, name in enumerate(names):
            if i == s:
                continue
            to = fpt[i, lrs.index(best[name])]
            ok = ~(np.isnan(ts) | np.isnan(to))
            ax3.plot(
                np.minimum(ts[ok], cap),
                np.minimum(to[ok], cap),
                ".",
                color=COLORS.get(name, "0.3"),
                ms=4,
                alpha=0.6,
                label=f"{name} (lr {best[name]:g})",
            )
        lim = [res.step[1], cap * 1.1]
        ax3.plot(lim, lim, "k-", lw=0.8)
        ax3.axvline(end, color="0.5", lw=0.8, ls=":")
        ax3.axhline(end, color="0.5", lw=0.8, ls=":")
        ax3.set_xscale("log")
        ax3.set_yscale("log")
        ax3.set_xlabel(f"SGD escape step (lr {best['sgd']:g}); beyond the dotted line: never")
        ax3.set_ylabel("other optimiser's escape step, same seed")
        ax3.set_title("paired escape times (same seeds and samples)", fontsize="medium")
        ax3.legend(fontsize="small")
        ax3.grid(True, which="both", alpha=0.3)
    fig.savefig(path, dpi=150)
    return path


def main(argv=None) -> int:
    """``jaxrelu run optimizers [options]``: run (or ``--from`` reload) the grid, print the tables, write
    ``summary.json`` and the figures; returns the exit status."""
    from jaxrelu.experiments import _common as common

    p = common.parser(
        NAME,
        __doc__,
        quick_help="tiny sizes (a smoke test, seconds)",
        seeds_help="seeds per grid point (default 256)",
        steps_help="SGD steps (default 40000)",
        set_example="optimizer.momentum_beta=0.5",
        source=True,
        seeds=256,
    )
    args = p.parse_args(argv)

    from jaxrelu import config, plot
    from jaxrelu.config import ConfigError

    seeds, steps, lrs = args.seeds, args.steps or 40000, LRS
    if args.quick:
        seeds, steps, lrs = min(seeds, 16), args.steps or 4000, (0.0025, 0.01)
    data = study_config(seeds, steps, lrs)
    try:
        config.from_dict(data, overrides=args.set)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = common.results_dir(NAME, args.out, source=args.source)
    t0 = time.perf_counter()
    if not args.source:
        print(
            f"[{NAME}] {seeds} seeds x {len(OPTIMIZERS)} optimisers x {len(lrs)} learning rates x {steps} steps",
            file=sys.stderr,
        )
    res = common.run_or_load(data, out, "grid", overrides=args.set, source=args.source)
    plot.save_standard_figures(res, args.figures / "standard")
    rows = escape_table(res)
    comp = comparisons(res, rows)
    args.figures.mkdir(parents=True, exist_ok=True)
    fig = figure(res, rows, comp, args.figures / "escape.png")
    wall = time.perf_counter() - t0
    if not args.source:
        with open(out / "summary.json", "w") as f:
            json.dump(
                {"rows": rows, "comparisons": comp, "wall_seconds": wall, "run_seconds": res.meta.get("run_seconds")},
                f,
                indent=1,
                default=_plain,
            )

    print(f"escape (first record with eps < {THRESHOLD:g}) over {res.step[-1]} steps; 95 % intervals")
    print(" optimizer   lr       escaped [95 %]        median step [95 %]          final eps (median)  diverged")
    for r in rows:
        print(
            f" {r['optimizer']:9s}  {r['lr']:.4f}  {r['escaped']:.2f} "
            f"[{r['escaped_low']:.2f}, {r['escaped_high']:.2f}]"
            f"   {r['median']:8.0f} [{r['median_low']:8.0f}, {r['median_high']:8.0f}]   {r['final_loss_median']:.2e}"
            f"  {r['diverged']:.2f}"
        )
    for key, title in (
        ("same_lr", "paired against SGD at the same lr"),
        ("best_lr", "paired against SGD, each at its best lr"),
    ):
        print(title + ": P(escapes first) [95 %], mean log10(T / T_sgd) [95 %] where both escaped, correlation")
        for c in comp[key]:
            extra = (
                f"  {c['log10_ratio']:+.3f} [{c['log10_ratio_low']:+.3f}, {c['log10_ratio_high']:+.3f}]"
                f" (n = {c['both_escaped']}, rho = {c['correlation']:+.2f})"
                if "log10_ratio" in c
                else ""
            )
            sgd_lr = f" vs {c['sgd_lr']:g}" if "sgd_lr" in c else ""
            print(
                f"  {c['optimizer']:9s} lr {c['lr']:g}{sgd_lr}: {c['first_fraction']:.2f} "
                f"[{c['first_low']:.2f}, {c['first_high']:.2f}] of {c['untied']}{extra}"
            )
    print(f"figure: {fig}", file=sys.stderr)
    print(f"[{NAME}] wall time {wall:.0f}s", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
