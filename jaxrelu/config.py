"""Configuration: a study is data (frozen dataclasses), validated once.

A study is read from TOML (see ``README.md`` for the reference) into a
:class:`Study` of frozen dataclasses.  Every problem with the input raises
:class:`ConfigError` whose message is one line naming the offending key and
value, e.g. ``optimizer.lr must be a positive number, got -1``.

Hyperparameters listed in :data:`SWEEPABLE` may be grid axes (``[sweep]``);
they are passed to the compiled program as traced arrays, so a new value never
recompiles.  Everything else fixes array shapes or program structure.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaxrelu import observables

ACTIVATIONS = ("relu", "erf", "linear")
PARAMETRIZATIONS = ("standard", "ntk", "mean_field")

#: Hyperparameters that may be grid axes; each is a traced scalar per grid point.
SWEEPABLE = (
    "optimizer.lr", "optimizer.batch_size", "optimizer.momentum",
    "optimizer.weight_decay", "optimizer.label_noise",
    "optimizer.langevin_temperature", "optimizer.decay_factor",
    "model.init_scale", "model.second_layer_scale", "task.label_noise",
    "optimizer.method", "optimizer.svag_l",
)
METHODS = ("sgd", "sde", "flow", "svag")


class ConfigError(ValueError):
    """Invalid study configuration; ``str(err)`` is a one-line message naming the key."""


@dataclass(frozen=True)
class RunConfig:
    """How many trajectories, how long, and when to record.

    ``steps`` SGD steps are run; statistics are recorded at step 0 and then
    every ``record_every`` steps (or at ``records`` times spaced ``linear`` or
    ``log``), always including the last step.  Trajectory ``k`` (for
    ``k = first_seed .. first_seed + seeds - 1``) draws all its randomness from
    ``fold_in(PRNGKey(seed), k)``.
    """
    seeds: int = 256
    steps: int = 1000
    record_every: int | None = None
    records: int | None = None
    spacing: str = "linear"
    seed: int = 0
    first_seed: int = 0
    dtype: str = "float32"
    chunk_size: int | None = None   # seeds per compiled call; None = from memory_budget
    memory_budget: float = 2.0      # GiB for simulation state per chunk
    blowup: float = 1e6             # |parameter| above this counts as diverged
    checkpoint_every: int = 50      # segments between checkpoints (CLI runs); 0 = only per chunk


@dataclass(frozen=True)
class TaskConfig:
    """The data: a Gaussian teacher–student problem or a fixed dataset."""
    kind: str = "teacher_student"
    input_dim: int = 100
    teacher_width: int = 4
    teacher_activation: str = "relu"
    teacher_weights: str = "orthonormal"
    teacher_second_layer: float | tuple[float, ...] = 1.0
    train_size: int | str = "online"
    label_noise: float = 0.0
    test_size: int = 4096           # held-out sample for losses with no closed form
    inputs: tuple[tuple[float, ...], ...] | None = None
    targets: tuple[float, ...] | None = None
    file: str | None = None


@dataclass(frozen=True)
class ModelConfig:
    """The student f(x) = c · Σ_j a_j σ(w_j·x + b_j)."""
    width: int = 8
    activation: str = "relu"
    bias: bool = False
    train_second_layer: bool = True
    parametrization: str = "standard"
    init_scale: float = 1.0
    first_layer_init: str = "gaussian"
    second_layer_init: float | str = "gaussian"
    second_layer_scale: float = 1.0


@dataclass(frozen=True)
class OptimizerConfig:
    """SGD and its noise sources (see :mod:`jaxrelu.noise`)."""
    lr: float = 0.005
    batch_size: int = 1
    momentum: float = 0.0
    weight_decay: float = 0.0
    label_noise: float = 0.0
    langevin_temperature: float = 0.0
    schedule: str = "constant"
    decay_at: tuple[float, ...] = (0.5,)
    decay_factor: float = 0.1
    replacement: bool = False
    method: str = "sgd"             # "sde": Euler–Maruyama of SGD's SDE; "flow": gradient flow; "svag"
    substeps: int = 1               # Euler(-Maruyama) steps per step of time, "sde" / "flow"
    sde_samples: int = 1024         # online "sde"/"flow": fresh samples per step for ∇L and Σ
    svag_l: int = 1                 # SVAG's l (1 = SGD)


@dataclass(frozen=True)
class FirstPassage:
    observable: str
    threshold: float
    below: bool = True


@dataclass(frozen=True)
class Histogram:
    observable: str
    min: float
    max: float
    bins: int = 50
    log: bool = False


@dataclass(frozen=True)
class RecordConfig:
    """What is measured at each record time and how it is summarised over seeds."""
    observables: tuple[str, ...] = ("population_loss",)
    quantiles: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
    histograms: tuple[Histogram, ...] = ()
    first_passage: tuple[FirstPassage, ...] = ()
    keep_per_seed: tuple[str, ...] = ()
    theory: tuple[str, ...] = ()    # "ode": the teacher–student ODE, same config and seeds


@dataclass(frozen=True)
class Study:
    """A whole study: one compiled program runs every seed at every grid point."""
    run: RunConfig = field(default_factory=RunConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    sweep: tuple[tuple[str, tuple[float | str, ...]], ...] = ()
    record: RecordConfig = field(default_factory=RecordConfig)
    description: str = ""
    base_dir: str = "."             # where relative paths (task.file) are resolved

    # ----------------------------------------------------------------- derived
    @property
    def grid_axes(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.sweep)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(v) for _, v in self.sweep)

    def value(self, path: str) -> Any:
        section, key = path.split(".")
        return getattr(getattr(self, section), key)

    def record_steps(self) -> tuple[int, ...]:
        """The steps at which statistics are recorded (0 and ``run.steps`` included)."""
        r = self.run
        if r.records is not None:
            n = r.records
            if r.spacing == "log":
                pts = [0] + [round(x) for x in _geomspace(1, r.steps, n - 1)]
            else:
                pts = [round(i * r.steps / (n - 1)) for i in range(n)]
            return tuple(sorted(set(pts)))
        every = r.record_every or max(1, r.steps // 100)
        pts = list(range(0, r.steps + 1, every))
        if pts[-1] != r.steps:
            pts.append(r.steps)
        return tuple(pts)

    def to_dict(self) -> dict:
        """The study as TOML-like data: ``from_dict(study.to_dict())`` gives it back."""
        d = dataclasses.asdict(self)
        d["sweep"] = {k: list(v) for k, v in self.sweep}
        d["record"]["histograms"] = {h["observable"]: {k: v for k, v in h.items() if k != "observable"}
                                     for h in d["record"]["histograms"]}
        d["record"]["first_passage"] = [
            {"observable": f["observable"], ("below" if f["below"] else "above"): f["threshold"]}
            for f in d["record"]["first_passage"]]
        d.pop("base_dir")
        if self.task.kind == "dataset":       # the data actually used, inline (no file path)
            d["task"] = {k: d["task"][k] for k in ("kind", "inputs", "targets", "label_noise", "test_size")}
        return _drop_none(d)


def _geomspace(a: float, b: float, n: int) -> list[float]:
    if n <= 1:
        return [b]
    la, lb = math.log(a), math.log(b)
    return [math.exp(la + (lb - la) * i / (n - 1)) for i in range(n)]


def _drop_none(x):
    if isinstance(x, dict):
        return {k: _drop_none(v) for k, v in x.items() if v is not None}
    if isinstance(x, (list, tuple)):           # TOML/JSON lists
        return [_drop_none(v) for v in x]
    return x


# ====================================================================== parsing
def load(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Study:
    """Read a TOML study file, apply ``key=value`` overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    apply_overrides(data, overrides)
    return from_dict(data, base_dir=str(path.parent))


def apply_overrides(data: dict, overrides) -> None:
    """Apply ``section.key=value`` strings in place; values are parsed as TOML."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} must look like section.key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        if key.startswith("sweep."):
            data.setdefault("sweep", {})[key[len("sweep."):].strip('"')] = value
            continue
        parts = key.split(".")
        if len(parts) == 1:
            data[key] = value
            continue
        if len(parts) != 2:
            raise ConfigError(f"--set key {key!r} must be section.key")
        sec = data.setdefault(parts[0], {})
        if not isinstance(sec, dict):
            raise ConfigError(f"--set {key}: {parts[0]} is not a section")
        sec[parts[1]] = value


_SECTIONS = {"run": RunConfig, "task": TaskConfig, "model": ModelConfig,
             "optimizer": OptimizerConfig, "record": RecordConfig}


def _unknown(name: str, allowed) -> ConfigError:
    guess = difflib.get_close_matches(name.split(".")[-1], list(allowed), n=1)
    hint = f" (did you mean {name.rsplit('.', 1)[0] + '.' if '.' in name else ''}{guess[0]}?)" if guess else ""
    return ConfigError(f"unknown key {name}{hint}")


def from_dict(data: dict, base_dir: str = ".", overrides=()) -> Study:
    """Validate a nested dict (as read from TOML) into a :class:`Study`.

    ``overrides``: ``section.key=value`` strings applied to a copy of ``data`` first.
    """
    if not isinstance(data, dict):
        raise ConfigError("config must be a table")
    if overrides:
        data = copy.deepcopy(data)
        apply_overrides(data, overrides)
    top = ("description", "sweep") + tuple(_SECTIONS)
    for k in data:
        if k not in top:
            raise _unknown(k, top)
    sections = {}
    for name, cls in _SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{name} must be a table, got {raw!r}")
        allowed = [f.name for f in dataclasses.fields(cls)]
        for k in raw:
            if k not in allowed:
                raise _unknown(f"{name}.{k}", allowed)
        sections[name] = raw
    desc = data.get("description", "")
    if not isinstance(desc, str):
        raise ConfigError(f"description must be a string, got {desc!r}")

    run = _run(sections["run"])
    task = _task(sections["task"], base_dir)
    model = _model(sections["model"])
    opt = _optimizer(sections["optimizer"])
    record = _record(sections["record"])
    study = Study(run=run, task=task, model=model, optimizer=opt, record=record,
                  description=desc, base_dir=base_dir)
    sweep = _sweep(data.get("sweep", {}), study)
    study = dataclasses.replace(study, sweep=sweep)
    _cross_checks(study)
    return study


# --------------------------------------------------------------- field checks
def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(d, sec, key, default, lo=1, none_ok=False):
    v = d.get(key, default)
    if v is None and none_ok:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        what = "a positive integer" if lo == 1 else f"an integer >= {lo}"
        raise ConfigError(f"{sec}.{key} must be {what}, got {v!r}")
    return v


def _float(d, sec, key, default, lo=0.0, strict=False, hi=None):
    v = d.get(key, default)
    bad = not _is_num(v) or (v <= lo if strict else v < lo) or (hi is not None and v > hi)
    if bad:
        what = ("a positive number" if strict and lo == 0 else
                "a non-negative number" if lo == 0 else f"a number >= {lo}")
        if hi is not None:
            what += f" <= {hi}"
        raise ConfigError(f"{sec}.{key} must be {what}, got {v!r}")
    return float(v)


def _choice(d, sec, key, default, choices):
    v = d.get(key, default)
    if v not in choices:
        raise ConfigError(f"{sec}.{key} must be one of {', '.join(map(repr, choices))}; got {v!r}")
    return v


def _bool(d, sec, key, default):
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise ConfigError(f"{sec}.{key} must be true or false, got {v!r}")
    return v


def _run(d) -> RunConfig:
    s = "run"
    r = RunConfig(
        seeds=_int(d, s, "seeds", 256), steps=_int(d, s, "steps", 1000),
        record_every=_int(d, s, "record_every", None, none_ok=True),
        records=_int(d, s, "records", None, lo=2, none_ok=True),
        spacing=_choice(d, s, "spacing", "linear", ("linear", "log")),
        seed=_int(d, s, "seed", 0, lo=0), first_seed=_int(d, s, "first_seed", 0, lo=0),
        dtype=_choice(d, s, "dtype", "float32", ("float32", "float64")),
        chunk_size=_int(d, s, "chunk_size", None, none_ok=True),
        memory_budget=_float(d, s, "memory_budget", 2.0, strict=True),
        blowup=_float(d, s, "blowup", 1e6, strict=True),
        checkpoint_every=_int(d, s, "checkpoint_every", 50, lo=0))
    if r.record_every is not None and r.records is not None:
        raise ConfigError("run.records and run.record_every are exclusive; give one")
    if r.record_every is not None and r.record_every > r.steps:
        raise ConfigError(f"run.record_every must be <= run.steps ({r.steps}), got {r.record_every}")
    return r


def _task(d, base_dir) -> TaskConfig:
    s = "task"
    kind = _choice(d, s, "kind", "teacher_student", ("teacher_student", "dataset"))
    label_noise = _float(d, s, "label_noise", 0.0)
    test_size = _int(d, s, "test_size", 4096)
    if kind == "dataset":
        for k in ("input_dim", "teacher_width", "teacher_activation", "teacher_weights",
                  "teacher_second_layer", "train_size"):
            if k in d:
                raise ConfigError(f"task.{k} is only for kind = 'teacher_student'")
        inputs, targets, file = d.get("inputs"), d.get("targets"), d.get("file")
        if file is not None:
            if inputs is not None or targets is not None:
                raise ConfigError("task.file excludes task.inputs and task.targets")
            if not isinstance(file, str):
                raise ConfigError(f"task.file must be a path string, got {file!r}")
            p = Path(base_dir) / file
            if not p.is_file():
                raise ConfigError(f"task.file {str(p)!r} does not exist")
            import numpy as np
            try:
                with np.load(p) as z:
                    inputs, targets = z["x"].tolist(), z["y"].tolist()
            except Exception as e:  # noqa: BLE001 - any unreadable file is a config error
                raise ConfigError(f"task.file {str(p)!r} must be an .npz with arrays x and y ({e})") from None
        if inputs is None or targets is None:
            raise ConfigError("task.inputs and task.targets (or task.file) are required for kind = 'dataset'")
        if not isinstance(inputs, list) or not inputs:
            raise ConfigError(f"task.inputs must be a non-empty list, got {inputs!r}")
        rows = [r if isinstance(r, list) else [r] for r in inputs]
        dim = len(rows[0])
        if dim == 0 or any(len(r) != dim or not all(_is_num(v) for v in r) for r in rows):
            raise ConfigError("task.inputs must be numbers or equal-length lists of numbers")
        if not isinstance(targets, list) or len(targets) != len(rows) or not all(_is_num(v) for v in targets):
            raise ConfigError(f"task.targets must be a list of {len(rows)} numbers (one per input), got {targets!r}")
        return TaskConfig(kind=kind, input_dim=dim, teacher_width=0, train_size=len(rows),
                          label_noise=label_noise, test_size=test_size,
                          inputs=tuple(tuple(float(v) for v in r) for r in rows),
                          targets=tuple(float(v) for v in targets),
                          file=file)
    for k in ("inputs", "targets", "file"):
        if k in d:
            raise ConfigError(f"task.{k} is only for kind = 'dataset'")
    width = _int(d, s, "teacher_width", 4)
    tsl = d.get("teacher_second_layer", 1.0)
    if isinstance(tsl, list):
        if len(tsl) != width or not all(_is_num(v) for v in tsl):
            raise ConfigError(f"task.teacher_second_layer must be a number or a list of {width} numbers, got {tsl!r}")
        tsl = tuple(float(v) for v in tsl)
    elif not _is_num(tsl):
        raise ConfigError(f"task.teacher_second_layer must be a number or a list of numbers, got {tsl!r}")
    else:
        tsl = float(tsl)
    ts = d.get("train_size", "online")
    if ts != "online" and (not isinstance(ts, int) or isinstance(ts, bool) or ts < 1):
        raise ConfigError(f"task.train_size must be 'online' or a positive integer, got {ts!r}")
    dim = _int(d, s, "input_dim", 100)
    tw = _choice(d, s, "teacher_weights", "orthonormal", ("orthonormal", "gaussian"))
    if tw == "orthonormal" and width > dim:
        raise ConfigError(f"task.teacher_width must be <= task.input_dim ({dim}) for orthonormal rows, got {width}")
    return TaskConfig(kind=kind, input_dim=dim, teacher_width=width,
                      teacher_activation=_choice(d, s, "teacher_activation", "relu", ACTIVATIONS),
                      teacher_weights=tw, teacher_second_layer=tsl, train_size=ts,
                      label_noise=label_noise, test_size=test_size)


def _model(d) -> ModelConfig:
    s = "model"
    sli = d.get("second_layer_init", "gaussian")
    if not (_is_num(sli) or sli in ("gaussian", "balanced")):
        raise ConfigError(f"model.second_layer_init must be a number, 'gaussian' or 'balanced'; got {sli!r}")
    return ModelConfig(
        width=_int(d, s, "width", 8), activation=_choice(d, s, "activation", "relu", ACTIVATIONS),
        bias=_bool(d, s, "bias", False), train_second_layer=_bool(d, s, "train_second_layer", True),
        parametrization=_choice(d, s, "parametrization", "standard", PARAMETRIZATIONS),
        init_scale=_float(d, s, "init_scale", 1.0),
        first_layer_init=_choice(d, s, "first_layer_init", "gaussian", ("gaussian", "orthonormal")),
        second_layer_init=float(sli) if _is_num(sli) else sli,
        second_layer_scale=_float(d, s, "second_layer_scale", 1.0))


def _optimizer(d) -> OptimizerConfig:
    s = "optimizer"
    decay_at = d.get("decay_at", [0.5])
    if not isinstance(decay_at, list) or not all(_is_num(v) and 0 < v < 1 for v in decay_at):
        raise ConfigError(f"optimizer.decay_at must be a list of fractions in (0, 1), got {decay_at!r}")
    return OptimizerConfig(
        lr=_float(d, s, "lr", 0.005, strict=True), batch_size=_int(d, s, "batch_size", 1),
        momentum=_float(d, s, "momentum", 0.0, hi=1.0 - 1e-12),
        weight_decay=_float(d, s, "weight_decay", 0.0), label_noise=_float(d, s, "label_noise", 0.0),
        langevin_temperature=_float(d, s, "langevin_temperature", 0.0),
        schedule=_choice(d, s, "schedule", "constant", ("constant", "step")),
        decay_at=tuple(sorted(float(v) for v in decay_at)),
        decay_factor=_float(d, s, "decay_factor", 0.1, strict=True),
        replacement=_bool(d, s, "replacement", False),
        method=_choice(d, s, "method", "sgd", METHODS), substeps=_int(d, s, "substeps", 1),
        sde_samples=_int(d, s, "sde_samples", 1024), svag_l=_int(d, s, "svag_l", 1))


def _record(d) -> RecordConfig:
    obs = d.get("observables", ["population_loss"])
    if not isinstance(obs, list) or not obs:
        raise ConfigError(f"record.observables must be a non-empty list, got {obs!r}")
    known = list(observables.REGISTRY)
    for o in obs:
        if o not in known:
            guess = difflib.get_close_matches(str(o), known, n=1)
            raise ConfigError(f"record.observables: unknown observable {o!r}"
                              + (f" (did you mean {guess[0]}?)" if guess else ""))
    if len(set(obs)) != len(obs):
        raise ConfigError(f"record.observables lists an observable twice: {obs!r}")
    qs = d.get("quantiles", [0.05, 0.25, 0.5, 0.75, 0.95])
    if not isinstance(qs, list) or not all(_is_num(q) and 0 <= q <= 1 for q in qs):
        raise ConfigError(f"record.quantiles must be a list of levels in [0, 1], got {qs!r}")
    hists = d.get("histograms", {})
    if not isinstance(hists, dict):
        raise ConfigError(f"record.histograms must be a table of observable = {{min, max, bins, log}}, got {hists!r}")
    hist_list = []
    for name, h in hists.items():
        key = f"record.histograms.{name}"
        if name not in obs:
            raise ConfigError(f"{key}: {name!r} is not in record.observables")
        if not isinstance(h, dict):
            raise ConfigError(f"{key} must be a table {{min, max, bins, log}}, got {h!r}")
        for k in h:
            if k not in ("min", "max", "bins", "log"):
                raise _unknown(f"{key}.{k}", ("min", "max", "bins", "log"))
        for k in ("min", "max"):
            if not _is_num(h.get(k)):
                raise ConfigError(f"{key}.{k} must be a number, got {h.get(k)!r}")
        hh = Histogram(name, float(h["min"]), float(h["max"]), _int(h, key, "bins", 50),
                       _bool(h, key, "log", False))
        if hh.max <= hh.min or (hh.log and hh.min <= 0):
            raise ConfigError(f"{key} needs min < max (and min > 0 when log = true), got {h!r}")
        hist_list.append(hh)
    fps = d.get("first_passage", [])
    if isinstance(fps, dict):
        fps = [fps]
    if not isinstance(fps, list):
        raise ConfigError(f"record.first_passage must be a table or a list of tables, got {fps!r}")
    fp_list = []
    for fp in fps:
        if not isinstance(fp, dict):
            raise ConfigError(f"record.first_passage must be a table {{observable, below|above}}, got {fp!r}")
        for k in fp:
            if k not in ("observable", "below", "above"):
                raise _unknown(f"record.first_passage.{k}", ("observable", "below", "above"))
        o = fp.get("observable")
        if o not in obs:
            raise ConfigError(f"record.first_passage.observable must be one of record.observables, got {o!r}")
        if ("below" in fp) == ("above" in fp):
            raise ConfigError("record.first_passage needs exactly one of below or above")
        thr = fp.get("below", fp.get("above"))
        if not _is_num(thr):
            raise ConfigError(f"record.first_passage threshold must be a number, got {thr!r}")
        if any(f.observable == o for f in fp_list):
            raise ConfigError(f"record.first_passage: one threshold per observable; {o!r} has two")
        fp_list.append(FirstPassage(o, float(thr), "below" in fp))
    keep = d.get("keep_per_seed", [])
    if not isinstance(keep, list) or any(k not in obs for k in keep):
        raise ConfigError(f"record.keep_per_seed must list observables from record.observables, got {keep!r}")
    theory = d.get("theory", [])
    if not isinstance(theory, list) or any(x != "ode" for x in theory):
        raise ConfigError(f"record.theory must be a list of 'ode', got {theory!r}")
    if theory and "population_loss" not in obs:
        raise ConfigError("record.theory = ['ode'] needs population_loss in record.observables")
    return RecordConfig(observables=tuple(obs), quantiles=tuple(float(q) for q in qs), theory=tuple(theory),
                        histograms=tuple(hist_list), first_passage=tuple(fp_list),
                        keep_per_seed=tuple(keep))


_SECTION_CHECK = {"optimizer": lambda d, _: _optimizer(d), "model": lambda d, _: _model(d),
                  "task": lambda d, _: _float(d, "task", "label_noise", 0.0)}


def _sweep(raw, study: Study):
    if not isinstance(raw, dict):
        raise ConfigError(f"sweep must be a table of 'section.key' = [values], got {raw!r}")
    out = []
    for key, values in raw.items():
        if key not in SWEEPABLE:
            if key.count(".") != 1 or key.split(".")[0] not in _SECTIONS:
                raise _unknown(f"sweep.{key}", SWEEPABLE)
            raise ConfigError(f"sweep.{key} cannot be swept (it changes shapes or structure); "
                              f"sweepable: {', '.join(SWEEPABLE)}")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.{key} must be a non-empty list of values, got {values!r}")
        sec, k = key.split(".")
        for v in values:
            try:
                _SECTION_CHECK[sec]({k: v}, study.base_dir)
            except ConfigError as e:
                raise ConfigError(f"sweep.{key}: {e}") from None
        if len(set(values)) != len(values):
            raise ConfigError(f"sweep.{key} repeats a value: {values!r}")
        out.append((key, tuple(v if key == "optimizer.method" else float(v) for v in values)))
    return tuple(out)


def _cross_checks(study: Study) -> None:
    t, o = study.task, study.optimizer
    bmax = max([o.batch_size] + [int(v) for k, vs in study.sweep if k == "optimizer.batch_size" for v in vs])
    if t.train_size != "online" and bmax > t.train_size and not o.replacement:
        raise ConfigError(f"optimizer.batch_size must be <= task.train_size ({t.train_size}) "
                          f"without replacement, got {bmax}")
    if "max_teacher_cosine" in study.record.observables or "mean_teacher_cosine" in study.record.observables:
        if t.kind != "teacher_student":
            raise ConfigError("record.observables: teacher overlaps need task.kind = 'teacher_student'")
