"""Information exponent: how the escape time of online SGD from a random start scales with d for He_k targets.

Single-index targets y = He_k(u·x) (probabilists' Hermite, unnormalised; unit-norm u, x ~ N(0, I_d),
``task.kind = "index"`` with ``target = "heK(z1)"``), learnt by one neuron with the matched link,
f(x) = He_k(w·x), by online spherical SGD (``optimizer.sphere_radius = 1``: after each step w is put
back on the unit sphere; batch 1, fresh sample each step) from a uniformly random unit w, i.e. the
setting of Ben Arous, Gheissari & Jagannath (JMLR 2021).  On the sphere E[f²] is constant, so the
population landscape depends on m = w·u alone, L(m) = −k!·m^k + const, and k is the target's
*information exponent* (its first non-zero Hermite coefficient).  Their theorem: the samples needed to
leave the equator (m ~ d^{−1/2}) scale as

    n ∝ d            (k = 1),      n ∝ d log d     (k = 2),      n ∝ d^{k−1}    (k ≥ 3).

Choices (and why):

* **loss**: the correlation loss ℓ = −y f (``task.loss = "correlation"``).  On the sphere its
  population gradient equals the square loss's (the two differ by ½E[f²], constant there); the
  square loss only adds the noise of f², whose variance grows like E[He_k² He_k'²] (×32 for k = 3,
  ×200 for k = 4), which at these d keeps k ≥ 3 from escaping at all for any affordable step size.
* **step size** lr = ρ·d^{−max(1, k/2)}, ρ = 0.25, i.e. η = lr·d = ρ for k ≤ 2 and ρ·d^{−(k−2)/2} for
  k ≥ 3: the largest scaling for which the drift lr·k·k!·m^{k−1} beats the sphere's retraction
  ≈ m·lr²‖∇ℓ‖²/2 at m ~ d^{−1/2} (a scaling argument: with it the dynamics of √d·m in time n/d^{k−1}
  is d-independent, hence n ∝ d^{k−1}).  For k ≤ 2 a fixed η (the
  log d of their k = 2 step size is not put in).
* **escape time**: the first record step at which |cos(w, u)| = |m| ≥ 0.5 (``max_abs_cos(1)``, first
  passage; 300 log-spaced records, so times are rounded up by at most one record spacing, ≤ 4.2 %,
  the same relative amount at every d).  Seeds that have not escaped by the horizon (5× a rough
  pilot median, fixed per (k, d) before the run) are censored; medians and their 95 % intervals
  come from the Kaplan–Meier curve (``jaxrelu.analysis.median_survival``, Brookmeyer–Crowley).
* **exponent**: weighted least squares of log median on log d (``jaxrelu.analysis.fit_power_law``),
  each median's standard error on the log scale from its interval, (log high − log low)/(2·1.96);
  95 % interval and χ² goodness of fit.  Compared with 1 (k = 1), the slope of d·ln d over the same
  d's (k = 2: ≈ 1.22 for d = 32 … 256, not 1: the log is not negligible there) and k − 1 (k ≥ 3).

Grids: k = 1, 2, 3 over d = 32, 64, 128, 256; k = 4 over d = 32, 48, 64, 96 (d^3 samples: 96 is what
fits in the budget); 128 seeds each.  One compiled program per (k, d): the step size and horizon
depend on both, so a shape sweep over ``task.input_dim`` (which would run every lr at every d) is
not used.

Run:  ``jaxrelu run information_exponent`` (≈ 100 s of CPU time, a few minutes on 2 shared cores;
``--k 1,2,3`` for a subset; ``--rho 0.1`` for smaller steps, the horizon scaled by 0.25/ρ); ``--quick``
for a smoke test; ``--from DIR`` re-analyses a results folder.  Write-up:
``docs/experiments/information_exponent.md``.
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np

NAME = "information_exponent"

DIMS = {1: (32, 64, 128, 256), 2: (32, 64, 128, 256), 3: (32, 64, 128, 256), 4: (32, 48, 64, 96)}
QUICK_DIMS = {1: (8, 16, 32), 2: (8, 16, 32)}
RHO = 0.25  # lr = RHO · d^(−max(1, k/2))
THRESHOLD = 0.5  # escape: |cos(w, u)| ≥ THRESHOLD
SEEDS = 128
RECORDS = 300  # log-spaced record times
HORIZON = 5.0  # run HORIZON × the pilot median
OBS = "max_abs_cos(1)"
COLORS = {1: "#0072B2", 2: "#E69F00", 3: "#009E73", 4: "#D55E00"}


def scale(k: int, d) -> np.ndarray:
    """The literature's sample complexity f_k(d): d (k = 1), d ln d (k = 2), d^{k−1} (k ≥ 3)."""
    d = np.asarray(d, dtype=float)
    return d if k == 1 else d * np.log(d) if k == 2 else d ** (k - 1)


def pilot_median(k: int, d: int, rho: float = RHO) -> float:
    """A rough median escape step from pilot runs at ρ = 0.25 (only to size the horizon, never a
    result): 2.3 d, 0.75 d ln d, 0.45 d², 0.04 d³, times 0.25/ρ."""
    return {1: 2.3, 2: 0.75, 3: 0.45, 4: 0.04}[k] * float(scale(k, d)) * RHO / rho


def learning_rate(k: int, d: int, rho: float = RHO) -> float:
    """lr = ρ · d^{−max(1, k/2)} (see the module docstring)."""
    return rho * d ** (-max(1.0, k / 2))


def study_config(k: int, d: int, seeds: int, steps: int, records: int = RECORDS, rho: float = RHO) -> dict:
    """One (k, d): He_k(u·x) target, one He_k neuron, spherical online SGD at lr = ρ·d^{−max(1, k/2)},
    correlation loss, ``records`` log-spaced records, first passage of |cos(w, u)| above THRESHOLD."""
    return {
        "description": f"information exponent: He{k} single-index target, d = {d}",
        "run": {"seeds": seeds, "steps": steps, "records": records, "spacing": "log"},
        "task": {
            "kind": "index",
            "input_dim": d,
            "train_size": "online",
            "loss": "correlation",
            "params": {"target": f"he{k}(z1)"},
        },
        "model": {
            "width": 1,
            "activation": f"he{k}",
            "train_second_layer": False,
            "second_layer_init": 1.0,
            "first_layer_init": "orthonormal",
        },
        "optimizer": {"lr": learning_rate(k, d, rho), "sphere_radius": 1.0},
        "record": {
            "observables": [OBS],
            "quantiles": [0.5],
            "first_passage": [{"observable": OBS, "above": THRESHOLD}],
        },
    }


def escape_row(res, k: int, d: int) -> dict:
    """Per (k, d): the Kaplan–Meier median escape step with its 95 % interval, and the escape times."""
    from jaxrelu import analysis

    steps = int(res.meta["config"]["run"]["steps"])
    lr = float(res.meta["config"]["optimizer"]["lr"])
    fpt = np.asarray(res[f"fpt.{OBS}.steps"], dtype=float).ravel()
    med = analysis.median_survival(fpt, censor_time=steps)
    return {
        "k": k,
        "d": d,
        "lr": lr,
        "steps": steps,
        "seeds": int(fpt.size),
        "escaped": int(np.isfinite(fpt).sum()),
        "median": med.estimate,
        "low": med.low,
        "high": med.high,
        "median_over_scale": med.estimate / float(scale(k, d)),
        "times": fpt.tolist(),
    }


def theory_exponent(k: int, dims) -> float:
    """The exponent the literature predicts on this grid: 1, the OLS slope of ln(d ln d) on ln d, or k − 1."""
    x = np.log(np.asarray(dims, dtype=float))
    return float(np.polyfit(x, np.log(scale(k, dims)), 1)[0]) if k == 2 else (1.0 if k == 1 else k - 1.0)


def fit_rows(rows) -> list[dict]:
    """Per k: the power law median ∝ d^p fitted by weighted least squares on the log scale."""
    from jaxrelu import analysis

    fits = []
    for k in sorted({r["k"] for r in rows}):
        sel = [r for r in rows if r["k"] == k and np.isfinite(r["median"])]
        ok = [r for r in sel if np.isfinite(r["low"]) and np.isfinite(r["high"]) and r["high"] > r["low"]]
        if len(ok) < 3:
            fits.append(
                {
                    "k": k,
                    "exponent": float("nan"),
                    "low": float("nan"),
                    "high": float("nan"),
                    "theory": theory_exponent(k, [r["d"] for r in rows if r["k"] == k]),
                    "n": len(ok),
                }
            )
            continue
        d = np.array([r["d"] for r in ok], float)
        fit = analysis.fit_power_law_to_intervals(
            d, [r["median"] for r in ok], [r["low"] for r in ok], [r["high"] for r in ok]
        )
        fits.append(
            {
                "k": k,
                "exponent": fit.exponent,
                "low": fit.exponent_low,
                "high": fit.exponent_high,
                "se": fit.exponent_se,
                "prefactor": fit.prefactor,
                "x0": fit.x0,
                "chi2": fit.chi2,
                "chi2_p": fit.chi2_p_value,
                "theory": theory_exponent(k, d),
                "n": len(ok),
            }
        )
    return fits


def figure(rows, fits, path, rho: float = RHO):
    """Left: median escape steps against d (log–log), 95 % intervals, fitted power laws and the
    literature's scaling through the fit at the central d.  Right: Kaplan–Meier survival of each
    (k, d) against n / f_k(d), which collapses when the scaling holds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxrelu import analysis

    ks = sorted({r["k"] for r in rows})
    fig = plt.figure(figsize=(13, 5.5), constrained_layout=True)
    gs = fig.add_gridspec(2, 1 + math.ceil(len(ks) / 2), width_ratios=[2.2] + [1] * math.ceil(len(ks) / 2))
    ax = fig.add_subplot(gs[:, 0])
    for k in ks:
        sel = sorted((r for r in rows if r["k"] == k), key=lambda r: r["d"])
        d = np.array([r["d"] for r in sel], float)
        y = np.array([r["median"] for r in sel], float)
        lo = np.array([r["low"] for r in sel], float)
        hi = np.array([r["high"] for r in sel], float)
        hi_plot = np.where(np.isfinite(hi), hi, y)
        ax.errorbar(
            d,
            y,
            yerr=[y - lo, hi_plot - y],
            fmt="o",
            color=COLORS.get(k, "k"),
            capsize=3,
            ms=5,
            label=f"He{k}: median escape step (95 %)",
        )
        f = next(f for f in fits if f["k"] == k)
        fine = np.geomspace(d.min() / 1.1, d.max() * 1.1, 50)
        if np.isfinite(f["exponent"]):
            ax.plot(
                fine,
                f["prefactor"] * (fine / f["x0"]) ** f["exponent"],
                "--",
                color=COLORS.get(k, "k"),
                lw=1.2,
                label=f"fit d^{f['exponent']:.2f} [{f['low']:.2f}, {f['high']:.2f}]",
            )
            anchor = f["prefactor"] * scale(k, fine) / float(scale(k, f["x0"]))
            ax.plot(fine, anchor, "-", color="0.55", lw=0.9)
    ax.plot([], [], "-", color="0.55", lw=0.9, label="d, d ln d, d^(k−1) (through the fit at the central d)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("input dimension d")
    ax.set_ylabel(f"median escape step n (|cos(w, u)| ≥ {THRESHOLD}), samples")
    ax.set_title(
        f"He_k targets, one matched neuron, spherical online SGD, lr = {rho:g}·d^(−max(1, k/2))", fontsize="medium"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="x-small")
    cmap = plt.get_cmap("viridis")
    for i, k in enumerate(ks):
        a = fig.add_subplot(gs[i % 2, 1 + i // 2])
        sel = sorted((r for r in rows if r["k"] == k), key=lambda r: r["d"])
        for j, r in enumerate(sel):
            km = analysis.kaplan_meier(np.array(r["times"], float), censor_time=r["steps"])
            x = np.concatenate([[0.0], km.time]) / float(scale(k, r["d"]))
            a.step(
                x,
                np.concatenate([[1.0], km.survival]),
                where="post",
                color=cmap(j / max(len(sel) - 1, 1)),
                label=f"d = {r['d']}",
            )
        a.set_xscale("log")
        a.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        a.set_title(f"He{k}", fontsize="small")
        a.set_xlabel(
            ["n / d", "n / (d ln d)", "n / d²", "n / d³"][min(k, 4) - 1] if k <= 4 else f"n / d^{k - 1}",
            fontsize="small",
        )
        a.set_ylabel("P(not escaped)", fontsize="small")
        a.grid(True, alpha=0.3)
        a.legend(fontsize="xx-small")
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    """``jaxrelu run information_exponent [options]``: run (or ``--from`` reload) one study per (k, d),
    print the medians and fitted exponents, write ``summary.json`` and the figure; returns the exit status."""
    from jaxrelu.experiments import _common as common

    p = common.parser(
        NAME,
        __doc__,
        quick_help="tiny sizes: k = 1, 2 at d = 8, 16, 32 (a smoke test, seconds)",
        seeds_help=f"seeds per (k, d) (default {SEEDS})",
        set_example="run.records=200",
        source=True,
    )
    p.add_argument("--k", default=None, help="comma-separated information exponents to run (default 1,2,3,4)")
    p.add_argument(
        "--rho",
        type=float,
        default=RHO,
        help=f"step-size constant ρ of lr = ρ·d^(−max(1, k/2)) (default {RHO}; the horizon scales as 1/ρ)",
    )
    args = p.parse_args(argv)

    from jaxrelu import config
    from jaxrelu.config import ConfigError

    dims = dict(QUICK_DIMS if args.quick else DIMS)
    if args.k:
        try:
            want = [int(s) for s in args.k.split(",")]
        except ValueError:
            print(f"error: --k must be comma-separated integers, got {args.k!r}", file=sys.stderr)
            return 2
        bad = [k for k in want if k not in dims]
        if bad:
            print(f"error: --k {bad[0]} not in this grid (have {sorted(dims)})", file=sys.stderr)
            return 2
        dims = {k: dims[k] for k in want}
    seeds = args.seeds or (32 if args.quick else SEEDS)
    records = 60 if args.quick else RECORDS
    studies = []
    try:
        for k, ds in dims.items():
            for d in ds:
                steps = int(math.ceil(HORIZON * pilot_median(k, d, args.rho)))
                data = study_config(k, d, seeds, steps, records, args.rho)
                config.from_dict(data, overrides=args.set)
                studies.append((k, d, data))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = common.results_dir(NAME, args.out, source=args.source)

    t0, c0 = time.perf_counter(), time.process_time()
    rows, walls = [], {}
    for k, d, data in studies:
        key = f"he{k}_d{d}"
        t1 = time.perf_counter()
        if not args.source:
            print(
                f"[{NAME}] {key}: {data['run']['seeds']} seeds x {data['run']['steps']} steps, "
                f"lr = {data['optimizer']['lr']:.3g}",
                file=sys.stderr,
            )
        res = common.run_or_load(data, out, key, overrides=args.set, source=args.source)
        walls[key] = time.perf_counter() - t1
        rows.append(escape_row(res, k, d))
    fits = fit_rows(rows)
    args.figures.mkdir(parents=True, exist_ok=True)
    fig = figure(rows, fits, args.figures / "escape_times.png", args.rho)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if not args.source:
        with open(out / "summary.json", "w") as f:
            json.dump(
                {
                    "rows": rows,
                    "fits": fits,
                    "rho": args.rho,
                    "threshold": THRESHOLD,
                    "horizon": HORIZON,
                    "wall_seconds": wall,
                    "cpu_seconds": cpu,
                    "wall_per_study": walls,
                },
                f,
                indent=1,
                default=lambda x: None if isinstance(x, float) and not math.isfinite(x) else x,
            )

    print(f"median escape step (|cos| >= {THRESHOLD}), Kaplan-Meier, 95 % interval")
    print("  k     d        lr   steps  escaped   median [95 %]                 median / f_k(d)")
    for r in rows:
        print(
            f"  {r['k']}  {r['d']:4d}  {r['lr']:.2e}  {r['steps']:6d}  {r['escaped']:3d}/{r['seeds']:<3d}  "
            f"{r['median']:9.0f} [{r['low']:9.0f}, {r['high']:9.0f}]   {r['median_over_scale']:.3g}"
        )
    print("fitted exponent p of median ~ d^p (weighted LS on log scale, 95 %), and the literature's")
    for ft in fits:  # not ``f``: that is the summary file above
        print(
            f"  He{ft['k']}: p = {ft['exponent']:.3f} [{ft['low']:.3f}, {ft['high']:.3f}]"
            f"   literature {ft['theory']:.3f}"
            f"   chi2 p-value {ft.get('chi2_p', float('nan')):.2f}"
        )
    print(f"figure: {fig}", file=sys.stderr)
    print(f"[{NAME}] wall time {wall:.0f}s, CPU time (all threads) {cpu:.0f}s", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
