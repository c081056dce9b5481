"""Command line: ``jaxrelu run | plot | experiments | validate | plan | bench``.

Exit codes: 0 success, 2 invalid input (one line ``error: ...`` naming the key).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from jaxrelu import config
from jaxrelu.config import ConfigError
from jaxrelu.results import ResultsError


def experiments_dir() -> Path:
    """The folder of the built-in studies, ``jaxrelu/experiments/`` inside the installed package."""
    return Path(__file__).resolve().parent / "experiments"


def resolve_config(name: str) -> Path:
    """A path, or the name of a built-in experiment (``quickstart``: a .toml or a .py script)."""
    p = Path(name)
    if p.exists() or p.suffix in (".toml", ".py") or "/" in name:
        return p
    for suffix in (".toml", ".py"):
        builtin = experiments_dir() / f"{name}{suffix}"
        if builtin.exists() and not name.startswith("_"):
            return builtin
    import difflib

    guess = difflib.get_close_matches(name, builtin_names(), n=1)
    if guess:
        raise ConfigError(f"config file {name!r} does not exist (did you mean the built-in experiment {guess[0]!r}?)")
    return p


def builtin_names() -> list[str]:
    """The names of the built-in experiments (``jaxrelu experiments``)."""
    d = experiments_dir()
    return sorted({f.stem for f in [*d.glob("*.toml"), *d.glob("*.py")] if not f.stem.startswith("_")})


def run_script(path: Path, argv: list[str]) -> int:
    """Run an experiment script (a built-in ``jaxrelu/experiments/NAME.py``, or a path) with its own arguments.

    Returns its exit status: 2, after a one-line ``error: ...`` on stderr, when it
    exits with a message or stops on invalid input (ConfigError, ResultsError).
    """
    import runpy

    old = sys.argv
    sys.argv = [str(path), *argv]
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code if e.code.startswith("error: ") else f"error: {e.code}", file=sys.stderr)
            return 2
        return int(e.code or 0)
    except (ConfigError, ResultsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        sys.argv = old
    return 0


class Progress:
    """A progress line on stderr, updated between compiled segments."""

    def __init__(self, stream=sys.stderr, min_interval=0.5):
        self.stream, self.min_interval, self.last = stream, min_interval, 0.0
        self.tty = stream.isatty()

    def __call__(self, p: dict) -> None:
        now = time.perf_counter()
        done, total = p["steps_done"], p["steps_total"]
        if done < total and now - self.last < (self.min_interval if self.tty else 10.0):
            return
        self.last = now
        frac = done / total if total else 1.0
        secs = p.get("run_seconds", p["elapsed"])  # stepping time, as the final summary's rate
        rate = done / secs if secs > 0 else 0.0
        eta = f"{(total - done) / rate:5.0f}s" if rate > 0 else "    ?"
        bar = "#" * int(30 * frac)
        line = (
            f"[{bar:<30}] {100 * frac:5.1f}%  {done:.3g}/{total:.3g} trajectory-steps  "
            f"{rate:.3g} trajectory-steps/s  ETA {eta}"
        )
        if "precision" in p:  # run.precision: the total is the cap (run.max_seeds)
            from jaxrelu.precision import progress_text

            line = line.replace("ETA", "ETA at max_seeds") + "  " + progress_text(p["precision"])
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        if self.tty and done >= total:
            self.stream.write("\n")
        self.stream.flush()


def fresh_out(name: str) -> Path:
    """A results folder ``runs/NAME-YYYYmmdd-HHMMSS[-i]`` that does not exist yet."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{name}-{stamp}"
    out, i = base, 1
    while out.exists():
        out, i = Path(f"{base}-{i}"), i + 1
    return out


STUDY_FILE = "study.json"


def _without_option(argv: list[str], flag: str) -> list[str]:
    """argv without ``flag VALUE`` / ``flag=VALUE`` (or an abbreviation argparse accepted)."""
    out, skip = [], False
    for a in argv:
        name = a.split("=", 1)[0]
        if skip:
            skip = False
        elif len(name) > 2 and flag.startswith(name) and name.startswith("--"):
            skip = "=" not in a
        else:
            out.append(a)
    return out


def with_plugins(study, plugins):
    """``study`` with the ``--plugin`` arguments added to ``run.plugins`` (paths made absolute), so
    that its ``study.json`` records them and a resumed run imports them again."""
    import dataclasses

    if not plugins:
        return study
    given = tuple(str(Path(p).resolve()) if p.endswith(".py") or "/" in p else p for p in plugins)
    run = dataclasses.replace(study.run, plugins=tuple(dict.fromkeys(study.run.plugins + given)))
    return dataclasses.replace(study, run=run)


def cmd_run(args) -> int:
    import json

    import jax

    import jaxrelu
    from jaxrelu import api

    if args.cpu_processes is not None:
        if args.distributed or args.coordinator:
            raise ConfigError(
                "--cpu-processes starts its own multi-process run; give no --distributed or --coordinator"
            )
        argv = _without_option(args.argv, "--cpu-processes")
        if not args.out and not args.resume:
            args.out = str(fresh_out(resolve_config(args.config).stem if args.config else "run"))
            argv += ["--out", args.out]
        from jaxrelu.engine.devices import launch_cpu_processes

        return launch_cpu_processes(args.cpu_processes, ["-m", "jaxrelu", "run", *argv])
    if args.distributed or args.coordinator:
        from jaxrelu.engine import init_distributed

        init_distributed(args.coordinator, args.num_processes, args.process_id)
    lead = jax.process_index() == 0  # only process 0 checks, writes and plots
    made = False  # this call created the results folder
    if args.resume:
        out = Path(args.resume)
        if args.config or args.set or args.plugin:
            raise ConfigError("--resume takes the study from the run directory; give no CONFIG, --set or --plugin")
        if not (out / STUDY_FILE).is_file():
            raise ResultsError(f"{str(out)!r} is not a resumable run directory (no {STUDY_FILE})")
        if (out / "results.npz").exists():
            raise ResultsError(f"{str(out)!r} already holds finished results; nothing to resume")
        try:
            data = json.loads((out / STUDY_FILE).read_text())
        except (OSError, ValueError) as e:
            raise ResultsError(f"{str(out / STUDY_FILE)!r} is corrupt ({e})") from None
        study = config.from_dict(data, base_dir=str(out))
        name = out.name
    else:
        if not args.config:
            raise ConfigError("run needs a CONFIG file (or --resume DIR)")
        path = resolve_config(args.config)
        study = with_plugins(config.load(path, args.set), args.plugin)
        name = path.stem
        api.check(study)  # before any folder is made
        if not args.out and jax.process_count() > 1:
            raise ConfigError("--out is required for a multi-process run")
        out = Path(args.out) if args.out else fresh_out(path.stem)
        if lead:
            if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.overwrite:
                raise ResultsError(
                    f"output directory {str(out)!r} is not empty; choose another --out or pass --overwrite"
                )
            made = not out.exists()
            out.mkdir(parents=True, exist_ok=True)
            for stale in [*out.glob("checkpoint*.npz"), out / "results.npz", out / "meta.json"]:
                stale.unlink(missing_ok=True)  # only with --overwrite
            (out / STUDY_FILE).write_text(json.dumps(study.to_dict(), indent=1))
    seeds = (
        f"{study.run.seeds} seeds"
        if not study.run.precision
        else f"{study.run.seeds}..{study.run.max_seeds} seeds (to precision targets)"
    )
    print(
        f"running {name}: {seeds} x {max(1, _prod(study.grid_shape))} grid points x {study.run.steps} steps -> {out}",
        file=sys.stderr,
    )
    try:
        res = jaxrelu.run(study, progress=None if args.quiet or not lead else Progress(), checkpoint=out)
    except Exception:
        if made and not any(out.rglob("checkpoint*.npz")) and not (out / api.POINTS_DIR).exists():
            # a failed start leaves no half-made folder
            shutil.rmtree(out, ignore_errors=True)
        raise
    except KeyboardInterrupt:
        n = jax.process_count()  # each process keeps its own checkpoint: resume with as many
        again = "" if n == 1 else f" --cpu-processes {n} (or the same {n} processes as before)"
        if lead:
            print(f"\ninterrupted; resume with: jaxrelu run --resume {out}{again}", file=sys.stderr)
        return 130
    if not lead:
        return 0
    res.save(out, overwrite=True)
    for f in out.glob("checkpoint*.npz"):
        f.unlink()
    shutil.rmtree(out / api.POINTS_DIR, ignore_errors=True)  # each shape point's results, now in res
    m = res.meta
    print(
        f"compiled in {m['compile_seconds']:.1f}s, ran in {m['run_seconds']:.1f}s "
        f"({m['trajectory_steps_per_second']:.3g} trajectory-steps/s)",
        file=sys.stderr,
    )
    if args.figures:
        from jaxrelu import plot

        for f in plot.save_standard_figures(res, Path(args.figures) / name):
            print(f"figure: {f}", file=sys.stderr)
    print(out)
    return 0


def cmd_plot(args) -> int:
    import jaxrelu
    from jaxrelu import plot

    res = jaxrelu.load(args.results)
    if args.observable is not None and args.observable not in res.observables:
        raise ResultsError(
            f"--observable {args.observable!r} is not in the results; have: {', '.join(res.observables)}"
        )
    out = Path(args.out) if args.out else Path(args.results) / "figures"
    for f in plot.save_standard_figures(res, out, observable=args.observable):
        print(f)
    return 0


def describe(path: Path) -> str:
    """First line of an experiment's description (TOML) or module docstring (script)."""
    import ast

    try:
        if path.suffix == ".py":
            text = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        else:
            text = config.load(path).description
        return text.strip().splitlines()[0]
    except (ConfigError, IndexError, SyntaxError, OSError, UnicodeDecodeError):
        return ""


def cmd_experiments(args) -> int:
    d = experiments_dir()  # the studies; helpers (_common.py, __init__.py) are not listed
    files = sorted(
        (f for f in [*d.glob("*.toml"), *d.glob("*.py")] if not f.name.startswith("_")), key=lambda f: f.stem
    )
    if not files:
        print(f"no experiments found in {d}", file=sys.stderr)
        return 1
    for f in files:
        kind = "script" if f.suffix == ".py" else "toml"
        print(f"{f.stem:<28} {kind:<7}{describe(f)}")
    return 0


def cmd_validate(args) -> int:
    path = resolve_config(args.config)
    study = with_plugins(config.load(path, args.set), args.plugin)
    from jaxrelu import api

    programs = api.check(study)  # every check a run makes before it simulates
    n = max(1, _prod(study.grid_shape))
    unit = " (units of d)" if study.run.time_unit == "d" else ""
    shapes = f" in {len(programs)} programs" if len(programs) > 1 else ""
    print(
        f"ok: {path}: {study.run.seeds} seeds x {n} grid points{shapes} x {study.run.steps} steps{unit}, "
        f"{len(study.record_steps())} records of {', '.join(study.record.observables)}"
    )
    return 0


def cmd_plan(args) -> int:
    """``jaxrelu plan STUDY``: a pilot run, then the seeds and wall time each precision target needs."""
    import jaxrelu
    from jaxrelu import api, precision

    path = resolve_config(args.config)
    study = with_plugins(config.load(path, args.set), args.plugin)
    if not study.run.precision:
        raise ConfigError(f"plan needs precision targets: {path} has no run.precision")
    if study.shape_axes:
        raise ConfigError(
            f"plan: a sweep over {', '.join(study.shape_axes)} (shape keys) is not supported; "
            "plan each value with --set"
        )
    n = args.seeds if args.seeds is not None else min(study.run.seeds, PILOT_SEEDS)
    if n < 2:
        raise ConfigError(f"--seeds must be >= 2, got {n}")
    pilot = precision.pilot_study(study, n)
    api.check(pilot)
    print(
        f"pilot of {path.stem}: {n} seeds x {max(1, _prod(study.grid_shape))} grid points x {study.run.steps} steps",
        file=sys.stderr,
    )
    res = jaxrelu.run(pilot)
    from jaxrelu import engine

    rows, summary = precision.plan(study, res, engine.chunk_size(engine.build(study)[0], study))
    per = summary["seconds_per_trajectory_step"]
    G, steps = max(1, _prod(study.grid_shape)), study.run.steps
    print(
        f"pilot: {n} seeds, {per:.3g} s per trajectory-step ({1 / per:.3g} trajectory-steps/s; "
        f"compiled in {summary['compile_seconds']:.1f}s)"
    )
    for row in rows:
        where = ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in row.point.items())
        if row.seeds is None:
            need = "not estimable from the pilot (error not finite): up to max_seeds"
        else:
            cap = f" > max_seeds {study.run.max_seeds}" if row.capped else ""
            need = f"{row.seeds} seeds{cap}, {_duration(row.seeds * G * steps * per)}"
        print(f"{row.target} [{where or 'the one grid point'}]: error {row.error:.3g} at {n} seeds -> {need}")
    seeds = summary["seeds"]
    print(
        f"seeds per grid point (capped at max_seeds {study.run.max_seeds}): {seeds.tolist()}, "
        f"in chunks of {summary['chunk']}: {summary['seeds_in_chunks'].tolist()}; the run steps every grid "
        f"point until the last is done: {_duration(summary['wall_seconds'])} of stepping, plus compilation"
    )
    return 0


PILOT_SEEDS = 64  # jaxrelu plan's default pilot: min(run.seeds, PILOT_SEEDS) seeds


def _duration(seconds: float) -> str:
    return (
        f"{seconds:.3g} s"
        if seconds < 120
        else f"{seconds / 60:.3g} min"
        if seconds < 7200
        else f"{seconds / 3600:.3g} h"
    )


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jaxrelu", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a study and write its results directory")
    r.add_argument("config", nargs="?", help="TOML file, or the name of a built-in experiment")
    r.add_argument("--resume", metavar="DIR", help="continue an interrupted run in DIR")
    r.add_argument("--out", help="results directory (default: a fresh folder under runs/)")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set optimizer.lr=0.01 (repeatable)",
    )
    r.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE_OR_MODULE",
        help="import a module that registers activations, losses, tasks, ... (repeatable)",
    )
    r.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty --out")
    r.add_argument("--figures", metavar="DIR", help="also write the standard figures into DIR/<config name>/")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument(
        "--distributed",
        action="store_true",
        help="join a multi-process run (jax.distributed.initialize; SLURM etc. auto-detected)",
    )
    r.add_argument("--coordinator", metavar="HOST:PORT", help="coordinator address of a multi-process run")
    r.add_argument("--num-processes", type=int)
    r.add_argument("--process-id", type=int)
    r.add_argument(
        "--cpu-processes",
        type=int,
        metavar="N",
        help="run as N processes on this machine, each on its own core with one JAX device "
        "(steadier than N devices in one process; docs/performance.md)",
    )
    r.set_defaults(func=cmd_run)
    pl = sub.add_parser("plot", help="standard figures of a results directory")
    pl.add_argument("results")
    pl.add_argument("--observable")
    pl.add_argument("--out", help="folder for the PNG files (default: RESULTS/figures)")
    pl.set_defaults(func=cmd_plot)
    e = sub.add_parser("experiments", help="list the built-in experiments")
    e.set_defaults(func=cmd_experiments)
    v = sub.add_parser("validate", help="check a config without running it")
    v.add_argument("config")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    v.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE")
    v.set_defaults(func=cmd_validate)
    pn = sub.add_parser("plan", help="pilot run: the seeds and wall time each run.precision target needs")
    pn.add_argument("config", help="TOML file with run.precision targets, or a built-in experiment")
    pn.add_argument("--seeds", type=int, help=f"pilot seeds (default: min(run.seeds, {PILOT_SEEDS}))")
    pn.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    pn.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE")
    pn.set_defaults(func=cmd_plan)
    sub.add_parser("bench", help="benchmark against peers and machine limits (jaxrelu bench --help)")
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the benchmark parses its own options
        from jaxrelu.bench import main as bench_main

        return bench_main(argv[1:])
    try:
        if argv[:1] == ["run"] and len(argv) > 1 and resolve_config(argv[1]).suffix == ".py":
            return run_script(resolve_config(argv[1]), argv[2:])  # a script experiment
        args = parser().parse_args(argv)
        args.argv = argv[1:]
        return args.func(args)
    except (ConfigError, ResultsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def entry() -> int:
    """The ``jaxrelu`` command: :func:`main` with one JAX CPU device per core (:func:`engine.use_cpu_cores`)."""
    from jaxrelu import engine

    engine.use_cpu_cores()
    try:
        return main()
    except BrokenPipeError:  # `jaxrelu experiments | head`: the reader left; end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(entry())
