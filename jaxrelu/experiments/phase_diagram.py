"""Phase diagram of online SGD (Veiga et al. 2022): blue (δ = 0) and green (δ = 0.5) regimes, d = 100, k = 4, p = 8.

Reproduces the single-run curves of the reference code of Veiga et al. (NeurIPS
2022; rodsveiga/phdiag_sgd, ``sim/how_to.ipynb``) with a distribution over
seeds: erf(·/√2) committee machines with fixed second layers 1/k (teacher, k = 4
orthonormal rows) and 1/p (student, p = 8 unit-norm rows), label noise of
variance Δ = 1e-3, learning rate γ = γ0/d^δ with γ0 = 8, population error
ε_g = ½ E[(f − f*)²] (noiseless teacher).

Mapping of their conventions onto ours (see docs/experiments/phase_diagram.md):
their weights W = √d × ours; their update W += γ/(p√d)·(y − ŷ)·σ'(h)·x is SGD on
½(y − ŷ)² with our lr = γ/d = γ0/d^(1+δ) (our ODE η = lr·d = γ); their time
α = steps/d^(1+δ), i.e. our t = steps/d for blue and t/√d for green; their
Δ is a variance, our ``task.label_noise`` the std √Δ.

Run:  ``jaxrelu run phase_diagram``: both regimes to α = 1000, i.e. 10⁵ SGD
steps for blue (128 seeds) and 10⁶ for green (32 seeds); ≈ 3–5 min on 2 CPU
cores.  ``--seeds``/``--green-seeds`` change the sample sizes,
``--green-tmax 100`` makes the green run 10× shorter, ``--quick`` is a smoke test.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

NAME = "phase_diagram"

D, K_TEACHER, P_STUDENT, NOISE_VAR, GAMMA0 = 100, 4, 8, 1e-3, 8.0
REGIMES = {"blue": 0.0, "green": 0.5}  # δ of γ = γ0 / d^δ  (κ = 0: p fixed)

#: Their printed single run (sim/how_to.ipynb, commit 667b87f, uninformed
#: initialisation, np.random.seed(0)): α → ε_g measured on 10⁵ test samples.
REFERENCE = {
    "blue": {
        0: 0.0716306473,
        1: 0.0470076316,
        2: 0.0283482642,
        3: 0.0173048146,
        4: 0.0110105761,
        5: 0.0082232043,
        6: 0.0064438330,
        7: 0.0053414213,
        8: 0.0045948531,
        9: 0.0040292172,
        10: 0.0037394168,
        20: 0.0031967089,
        30: 0.0029963763,
        40: 0.0030679213,
        50: 0.0028630853,
        60: 0.0028080488,
        70: 0.0026855919,
        80: 0.0027464651,
        90: 0.0028357318,
        100: 0.0028139784,
        200: 0.0023068310,
        300: 0.0018010643,
        400: 0.0009966019,
        500: 0.0004943769,
        600: 0.0003040449,
        700: 0.0002341323,
        800: 0.0002027618,
        900: 0.0001903941,
        1000: 0.0001846268,
        2000: 0.0001334330,
        3000: 0.0001052942,
        4000: 0.0000939121,
        5000: 0.0001164831,
        6000: 0.0001130852,
        7000: 0.0000892660,
        8000: 0.0001227875,
        9000: 0.0001140142,
        10000: 0.0000988992,
    },
    "green": {
        0: 0.0626229721,
        1: 0.0353063335,
        2: 0.0195965421,
        3: 0.0116115890,
        4: 0.0075009911,
        5: 0.0052848241,
        6: 0.0041045435,
        7: 0.0034135620,
        8: 0.0030474049,
        9: 0.0028884050,
        10: 0.0027548362,
        20: 0.0025293965,
        30: 0.0024505908,
        40: 0.0023808635,
        50: 0.0023003357,
        60: 0.0022484260,
        70: 0.0021871008,
        80: 0.0021220449,
        90: 0.0020864832,
        100: 0.0020390363,
        200: 0.0015203699,
        300: 0.0008872369,
        400: 0.0004273593,
        500: 0.0002055255,
        600: 0.0001155212,
        700: 0.0000801952,
        800: 0.0000669257,
        900: 0.0000553076,
        1000: 0.0000503818,
        2000: 0.0000303694,
        3000: 0.0000166219,
        4000: 0.0000111764,
        5000: 0.0000098998,
        6000: 0.0000089455,
        7000: 0.0000107480,
        8000: 0.0000102159,
        9000: 0.0000088195,
        10000: 0.0000092068,
    },
}
#: times (their α) at which the comparison table is printed (records fall on powers of ten)
CHECKPOINTS = (1, 10, 100, 1000, 10000)


def time_unit(d: int, delta: float) -> float:
    """SGD steps per unit of their time α = steps / d^(1+δ) (κ = 0)."""
    return d ** (1.0 + delta)


def regime_config(delta: float, d: int, seeds: int, alpha_max: float, per_decade: int) -> dict:
    """Their setting in our config; records log-spaced so that every power of ten of α is a record."""
    unit = time_unit(d, delta)
    steps = round(alpha_max * unit)
    decades = math.log10(steps)
    records = round(decades * per_decade) + 2 if abs(decades - round(decades)) < 1e-9 else 100
    return {
        "description": f"Veiga et al. 2022, delta = {delta}",
        "run": {"seeds": seeds, "steps": steps, "records": records, "spacing": "log", "seed": 0},
        "task": {
            "kind": "teacher_student",
            "input_dim": d,
            "teacher_width": K_TEACHER,
            "teacher_activation": "erf",
            "teacher_weights": "orthonormal",
            "teacher_second_layer": 1.0 / K_TEACHER,
            "train_size": "online",
            "label_noise": math.sqrt(NOISE_VAR),
        },
        "model": {
            "width": P_STUDENT,
            "activation": "erf",
            "train_second_layer": False,
            "first_layer_init": "orthonormal",
            "init_scale": 1.0,
            "second_layer_init": 1.0 / P_STUDENT,
        },
        "optimizer": {"lr": GAMMA0 / d ** (1.0 + delta), "batch_size": 1},
        "record": {
            "observables": ["population_loss"],
            "quantiles": [0.05, 0.25, 0.5, 0.75, 0.95],
            "keep_per_seed": ["population_loss"],
        },
    }


def ode_per_seed(study, n_seeds: int) -> np.ndarray:
    """ε_g(t) of the d → ∞ ODE (η²-terms and label noise included) from the first
    ``n_seeds`` seeds' initial weights: (n_seeds, n_records)."""
    from jaxrelu.theory import predict

    a0 = float(study.model.second_layer_init)
    # rates scale with η v²: dt = 0.48 (blue), 4.8 (green); rel. error < 1e-4
    eps = predict.ode_trajectories(study, n_seeds, dt=lambda eta: min(0.06 / (eta * a0 * a0), 5.0))
    return eps.astype(np.float32)  # the ODE's own precision: means over seeds as published


def compare(res, ode_eps, regime: str, delta: float) -> dict:
    """Our distribution at their checkpoints, and where their single run falls in it."""
    from jaxrelu import analysis

    d = res.meta["config"]["task"]["input_dim"]
    alpha = res.step / time_unit(d, delta)
    per_seed = res["population_loss.per_seed"]  # (S, R)
    q = res["population_loss.quantiles"]
    lv = list(res.quantile_levels)
    rows = []
    for a in CHECKPOINTS:
        j = int(np.argmin(np.abs(alpha - a)))
        if not np.isclose(alpha[j], a, rtol=0.15):  # exact at d = 100; the nearest record otherwise
            continue
        m = analysis.mean_ci(per_seed[:, j])
        theirs = REFERENCE[regime].get(a) if d == D else None
        vals = per_seed[:, j][np.isfinite(per_seed[:, j])]
        rows.append(
            {
                "alpha": a,
                "alpha_record": float(alpha[j]),
                "step": int(res.step[j]),
                "mean": m.mean,
                "sem": m.sem,
                "median": float(q[j, lv.index(0.5)]),
                "q05": float(q[j, lv.index(0.05)]),
                "q95": float(q[j, lv.index(0.95)]),
                "ode": float(np.mean(ode_eps[:, j])),
                "theirs": theirs,
                "rank_of_theirs": float(np.mean(vals < theirs)) if theirs is not None else None,
            }
        )
    # the plateau: median over seeds of each seed's mean over 20 <= alpha <= 100
    win = (alpha >= 20) & (alpha <= 100)
    plateau = None
    if win.sum() >= 2:
        per = per_seed[:, win].mean(axis=1)
        ci = analysis.mean_ci(per)
        plateau = {
            "mean": ci.mean,
            "sem": ci.sem,
            "theirs": float(np.mean([v for k, v in REFERENCE[regime].items() if 20 <= k <= 100])),
        }
    return {
        "regime": regime,
        "delta": delta,
        "d": d,
        "seeds": int(res.meta["seeds"]),
        "lr": float(res.meta["config"]["optimizer"]["lr"]),
        "eta": float(res.meta["config"]["optimizer"]["lr"]) * d,
        "alpha_max": float(alpha[-1]),
        "rows": rows,
        "plateau_20_100": plateau,
        "run_seconds": res.meta["run_seconds"],
        "compile_seconds": res.meta["compile_seconds"],
    }


def figure(done, path: Path):
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    colors = {"blue": "#0072B2", "green": "#009E73"}
    fig = Figure(figsize=(6.0 * len(done), 4.9), layout="constrained")
    axes = fig.subplots(1, len(done), squeeze=False)[0]
    for ax, (res, ode_eps, s) in zip(axes, done):
        c = colors[s["regime"]]
        d = s["d"]
        alpha = res.step / time_unit(d, s["delta"])
        q = res["population_loss.quantiles"]
        lv = list(res.quantile_levels)
        m, se = res["population_loss.mean"], res["population_loss.sem"]
        x = alpha[1:]
        ax.fill_between(x, q[1:, lv.index(0.05)], q[1:, lv.index(0.95)], color=c, alpha=0.15, lw=0)
        ax.fill_between(x, q[1:, lv.index(0.25)], q[1:, lv.index(0.75)], color=c, alpha=0.3, lw=0)
        ax.fill_between(x, (m - se)[1:], (m + se)[1:], color=c, alpha=0.6, lw=0)
        ax.plot(x, m[1:], color=c, lw=1.8)
        ax.plot(x, q[1:, lv.index(0.5)], color=c, lw=1.0, ls="--")
        ax.plot(x, ode_eps.mean(axis=0)[1:], color="k", lw=1.2, ls=":")
        if d == D:
            ref = REFERENCE[s["regime"]]
            ra = np.array([k for k in ref if 0 < k <= alpha[-1] * 1.0001], float)
            ax.plot(ra, [ref[int(k)] for k in ra], "^", color="#D55E00", ms=6, mfc="none", mew=1.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(x[0], x[-1])
        unit = "d" if s["delta"] == 0 else f"d^{1 + s['delta']:g}"
        gamma = f"γ = γ0 = {GAMMA0:g}" if s["delta"] == 0 else f"γ = {GAMMA0:g}/d^{s['delta']:g}"
        ax.set_xlabel(f"their time α = SGD step / {unit}")
        ax.set_title(
            f"{s['regime']}: δ = {s['delta']:g}, {gamma} (our lr = {s['lr']:g}); {s['seeds']} seeds, d = {d}",
            fontsize="medium",
        )
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("population error ε_g = ½ E(f − f*)²")
    key = [
        Line2D([], [], color="0.3", lw=1.8, label="mean (band: ± s.e.m.)"),
        Line2D([], [], color="0.3", lw=1.0, ls="--", label="median"),
        Patch(color="0.3", alpha=0.3, lw=0, label="25–75 % of seeds"),
        Patch(color="0.3", alpha=0.15, lw=0, label="5–95 % of seeds"),
        Line2D([], [], color="k", lw=1.2, ls=":", label="ODE, d → ∞ (same initial weights)"),
        Line2D(
            [], [], color="#D55E00", marker="^", ls="none", mfc="none", mew=1.5, label="Veiga et al. code: single run"
        ),
    ]
    fig.legend(handles=key, loc="outside lower center", ncol=3, fontsize="small", frameon=False)
    fig.savefig(path, dpi=150)
    return path


def main(argv=None) -> int:
    from jaxrelu.experiments import _common as common

    p = common.parser(
        NAME,
        __doc__,
        quick_help="tiny sizes (a smoke test, seconds)",
        seeds_help="seeds of the blue run (default 128)",
        set_example="task.input_dim=200",
        seeds=128,
    )
    p.add_argument("--green-seeds", type=int, default=32, help="seeds of the green run (default 32)")
    p.add_argument("--blue-tmax", type=float, default=1000, help="last α of the blue run (default 1000)")
    p.add_argument(
        "--green-tmax",
        type=float,
        default=1000,
        help="last α of the green run (default 1000 = 10^6 SGD steps at d = 100)",
    )
    p.add_argument("--ode-seeds", type=int, default=4, help="seeds whose initial weights start the ODE")
    args = p.parse_args(argv)

    import jaxrelu
    from jaxrelu import config, plot
    from jaxrelu.config import ConfigError

    figdir = args.figures
    plan = {"blue": (args.seeds, args.blue_tmax), "green": (args.green_seeds, args.green_tmax)}
    per_decade, n_ode = 20, args.ode_seeds
    d = D
    if args.quick:
        plan = {"blue": (6, 10), "green": (6, 1)}
        per_decade, n_ode = 5, 2

    studies = []
    for regime, (seeds, tmax) in plan.items():
        try:
            data = regime_config(REGIMES[regime], d, seeds, tmax, per_decade)
            config.apply_overrides(data, args.set)
            d_run = int(data["task"]["input_dim"])
            if d_run != d:  # keep their scalings at another d: lr and steps follow d
                data["optimizer"]["lr"] = GAMMA0 / d_run ** (1.0 + REGIMES[regime])
                data["run"]["steps"] = round(tmax * time_unit(d_run, REGIMES[regime]))
            studies.append((regime, config.from_dict(data)))
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    out = common.results_dir(NAME, args.out)

    t0 = time.perf_counter()
    done = []
    for regime, study in studies:
        print(
            f"[{NAME}] {regime}: {study.run.seeds} seeds x {study.run.steps} steps, lr = {study.optimizer.lr:g}, "
            f"d = {study.task.input_dim}",
            file=sys.stderr,
        )
        res = jaxrelu.run(study)
        t1 = time.perf_counter()
        ode_eps = ode_per_seed(study, n_ode)
        res.arrays["population_loss.ode"] = ode_eps.mean(axis=0)
        res.save(out / regime)
        summ = compare(res, ode_eps, regime, REGIMES[regime])
        summ["ode_seconds"] = time.perf_counter() - t1
        plot.save_standard_figures(res, figdir / regime)
        done.append((res, ode_eps, summ))
        print(
            f"[{NAME}]   SGD {res.meta['run_seconds']:.1f}s (+{res.meta['compile_seconds']:.1f}s compile), "
            f"ODE {summ['ode_seconds']:.1f}s",
            file=sys.stderr,
        )
    figdir.mkdir(parents=True, exist_ok=True)
    fig = figure(done, figdir / "curves.png")
    wall = time.perf_counter() - t0
    summaries = [s for _, _, s in done]
    with open(out / "summary.json", "w") as f:
        json.dump({"regimes": summaries, "wall_seconds": wall}, f, indent=1)

    for s in summaries:
        print(
            f"{s['regime']} (delta = {s['delta']:g}): lr = {s['lr']:g} (eta = {s['eta']:g}), "
            f"{s['seeds']} seeds, d = {s['d']}"
        )
        print(
            "   alpha      mean +- sem            median   [5%, 95%]              ODE        theirs     rank of theirs"
        )
        for r in s["rows"]:
            th = f"{r['theirs']:.3e}  {r['rank_of_theirs']:.2f}" if r["theirs"] is not None else "-"
            print(
                f"  {r['alpha']:6g}  {r['mean']:.3e} +- {r['sem']:.1e}   {r['median']:.3e} "
                f"[{r['q05']:.2e}, {r['q95']:.2e}]   {r['ode']:.3e}  {th}"
            )
        if s["plateau_20_100"]:
            pl = s["plateau_20_100"]
            print(
                f"  plateau (mean over 20 <= alpha <= 100): {pl['mean']:.3e} +- {pl['sem']:.1e};"
                f" theirs {pl['theirs']:.3e}"
            )
    print(f"figure: {fig}", file=sys.stderr)
    print(f"[{NAME}] wall time {wall:.0f}s", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
