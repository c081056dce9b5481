"""Standard figures of a study's results (matplotlib, PNG).

Every ``plot_*`` function takes a :class:`~jaxrelu.results.Results` (layout in
:mod:`jaxrelu.results`) and returns a :class:`matplotlib.figure.Figure`; save it
with ``fig.savefig("name.png")``.  Figures are built with the object-oriented
API (no ``pyplot``, no global figure registry, no backend switch), so they are
safe in scripts, on headless machines (PNG is rendered by Agg) and in notebooks,
and are freed as soon as they go out of scope.

* :func:`plot_trajectories`  mean ± standard error and a quantile fan over time;
* :func:`plot_density`       the histogram over seeds against time, one grid point;
* :func:`plot_survival`      survival curves of first-passage times;
* :func:`plot_final_vs_noise` the final mean against a grid axis (file ``final_vs_{axis}_{obs}.png``);
* :func:`save_standard_figures` writes all of those that apply as PNG files.

Conventions: where the literature's symbols apply (:mod:`jaxrelu.conventions`: online
teacher–student, standard parametrisation, SGD) time is t = step/d and the learning
rate is labelled η = lr·d, with the config key (``optimizer.lr``) beside the symbol in
the legend or axis label; otherwise x is the SGD step and grid points are labelled by
the short key of each grid axis (``lr=0.01, label_noise=0.5``).  The mean's ±1
standard-error band is a solid, darker fill; quantile bands are light fills with a
dotted outline.  Colours are the Okabe–Ito colour-blind-safe palette (viridis beyond
seven lines); diverged trajectories are excluded from every statistic (as in the
results) and their fraction is shown in an extra panel when there are any.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from jaxrelu import analysis
from jaxrelu.results import Results
from jaxrelu.results import load as _load

__all__ = [
    "DPI",
    "plot_density",
    "plot_final_vs_noise",
    "plot_survival",
    "plot_trajectories",
    "save_standard_figures",
]

#: Resolution of the figures and of the saved PNG files.
DPI = 150
#: Okabe & Ito (2008) colour-blind-safe palette, yellow left out (too pale on white).
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
#: At most this many density figures (one per grid point) are written by
#: :func:`save_standard_figures`; larger grids get an evenly spaced subset.
MAX_DENSITY_FIGURES = 16

_WIDTH = 6.4
_HEIGHT = 4.2


# ============================================================== small helpers
def _observables(res: Results) -> list[str]:
    try:
        return list(res.observables)
    except KeyError:
        return sorted(k[: -len(".mean")] for k in res.arrays if k.endswith(".mean"))


def _require(res: Results, observable: str) -> None:
    if not isinstance(observable, str) or observable not in _observables(res) or f"{observable}.mean" not in res:
        have = ", ".join(_observables(res)) or "none"
        raise ValueError(f"observable {observable!r} is not in these results; recorded observables: {have}")


def _colors(n: int) -> list:
    if n <= len(OKABE_ITO):
        return list(OKABE_ITO[: max(n, 1)])
    cmap = colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.0, 0.9, n)]


def _fmt(v) -> str:
    return v if isinstance(v, str) else f"{float(v):g}"


def _short_names(axes: list[str]) -> list[str]:
    """Key after the dot, unless two axes share it (optimizer.label_noise, task.label_noise)."""
    shorts = [a.rsplit(".", 1)[-1] for a in axes]
    return [a if shorts.count(s) > 1 else s for a, s in zip(axes, shorts)]


def _input_dim(res: Results) -> int | None:
    """d when the literature's symbols apply to these results (:mod:`jaxrelu.conventions`): online
    training on a registered task with a teacher, standard parametrisation, plain SGD and one d."""
    cfg = res.meta.get("config") or {}
    task, mdl, opt = cfg.get("task") or {}, cfg.get("model") or {}, cfg.get("optimizer") or {}
    if (
        not task
        or task.get("train_size") != "online"
        or mdl.get("parametrization", "standard") != "standard"
        or opt.get("name", "sgd") != "sgd"
        or {"task.input_dim", "optimizer.name"} & set(res.grid_axes)
    ):
        return None
    try:
        from jaxrelu import tasks  # noqa: F401  (registers the built-in tasks)
        from jaxrelu.registry import TASKS

        if not TASKS.get(task.get("kind")).teacher:
            return None
    except Exception:  # a plugin's task that is not registered here
        return None
    return int(task["input_dim"])


def _time(res: Results) -> tuple[np.ndarray, str]:
    """The record times and their axis label: t = step/d where the conventions give it, else SGD steps."""
    step = np.asarray(res.step)
    if res.meta.get("time_unit") == "d":  # already t = step/d (run.time_unit = "d")
        return step, "t = step / d"
    d = _input_dim(res)
    if d is None:
        return step, "SGD step"
    return step / d, f"t = step / d  (d = {d})"


def _symbol(res: Results, axis: str) -> tuple[str, float] | None:
    """(symbol, factor) of a grid axis that has a literature symbol: optimizer.lr -> (η, d)."""
    d = _input_dim(res)
    return ("η", float(d)) if axis == "optimizer.lr" and d is not None else None


def _symbol_caption(res: Results) -> str | None:
    d = _input_dim(res)
    return f"η = lr·d  (optimizer.lr × {d})" if "optimizer.lr" in res.grid_axes and d is not None else None


def _axis_values(res: Results, axis: str, symbols: bool = False) -> list[str]:
    """The values of a grid axis as short strings: 3 significant digits, more only if needed
    to tell them apart (0.00398107 -> 0.00398)."""
    if res[axis].dtype.kind in "US":  # a categorical axis (optimizer.method)
        return [str(v) for v in res[axis]]
    vals = np.asarray(res[axis], np.float64)
    sym = _symbol(res, axis) if symbols else None
    if sym is not None:
        vals = vals * sym[1]
    for p in range(3, 17):
        out = [f"{v:.{p}g}" for v in vals]
        if len(set(out)) == len(set(vals.tolist())):
            return out
    return [_fmt(v) for v in vals]


def _point_label(res: Results, idx: tuple[int, ...], axes: list[str] | None = None) -> str:
    """``lr=0.01, label_noise=0.5`` for grid index ``idx`` over ``axes`` (default: all)."""
    axes = res.grid_axes if axes is None else axes
    names = _short_names(res.grid_axes)
    short = {a: (_symbol(res, a) or (n,))[0] for a, n in zip(res.grid_axes, names)}
    return ", ".join(f"{short[a]}={_axis_values(res, a, symbols=True)[i]}" for a, i in zip(axes, idx))


def _grid_indices(res: Results) -> list[tuple[int, ...]]:
    return list(np.ndindex(*res.grid_shape))


def _n_seeds(res: Results) -> int | str | None:
    """The seeds behind each statistic: a number, or ``lo–hi`` when precision targets stopped
    grid points at different counts (``seeds_used``)."""
    if "seeds_used" in res:
        used = np.asarray(res["seeds_used"])
        lo, hi = int(used.min()), int(used.max())
        return lo if lo == hi else f"{lo}–{hi}"
    if "seeds" in res.meta:
        return int(res.meta["seeds"])
    if "seed" in res:
        return len(res["seed"])
    return None


def _finite(*arrays) -> np.ndarray:
    vals = np.concatenate([np.ravel(np.asarray(a, np.float64)) for a in arrays]) if arrays else np.array([])
    return vals[np.isfinite(vals)]


def _wants_log(*arrays, decades: float = 2.0) -> bool:
    """True when the data are non-negative and the positive values span > ``decades``."""
    vals = _finite(*arrays)
    if vals.size == 0 or np.any(vals < 0):
        return False
    pos = vals[vals > 0]
    return pos.size >= 2 and pos.max() / pos.min() > 10.0**decades


def _log_spaced(step) -> bool:
    """Whether record steps look log-spaced (``run.spacing = "log"``)."""
    s = np.asarray(step, np.float64)
    pos = s[s > 0]
    return pos.size >= 4 and pos[-1] / pos[0] >= 100 and np.median(pos) < 0.1 * pos[-1]


def _set_step_scale(ax, step, logx: bool | None, limits: bool | str = True) -> None:
    """Log (symlog with step 0) x axis for log-spaced records; x limits = the recorded steps
    (``limits="left"``: only the lower one)."""
    s = np.asarray(step, np.float64)
    if logx is None:
        logx = _log_spaced(s)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if s.size == 1:  # a single record: one tick at its step
        ax.set_xticks(s)
    if limits and s.size > 1:
        ax.set_xlim(s[0], s[-1] if limits != "left" else None)
    if not logx:
        return
    pos = s[s > 0]
    if pos.size == 0:
        return
    if np.any(s <= 0):  # keep step 0 visible: linear within [0, first positive step]
        ax.set_xscale("symlog", linthresh=float(pos.min()), linscale=0.3)
    else:
        ax.set_xscale("log")


def _set_value_scale(ax, which: str, values, decades: float) -> None:
    """Log axis if values > 0 span > ``decades``; symlog if a 0 is among them."""
    vals = _finite(values)
    if vals.size == 0 or np.any(vals < 0):
        return
    pos = vals[vals > 0]
    if pos.size < 2 or pos.max() / pos.min() <= 10.0**decades:
        return
    setter = ax.set_xscale if which == "x" else ax.set_yscale
    if np.any(vals == 0):
        setter("symlog", linthresh=float(pos.min()), linscale=0.5)
    else:
        setter("log")


def _nice(observable: str) -> str:
    return observable.replace("_", " ")


_LINESTYLES = ("-", "--", "-.", ":")


def _legend(ax, handles, n_points: int) -> None:
    """Inside the axes for a few entries, outside on the right for up to 14, else below
    in columns (the figure grows to make room)."""
    if not handles:
        return
    if n_points <= 4 and len(handles) <= 7:
        ax.legend(handles=handles, fontsize="small", framealpha=0.85)
    elif len(handles) <= 14:
        ax.legend(
            handles=handles,
            fontsize="small",
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0,
            frameon=False,
        )
    else:
        fig = ax.figure
        ncol = 3 if max(len(h.get_label()) for h in handles) <= 28 else 2
        rows = -(-len(handles) // ncol)
        fig.set_figheight(fig.get_figheight() + 0.2 * rows + 0.2)
        fig.legend(handles=handles, fontsize="x-small", loc="outside lower center", ncol=ncol, frameon=False)


def new_figure(height: float = _HEIGHT, width: float = _WIDTH) -> Figure:
    """An empty figure of the standard figures' size and resolution (experiments draw their own on it)."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _index(res: Results, grid_index) -> tuple[int, ...]:
    shape = res.grid_shape
    if grid_index is None:
        return (0,) * len(shape)
    idx = (grid_index,) if isinstance(grid_index, (int, np.integer)) else tuple(grid_index)
    if (
        len(idx) != len(shape)
        or not all(isinstance(i, (int, np.integer)) for i in idx)
        or not all(-n <= i < n for i, n in zip(idx, shape))
    ):
        raise ValueError(
            f"grid_index {grid_index!r} does not index the grid of shape {shape} "
            f"(axes {', '.join(res.grid_axes) or 'none'})"
        )
    return tuple(int(i) % n for i, n in zip(idx, shape))


def _quantile_parts(levels):
    """(symmetric pairs (lo_i, hi_i) outermost first, median index or None)."""
    lv = np.asarray(levels, np.float64)
    pairs = []
    for i, q in enumerate(lv):
        if q < 0.5:
            j = np.flatnonzero(np.isclose(lv, 1.0 - q))
            if j.size:
                pairs.append((i, int(j[0])))
    pairs.sort(key=lambda p: lv[p[0]])
    med = np.flatnonzero(np.isclose(lv, 0.5))
    return pairs, (int(med[0]) if med.size else None)


def _fpt_info(res: Results, observable: str):
    for fp in res.meta.get("first_passage", []):
        if fp.get("observable") == observable:
            return fp
    return None


# ============================================================== trajectories
def plot_trajectories(
    res: Results,
    observable: str,
    *,
    grid_points=None,
    fan: bool | str = True,
    logy: bool | None = None,
    logx: bool | None = None,
) -> Figure:
    """Mean over seeds against SGD step, one colour per grid point.

    Each grid point gets its mean (solid line) with a ±1 standard-error band
    (darker shading) and, when quantiles were recorded, a fan of lighter bands
    between symmetric quantile pairs (e.g. 5–95 % and 25–75 % of the seeds) with
    the median dashed.  The y axis is logarithmic when the positive data span
    more than two decades, the x axis when the records are log-spaced (with
    step 0 kept on a short linear stretch); ``logy``/``logx`` force either.
    When any trajectory diverged, a thin lower panel shows the fraction of
    seeds diverged by each step (those seeds are excluded from the statistics).

    ``grid_points``: optional list of grid index tuples to draw (default: all).
    ``fan``: ``True`` draws every symmetric quantile pair for up to two grid
    points, only the innermost pair (e.g. the quartiles) for three to eight,
    and no fan beyond, so that the figure stays readable; ``"all"`` always
    draws every pair and the median; ``False`` none.  Raises ``ValueError`` when
    ``observable`` was not recorded.
    """
    _require(res, observable)
    step, xlabel = _time(res)
    R = len(step)
    mean = np.asarray(res.get(observable, "mean"), np.float64)
    sem = (
        np.asarray(res.get(observable, "sem"), np.float64) if f"{observable}.sem" in res else np.full_like(mean, np.nan)
    )
    qname = f"{observable}.quantiles"
    quant = np.asarray(res[qname], np.float64) if (fan and qname in res) else None
    pairs, med = _quantile_parts(res.quantile_levels) if quant is not None else ([], None)
    levels = np.asarray(res.quantile_levels) if quant is not None else None
    idxs = _grid_indices(res) if grid_points is None else [_index(res, g) for g in grid_points]
    if fan is not True and fan != "all" and fan is not False:
        raise ValueError(f"fan must be True, False or 'all', got {fan!r}")
    if fan is True and len(idxs) > 8:
        quant, pairs, med = None, [], None
    elif fan is True and len(idxs) > 2:
        pairs = pairs[-1:]
    div = np.asarray(res["diverged.fraction"], np.float64) if "diverged.fraction" in res else None
    show_div = div is not None and any(np.nanmax(div[i], initial=0.0) > 0 for i in idxs)

    if show_div:
        fig = new_figure(_HEIGHT + 1.0)
        ax, axd = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    else:
        fig = new_figure()
        ax, axd = fig.subplots(), None

    theory = res[f"{observable}.ode"] if f"{observable}.ode" in res else None
    plotted = [mean[i] for i in idxs]
    if quant is not None:
        plotted += [quant[i] for i in idxs]
    if logy is None:
        logy = _wants_log(*plotted)
    floor = _finite(*plotted)
    floor = floor[floor > 0].min() if np.any(floor > 0) else None

    colors = _colors(len(idxs))
    marker = "o" if R <= 2 else None
    handles = []
    for c, idx in zip(colors, idxs):
        m, s = mean[idx], sem[idx]
        if quant is not None:
            q = quant[idx]
            for lo, hi in pairs:  # light fill, dotted outline: not the s.e.m. band
                ax.fill_between(
                    step, q[:, lo], q[:, hi], facecolor=to_rgba(c, 0.10), edgecolor=to_rgba(c, 0.75), lw=0.7, ls=":"
                )
            if med is not None:
                ax.plot(step, q[:, med], color=c, ls="--", lw=1.0, marker=marker, ms=3)
        lower, upper = m - s, m + s
        if logy and floor is not None:
            lower = np.where(lower > 0, lower, floor)
        ax.fill_between(step, lower, upper, color=c, alpha=0.35, lw=0)
        label = _point_label(res, idx) if idx else "mean"
        if not np.any(np.isfinite(m)):
            label += " (all diverged)"
        handles.append(ax.plot(step, m, color=c, lw=1.8, marker=marker, ms=4, label=label)[0])
        if theory is not None:  # the ODE from the same seeds' initial weights
            ax.plot(step, theory[idx], color="black", lw=1.2, ls=":", zorder=5)
        if show_div and np.nanmax(div[idx], initial=0.0) > 0:
            axd.step(step, div[idx], where="post", color=c, lw=1.4, marker=marker, ms=3)

    if logy:
        ax.set_yscale("log")
    _set_step_scale(ax, step, logx)
    gray = "0.35"
    key = [Line2D([], [], color=gray, lw=1.8, label="mean"), Patch(color=gray, alpha=0.35, lw=0, label="± 1 s.e.m.")]
    if theory is not None:
        key.append(Line2D([], [], color="black", lw=1.2, ls=":", label="ODE (d → ∞)"))
    if quant is not None:
        if med is not None:
            key.append(Line2D([], [], color=gray, lw=1.0, ls="--", label="median"))
        for k, (lo, hi) in enumerate(pairs):
            key.append(
                Patch(
                    facecolor=to_rgba(gray, min(0.10 * (k + 1), 0.6)),
                    edgecolor=gray,
                    lw=0.7,
                    ls=":",
                    label=f"{100 * levels[lo]:g}–{100 * levels[hi]:g}% of seeds",
                )
            )
    caption = _symbol_caption(res)
    if caption:
        key.append(Line2D([], [], ls="none", label=caption))
    point_handles = handles if idxs != [()] else []
    _legend(ax, point_handles + key, len(point_handles))
    ax.set_ylabel(_nice(observable))
    n = _n_seeds(res)
    title = f"{_nice(observable)} over {'SGD steps' if xlabel == 'SGD step' else 't'}" + (f" ({n} seeds)" if n else "")
    if show_div:
        title += "; diverged seeds excluded"
    ax.set_title(title, fontsize="medium")
    ax.grid(True, which="major", alpha=0.3)
    if axd is not None:
        dmax = max(float(np.nanmax(div[i], initial=0.0)) for i in idxs)
        axd.set_ylim(0.0, min(1.03, max(0.05, 1.25 * dmax)))
        axd.set_ylabel("diverged\nfraction", fontsize="small")
        axd.grid(True, alpha=0.3)
        axd.set_xlabel(xlabel)
    else:
        ax.set_xlabel(xlabel)
    return fig


# =================================================================== density
def _cell_edges(centers: np.ndarray, log: bool) -> np.ndarray:
    c = np.asarray(centers, np.float64)
    if c.size == 1:
        w = max(abs(c[0]) * 0.05, 0.5)
        return np.array([c[0] - w, c[0] + w])
    if log and np.all(c > 0):
        lc = np.log(c)
        mid = np.exp((lc[1:] + lc[:-1]) / 2)
        return np.concatenate([[np.exp(lc[0] - (lc[1] - lc[0]) / 2)], mid, [np.exp(lc[-1] + (lc[-1] - lc[-2]) / 2)]])
    mid = (c[1:] + c[:-1]) / 2
    first = c[0] - (c[1] - c[0]) / 2
    if log and c[0] >= 0:  # symlog axis with step 0: do not extend below 0
        first = c[0]
    return np.concatenate([[first], mid, [c[-1] + (c[-1] - c[-2]) / 2]])


def _geometric(edges: np.ndarray) -> bool:
    e = np.asarray(edges, np.float64)
    if e.size < 3 or np.any(e <= 0):
        return False
    r = e[1:] / e[:-1]
    return bool(
        np.allclose(r, r[0], rtol=1e-4)
        and not np.isclose(r[0], 1.0)
        and not np.allclose(np.diff(e), e[1] - e[0], rtol=1e-4)
    )


def plot_density(
    res: Results, observable: str, grid_index=None, *, log_color: bool = False, logx: bool | None = None
) -> Figure:
    """Histogram of ``observable`` over seeds against time (SGD step or t = step/d), for one grid point.

    A colour map of the fraction of (non-diverged) seeds in each bin at each
    record (columns sum to 1; empty bins are left white), with the bin edges on
    y (log when the edges are geometric) and the median overlaid when
    quantiles were recorded.  Values outside the histogram range are not in the
    colour map: their largest fraction over records is flagged in the title.
    ``grid_index``: index tuple of the grid point (an int for a one-axis sweep;
    default: the first point; ``()`` without a sweep).
    ``log_color`` uses a logarithmic colour scale.  Raises ``ValueError`` when
    the observable or its histogram was not recorded, or for a bad index.
    """
    _require(res, observable)
    if f"{observable}.hist" not in res:
        raise ValueError(f"no histogram of {observable!r} in these results (add it to record.histograms in the config)")
    idx = _index(res, grid_index)
    step, xlabel = _time(res)
    counts = np.asarray(res[f"{observable}.hist"][idx], np.float64)  # (R, bins)
    edges = np.asarray(res[f"{observable}.hist_edges"], np.float64)
    outside = {
        k: np.asarray(res[f"{observable}.hist_{k}flow"][idx], np.float64)
        for k in ("under", "over")
        if f"{observable}.hist_{k}flow" in res
    }
    tot = counts.sum(axis=-1, keepdims=True) + sum(v[:, None] for v in outside.values())
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(tot > 0, counts / np.where(tot > 0, tot, 1), 0.0)
    frac = np.ma.masked_where(frac <= 0, frac)

    fig = new_figure()
    ax = fig.subplots()
    logx = _log_spaced(step) if logx is None else logx
    xe = _cell_edges(step, logx)
    vmax = float(frac.max()) if frac.count() else 1.0
    if log_color:
        pos = frac.compressed()
        norm = LogNorm(vmin=max(float(pos.min()) if pos.size else 1e-3, 1e-4), vmax=max(vmax, 1e-3))
    else:
        norm = Normalize(vmin=0.0, vmax=vmax)
    mesh = ax.pcolormesh(xe, edges, frac.T, cmap="viridis", norm=norm, shading="flat")
    cb = fig.colorbar(mesh, ax=ax, pad=0.02)
    cb.set_label("fraction of seeds in bin")
    qname = f"{observable}.quantiles"
    if qname in res:
        _, med = _quantile_parts(res.quantile_levels)
        if med is not None:
            ax.plot(
                step,
                np.asarray(res[qname][idx], np.float64)[:, med],
                color="#D55E00",
                lw=1.5,
                ls="--",
                marker="o" if len(step) <= 2 else None,
                label="median",
            )
            ax.legend(fontsize="small", loc="upper right", framealpha=0.85)
    geometric = _geometric(edges)
    if geometric:
        ax.set_yscale("log")
    occupied = np.flatnonzero(counts.sum(axis=0) > 0)  # show the occupied bins, one spare each side
    lo, hi = (max(occupied[0] - 1, 0), min(occupied[-1] + 2, len(edges) - 1)) if occupied.size else (0, len(edges) - 1)
    ax.set_ylim(edges[lo], edges[hi])
    _set_step_scale(ax, step, logx, limits=False)
    ax.set_xlim(xe[0], xe[-1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(_nice(observable))
    where = _point_label(res, idx) if idx else ""
    dead = "diverged.fraction" in res and np.nanmax(res["diverged.fraction"][idx], initial=0) > 0
    title = f"distribution of {_nice(observable)} over seeds" + (f"\n{where}" if where else "")
    if dead:
        title += ("; " if where else "\n") + "diverged seeds excluded"
    flags = []
    for k, v in outside.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            worst = np.nanmax(np.where(tot[:, 0] > 0, v / np.where(tot[:, 0] > 0, tot[:, 0], 1), 0.0), initial=0)
        if worst > 0:
            flags.append(f"up to {100 * worst:.3g} % of seeds {'below' if k == 'under' else 'above'} the range")
    if flags:
        title += "\n" + ", ".join(flags)
    ax.set_title(title, fontsize="medium")
    return fig


# ================================================================== survival
def plot_survival(res: Results, observable: str | None = None, *, logx: bool | None = None) -> Figure:
    """Survival curves of first-passage times: fraction of seeds not yet crossed vs step.

    One step curve per grid point, read from ``fpt.{observable}.survival``
    (trajectories that never crossed, including diverged ones, count as
    survivors: censored at the last record).  ``observable`` defaults to the
    first observable with a first-passage threshold.  Raises ``ValueError``
    when the observable was not recorded or has no first-passage data.
    """
    fpts = [k[len("fpt.") : -len(".survival")] for k in res.arrays if k.startswith("fpt.") and k.endswith(".survival")]
    if observable is None:
        if not fpts:
            raise ValueError("no first-passage data in these results (configure record.first_passage)")
        observable = fpts[0]
    _require(res, observable)
    if observable not in fpts:
        raise ValueError(
            f"no first-passage data for {observable!r} in these results (configure record.first_passage for it)"
        )
    step, xlabel = _time(res)
    surv = np.asarray(res[f"fpt.{observable}.survival"], np.float64)
    times = res[f"fpt.{observable}.steps"] if f"fpt.{observable}.steps" in res else None
    if times is not None and xlabel.startswith("t = ") and res.meta.get("time_unit") != "d":
        times = np.asarray(times, np.float64) / _input_dim(res)  # first passages in t too
    idxs = _grid_indices(res)
    fig = new_figure()
    ax = fig.subplots()
    marker = "o" if len(step) <= 2 else None
    handles = []
    for k, (c, idx) in enumerate(zip(_colors(len(idxs)), idxs)):
        label = _point_label(res, idx) if idx else None  # linestyles too: curves often coincide
        handles.append(
            ax.step(
                step,
                surv[idx],
                where="post",
                color=c,
                lw=1.8,
                marker=marker,
                ls=_LINESTYLES[k % len(_LINESTYLES)],
                label=label,
            )[0]
        )
        if times is not None and np.isfinite(times[idx]).any():
            km = analysis.kaplan_meier(times[idx], censor_time=float(step[-1]))
            tt = np.concatenate([[step[0]], km.time, [step[-1]]])
            lo = np.concatenate([[1.0], km.low, km.low[-1:]])
            hi = np.concatenate([[1.0], km.high, km.high[-1:]])
            ax.fill_between(tt, lo, hi, step="post", color=c, alpha=0.18, lw=0)
    if times is not None:
        handles.append(Patch(color="0.35", alpha=0.3, lw=0, label="95% Kaplan–Meier band"))
    if _symbol_caption(res) and idxs != [()]:
        handles.append(Line2D([], [], ls="none", label=_symbol_caption(res)))
    _set_step_scale(ax, step, logx, limits="left")  # right margin: a drop at the last record shows
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of seeds not yet crossed")
    fp = _fpt_info(res, observable)
    if fp is not None:
        rel = "below" if fp.get("below", True) else "above"
        title = f"first passage of {_nice(observable)} {rel} {_fmt(fp['threshold'])}"
    else:
        title = f"first passage of {_nice(observable)}"
    n = _n_seeds(res)
    ax.set_title(title + (f" ({n} seeds)" if n else ""), fontsize="medium")
    ax.grid(True, alpha=0.3)
    if idxs != [()] or times is not None:
        _legend(ax, handles, len(handles))
    return fig


# ======================================================== paired differences
def plot_paired_difference(res: Results, observable: str, reference=None, *, level: float = 0.95) -> Figure:
    """Difference of ``observable`` between each grid point and ``reference`` over time.

    Uses the per-seed values (``record.keep_per_seed``): seed k shares its
    initialisation and samples across grid points (common random numbers), so
    the difference is estimated on per-seed differences (paired t interval,
    shaded) — far tighter than the unpaired (Welch) interval, drawn dotted for
    contrast.  ``reference`` is a grid index (default: the first grid point).
    """
    _require(res, observable)
    key = f"{observable}.per_seed"
    if key not in res:
        raise ValueError(f"no per-seed values of {observable!r} (add it to record.keep_per_seed)")
    idxs = _grid_indices(res)
    if len(idxs) < 2:
        raise ValueError("a paired difference needs at least two grid points (a sweep)")
    ref = idxs[0] if reference is None else _index(res, reference)
    v = np.asarray(res[key], np.float64)  # (*grid, seeds, R)
    step, xlabel = _time(res)
    fig = new_figure()
    ax = fig.subplots()
    handles = []
    others = [i for i in idxs if i != ref]
    for c, idx in zip(_colors(len(others)), others):
        paired = analysis.paired_difference(v[idx].T, v[ref].T, level=level)
        unpaired = analysis.unpaired_difference(v[idx].T, v[ref].T, level=level)
        handles.append(ax.plot(step, paired.estimate, color=c, lw=1.8, label=_point_label(res, idx))[0])
        ax.fill_between(step, paired.low, paired.high, color=c, alpha=0.3, lw=0)
        ax.plot(step, unpaired.low, color=c, lw=0.9, ls=":")
        ax.plot(step, unpaired.high, color=c, lw=0.9, ls=":")
    ax.axhline(0.0, color="0.3", lw=0.8)
    gray = "0.35"
    key_handles = [
        Patch(color=gray, alpha=0.3, lw=0, label=f"{100 * level:g}% paired interval"),
        Line2D([], [], color=gray, lw=0.9, ls=":", label=f"{100 * level:g}% unpaired interval"),
    ]
    _legend(ax, handles + key_handles, len(handles))
    _set_step_scale(ax, step, None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"Δ {_nice(observable)}")
    ax.set_title(f"{_nice(observable)}: difference to {_point_label(res, ref)} (same seeds)", fontsize="medium")
    ax.grid(True, alpha=0.3)
    return fig


# ============================================================ final vs noise
def plot_final_vs_noise(
    res: Results,
    observable: str,
    *,
    x_axis: str | int | None = None,
    record: int = -1,
    logx: bool | None = None,
    logy: bool | None = None,
) -> Figure:
    """Mean of ``observable`` at the last record (± s.e.m. error bars) against a grid axis.

    x is the first grid axis (or ``x_axis``: a name such as ``"optimizer.lr"``
    or a position; the learning rate as η = lr·d where the conventions apply),
    logarithmic when its positive values span more than a decade (symlog when 0
    is among them); one line per value of the other axis, or per combination of
    the other axes.  Grid points where every seed diverged are marked with ✕ at
    the top.  ``record`` picks another record index.  Raises ``ValueError``
    without a sweep or for an unknown observable.
    """
    _require(res, observable)
    axes = res.grid_axes
    if not axes:
        raise ValueError(f"plot_final_vs_noise({observable!r}) needs a sweep: these results have no grid axes")
    if x_axis is None:
        xi = 0
    elif isinstance(x_axis, (int, np.integer)):
        if not -len(axes) <= x_axis < len(axes):
            raise ValueError(f"x_axis {x_axis} out of range for grid axes {axes}")
        xi = int(x_axis) % len(axes)
    else:
        if x_axis not in axes:
            raise ValueError(f"x_axis {x_axis!r} is not a grid axis; have: {', '.join(axes)}")
        xi = axes.index(x_axis)
    xname = axes[xi]
    others = [a for k, a in enumerate(axes) if k != xi]
    step = np.asarray(res.step)
    R = len(step)
    if not -R <= record < R:
        raise ValueError(f"record {record} out of range for {R} records")
    categorical = res[xname].dtype.kind in "US"  # optimizer.method: names at positions 0..n-1
    x = np.arange(len(res[xname]), dtype=np.float64) if categorical else np.asarray(res[xname], np.float64)
    sym = None if categorical else _symbol(res, xname)
    if sym is not None:
        x = x * sym[1]
    mean = np.moveaxis(np.asarray(res.get(observable, "mean"), np.float64)[..., record], xi, -1)
    sem = (
        np.moveaxis(np.asarray(res.get(observable, "sem"), np.float64)[..., record], xi, -1)
        if f"{observable}.sem" in res
        else np.full_like(mean, np.nan)
    )
    div = (
        np.moveaxis(np.asarray(res["diverged.fraction"], np.float64)[..., record], xi, -1)
        if "diverged.fraction" in res
        else np.zeros_like(mean)
    )
    order = np.argsort(x)
    combos = list(np.ndindex(*mean.shape[:-1]))

    fig = new_figure()
    ax = fig.subplots()
    top = blended_transform_factory(ax.transData, ax.transAxes)
    handles = []
    any_dead = False
    for c, combo in zip(_colors(len(combos)), combos):
        m, s, d = mean[combo][order], sem[combo][order], div[combo][order]
        label = _point_label(res, combo, others) if others else "mean ± s.e.m."
        cont = ax.errorbar(
            x[order],
            m,
            yerr=np.where(np.isfinite(s), s, 0.0),
            color=c,
            marker="o",
            ms=4,
            lw=1.5,
            capsize=3,
            label=label,
        )
        handles.append(cont)
        dead = ~np.isfinite(m) & (d > 0)
        if np.any(dead):
            any_dead = True
            ax.plot(
                x[order][dead],
                np.full(dead.sum(), 0.96),
                transform=top,
                ls="none",
                marker="x",
                ms=7,
                mew=2,
                color=c,
                clip_on=False,
            )
    if categorical:
        ax.set_xticks(x, [str(v) for v in res[xname]])
    elif logx is None:
        _set_value_scale(ax, "x", x, decades=1.0)
    elif logx:
        ax.set_xscale("symlog" if np.any(x <= 0) else "log")
    if logy is None:
        _set_value_scale(ax, "y", [mean, mean - sem, mean + sem], decades=2.0)
    elif logy:
        ax.set_yscale("log")
    if any_dead:
        handles.append(Line2D([], [], ls="none", marker="x", ms=7, mew=2, color="0.35", label="all seeds diverged"))
    if others or any_dead:
        _legend(ax, handles, len(combos))
    ax.set_xlabel(f"{sym[0]} = lr·d  ({xname} × {int(sym[1])})" if sym is not None else xname)
    time, tlabel = _time(res)
    at = f"step {int(step[record])}" if tlabel == "SGD step" else f"t = {time[record]:g}"
    ax.set_ylabel(f"{_nice(observable)} at {at}")
    n = _n_seeds(res)
    ax.set_title(f"final {_nice(observable)}: mean ± s.e.m." + (f" over {n} seeds" if n else ""), fontsize="medium")
    ax.grid(True, alpha=0.3)
    return fig


# ================================================================== save all
def _slug(res: Results, idx: tuple[int, ...]) -> str:
    names = _short_names(res.grid_axes)
    return "_".join(f"{n}={_axis_values(res, a)[i]}" for n, a, i in zip(names, res.grid_axes, idx))


def save_standard_figures(
    results: Results | str | os.PathLike, out_dir_or_file: str | os.PathLike, observable: str | None = None
) -> list[Path]:
    """Write every standard figure that applies as PNG files; return their paths.

    ``results``: a :class:`Results` or a results directory.  ``out_dir_or_file``:
    a directory (created if needed; files are named ``trajectories_{obs}.png``,
    ``density_{obs}_{point}.png``, ``survival_{obs}.png``,
    ``paired_difference_{obs}.png``, ``final_vs_{axis}_{obs}.png`` with ``axis`` the
    short name of the first grid axis, e.g. ``final_vs_lr_population_loss.png``) or
    a ``.png`` file name whose stem prefixes those names in its folder.  For each observable (all recorded ones, or just
    ``observable``): trajectories always; density for each grid point (at most
    :data:`MAX_DENSITY_FIGURES`, evenly spaced) when a histogram was
    recorded; survival when it has a first-passage threshold; final-vs-noise
    when there is a sweep.  Raises ``ValueError`` for an unknown observable.
    """
    res = results if isinstance(results, Results) else _load(results)
    if observable is not None:
        _require(res, observable)
    names = [observable] if observable is not None else _observables(res)
    out = Path(out_dir_or_file)
    if out.suffix.lower() == ".png":
        folder, prefix = out.parent, out.stem + "_"
    else:
        folder, prefix = out, ""
    folder.mkdir(parents=True, exist_ok=True)

    written: list[Path] = []

    def save(fig: Figure, name: str) -> None:
        path = folder / f"{prefix}{name}.png"
        fig.savefig(path, dpi=DPI)
        written.append(path)

    idxs = _grid_indices(res)
    if len(idxs) > MAX_DENSITY_FIGURES:
        pick = np.unique(np.linspace(0, len(idxs) - 1, MAX_DENSITY_FIGURES).round().astype(int))
        dens_idxs = [idxs[i] for i in pick]
    else:
        dens_idxs = idxs
    for obs in names:
        save(plot_trajectories(res, obs), f"trajectories_{obs}")
        if f"{obs}.hist" in res:
            for idx in dens_idxs:
                save(plot_density(res, obs, idx), f"density_{obs}" + (f"_{_slug(res, idx)}" if idx else ""))
        if f"fpt.{obs}.survival" in res:
            save(plot_survival(res, obs), f"survival_{obs}")
        if f"{obs}.per_seed" in res and len(idxs) > 1:
            save(plot_paired_difference(res, obs), f"paired_difference_{obs}")
        if res.grid_axes:
            save(plot_final_vs_noise(res, obs), f"final_vs_{_short_names(res.grid_axes)[0]}_{obs}")
    return written
