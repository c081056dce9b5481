"""Heavy tails of SGD's stationary iterates: the tail index falls as lr/B grows (Gürbüzbalaban et al. 2021).

Online SGD with label noise on Gaussian inputs does not settle at the minimum: its iterates
have a stationary distribution, and that distribution is heavy-tailed, P(‖θ − θ*‖ > x) ~ x^{−α},
with α set by the step size and the batch (Gürbüzbalaban, Şimşekli & Zhu, ICML 2021).  Two
models, many seeds each, at several (lr, B):

* **linear regression with one linear neuron** (d = 1, f(x) = w x, teacher w* = ±1, labels
  y = w* x + σ ξ with σ = 1): w − w* ← M (w − w*) + (lr/B) Σ_i x_i σ ξ_i with
  M = 1 − (lr/B) χ²_B.  This is a Kesten recursion, and its stationary tail index α* solves
  E|1 − (lr/B) χ²_B|^{α*} = 1 (Kesten 1973; Goldie 1991), which we integrate numerically;
* **a small relu network** (teacher–student soft committee, K = M = 2, d = 8, second layer
  fixed to 1, σ = 0.5), where no closed form is known.

For each (lr, B) the tail index of the stationary iterates across seeds:
``jaxrelu.analysis.hill_tail_index`` of ‖θ − θ*‖ = √(2ε) (ε the population error, closed form;
in the linear model √(2ε) = |w − w*| exactly), pooled over the records after a burn-in (records
250 or 500 steps apart, far beyond the relaxation time, so independent), with k = ⌈√n⌉ and its
exact-for-Pareto 95 % interval; for the linear model also ``block_tail_index`` of the signed w
centred at its median, which estimates min(α, 2).  A grid point counts as stationary when no seed
diverged and the rank correlation of log ‖θ − θ*‖ between successive pooled records is below 0.05
in magnitude: beyond the relu network's stability edge some seeds grow without bound, which no
tail index describes (marked ✕ in the figure).

Run:  ``jaxrelu run heavy_tails`` (≈ 1 min on 2 CPU cores); ``--quick`` for a smoke test;
``--seeds N`` (linear model; the relu network uses N/4).
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any

import numpy as np

NAME = "heavy_tails"

LINEAR: dict[str, Any] = {
    "batch_sizes": (1, 2, 4),
    "ratios": (0.2, 0.3, 0.4, 0.5, 0.6),
    "sigma": 1.0,
    "steps": 2000,
    "every": 250,
    "burn_in": 1000,
}
RELU: dict[str, Any] = {
    "batch_sizes": (1, 4),
    "ratios": (0.04, 0.055, 0.07, 0.085, 0.1),
    "sigma": 0.5,
    "d": 8,
    "steps": 4000,
    "every": 500,
    "burn_in": 2000,
}
MAX_LAG_CORRELATION = 0.05  # |Spearman ρ| of successive pooled records above this: not stationary
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7"]


def kesten_alpha(lr: float, B: int) -> float:
    """Tail index α* of w ← (1 − (lr/B) Σ_{i≤B} x_i²) w + noise, x ~ N(0, 1): the root of
    E|1 − (lr/B) χ²_B|^α = 1 (nan when E log|M| ≥ 0: no stationary law)."""
    from scipy import integrate, optimize

    r = lr / B
    kink = 1.0 / r  # M = 0 at χ² = B/lr: split the integral there
    log_norm = -(B / 2) * math.log(2.0) - math.lgamma(B / 2)

    def expect(f):  # E f(|M|), χ²_B density written out (fast scalar calls)
        def g(u):
            return f(abs(1.0 - r * u)) * math.exp(log_norm + (B / 2 - 1) * math.log(u) - u / 2) if u > 0 else 0.0

        return integrate.quad(g, 0, kink, limit=200)[0] + integrate.quad(g, kink, np.inf, limit=200)[0]

    if expect(lambda m: math.log(m) if m > 0 else -np.inf) >= 0:
        return float("nan")

    def h(a):
        return expect(lambda m: math.exp(min(a * math.log(m), 700.0)) if m > 0 else 0.0) - 1.0

    return float(optimize.brentq(h, 1e-3, 60.0, xtol=1e-6)) if h(60.0) > 0 else float("inf")


def linear_config(B: int, ratios, seeds: int, steps: int, every: int, sigma: float) -> dict:
    """One linear neuron (d = 1, second layer frozen at 1) at lr = r·B for each ratio r."""
    lrs = [r * B for r in ratios]
    return {
        "description": f"heavy tails: linear regression, one linear neuron, B = {B}",
        "run": {"seeds": seeds, "steps": steps, "record_every": every, "dtype": "float64", "blowup": 1e300},
        "task": {
            "kind": "teacher_student",
            "input_dim": 1,
            "teacher_width": 1,
            "teacher_activation": "linear",
            "teacher_second_layer": 1.0,
            "train_size": "online",
            "label_noise": sigma,
        },
        "model": {
            "width": 1,
            "activation": "linear",
            "train_second_layer": False,
            "second_layer_init": 1.0,
            "init_scale": 1.0,
        },
        "optimizer": {"lr": lrs[0], "batch_size": B},
        "sweep": {"optimizer.lr": lrs},
        "record": {
            "observables": ["population_loss", "first_weight"],
            "quantiles": [],
            "keep_per_seed": ["population_loss", "first_weight"],
        },
    }


def relu_config(B: int, ratios, seeds: int, steps: int, every: int, sigma: float, d: int) -> dict:
    """Relu soft committee K = M = 2 in d dimensions at lr = r·B."""
    lrs = [r * B for r in ratios]
    return {
        "description": f"heavy tails: relu soft committee K = M = 2, d = {d}, B = {B}",
        "run": {"seeds": seeds, "steps": steps, "record_every": every, "dtype": "float64", "blowup": 1e300},
        "task": {
            "kind": "teacher_student",
            "input_dim": d,
            "teacher_width": 2,
            "teacher_activation": "relu",
            "teacher_second_layer": 1.0,
            "train_size": "online",
            "label_noise": sigma,
        },
        "model": {
            "width": 2,
            "activation": "relu",
            "train_second_layer": False,
            "second_layer_init": 1.0,
            "init_scale": 1.0,
        },
        "optimizer": {"lr": lrs[0], "batch_size": B},
        "sweep": {"optimizer.lr": lrs},
        "record": {"observables": ["population_loss"], "quantiles": [], "keep_per_seed": ["population_loss"]},
    }


def register_first_weight() -> None:
    """The signed first weight W[0, 0] as an observable (for the block estimator, which needs signs)."""
    from jaxrelu import observables

    observables.register("first_weight", lambda params, params0, data, ctx: params["W"][0, 0])


def tail_rows(res, model: str, burn_in: int) -> list[dict]:
    """Per grid point: Hill α̂ of √(2ε) pooled over the records at or after ``burn_in`` (steps), with its
    interval, the same from the first and second halves of those records (stationarity), the block
    estimate (linear model), the correlation of log √(2ε) between consecutive pooled records (their
    independence), the diverged fraction and, for the linear model, the Kesten α*."""
    from scipy import stats as sps

    from jaxrelu import analysis

    B = int(res.meta["config"]["optimizer"]["batch_size"])
    j0 = int(np.searchsorted(res.step, burn_in))
    eps = res["population_loss.per_seed"]  # (G, S, R)
    rows = []
    for g, lr in enumerate(np.atleast_1d(res["optimizer.lr"])):
        dist = np.sqrt(2 * eps[g, :, j0:])  # (S, R') ‖θ − θ*‖
        half = dist.shape[1] // 2
        h = analysis.hill_tail_index(dist.ravel())
        h1 = analysis.hill_tail_index(dist[:, : max(half, 1)].ravel())
        h2 = analysis.hill_tail_index(dist[:, half:].ravel())
        a, b = np.log(dist[:, :-1].ravel()), np.log(dist[:, 1:].ravel())
        ok = np.isfinite(a) & np.isfinite(b)
        rho = float(sps.spearmanr(a[ok], b[ok])[0]) if dist.shape[1] > 1 and ok.sum() > 2 else float("nan")
        div = float(res["diverged.fraction"][g, -1])
        row = {
            "model": model,
            "B": B,
            "lr": float(lr),
            "r": float(lr) / B,
            "n": int(h.n),
            "k": int(h.k),
            "alpha": h.alpha,
            "low": h.low,
            "high": h.high,
            "alpha_first_half": h1.alpha,
            "alpha_second_half": h2.alpha,
            "lag_correlation": rho,
            "diverged": div,
            "stationary": bool(div == 0 and abs(rho) < MAX_LAG_CORRELATION),
        }
        if "first_weight.per_seed" in res:
            w = res["first_weight.per_seed"][g, :, j0:].ravel()
            blk = analysis.block_tail_index(w, center="median")
            row.update(block=blk.alpha, block_low=blk.low, block_high=blk.high, kesten=kesten_alpha(float(lr), B))
        rows.append(row)
    return rows


def figure(rows, path):
    """Tail index against lr/B (left: linear model with Kesten's α* and the block estimate; right: relu);
    ``rows`` as :func:`tail_rows` returns; writes and returns ``path``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 5), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, model in zip(axes, ("linear", "relu")):
        sel = [r for r in rows if r["model"] == model]
        for c, B in zip(COLORS, sorted({r["B"] for r in sel})):
            pts = sorted((r for r in sel if r["B"] == B), key=lambda r: r["r"])
            x = np.array([r["r"] for r in pts])
            y = np.array([r["alpha"] for r in pts])
            err = np.array([[r["alpha"] - r["low"] for r in pts], [r["high"] - r["alpha"] for r in pts]])
            st = np.array([r["stationary"] for r in pts])
            ax.errorbar(x[st], y[st], yerr=err[:, st], fmt="o", color=c, capsize=3, ms=5, label=f"Hill, B = {B} (95 %)")
            ax.plot(
                x[~st],
                y[~st],
                "x",
                color=c,
                ms=8,
                mew=2,
                label="not stationary (seeds diverging)" if (~st).any() else None,
            )
            if model == "linear":
                fine = np.linspace(min(x) * 0.9, max(x) * 1.05, 24)
                ax.plot(fine, [kesten_alpha(f * B, B) for f in fine], "-", color=c, lw=1.2, label=f"Kesten α*, B = {B}")
                yb = np.array([r["block"] for r in pts])
                eb = np.array([[r["block"] - r["block_low"] for r in pts], [r["block_high"] - r["block"] for r in pts]])
                ax.errorbar(
                    x * 1.012,
                    yb,
                    yerr=np.clip(eb, 0, None),
                    fmt="s",
                    mfc="none",
                    color=c,
                    capsize=2,
                    ms=4,
                    label=f"block (min(α, 2)), B = {B}" if B == max(r["B"] for r in sel) else None,
                )
            dead = [r for r in pts if r["diverged"] > 0 and np.isfinite(r["alpha"])]
            for r in dead:
                ax.annotate(
                    f"{100 * r['diverged']:.0f}% div.",
                    (r["r"], r["alpha"]),
                    fontsize="x-small",
                    color=c,
                    textcoords="offset points",
                    xytext=(4, 4),
                )
        ax.axhline(2.0, color="0.6", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("lr / B")
        ax.set_ylabel("tail index α of ‖θ − θ*‖ (stationary, across seeds)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small")
    axes[0].set_title("linear regression, one linear neuron (d = 1)", fontsize="medium")
    axes[1].set_title(f"relu soft committee K = M = 2, d = {RELU['d']}", fontsize="medium")
    fig.savefig(path, dpi=150)
    return path


def main(argv=None) -> int:
    """``jaxrelu run heavy_tails [options]``: run (or ``--from`` reload) the studies, print the table,
    write ``summary.json`` and the figures; returns the exit status."""
    from jaxrelu.experiments import _common as common

    p = common.parser(
        NAME,
        __doc__,
        quick_help="tiny sizes (a smoke test, seconds)",
        seeds_help="seeds per grid point of the linear model (default 16384; the relu network: 1/4)",
        set_example="run.steps=4000",
        source=True,
        seeds=16384,
    )
    args = p.parse_args(argv)

    from jaxrelu import config, plot
    from jaxrelu.config import ConfigError

    lin, rel = dict(LINEAR), dict(RELU)
    seeds = args.seeds
    if args.quick:
        seeds = 256
        lin.update(batch_sizes=(1, 4), ratios=(0.3, 0.5), steps=200, every=50, burn_in=100)
        rel.update(batch_sizes=(1,), ratios=(0.1, 0.15), steps=200, every=50, burn_in=100)
    register_first_weight()
    studies = []
    try:
        for B in lin["batch_sizes"]:
            studies.append(
                (
                    "linear",
                    B,
                    linear_config(B, lin["ratios"], seeds, lin["steps"], lin["every"], lin["sigma"]),
                    lin["burn_in"],
                )
            )
        for B in rel["batch_sizes"]:
            studies.append(
                (
                    "relu",
                    B,
                    relu_config(
                        B, rel["ratios"], max(seeds // 4, 16), rel["steps"], rel["every"], rel["sigma"], rel["d"]
                    ),
                    rel["burn_in"],
                )
            )
        for *_, data, _b in studies:
            config.from_dict(data, overrides=args.set)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = common.results_dir(NAME, args.out, source=args.source)

    t0 = time.perf_counter()
    rows = []
    for model, B, data, burn_in in studies:
        key = f"{model}_B{B}"
        if not args.source:
            G = len(data["sweep"]["optimizer.lr"])
            print(
                f"[{NAME}] {key}: {data['run']['seeds']} seeds x {G} learning rates x {data['run']['steps']} steps",
                file=sys.stderr,
            )
        res = common.run_or_load(data, out, key, overrides=args.set, source=args.source)
        plot.save_standard_figures(res, args.figures / key)
        rows += tail_rows(res, model, burn_in)
    args.figures.mkdir(parents=True, exist_ok=True)
    fig = figure(rows, args.figures / "tail_index.png")
    wall = time.perf_counter() - t0
    if not args.source:
        with open(out / "summary.json", "w") as f:
            json.dump(
                {"rows": rows, "linear": lin, "relu": rel, "wall_seconds": wall},
                f,
                indent=1,
                default=lambda x: None if isinstance(x, float) and not math.isfinite(x) else x,
            )

    print("tail index of the stationary iterates, Hill (k = ceil(sqrt n)) on sqrt(2 eps) pooled after burn-in, 95 %")
    print(
        " model   B   lr/B     lr     n      alpha [95 %]         halves        lag-rho  div  stat  Kesten"
        "  block [95 %]"
    )
    for r in rows:
        extra = (
            f"  {r['kesten']:6.2f}  {r['block']:.2f} [{r['block_low']:.2f}, {r['block_high']:.2f}]"
            if "kesten" in r
            else ""
        )
        print(
            f" {r['model']:6s} {r['B']:2d}  {r['r']:5.3f}  {r['lr']:6.3f}  {r['n']:6d}  {r['alpha']:6.2f} "
            f"[{r['low']:5.2f}, {r['high']:5.2f}]  {r['alpha_first_half']:5.2f} {r['alpha_second_half']:5.2f}"
            f"  {r['lag_correlation']:+.3f}  {r['diverged']:.2f}  {'yes' if r['stationary'] else 'NO ':3s}{extra}"
        )
    print(f"figure: {fig}", file=sys.stderr)
    print(f"[{NAME}] wall time {wall:.0f}s", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
