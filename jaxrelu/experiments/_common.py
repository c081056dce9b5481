"""What every built-in experiment script needs: its command line, its results folder, run-or-reload.

A script reads::

    from jaxrelu.experiments import _common as common

    p = common.parser(NAME, __doc__, seeds_help="seeds per grid point (default 64)", source=True)
    p.add_argument("--noise", type=float, default=0.3)         # its own options
    args = p.parse_args(argv)
    out = common.results_dir(NAME, args.out, source=args.source)
    res = common.run_or_load(data, out, "gd", overrides=args.set, source=args.source)

The ODE started from the same seeds' initial weights is
:func:`jaxrelu.theory.predict.ode_trajectories`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: ``--from`` help (re-analysis of an earlier run's results folder)
SOURCE_HELP = "re-analyse the results saved in DIR by an earlier run instead of simulating"


def parser(
    name: str,
    doc: str | None,
    *,
    quick_help: str = "tiny sizes (a smoke test)",
    seeds_help: str = "seeds per grid point",
    steps_help: str | None = None,
    set_example: str | None = "model.width=64",
    source: bool = False,
    out_help: str = "results folder (default: a fresh folder under runs/)",
    **defaults,
) -> argparse.ArgumentParser:
    """The command line shared by the scripts, ``jaxrelu run NAME [options]``.

    Options: ``--quick``, ``--out``, ``--figures`` (a Path, default ``figures/NAME``),
    ``--seeds`` (int, default None: the script's own size), ``--steps`` (int, default
    None) when ``steps_help`` is given, ``--set KEY=VALUE`` (repeatable, default [])
    unless ``set_example`` (an example for its help) is None, and ``--from DIR``
    (``args.source``, default None) when ``source``.  ``*_help``: the help texts.
    ``defaults``: other defaults by destination, e.g. ``seeds=128``.  The description
    is the first line of ``doc`` (the script's docstring).  Add the script's own
    options to the returned parser before ``parse_args``.
    """
    lines = (doc or "").strip().splitlines()
    p = argparse.ArgumentParser(prog=f"jaxrelu run {name}", description=lines[0] if lines else None)
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--out", default=None, help=out_help)
    p.add_argument(
        "--figures",
        type=Path,
        default=Path("figures") / name,
        metavar="DIR",
        help=f"figure folder (default figures/{name})",
    )
    p.add_argument("--seeds", type=int, default=None, help=seeds_help)
    if steps_help is not None:
        p.add_argument("--steps", type=int, default=None, help=steps_help)
    if set_example is not None:
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"override a config key of every run (repeatable), e.g. --set {set_example}",
        )
    if source:
        p.add_argument("--from", dest="source", default=None, metavar="DIR", help=SOURCE_HELP)
    p.set_defaults(**defaults)
    return p


def results_dir(name: str, out: str | Path | None = None, *, source: str | Path | None = None) -> Path:
    """The folder a script writes its results into, created; never one holding earlier results.

    ``source`` (``--from DIR``): that folder, as it is (a re-analysis reads it and
    writes next to its results).  Otherwise ``out``, or a fresh
    ``runs/NAME-YYYYmmdd-HHMMSS[-i]`` when None.  Raises SystemExit with a one-line
    ``error: ...`` when ``out`` exists and is not an empty folder (``jaxrelu run``
    then exits with status 2).
    """
    if source is not None:
        return Path(source)
    from jaxrelu import cli

    path = Path(out) if out is not None else cli.fresh_out(name)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise SystemExit(f"error: output directory {str(path)!r} is not empty; choose another --out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_or_load(data: dict, out: Path, key: str, *, overrides=(), source: str | Path | None = None):
    """Run the study ``data`` (a config dict, with ``overrides`` applied) and save it as ``out/key``;
    with ``source`` (``--from``) load ``out/key`` instead.  Returns the :class:`jaxrelu.Results`."""
    import jaxrelu
    from jaxrelu import config

    if source is not None:
        return jaxrelu.load(Path(out) / key)
    res = jaxrelu.run(config.from_dict(data, overrides=list(overrides)))
    res.save(Path(out) / key)
    return res
