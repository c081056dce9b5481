"""Staircase or parity: plateau-and-jump dynamics of online SGD on Boolean targets, and its escape times.

Targets on the hypercube x ∈ {−1, +1}^d (``task.kind = "index"``, coordinate directions e_1, e_2, e_3):

* the **staircase** y = x1 + x1 x2 + x1 x2 x3 (``staircase = 3``): each monomial adds one new
  coordinate to the previous one (leap 1, the merged-staircase property of Abbe, Boix-Adserà &
  Misiakiewicz, COLT 2022): SGD learns it in Θ̃(d) samples, one coordinate after the other, with a
  loss plateau before each;
* the sparse **parity** of k = 2 bits y = x1 x2 (leap 2) and of k = 3 bits y = x1 x2 x3 (leap 3),
  which need Θ̃(d^{max(k−1, 1)}) samples (Abbe, Boix-Adserà & Misiakiewicz, COLT 2023, "leap
  complexity"; Barak et al., NeurIPS 2022, for parities; for k = 2 the d log d of information
  exponent 2, Ben Arous, Gheissari & Jagannath 2021).  x1 x2 x3 is the staircase's top monomial:
  alone, it is not learnt in the budget that learns the whole staircase.

Student: m = 16 relu neurons **with biases** (a bias-free relu network's odd part is linear, so it
cannot represent x1 x2 x3 or the staircase's odd part x1 + x1 x2 x3 at all), both layers trained,
first layer N(0, 1/d), second layer 0; square loss; online SGD, batch 1, lr = η/d with η = 0.3, so
that time in units of d (t = n/d, ``run.time_unit = "d"``) is the natural clock of a leap-1
function: if n ∝ d, the escape times t are the same at every d.

Escape time of coordinate k: the first record t at which max_j |cos(w_j, e_k)| ≥ 0.6
(``max_abs_cos(k)``, first passage; at a random start the value is about √(2 ln 2m / d) ≈ 0.46 at
d = 32, so 0.6 is not reached by chance; after learning, neurons on (±e1 ± e2 ± e3)/√3 give 0.58 …
1).  Records every unit of d, so times are rounded up by less than 1 (d samples).  Seeds that have not escaped
by the horizon T = 400 are censored; medians and 95 % intervals from Kaplan–Meier
(``jaxrelu.analysis.median_survival``).  Exponents: weighted least squares of the log median escape
*step* n = t·d on log d (``analysis.fit_power_law``; each median's log-scale se from its interval,
combined with the record grid's rounding, sd = 1/√12 units of d), compared with 1 (leap 1) and the
slope of d ln d on the same d's (leap 2).  Where no median is reached (the 3-parity), the fraction of
seeds escaped by the horizon with its Wilson 95 % interval bounds the escape time instead.

Grids: staircase and 2-parity at d = 32, 64, 128; 3-parity at d = 32, 64 (censored throughout);
64 seeds each.  One study per (target, d): lr = η/d changes with d, and a shape sweep over
``task.input_dim`` would pair every lr with every d.

Run:  ``jaxrelu run staircase_or_parity`` (≈ 3 min on 2 CPU cores); ``--quick`` for a smoke test;
``--from DIR`` re-analyses a results folder.
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np

NAME = "staircase_or_parity"

#: target -> (task.params, K directions, dims)
TARGETS = {
    "staircase": ({"staircase": 3}, 3, (32, 64, 128)),
    "parity2": ({"parity": 2}, 2, (32, 64, 128)),
    "parity3": ({"parity": 3}, 3, (32, 64)),
}
QUICK = {"staircase": ({"staircase": 2}, 2, (32,)), "parity2": ({"parity": 2}, 2, (32,))}
LABELS = {"staircase": "staircase x1 + x1x2 + x1x2x3", "parity2": "parity x1x2", "parity3": "parity x1x2x3"}
WIDTH = 16
ETA = 0.3  # lr = ETA / d
THRESHOLD = 0.6  # escape of coordinate k: max_j |cos(w_j, e_k)| >= THRESHOLD
HORIZON = 400  # in units of d
EVERY = 1  # record every EVERY units of d
SEEDS = 64
COLORS = {1: "#0072B2", 2: "#E69F00", 3: "#009E73"}


def obs(k: int) -> str:
    """The observable whose first passage is coordinate k's escape."""
    return f"max_abs_cos({k})"


def study_config(target: dict, K: int, d: int, seeds: int, horizon: int = HORIZON, every: int = EVERY) -> dict:
    """One (target, d): the hypercube target ``target`` (task.params), relu student with biases, online SGD."""
    names = [obs(k) for k in range(1, K + 1)]
    return {
        "description": f"staircase_or_parity: {target} on the hypercube, d = {d}",
        "run": {"seeds": seeds, "steps": horizon, "record_every": every, "time_unit": "d"},
        "task": {
            "kind": "index",
            "input_dim": d,
            "train_size": "online",
            "test_size": 2048,
            "params": {**target, "input_distribution": "hypercube"},
        },
        "model": {"width": WIDTH, "bias": True, "second_layer_init": 0.0},
        "optimizer": {"lr": ETA / d, "batch_size": 1},
        "record": {
            "observables": ["test_loss", *names, "max_support_weight"],
            "quantiles": [0.25, 0.5, 0.75],
            "keep_per_seed": ["test_loss"],
            "first_passage": [{"observable": n, "above": THRESHOLD} for n in names],
        },
    }


def escape_rows(res, target: str, K: int, d: int) -> list[dict]:
    """Per coordinate k: the Kaplan–Meier median escape time t = n/d with its 95 % interval, the
    escaped count, and the per-seed times (inf: censored at the horizon)."""
    from jaxrelu import analysis

    horizon = float(res["step"][-1])
    rows = []
    for k in range(1, K + 1):
        t = np.asarray(res[f"fpt.{obs(k)}.steps"], dtype=float).ravel()
        med = analysis.median_survival(t, censor_time=horizon)
        escaped = int(np.isfinite(t).sum())
        frac = analysis.binomial_ci(escaped, int(t.size))
        rows.append(
            {
                "target": target,
                "d": d,
                "k": k,
                "horizon": horizon,
                "seeds": int(t.size),
                "escaped": escaped,
                "escaped_low": float(frac.low),
                "escaped_high": float(frac.high),
                "median": med.estimate,
                "low": med.low,
                "high": med.high,
                "times": t.tolist(),
            }
        )
    return rows


def order_fraction(rows) -> dict | None:
    """For a target with K ≥ 2 directions: among seeds that escaped in every direction, the fraction
    whose escapes came in order τ1 ≤ τ2 ≤ … (Wilson 95 % interval), and the median plateau lengths
    τ_{k+1} − τ_k.  None when no seed escaped in every direction."""
    from jaxrelu import analysis

    times = np.array([r["times"] for r in sorted(rows, key=lambda r: r["k"])])  # (K, seeds)
    done = np.all(np.isfinite(times), axis=0)
    n = int(done.sum())
    if n == 0 or times.shape[0] < 2:
        return None
    t = times[:, done]
    ordered = int(np.sum(np.all(np.diff(t, axis=0) >= 0, axis=0)))
    ci = analysis.binomial_ci(ordered, n)
    return {
        "n": n,
        "ordered": ordered,
        "fraction": ordered / n,
        "low": float(ci.low),
        "high": float(ci.high),
        "gaps": [float(np.median(g)) for g in np.diff(t, axis=0)],
    }


def leap_exponent(target: str, dims) -> float:
    """The literature's exponent of the sample count on this d grid: 1 (leap 1), the least-squares slope
    of ln(d ln d) on ln d (leap 2), 2 (leap 3)."""
    if target == "parity2":
        x = np.log(np.asarray(sorted(set(dims)), float))
        if len(x) == 1:  # the local slope, 1 + 1/ln d
            return float(1 + 1 / x[0])
        return float(np.polyfit(x, np.log(np.exp(x) * x), 1)[0])
    return 2.0 if target == "parity3" else 1.0


def fit_rows(rows) -> list[dict]:
    """Per (target, k): n = t·d ∝ d^p fitted to the medians with finite intervals (≥ 3 d's; else nan)."""
    from jaxrelu import analysis

    fits = []
    for target in dict.fromkeys(r["target"] for r in rows):
        for k in sorted({r["k"] for r in rows if r["target"] == target}):
            sel = [r for r in rows if r["target"] == target and r["k"] == k]
            ok = [
                r
                for r in sel
                if np.isfinite(r["median"]) and np.isfinite(r["low"]) and np.isfinite(r["high"]) and r["low"] > 0
            ]
            fit = {
                "target": target,
                "k": k,
                "n": len(ok),
                "theory": leap_exponent(target, [r["d"] for r in sel]),
                "exponent": math.nan,
                "low": math.nan,
                "high": math.nan,
            }
            if len(ok) >= 3:
                f = analysis.fit_power_law_to_intervals(  # n = t·d; the record grid's rounding in quadrature
                    [r["d"] for r in ok],
                    [r["median"] * r["d"] for r in ok],
                    [r["low"] for r in ok],
                    [r["high"] for r in ok],
                    extra_log_se=np.array([EVERY / math.sqrt(12) / r["median"] for r in ok]),
                )
                fit.update(
                    exponent=f.exponent,
                    low=f.exponent_low,
                    high=f.exponent_high,
                    se=f.exponent_se,
                    prefactor=f.prefactor,
                    x0=f.x0,
                    chi2=f.chi2,
                    chi2_p=f.chi2_p_value,
                )
            fits.append(fit)
    return fits


def figure(results: dict, rows, path):
    """(a) the staircase's test loss per seed and its median at the middle d, with the plateau levels
    ½·(monomials left); (b) the same for the parities; (c) Kaplan–Meier survival of the escape times
    t = n/d, per coordinate, at the largest d; (d) median escape time t = n/d against d (flat: n ∝ d)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxrelu import analysis

    fig, axes = plt.subplots(2, 2, figsize=(13, 9), constrained_layout=True)
    targets = list(dict.fromkeys(t for t, _ in results))

    def loss_panel(ax, target, d, color, label):
        res = results[(target, d)]
        t, per = res["step"], res["test_loss.per_seed"]
        for s in range(min(8, per.shape[0])):
            ax.plot(t, per[s], color=color, lw=0.6, alpha=0.45)
        ax.plot(t, np.median(per, axis=0), color=color, lw=2.2, label=f"{label}, d = {d} (median; 8 seeds thin)")

    ax = axes[0, 0]
    if "staircase" in targets:
        dims = sorted(d for t, d in results if t == "staircase")
        d = dims[len(dims) // 2]
        loss_panel(ax, "staircase", d, "#0072B2", "staircase")
        K = max(r["k"] for r in rows if r["target"] == "staircase")
        for j in range(K + 1):
            ax.axhline(0.5 * (K - j), color="0.6", lw=0.8, ls=":")
        ax.set_title("staircase: test loss (dotted: ½·(monomials left) = 1.5, 1, ½, 0)", fontsize="medium")
    ax = axes[0, 1]
    for target, color in (("parity2", "#E69F00"), ("parity3", "#D55E00")):
        if target in targets:
            dims = sorted(d for t, d in results if t == target)
            loss_panel(ax, target, dims[len(dims) // 2] if target == "parity2" else dims[0], color, LABELS[target])
    ax.set_title("sparse parities: test loss (½ = the plateau of f = 0)", fontsize="medium")
    for ax in axes[0]:
        ax.set_xlabel("t = n / d (samples per dimension)")
        ax.set_ylabel("test loss ½E(f − y)²")
        ax.set_xscale("symlog", linthresh=2)
        ax.set_xlim(0, max(r["horizon"] for r in rows))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="x-small")

    ax = axes[1, 0]
    styles = {"staircase": "-", "parity2": "--", "parity3": ":"}
    markers = {"staircase": "o", "parity2": "s", "parity3": "^"}
    for target in targets:
        sel = [r for r in rows if r["target"] == target]
        dmax = max(r["d"] for r in sel)
        for r in (r for r in sel if r["d"] == dmax):
            km = analysis.kaplan_meier(np.array(r["times"], float), censor_time=r["horizon"])
            x = np.concatenate([[0.0], km.time, [r["horizon"]]])
            y = np.concatenate([[1.0], km.survival, [km.survival[-1] if len(km.survival) else 1.0]])
            ax.step(
                x,
                y,
                where="post",
                color=COLORS[r["k"]],
                ls=styles[target],
                lw=1.6,
                label=f"{target}, coordinate {r['k']}, d = {dmax}",
            )
    ax.set_xlabel("t = n / d")
    ax.set_ylabel(f"P(not escaped)  (max_j |cos(w_j, e_k)| < {THRESHOLD})")
    ax.set_xscale("symlog", linthresh=2)
    ax.set_xlim(0, max(r["horizon"] for r in rows))
    ax.set_title("escape-time distributions (Kaplan–Meier)", fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="xx-small")

    ax = axes[1, 1]
    for target in targets:
        for k in sorted({r["k"] for r in rows if r["target"] == target}):
            sel = sorted((r for r in rows if r["target"] == target and r["k"] == k), key=lambda r: r["d"])
            d = np.array([r["d"] for r in sel], float)
            y = np.array([r["median"] for r in sel], float)
            lo = np.array([r["low"] for r in sel], float)
            hi = np.array([r["high"] for r in sel], float)
            fin = np.isfinite(y)
            if fin.any():
                hi_p = np.where(np.isfinite(hi), hi, y)
                ax.errorbar(
                    d[fin] * (1 + 0.03 * (k - 2)),
                    y[fin],
                    yerr=[(y - lo)[fin], (hi_p - y)[fin]],
                    fmt=markers[target] + styles[target],
                    color=COLORS[k],
                    capsize=3,
                    ms=5,
                    label=f"{target}, coordinate {k}",
                )
            if (~fin).any():
                ax.plot(
                    d[~fin] * (1 + 0.03 * (k - 2)),
                    [r["horizon"] for r, f in zip(sel, fin) if not f],
                    markers[target],
                    color=COLORS[k],
                    mfc="none",
                    ms=9,
                    label=f"{target}, coordinate {k}: median > horizon (censored)",
                )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("input dimension d")
    ax.set_ylabel("median escape time t = n / d (95 %)")
    ax.set_title("median escape time in units of d (flat: n ∝ d; open: censored at the horizon)", fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="xx-small")
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    """``jaxrelu run staircase_or_parity [options]``: run (or ``--from`` reload) one study per (target, d),
    print the escape times and exponents, write ``summary.json`` and the figure; returns the exit status."""
    from jaxrelu.experiments import _common as common

    p = common.parser(
        NAME,
        __doc__,
        quick_help="tiny sizes: a 2-staircase and the 2-parity at d = 32 (seconds)",
        seeds_help=f"seeds per (target, d) (default {SEEDS})",
        set_example="optimizer.lr=0.01",
        source=True,
    )
    p.add_argument(
        "--targets", default=",".join(TARGETS), help=f"comma-separated subset of {', '.join(TARGETS)} (default: all)"
    )
    args = p.parse_args(argv)

    from jaxrelu import config
    from jaxrelu.config import ConfigError

    table = QUICK if args.quick else TARGETS
    seeds = args.seeds or (8 if args.quick else SEEDS)
    horizon = 60 if args.quick else HORIZON
    chosen = [t for t in args.targets.split(",") if t in table]
    if not chosen:
        print(f"error: --targets must name some of {', '.join(table)}, got {args.targets!r}", file=sys.stderr)
        return 2
    studies = []
    try:
        for target in chosen:
            params, K, dims = table[target]
            for d in dims:
                data = study_config(params, K, d, seeds, horizon)
                config.from_dict(data, overrides=args.set)
                studies.append((target, K, d, data))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = common.results_dir(NAME, args.out, source=args.source)

    t0 = time.perf_counter()
    results, rows, timing = {}, [], {}
    for target, K, d, data in studies:
        key = f"{target}_d{d}"
        if not args.source:
            print(f"[{NAME}] {key}: {seeds} seeds x {horizon}·d = {horizon * d} steps", file=sys.stderr)
        t1 = time.perf_counter()
        res = common.run_or_load(data, out, key, overrides=args.set, source=args.source)
        timing[key] = time.perf_counter() - t1
        results[(target, d)] = res
        rows += escape_rows(res, target, K, d)
    fits = fit_rows(rows)
    orders = {
        f"{t}_d{d}": order_fraction([r for r in rows if r["target"] == t and r["d"] == d])
        for t, d in results
        if t == "staircase"
    }
    args.figures.mkdir(parents=True, exist_ok=True)
    figure(results, rows, args.figures / "staircase_or_parity.png")
    wall = time.perf_counter() - t0
    if not args.source:
        with open(out / "summary.json", "w") as f:
            json.dump(
                {
                    "rows": rows,
                    "fits": fits,
                    "order": orders,
                    "seconds": timing,
                    "wall_seconds": wall,
                    "threshold": THRESHOLD,
                    "eta": ETA,
                    "width": WIDTH,
                    "horizon": horizon,
                },
                f,
                indent=1,
                default=lambda x: None if isinstance(x, float) and not math.isfinite(x) else x,
            )

    print(f"median escape time t = n/d of coordinate k (max_j |cos(w_j, e_k)| >= {THRESHOLD}), Kaplan-Meier, 95 %")
    print(" target     d  k  escaped [95 %]             median t [95 %]")
    for r in rows:
        print(
            f" {r['target']:<9} {r['d']:>3}  {r['k']}  {r['escaped']:>3}/{r['seeds']:<3} [{r['escaped_low']:.2f}, "
            f"{r['escaped_high']:.2f}]  {r['median']:7.1f} [{r['low']:.1f}, {r['high']:.1f}]"
        )
    print(
        "escape steps n = t·d ∝ d^p (weighted least squares on the medians), 95 %; theory: 1 (leap 1), "
        "d ln d slope (leap 2), 2 (leap 3)"
    )
    for f in fits:
        print(
            f" {f['target']:<9} k = {f['k']}: p = {f['exponent']:.2f} [{f['low']:.2f}, {f['high']:.2f}]  "
            f"(theory {f['theory']:.2f}; {f['n']} d's)"
        )
    for key, o in orders.items():
        if o is not None:
            print(
                f" {key}: escapes in order τ1 ≤ τ2 ≤ … in {o['ordered']}/{o['n']} seeds "
                f"[{o['low']:.2f}, {o['high']:.2f}]; median plateaus τ_(k+1) − τ_k = "
                f"{', '.join(f'{g:.0f}' for g in o['gaps'])} (units of d)"
            )
    print(f"wall {wall:.0f} s; figure {args.figures / 'staircase_or_parity.png'}; results {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
