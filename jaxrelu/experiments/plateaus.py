"""Plateaus of online SGD (Saad & Solla 1995; Goldt et al. 2019): plateau height and escape times vs learning rate.

Soft committee machines (second layer fixed to 1, ``train_second_layer =
false``) learning a teacher of the same width K = M from a small initialisation,
online, d = 100: erf with K = 2 and K = 3, relu with K = 2.  For each case one
study sweeps the ODE learning rate η = lr·d over a log grid; each trajectory
falls onto the symmetric plateau and escapes at a random time.  Measured:

* the plateau height as a function of η (median over seeds of each seed's
  time average around the flattest point of the median curve, bootstrap 95 %
  interval), extrapolated to η → 0 by a weighted quadratic fit and compared with
  the erf saddle ε* = (K/π)[π/6 − K·asin(1/(2K))] (0.01161 for K = 2, 0.02030 for
  K = 3) and with the plateau of the d → ∞ ODE at the same η (its fixed point
  in the permutation-symmetric subspace);
* the escape time T = first step / d with ε < 1e-3 (Kaplan–Meier survival
  curves, median with 95 % interval, and η·T which is constant if the plateau
  length scales as 1/η);
* the whole trajectory distribution (median and quartiles) against the ODE
  started from the same seeds' initial weights.

Run:  ``jaxrelu run plateaus`` (≈ 3 min on 2 CPU cores); ``--quick`` for a
smoke test; ``--seeds``, ``--steps`` and ``--set key=value`` (applied to every
study; η = lr·d is kept when d changes) change the size, e.g.
``--set task.input_dim=1000 --steps 1000000`` for d = 1000 at the same t = step/d.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

NAME = "plateaus"

#: (activation, K) of the three committee machines
CASES = (("erf", 2), ("erf", 3), ("relu", 2))
#: ODE learning rates η = lr·d
ETAS = (0.125, 0.25, 0.5, 1.0)
#: escape: first record with population loss below this
ESCAPE = 1e-3


def saddle_erf(K: int) -> float:
    """ε* = (K/π)[π/6 − K·asin(1/(2K))]: the symmetric plateau of the erf soft committee, η → 0."""
    return K / np.pi * (np.pi / 6 - K * np.arcsin(1.0 / (2 * K)))


def base_config(act: str, K: int, d: int, seeds: int, steps: int, records: int, etas) -> dict:
    return {
        "description": f"plateau of the {act} soft committee machine, K = M = {K}",
        "run": {"seeds": seeds, "steps": steps, "records": records, "spacing": "log", "seed": 0},
        "task": {
            "kind": "teacher_student",
            "input_dim": d,
            "teacher_width": K,
            "teacher_activation": act,
            "teacher_weights": "orthonormal",
            "teacher_second_layer": 1.0,
            "train_size": "online",
        },
        "model": {
            "width": K,
            "activation": act,
            "train_second_layer": False,
            "init_scale": 0.01,
            "second_layer_init": 1.0,
        },
        "optimizer": {"lr": etas[0] / d, "batch_size": 1},
        "sweep": {"optimizer.lr": [e / d for e in etas]},
        "record": {
            "observables": ["population_loss"],
            "quantiles": [0.05, 0.25, 0.5, 0.75, 0.95],
            "first_passage": {"observable": "population_loss", "below": ESCAPE},
            "keep_per_seed": ["population_loss"],
        },
    }


# ----------------------------------------------------------------------------- theory
def symmetric_fixed_point(act: str, K: int, etas, log2_samples: int, eta_t: float = 300.0, steps: int = 6000) -> dict:
    """Plateau of the ODE: its fixed point inside the symmetric subspace, for each η.

    Soft committee, K = M, orthonormal teacher (T = I), v = v* = 1.  Starting from
    Q = 1e-4·I, R = 1e-3 (all entries), RK4 with the state projected back onto the
    symmetric subspace (Q_ii = q, Q_ik = c, R_in = r) after every step, up to
    η·t = ``eta_t``.  ``eta = 0`` means the η → 0 limit (the η² terms dropped, time in
    units of 1/η), where the erf fixed point is ε* = (K/π)[π/6 − K·asin(1/(2K))].
    Returns {"eta", "eps" (final), "drift" (|ε(end) − ε(2/3 end)|)}.
    """
    import jax
    import jax.numpy as jnp

    from jaxrelu.theory import ode

    def consts(dtype):
        return (
            ode.Teacher(T=jnp.eye(K, dtype=dtype), v_star=jnp.ones(K, dtype)),
            jnp.eye(K, dtype=dtype),
            jnp.ones((K, K), dtype),
        )

    def project(s):
        _, eye, ones = consts(s.Q.dtype)
        q = jnp.trace(s.Q) / K
        c = (jnp.sum(s.Q) - jnp.trace(s.Q)) / max(K * (K - 1), 1)
        return ode.State(Q=c * ones + (q - c) * eye, R=jnp.mean(s.R) * ones, v=s.v)

    def run(eta, second_order):
        teacher, eye, ones = consts(eta.dtype)
        e = jnp.where(eta > 0, eta, 1.0)
        h = 0.05 / e
        f = lambda s: ode.rhs(
            s,
            teacher,
            activation=act,
            eta=e,
            second_order=second_order,
            train_second_layer=False,
            log2_samples=log2_samples,
        )

        def rk4(_, s):
            add = lambda s, k, a: jax.tree_util.tree_map(lambda x, y: x + a * y, s, k)
            k1 = f(s)
            k2 = f(add(s, k1, h / 2))
            k3 = f(add(s, k2, h / 2))
            k4 = f(add(s, k3, h))
            s = jax.tree_util.tree_map(lambda x, a, b, c_, d_: x + h / 6 * (a + 2 * b + 2 * c_ + d_), s, k1, k2, k3, k4)
            return project(s)

        s0 = ode.State(Q=1e-4 * eye, R=1e-3 * ones, v=jnp.ones(K, eta.dtype))
        n = int(steps * eta_t / 300.0)
        s1 = jax.lax.fori_loop(0, 2 * n // 3, rk4, s0)
        s2 = jax.lax.fori_loop(0, n - 2 * n // 3, rk4, s1)
        return (ode.population_error(s1, teacher, act), ode.population_error(s2, teacher, act))

    etas = np.asarray(etas, np.float64)
    pos = etas[etas > 0]
    eps = np.full(etas.shape, np.nan)
    drift = np.full(etas.shape, np.nan)
    with jax.enable_x64(True):
        e1, e2 = jax.jit(jax.vmap(lambda e: run(e, True)))(jnp.asarray(pos, jnp.float64))
        eps[etas > 0], drift[etas > 0] = np.asarray(e2), np.abs(np.asarray(e2) - np.asarray(e1))
        if np.any(etas == 0):
            z1, z2 = jax.jit(lambda: run(jnp.float64(1.0), False))()
            eps[etas == 0], drift[etas == 0] = float(z2), abs(float(z2) - float(z1))
    return {"eta": etas.tolist(), "eps": eps.tolist(), "drift": drift.tolist()}


# ----------------------------------------------------------------------------- analysis
def plateau_window(t: np.ndarray, median: np.ndarray, floor: float = ESCAPE, tol: float = 0.01):
    """Records of the plateau: the flattest point of the median curve and its neighbourhood.

    Among records with t > 0, a median below half its initial value (past the
    initial descent) and above ``floor`` (not escaped), take j* minimising
    |d log ε / d log t| (centred differences of the median); the window is the
    contiguous run of records around j* whose median stays within ``tol``
    (relative) of median[j*].  Returns (j*, indices) or (None, empty).
    """
    m = np.asarray(median, float)
    lt = np.log(np.where(t > 0, t, np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        lm = np.log(m)
        slope = np.full_like(m, np.inf)
        slope[1:-1] = np.abs((lm[2:] - lm[:-2]) / (lt[2:] - lt[:-2]))
    ok = (t > 0) & (m > floor) & (m < 0.5 * m[0]) & np.isfinite(slope)
    if not ok.any():
        return None, np.array([], int)
    j = int(np.flatnonzero(ok)[np.argmin(slope[ok])])
    lo = hi = j
    while lo - 1 >= 1 and abs(lm[lo - 1] - lm[j]) < tol:
        lo -= 1
    while hi + 1 < len(m) and abs(lm[hi + 1] - lm[j]) < tol:
        hi += 1
    return j, np.arange(lo, hi + 1)


def plateau_height(per_seed: np.ndarray, window: np.ndarray, seed: int = 0) -> dict:
    """Median over seeds of each seed's mean over ``window`` (seeds above the escape
    threshold throughout the window), with a bootstrap 95 % interval."""
    from jaxrelu import analysis

    nan = {"height": float("nan"), "low": float("nan"), "high": float("nan"), "se": float("nan"), "n": 0}
    if window.size == 0:
        return nan
    x = per_seed[:, window]
    keep = np.all(np.isfinite(x), axis=1) & np.all(x > ESCAPE, axis=1)
    vals = x[keep].mean(axis=1)
    if vals.size < 3:
        return {**nan, "n": int(vals.size)}
    ci = analysis.bootstrap_ci(vals, np.median, n_resamples=2000, seed=seed)
    return {
        "height": float(ci.estimate),
        "low": float(ci.low),
        "high": float(ci.high),
        "se": float(ci.se),
        "n": int(vals.size),
    }


def extrapolate(etas, heights, ses, degree: int = 2) -> dict:
    """Weighted polynomial fit h(η) = h0 + h1 η (+ h2 η²); h0 ± se is the η → 0 plateau."""
    e, h, s = (np.asarray(v, float) for v in (etas, heights, ses))
    ok = np.isfinite(h) & np.isfinite(s) & (s > 0)
    e, h, s = e[ok], h[ok], s[ok]
    degree = min(degree, len(e) - 1)
    if degree < 1:
        return {"h0": float("nan"), "se": float("nan"), "degree": degree, "coef": [], "etas": e.tolist()}
    X = np.vander(e, degree + 1, increasing=True)
    w = 1.0 / s**2
    cov = np.linalg.inv((X * w[:, None]).T @ X)
    beta = cov @ (X * w[:, None]).T @ h
    return {
        "h0": float(beta[0]),
        "se": float(np.sqrt(cov[0, 0])),
        "degree": degree,
        "coef": beta.tolist(),
        "etas": e.tolist(),
    }


def analyse_case(res, ode_eps, fixed, act: str, K: int) -> dict:
    """Plateau heights, escape times and the η → 0 extrapolation of one study."""
    from jaxrelu import analysis

    d = res.meta["config"]["task"]["input_dim"]
    t = res.step / d
    etas = res["optimizer.lr"] * d
    q = res["population_loss.quantiles"]
    med = list(res.quantile_levels).index(0.5)
    per_seed = res["population_loss.per_seed"]  # (G, S, R)
    fpt = res["fpt.population_loss.steps"] / d  # (G, S), t units; inf = not escaped
    t_end = float(t[-1])
    fp = dict(zip(np.round(fixed["eta"], 12), fixed["eps"]))
    rows = []
    for g, eta in enumerate(etas):
        j, win = plateau_window(t, q[g, :, med])
        h = plateau_height(per_seed[g], win)
        oj, owin = plateau_window(t, np.median(ode_eps[g], axis=0))
        ode_h = float(np.median(ode_eps[g][:, owin].mean(axis=1))) if oj is not None else float("nan")
        km_med = analysis.median_survival(fpt[g], censor_time=t_end)
        rows.append(
            {
                "eta": float(eta),
                "plateau": h,
                "plateau_t": [float(t[win[0]]), float(t[win[-1]])] if j is not None else None,
                "ode_plateau_same_estimator": ode_h,
                "ode_fixed_point": float(fp.get(round(float(eta), 12), np.nan)),
                "escape_median": float(km_med.estimate),
                "escape_low": float(km_med.low),
                "escape_high": float(km_med.high),
                "escaped_fraction": float(np.mean(np.isfinite(fpt[g]))),
            }
        )
    use = [r for r in rows if r["eta"] <= 0.5]
    fit = extrapolate([r["eta"] for r in use], [r["plateau"]["height"] for r in use], [r["plateau"]["se"] for r in use])
    # the same fit through the ODE fixed point at the same η: the bias of extrapolating from these η
    ode_fit = extrapolate(
        [r["eta"] for r in use],
        [r["ode_fixed_point"] for r in use],
        [max(r["plateau"]["se"], 1e-12) if np.isfinite(r["plateau"]["se"]) else 1.0 for r in use],
    )
    fit["ode_fixed_point_same_fit"] = ode_fit["h0"]
    return {
        "activation": act,
        "K": K,
        "d": d,
        "seeds": int(res.meta["seeds"]),
        "epsilon_star": saddle_erf(K) if act == "erf" else None,
        "fixed_point": fixed,
        "rows": rows,
        "extrapolation": fit,
        "run_seconds": res.meta["run_seconds"],
        "compile_seconds": res.meta["compile_seconds"],
    }


# ----------------------------------------------------------------------------- figures
def _colors(n):
    from matplotlib import colormaps

    return [colormaps["viridis"](x) for x in np.linspace(0.0, 0.85, n)]


def figure_trajectories(cases, path: Path):
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig = Figure(figsize=(5.0 * len(cases), 4.8), layout="constrained")
    axes = fig.subplots(1, len(cases), squeeze=False)[0]
    for ax, (res, ode_eps, s) in zip(axes, cases):
        d = s["d"]
        t = res.step / d
        q = res["population_loss.quantiles"]
        lv = list(res.quantile_levels)
        i25, i50, i75 = lv.index(0.25), lv.index(0.5), lv.index(0.75)
        etas = res["optimizer.lr"] * d
        for c, g in zip(_colors(len(etas)), range(len(etas))):
            ax.fill_between(t[1:], q[g, 1:, i25], q[g, 1:, i75], color=c, alpha=0.2, lw=0)
            ax.plot(t[1:], q[g, 1:, i50], color=c, lw=1.8, label=f"η = {etas[g]:g}")
            ax.plot(t[1:], np.median(ode_eps[g][:, 1:], axis=0), color=c, lw=1.3, ls=":")
        fp0 = s["fixed_point"]["eps"][0]
        label = f"ε* = {s['epsilon_star']:.5f}" if s["epsilon_star"] else f"η→0 plateau (ODE) = {fp0:.4f}"
        ax.axhline(fp0, color="0.3", ls="--", lw=1)
        ax.text(2 * t[1], fp0 * 1.15, label, fontsize="small", color="0.3")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-5, 1.0)
        ax.set_xlim(t[1], t[-1])
        ax.set_xlabel("t = SGD step / d")
        ax.set_title(f"{s['activation']}, K = M = {s['K']} ({s['seeds']} seeds, d = {d})", fontsize="medium")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("population loss ε")
    handles, _ = axes[0].get_legend_handles_labels()
    handles += [
        Line2D([], [], color="0.3", lw=1.8, label="SGD median"),
        Patch(color="0.3", alpha=0.2, lw=0, label="SGD 25–75 %"),
        Line2D([], [], color="0.3", lw=1.3, ls=":", label="ODE median (same initial weights)"),
        Line2D([], [], color="0.3", lw=1, ls="--", label="symmetric fixed point, η → 0"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize="small", frameon=False)
    fig.savefig(path, dpi=150)
    return path


def figure_heights(summaries, path: Path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0 * len(summaries), 6.6), layout="constrained")
    axes = fig.subplots(2, len(summaries), squeeze=False, sharex=True, gridspec_kw={"height_ratios": [2.2, 1]})
    for k, s in enumerate(summaries):
        ax, axr = axes[0, k], axes[1, k]
        fe, fv = np.asarray(s["fixed_point"]["eta"]), np.asarray(s["fixed_point"]["eps"])
        ax.plot(fe, fv, "-", color="#D55E00", lw=1.5, label="ODE: symmetric fixed point")
        e = np.array([r["eta"] for r in s["rows"]])
        h = np.array([r["plateau"]["height"] for r in s["rows"]])
        lo = np.array([r["plateau"]["low"] for r in s["rows"]])
        hi = np.array([r["plateau"]["high"] for r in s["rows"]])
        ax.errorbar(
            e,
            h,
            yerr=[h - lo, hi - h],
            fmt="o",
            color="#0072B2",
            capsize=3,
            ms=5,
            label=f"SGD, d = {s['d']}: median over seeds, 95 % CI",
        )
        fit = s["extrapolation"]
        if np.isfinite(fit["h0"]):
            xe = np.linspace(0, max(fit["etas"]), 100)
            ax.plot(
                xe,
                np.polyval(fit["coef"][::-1], xe),
                color="#0072B2",
                lw=1,
                ls="--",
                label=f"SGD fit (η ≤ {max(fit['etas']):g}) → {fit['h0']:.5f} ± {fit['se']:.5f}",
            )
        if s["epsilon_star"]:
            ax.plot([0], [s["epsilon_star"]], "*", color="k", ms=11, label=f"ε* = {s['epsilon_star']:.5f}")
        ax.set_yscale("log")
        ax.set_ylabel("plateau height")
        ax.set_title(f"{s['activation']}, K = M = {s['K']}", fontsize="medium")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small", loc="upper left")
        ref = np.array([r["ode_fixed_point"] for r in s["rows"]])
        rel, rlo, rhi = (100 * (v / ref - 1) for v in (h, lo, hi))
        axr.errorbar(e, rel, yerr=[rel - rlo, rhi - rel], fmt="o", color="#0072B2", capsize=3, ms=5)
        axr.axhline(0, color="#D55E00", lw=1.5)
        axr.set_ylabel("SGD / ODE fixed point − 1 (%)", fontsize="small")
        axr.set_xlabel("η = lr · d")
        axr.set_xlim(-0.03, 1.05)
        axr.grid(True, alpha=0.3)
    fig.savefig(path, dpi=150)
    return path


def figure_escape(cases, path: Path):
    from matplotlib.figure import Figure

    from jaxrelu import analysis

    fig = Figure(figsize=(5.0 * len(cases), 7.4), layout="constrained")
    axes = fig.subplots(2, len(cases), squeeze=False)
    for k, (res, _, s) in enumerate(cases):
        d = s["d"]
        etas = res["optimizer.lr"] * d
        fpt = res["fpt.population_loss.steps"] / d
        t_end = float(res.step[-1] / d)
        t_first = float(res.step[1] / d)
        for c, g in zip(_colors(len(etas)), range(len(etas))):
            km = analysis.kaplan_meier(fpt[g], censor_time=t_end)
            last = km.survival[-1] if km.survival.size else 1.0
            tt = np.concatenate([[t_first], km.time, [t_end]])
            ss = np.concatenate([[1.0], km.survival, [last]])
            for ax, scale in ((axes[0, k], 1.0), (axes[1, k], etas[g])):
                ax.step(tt * scale, ss, where="post", color=c, lw=1.6, label=f"η = {etas[g]:g}")
                if km.time.size:
                    lo = np.concatenate([[1.0], km.low, [km.low[-1]]])
                    hi = np.concatenate([[1.0], km.high, [km.high[-1]]])
                    ax.fill_between(tt * scale, lo, hi, step="post", color=c, alpha=0.15, lw=0)
        ev = fpt[np.isfinite(fpt)]
        if ev.size:
            axes[0, k].set_xlim(0.5 * ev.min(), 1.2 * t_end)
            axes[1, k].set_xlim(
                0.5 * (ev * etas[:, None].repeat(fpt.shape[1], 1)[np.isfinite(fpt)]).min(), 1.2 * t_end * etas.max()
            )
        axes[0, k].set_title(f"{s['activation']}, K = M = {s['K']}: first time ε < {ESCAPE:g}", fontsize="medium")
        axes[0, k].set_xlabel("escape time T = step / d")
        axes[1, k].set_xlabel("η · T  (curves collapse if the plateau length ∝ 1/η)")
        for ax in axes[:, k]:
            ax.set_xscale("log")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(True, alpha=0.3)
            ax.set_ylabel("fraction not yet escaped")
        axes[0, k].legend(fontsize="small", loc="lower left")
    fig.savefig(path, dpi=150)
    return path


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    from jaxrelu.experiments import _common as common

    p = common.parser(
        NAME,
        __doc__,
        quick_help="tiny sizes (a smoke test, seconds)",
        seeds_help="seeds per grid point (default 64)",
        steps_help="SGD steps (default 100000, t = 1000 at d = 100)",
        set_example="task.input_dim=500",
    )
    args = p.parse_args(argv)

    import jaxrelu
    from jaxrelu import config, plot
    from jaxrelu.config import ConfigError
    from jaxrelu.theory import predict

    figdir = args.figures
    if args.quick:
        cases, etas, d, seeds, steps, records, n_ode, log2 = CASES[:1], (0.25, 0.5, 1.0), 20, 6, 600, 20, 2, 8
        fp_etas = (0.0, 0.5, 1.0)
    else:
        cases, etas, d, seeds, steps, records, n_ode, log2 = CASES, ETAS, 100, 64, 100_000, 300, 4, 11
        fp_etas = tuple(np.linspace(0.0, 1.0, 9))
    seeds = args.seeds or seeds
    steps = args.steps or steps

    t0 = time.perf_counter()
    studies = []
    for act, K in cases:  # validate everything before running anything
        data = base_config(act, K, d, seeds, steps, records, etas)
        try:
            config.apply_overrides(data, args.set)
            d_set = int(data["task"]["input_dim"])
            if d_set != d:  # another d: keep η = lr·d (and the ODE time t = step/d) fixed
                data = base_config(act, K, d_set, seeds, steps, records, etas)
                config.apply_overrides(data, args.set)
            studies.append((act, K, config.from_dict(data)))
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    out = common.results_dir(NAME, args.out)
    done, summaries = [], []
    for act, K, study in studies:
        d_run = study.task.input_dim
        print(
            f"[{NAME}] {act} K={K}: {study.run.seeds} seeds x {len(etas)} learning rates x "
            f"{study.run.steps} steps (d = {d_run})",
            file=sys.stderr,
        )
        res = jaxrelu.run(study)
        t1 = time.perf_counter()
        ode_eps = predict.ode_trajectories(study, n_ode, dt=lambda eta: min(0.05 / eta, 0.5), log2_samples=log2)
        fixed = symmetric_fixed_point(act, K, sorted(set(fp_etas) | {float(e) for e in etas}), log2)
        res.arrays["population_loss.ode"] = ode_eps.mean(axis=1)  # as record.theory = ["ode"] would
        res.save(out / f"{act}_K{K}")
        summ = analyse_case(res, ode_eps, fixed, act, K)
        summ["ode_seconds"] = time.perf_counter() - t1
        plot.save_standard_figures(res, figdir / f"{act}_K{K}")
        done.append((res, ode_eps, summ))
        summaries.append(summ)
        print(
            f"[{NAME}]   SGD {res.meta['run_seconds']:.1f}s (+{res.meta['compile_seconds']:.1f}s compile), "
            f"ODE {summ['ode_seconds']:.1f}s",
            file=sys.stderr,
        )

    figdir.mkdir(parents=True, exist_ok=True)
    figs = [
        figure_trajectories(done, figdir / "trajectories.png"),
        figure_heights(summaries, figdir / "plateau_height.png"),
        figure_escape(done, figdir / "escape_times.png"),
    ]
    wall = time.perf_counter() - t0
    with open(out / "summary.json", "w") as f:
        json.dump({"cases": summaries, "wall_seconds": wall}, f, indent=1)

    for s in summaries:
        es = s["epsilon_star"]
        print(
            f"{s['activation']} K=M={s['K']}, d={s['d']}, {s['seeds']} seeds"
            + (f"; erf saddle eps* = {es:.6f}" if es else "")
        )
        print(
            "    eta  SGD plateau [95% CI]           ODE fixed pt  ODE same-est.  median escape T [95% CI]"
            "   eta*T  escaped"
        )
        for r in s["rows"]:
            h = r["plateau"]
            print(
                f"  {r['eta']:6.4g}  {h['height']:.5f} [{h['low']:.5f}, {h['high']:.5f}]"
                f"   {r['ode_fixed_point']:.5f}      {r['ode_plateau_same_estimator']:.5f}"
                f"      {r['escape_median']:8.1f} [{r['escape_low']:.1f}, {r['escape_high']:.1f}]"
                f"   {r['eta'] * r['escape_median']:6.1f}  {r['escaped_fraction']:.2f}"
            )
        fit, fp = s["extrapolation"], s["fixed_point"]
        print(
            f"  eta -> 0: SGD degree-{fit['degree']} fit over eta in {fit['etas']}: "
            f"{fit['h0']:.5f} +- {fit['se']:.5f}"
            f" (the same fit through the ODE fixed points: {fit.get('ode_fixed_point_same_fit', np.nan):.5f});"
            f" ODE symmetric fixed point (eta^2 terms dropped): {fp['eps'][0]:.6f}"
        )
    for f in figs:
        print(f"figure: {f}", file=sys.stderr)
    print(f"[{NAME}] wall time {wall:.0f}s", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
