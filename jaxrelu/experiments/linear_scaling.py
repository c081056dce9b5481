"""Linear scaling rule under label noise: stationary population error of online SGD vs learning rate and batch size.

Online teacher–student SGD (relu soft committee, K = M = 2, second layer fixed
to 1, d = 100) with label noise of std σ = 0.5 on every sample.  After the
transient the population error ε fluctuates around a stationary value ε∞ set by
the gradient noise.  In the d → ∞ ODE (η = lr·d, mini-batch B) the noise enters
only through the η²/B terms, so in the time τ = η·t the equations depend on η/B
alone: ε∞ is a function of η/B (the "linear scaling rule": scale lr with B).
We sweep both η and B — one study per batch size B ∈ {1, 4, 16, 64}, each
sweeping η = B·r over ratios r = η/B ∈ {1/32, …, 1} — and measure:

* ε∞ = stationary mean (``jaxrelu.analysis.stationary_mean``: time average after
  a burn-in of η·t = 75, pooled over seeds, autocorrelation-corrected error);
* the ODE fixed point ε∞(η/B) (long-time ODE value, started from the teacher);
* where ε∞ depends on η/B only (curves for different B collapse) and where that
  breaks: the deviation from the ODE against the absolute step η = lr·d;
* the exponent of ε∞ ∝ (η/B)^p at small η/B (``fit_power_law``, 95 % interval).

Run:  ``jaxrelu run linear_scaling`` (≈ 3 min on 2 CPU cores); ``--quick`` for a
smoke test; ``--seeds N``, ``--batch-sizes 1 4 16 64 256``, ``--set key=value``
(applied to every study) for other sizes.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

NAME = "linear_scaling"

BATCH_SIZES = (1, 4, 16, 64)
RATIOS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)  # r = η / B
ETA_MIN = 0.125  # smaller steps relax too slowly for the time budget (B = 1 only has r ≥ 1/8)
SIGMA = 0.5  # label-noise std
BURN_IN = 75.0  # burn-in and ...
HORIZON = 150.0  # ... run length, in units of η·t (t = step / d)
FIT_MAX = 0.125  # power-law fit over r ≤ this ...
ETA_FIT = 1.0  # ... and η ≤ this (where SGD ≈ ODE within 1 %)
YMAX = 15.0  # top of the deviation panel (%); larger values are marked at the top


def study_config(B: int, ratios, d: int, seeds: int, records: int, horizon: float = HORIZON) -> dict:
    etas = [B * r for r in ratios]
    steps = math.ceil(horizon / min(etas) * d)
    return {
        "description": f"linear scaling under label noise, B = {B}",
        # blowup: flag a diverging trajectory as soon as a weight passes 100 (the stable ones stay O(1)),
        # before its loss swamps the mean and the y axis of the standard figures
        "run": {"seeds": seeds, "steps": steps, "records": records, "seed": 0, "blowup": 100.0},
        "task": {
            "kind": "teacher_student",
            "input_dim": d,
            "teacher_width": 2,
            "teacher_activation": "relu",
            "teacher_weights": "orthonormal",
            "teacher_second_layer": 1.0,
            "train_size": "online",
            "label_noise": SIGMA,
        },
        "model": {
            "width": 2,
            "activation": "relu",
            "train_second_layer": False,
            "init_scale": 1.0,
            "second_layer_init": 1.0,
        },
        "optimizer": {"lr": etas[0] / d, "batch_size": B},
        "sweep": {"optimizer.lr": [e / d for e in etas]},
        "record": {
            "observables": ["population_loss"],
            "quantiles": [0.05, 0.25, 0.5, 0.75, 0.95],
            "keep_per_seed": ["population_loss"],
        },
    }


def ode_fixed_point(ratios, sigma: float, log2_samples: int = 14, eta_t: float = 150.0, dt: float = 0.1) -> np.ndarray:
    """Long-time ε of the ODE (relu soft committee, K = M = 2, T = I) started at the teacher.

    Integrated with η = 1 and B = 1/r, which is the same trajectory in τ = η·t as
    any (η, B) with η/B = r; the value at τ = ``eta_t`` (ε changes by < 1e-6 after
    τ ≈ 100 for r ≤ 1).
    """
    import jax
    import jax.numpy as jnp

    from jaxrelu.theory import ode

    K = 2
    teacher = ode.Teacher(T=jnp.eye(K), v_star=jnp.ones(K))
    s0 = ode.State(Q=jnp.eye(K), R=jnp.eye(K), v=jnp.ones(K))
    times = np.array([2 * eta_t / 3, eta_t])
    run = jax.vmap(
        lambda b: (
            ode.integrate(
                s0,
                teacher,
                times,
                activation="relu",
                eta=1.0,
                batch_size=b,
                label_noise=sigma,
                dt=dt,
                train_second_layer=False,
                log2_samples=log2_samples,
            ).eps
        )
    )
    eps = np.asarray(run(jnp.asarray(1.0 / np.asarray(ratios, np.float64), jnp.float32)))
    return eps[:, -1]


def stationary(res, d: int, burn_in: float = BURN_IN) -> list[dict]:
    """Stationary mean per grid point: burn-in η·t ≥ ``burn_in``, Sokal error (and between-seed error)."""
    from jaxrelu import analysis

    t = res.step / d
    per = res["population_loss.per_seed"]  # (G, S, R)
    B = int(res.meta["config"]["optimizer"]["batch_size"])
    rows = []
    for g, lr in enumerate(res["optimizer.lr"]):
        eta = float(lr) * d
        burn = int(np.searchsorted(eta * t, burn_in))
        div = float(res["diverged.fraction"][g, -1])
        x = per[g]
        if burn >= len(t) - 4 or np.all(np.isnan(x[:, burn:])):
            rows.append(
                {
                    "B": B,
                    "eta": eta,
                    "r": eta / B,
                    "mean": float("nan"),
                    "sem": float("nan"),
                    "sem_seeds": float("nan"),
                    "tau": float("nan"),
                    "n_seeds": 0,
                    "diverged": div,
                }
            )
            continue
        sm = analysis.stationary_mean(x, burn_in=burn)
        rows.append(
            {
                "B": B,
                "eta": eta,
                "r": eta / B,
                "mean": float(sm.mean),
                "sem": float(sm.sem),
                "sem_seeds": float(sm.sem_seeds),
                "tau": float(sm.tau),
                "n_seeds": int(sm.n_seeds),
                "n_records": int(sm.n_records),
                "diverged": div,
            }
        )
    return rows


def figure(results, rows, r_fine, eps_fine, fits, path: Path, burn_in: float = BURN_IN):
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    colors = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9"]
    Bs = sorted({r["B"] for r in rows})
    col = dict(zip(Bs, colors))
    fig = Figure(figsize=(16.5, 4.8), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    ax1.plot(r_fine, eps_fine, color="k", lw=1.3, label="ODE fixed point (d → ∞)")
    for B in Bs:
        sel = [r for r in rows if r["B"] == B and np.isfinite(r["mean"])]
        ax1.errorbar(
            [r["r"] for r in sel],
            [r["mean"] for r in sel],
            yerr=[2 * r["sem"] for r in sel],
            fmt="o",
            ms=5,
            capsize=3,
            color=col[B],
            label=f"SGD, B = {B}",
        )
        dead = [r for r in rows if r["B"] == B and not np.isfinite(r["mean"])]
        if dead:
            ax1.plot([r["r"] for r in dead], [0.9] * len(dead), "x", color=col[B], ms=8, mew=2)
    fit = fits.get("pooled")
    if fit:
        xs = np.geomspace(min(r_fine), FIT_MAX, 50)
        ax1.plot(
            xs,
            fit["prefactor"] * (xs / fit["x0"]) ** fit["exponent"],
            "--",
            color="0.4",
            lw=1,
            label=f"fit η/B ≤ {FIT_MAX:g}, η ≤ {ETA_FIT:g}: exponent {fit['exponent']:.3f} "
            f"[{fit['exponent_low']:.3f}, {fit['exponent_high']:.3f}]",
        )
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    ax1.set_xlabel("η / B  (= lr · d / B)")
    ax1.set_ylabel("stationary population error ε∞")
    ax1.set_title(f"ε∞ against η/B (σ = {SIGMA}); ✕ = diverged", fontsize="medium")
    ax1.grid(True, which="major", alpha=0.3)
    ax1.legend(fontsize="x-small", loc="upper left")

    ode_at = dict(zip(np.round(r_fine, 12), eps_fine))
    ratios = sorted({round(r["r"], 12) for r in rows})
    rcol = dict(zip(ratios, [colormaps["viridis"](x) for x in np.linspace(0.0, 0.9, len(ratios))]))
    markers = dict(zip(Bs, "osD^v<>"))
    for rr in ratios:
        sel = sorted([r for r in rows if round(r["r"], 12) == rr and np.isfinite(r["mean"])], key=lambda r: r["eta"])
        if not sel:
            continue
        ref = ode_at[rr]
        e = np.array([r["eta"] for r in sel])
        dev = 100 * (np.array([r["mean"] for r in sel]) / ref - 1)
        ax2.plot(e, np.minimum(dev, YMAX), "-", color=rcol[rr], lw=1.2, label=f"η/B = {rr:g}")
        for r, y in zip(sel, dev):
            if y > YMAX:  # off scale: a marker at the top, labelled with its value
                ax2.plot([r["eta"]], [YMAX], marker=markers[r["B"]], color=rcol[rr], ms=6, clip_on=False)
                ax2.annotate(
                    f"{y:+.0f}% ↑",
                    (r["eta"], YMAX),
                    textcoords="offset points",
                    xytext=(0, -13),
                    ha="center",
                    fontsize="x-small",
                    color=rcol[rr],
                )
                continue
            ax2.errorbar(
                [r["eta"]], [y], yerr=[200 * r["sem"] / ref], fmt=markers[r["B"]], color=rcol[rr], ms=5, capsize=2
            )
    ax2.axhline(0, color="k", lw=1)
    ax2.set_ylim(-2, YMAX)
    if ax2.has_data() and len(ax2.lines) > 1:
        ax2.set_xscale("log", base=2)
    ax2.set_xlabel("η = lr · d  (absolute step size)")
    ax2.set_ylabel("SGD / ODE fixed point − 1  (%)")
    ax2.set_title("deviation from the η/B-only prediction (± 2 s.e.)", fontsize="medium")
    ax2.grid(True, which="major", alpha=0.3)
    handles, _ = ax2.get_legend_handles_labels()
    handles += [Line2D([], [], ls="none", marker=markers[B], color="0.4", label=f"B = {B}") for B in Bs]
    ax2.legend(handles=handles, fontsize="x-small", ncol=2, loc="upper left")

    # the approach to stationarity at one ratio, against η·t, for every B
    counts: dict[float, int] = {}
    for r in rows:
        counts[round(r["r"], 12)] = counts.get(round(r["r"], 12), 0) + 1
    r_show = max(counts, key=lambda r: (counts[r], -abs(math.log(r / 0.25))))
    for B, res in results:
        d = res.meta["config"]["task"]["input_dim"]
        etas = res["optimizer.lr"] * d
        g = int(np.argmin(np.abs(etas / B - r_show)))
        if not np.isclose(etas[g] / B, r_show):
            continue
        x = etas[g] * res.step / d
        ax3.plot(x[1:], res["population_loss.mean"][g, 1:], color=col[B], lw=1.4, label=f"B = {B}, η = {etas[g]:g}")
    ax3.axhline(ode_at[round(r_show, 12)], color="k", lw=1.2, ls=":", label="ODE fixed point")
    ax3.axvline(burn_in, color="0.5", lw=1, ls="--")
    ax3.text(
        burn_in * 1.08,
        0.97,
        "burn-in ends",
        fontsize="x-small",
        color="0.4",
        rotation=90,
        va="top",
        transform=ax3.get_xaxis_transform(),
    )
    ax3.set_xscale("log")
    ax3.set_yscale("log")
    ax3.set_xlabel("η · t  (t = step / d)")
    ax3.set_ylabel("population error, mean over seeds")
    ax3.set_title(f"approach to stationarity at η/B = {r_show:g}", fontsize="medium")
    ax3.grid(True, which="major", alpha=0.3)
    ax3.legend(fontsize="small")
    fig.savefig(path, dpi=150)
    return path


def main(argv=None) -> int:
    from jaxrelu.experiments import _common as common

    p = common.parser(
        NAME,
        __doc__,
        quick_help="tiny sizes (a smoke test, seconds)",
        seeds_help="seeds per grid point (default 32)",
        set_example="task.input_dim=500",
        source=True,
        seeds=32,
    )
    p.add_argument("--batch-sizes", type=int, nargs="+", default=list(BATCH_SIZES))
    p.add_argument("--records", type=int, default=300, help="linearly spaced records per run (default 300)")
    args = p.parse_args(argv)

    import jaxrelu
    from jaxrelu import analysis, config, plot
    from jaxrelu.config import ConfigError

    figdir = args.figures
    d, seeds, records, Bs, log2 = 100, args.seeds, args.records, args.batch_sizes, 14
    burn_in, horizon = BURN_IN, HORIZON
    if args.quick:
        d, seeds, records, Bs, log2, burn_in, horizon = 100, 4, 40, [4], 8, 5.0, 10.0

    studies = []
    for B in Bs:
        ratios = [r for r in RATIOS if B * r >= ETA_MIN - 1e-12]
        if args.quick:
            ratios = ratios[:3]
        try:
            data = study_config(B, ratios, d, seeds, records, horizon)
            config.apply_overrides(data, args.set)
            d_set = int(data["task"]["input_dim"])
            if d_set != d:  # another d: keep η = lr·d and the horizon in η·t fixed
                data = study_config(B, ratios, d_set, seeds, records, horizon)
                config.apply_overrides(data, args.set)
            studies.append((B, config.from_dict(data)))
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    # --from: re-analyse only; the summary is printed, not written
    out = None if args.source else common.results_dir(NAME, args.out)

    t0 = time.perf_counter()
    results, rows = [], []
    if args.source:
        studies = []
        for sub in sorted(Path(args.source).glob("B*"), key=lambda q: int(q.name[1:])):
            res = jaxrelu.load(sub)
            B = int(res.meta["config"]["optimizer"]["batch_size"])
            d = int(res.meta["config"]["task"]["input_dim"])
            plot.save_standard_figures(res, figdir / f"B{B}")
            rows += stationary(res, d, burn_in)
            results.append((B, res))
    for B, study in studies:
        G = study.grid_shape[0]
        print(
            f"[{NAME}] B = {B}: {study.run.seeds} seeds x {G} learning rates x {study.run.steps} steps", file=sys.stderr
        )
        res = jaxrelu.run(study)
        res.save(out / f"B{B}")
        plot.save_standard_figures(res, figdir / f"B{B}")
        rows += stationary(res, study.task.input_dim, burn_in)
        results.append((B, res))
        print(
            f"[{NAME}]   {res.meta['run_seconds']:.1f}s (+{res.meta['compile_seconds']:.1f}s compile)", file=sys.stderr
        )

    t1 = time.perf_counter()
    r_all = sorted({round(r["r"], 12) for r in rows})
    r_fine = sorted(set(r_all) | set(np.round(np.geomspace(min(r_all), max(r_all), 11), 12)))
    eps_fine = ode_fixed_point(r_fine, SIGMA, log2_samples=log2)
    ode_at = dict(zip(np.round(r_fine, 12), eps_fine))
    for r in rows:
        r["ode"] = float(ode_at[round(r["r"], 12)])
    ode_seconds = time.perf_counter() - t1

    fits = {}
    small = [r for r in rows if r["r"] <= FIT_MAX + 1e-12]
    for key, sel in (("pooled", [r for r in small if r["eta"] <= ETA_FIT + 1e-12]), ("all B, all eta", small)):
        sel = [r for r in sel if np.isfinite(r["mean"]) and r["sem"] > 0]
        if len(sel) >= 3:
            x = np.array([r["r"] for r in sel])
            f = analysis.fit_power_law(
                x, [r["mean"] for r in sel], yerr=[r["sem"] for r in sel], x0=float(np.exp(np.mean(np.log(x))))
            )
            fits[key] = {
                "exponent": f.exponent,
                "exponent_se": f.exponent_se,
                "exponent_low": f.exponent_low,
                "exponent_high": f.exponent_high,
                "prefactor": f.prefactor,
                "x0": f.x0,
                "chi2": f.chi2,
                "dof": f.dof,
                "chi2_p_value": f.chi2_p_value,
                "n": f.n,
            }
    ode_small = sorted({round(r["r"], 12) for r in small})
    if len(ode_small) >= 3:
        f = analysis.fit_power_law(ode_small, [ode_at[r] for r in ode_small])
        fits["ode"] = {"exponent": f.exponent, "exponent_se": f.exponent_se}

    figdir.mkdir(parents=True, exist_ok=True)
    fig = figure(results, rows, np.array(r_fine), eps_fine, fits, figdir / "stationary_error.png", burn_in)
    wall = time.perf_counter() - t0
    if out is not None:
        with open(out / "summary.json", "w") as f:
            json.dump(
                {
                    "rows": rows,
                    "fits": fits,
                    "ode": {"r": r_fine, "eps": eps_fine.tolist()},
                    "ode_seconds": ode_seconds,
                    "wall_seconds": wall,
                },
                f,
                indent=1,
            )

    print(
        f"stationary population error, relu soft committee K=M=2, d={d}, sigma={SIGMA}; "
        f"burn-in eta*t={burn_in:g}, run eta_min*t={horizon:g}"
    )
    print("    B      eta     eta/B   eps_inf +- sem (Sokal)  [sem seeds]    ODE        SGD/ODE-1    tau  div")
    for r in sorted(rows, key=lambda r: (r["r"], r["B"])):
        dev = 100 * (r["mean"] / r["ode"] - 1)
        print(
            f"  {r['B']:3d}  {r['eta']:7.4g}  {r['r']:7.4g}   {r['mean']:.4e} +- {r['sem']:.1e}"
            f"  [{r['sem_seeds']:.1e}]   {r['ode']:.4e}   {dev:+6.1f}% +- {100 * r['sem'] / r['ode']:.1f}%"
            f"  {r['tau']:5.1f}  {r['diverged']:.2f}"
        )
    for k, f in fits.items():
        extra = (
            f" [{f['exponent_low']:.3f}, {f['exponent_high']:.3f}], chi2 = {f['chi2']:.1f} / {f['dof']} dof"
            if "exponent_low" in f
            else ""
        )
        print(f"power law eps_inf ~ (eta/B)^p, {k}: p = {f['exponent']:.3f} +- {f['exponent_se']:.3f}{extra}")
    print(f"figure: {fig}", file=sys.stderr)
    print(f"[{NAME}] wall time {wall:.0f}s (ODE {ode_seconds:.0f}s)", file=sys.stderr)
    print(out if out is not None else args.source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
