"""Configuration: a study is data (frozen dataclasses), validated once.

A study is read from TOML (reference: ``docs/config.md``, generated from this
module by :mod:`jaxrelu._configdoc`) into a :class:`Study` of frozen
dataclasses.  Every problem with the input raises :class:`ConfigError` whose
message is one line naming the offending key and value, e.g.
``optimizer.lr must be a positive number, got -1``.

Each key is declared in exactly one place: its type is the field's annotation,
its default the field's default, and its bounds or choices and one-line doc sit
in the field's ``metadata`` (see :func:`_opt`).  One generic checker
(:func:`_parse`) walks the fields and turns that metadata into checks and
messages; the rules that really involve several keys (``run.records`` against
``run.record_every``, ``optimizer.batch_size`` against ``task.train_size``, ...)
are written out after it.  Typed dataclasses and one checker rather than
pydantic: no new dependency, frozen hashable dataclasses are what the compile
cache keys on, and the contract on error messages (one line, the dotted key,
the bad value) is ours to keep.

Names (activations, task kinds, losses, optimisers, methods, observables) are
not checked here: the registries resolve them later, after ``run.plugins`` have
had the chance to add names.  Here they only have to be non-empty strings.

Hyperparameters listed in :data:`SWEEPABLE` may be grid axes (``[sweep]``);
they are passed to the compiled program as traced arrays, so a new value never
recompiles.  Everything else fixes array shapes or program structure.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import hashlib
import itertools
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PARAMETRIZATIONS = ("standard", "ntk", "mean_field")

#: Task kinds parsed here; any other ``task.kind`` is a registered task (``"*"`` in a field's ``kinds``).
BUILTIN_KINDS = ("teacher_student", "dataset")
_TS, _DS, _OTHER = "teacher_student", "dataset", "*"


class ConfigError(ValueError):
    """Invalid study configuration; ``str(err)`` is a one-line message naming the key."""


def _opt(default: Any = dataclasses.MISSING, doc: str = "", **meta: Any) -> Any:
    """A field declared once: its default, its one-line ``doc``, and its checks.

    ``meta`` keys: ``ge``/``gt``/``le``/``lt`` bound a number (each item, for a
    list); ``choices`` lists the allowed strings (each item, for a list);
    ``nonempty``, ``unique`` and ``sort`` apply to lists; ``empty_ok`` lets a
    string be empty; ``sweep`` marks a traced grid axis (:data:`SWEEPABLE`), ``shape`` a grid
    axis that changes shapes or structure (:data:`SHAPE_KEYS`: one program per value); ``kinds``
    names the task kinds a ``task`` key is for (``"*"``: any registered kind);
    ``off`` (a sweepable number's value that switches its term off, default 0: :data:`OFF`);
    ``custom`` (the TOML form, for the reference) marks a key its section reads
    itself; ``key=False`` marks a field that is not a TOML key.
    """
    return field(default=default, metadata={"doc": doc, **meta})


# ==================================================================== sections
@dataclass(frozen=True)
class RunConfig:
    """How many trajectories, how long, and when to record.

    ``steps`` SGD steps are run; statistics are recorded at step 0 and then
    every ``record_every`` steps (or at ``records`` times spaced ``linear`` or
    ``log``, or at the ``record_at`` times), always including the last step.  With
    ``time_unit = "d"`` these count units of d SGD steps (t = step/d,
    :mod:`jaxrelu.conventions`), so that studies across dimensions share a time axis.  Trajectory ``k`` (for
    ``k = first_seed .. first_seed + seeds - 1``) draws all its randomness from
    ``fold_in(PRNGKey(seed), k)``.

    Precision targets (:mod:`jaxrelu.precision`): with ``[[run.precision]]`` tables, ``seeds``
    is the first batch and chunks of seeds are added, in seed order, until every target is met
    at every grid point (each grid point stops on its own) or ``max_seeds`` is reached.  A
    table: ``statistic`` (``mean``, ``quantile``, ``passage_fraction``, ``survival`` or
    ``median_escape``), ``observable`` (for the last three: one with a
    ``record.first_passage``), ``quantile`` (the level, for ``statistic = "quantile"``),
    ``at`` (``"last"``, ``"all"`` or a list of record steps; not for ``median_escape``),
    exactly one of ``se`` (standard error) or ``halfwidth`` (of the 95 % interval), and
    ``relative`` (true: divided by the estimate's absolute value).
    """

    seeds: int = _opt(
        256, "Monte Carlo sample size: trajectories per grid point (with run.precision: the first batch)", ge=1
    )
    steps: int = _opt(1000, "SGD steps per trajectory", ge=1)
    record_every: int | None = _opt(None, "record every this many steps (unset: steps // 100); excludes records", ge=1)
    records: int | None = _opt(None, "number of record times, spaced by spacing; excludes record_every", ge=2)
    spacing: str = _opt("linear", "spacing of the records times", choices=("linear", "log"))
    record_at: tuple[int, ...] | None = _opt(
        None,
        "explicit record times (0 and steps are added); excludes records and record_every",
        ge=0,
        sort=True,
        unique=True,
    )
    time_unit: str = _opt(
        "step",
        "unit of steps, record_every, record_at and the results' times: step (SGD "
        "steps) or d (t = step/d: the run makes steps·d SGD steps)",
        choices=("step", "d"),
    )
    seed: int = _opt(0, "base seed of every random draw", ge=0)
    first_seed: int = _opt(0, "run trajectories first_seed .. first_seed + seeds - 1", ge=0)
    dtype: str = _opt("float32", "floating-point type of the simulation", choices=("float32", "float64"))
    chunk_size: int | None = _opt(None, "seeds per compiled call (unset: from memory_budget)", ge=1)
    memory_budget: float | None = _opt(
        None,
        "GiB of simulation state per chunk (unset: 2 on a CPU; on a GPU or "
        "TPU, half of the local devices' free memory)",
        gt=0,
    )
    blowup: float = _opt(1e6, "|parameter| above this counts as diverged", gt=0)
    checkpoint_every: int = _opt(50, "segments between checkpoints (CLI runs); 0 = only per chunk", ge=0)
    plugins: tuple[str, ...] = _opt((), "modules or paths to .py files imported before names are resolved")
    precision: tuple[PrecisionTarget, ...] = _opt(
        (), "precision targets: add seeds until each is met (see above)", custom="list of tables, or one table"
    )
    max_seeds: int | None = _opt(None, "with run.precision: the most seeds per grid point (required there)", ge=1)


@dataclass(frozen=True)
class PrecisionTarget:
    """One precision target of ``run.precision`` (:mod:`jaxrelu.precision`)."""

    statistic: str = _opt(
        doc="what is estimated", choices=("mean", "quantile", "passage_fraction", "survival", "median_escape")
    )
    observable: str = _opt(doc="the observable (one of record.observables)")
    quantile: float | None = _opt(None, "the quantile level, for statistic = 'quantile'", gt=0, lt=1)
    at: str | tuple[int, ...] | None = _opt(
        None, "'last' (unset), 'all', or a list of record steps", ge=0, choices=("last", "all")
    )
    se: float | None = _opt(None, "largest standard error", gt=0)
    halfwidth: float | None = _opt(None, "largest half-width of the 95 % interval", gt=0)
    relative: bool = _opt(False, "se / halfwidth relative to |estimate|")


@dataclass(frozen=True)
class TaskConfig:
    """The data: a Gaussian teacher–student problem, a fixed dataset, or a registered task kind.

    Some keys are only for some kinds (column *kinds*; *registered* is any kind
    other than ``teacher_student`` and ``dataset``: a task registered by a plugin).
    For ``kind = "dataset"``, ``input_dim`` and ``train_size`` come from the data.
    """

    kind: str = _opt(_TS, "'teacher_student', 'dataset', or the name of a registered task", shape=True)
    input_dim: int = _opt(100, "input dimension d", ge=1, kinds=(_TS, _OTHER), shape=True)
    teacher_width: int = _opt(4, "teacher's hidden units", ge=1, kinds=(_TS,), shape=True)
    teacher_activation: str = _opt("relu", "teacher's activation (a registered name)", kinds=(_TS,), shape=True)
    teacher_weights: str = _opt(
        "orthonormal",
        "teacher's first layer: orthonormal rows, or N(0, 1/d) entries",
        choices=("orthonormal", "gaussian"),
        kinds=(_TS,),
    )
    teacher_second_layer: float | tuple[float, ...] = _opt(
        1.0, "teacher's second layer: one number for every unit, or a list of teacher_width numbers", kinds=(_TS,)
    )
    train_size: int | str = _opt(
        "online",
        "'online' (fresh samples every step) or n (a training set per seed)",
        ge=1,
        choices=("online",),
        kinds=(_TS, _OTHER),
        shape=True,
    )
    label_noise: float = _opt(
        0.0, "std of noise in the data labels (fixed per sample for finite sets)", ge=0, sweep=True
    )
    test_size: int = _opt(4096, "held-out sample for losses with no closed form", ge=1)
    inputs: tuple[tuple[float, ...], ...] | None = _opt(
        None, "the inputs, one per row", kinds=(_DS,), custom="list of numbers, or of equal-length lists"
    )
    targets: tuple[float, ...] | None = _opt(None, "the targets, one per input", kinds=(_DS,), custom="list of numbers")
    test_inputs: tuple[tuple[float, ...], ...] | None = _opt(
        None,
        "a held-out test set's inputs (optional; with test_targets)",
        kinds=(_DS,),
        custom="list of numbers, or of lists as long as the inputs'",
    )
    test_targets: tuple[float, ...] | None = _opt(
        None, "the held-out test set's targets, one per test input", kinds=(_DS,), custom="list of numbers"
    )
    file: str | None = _opt(
        None,
        ".npz with arrays x and y (and optionally x_test, y_test), relative to the "
        "config; excludes inputs, targets, test_inputs and test_targets",
        kinds=(_DS,),
        custom="path",
    )
    file_sha256: str | None = _opt(
        None,
        "SHA-256 of task.file, written into study.json with the file's absolute "
        "path (not its data); a study whose file has changed since is refused",
        kinds=(_DS,),
        custom="hex digest",
    )
    loss: str = _opt("square", "per-sample loss (a registered name)", shape=True)
    params: tuple[tuple[str, Any], ...] = _opt(
        (), "extra parameters of a registered task kind", kinds=(_OTHER,), custom="table"
    )


@dataclass(frozen=True)
class ModelConfig:
    """The student f(x) = c · Σ_j a_j σ(w_j·x + b_j)."""

    width: int = _opt(8, "student's hidden units m", ge=1, shape=True)
    activation: str = _opt("relu", "student's activation σ (a registered name)", shape=True)
    bias: bool = _opt(False, "hidden-unit biases b_j", shape=True)
    train_second_layer: bool = _opt(True, "train the second layer a (false: soft committee machine)")
    parametrization: str = _opt(
        "standard", "output scale c: 1 (standard), 1/√m (ntk), 1/m (mean_field)", choices=PARAMETRIZATIONS, shape=True
    )
    init_scale: float = _opt(1.0, "first-layer entries and biases ~ N(0, init_scale²/d)", ge=0, sweep=True)
    first_layer_init: str = _opt(
        "gaussian", "first-layer rows: gaussian, or orthonormal (times init_scale)", choices=("gaussian", "orthonormal")
    )
    second_layer_init: float | str = _opt(
        "gaussian", "a number, gaussian (N(0, second_layer_scale²)), or balanced", choices=("gaussian", "balanced")
    )
    second_layer_scale: float = _opt(1.0, "std of the gaussian second layer", ge=0, sweep=True)
    init_overlap: float | None = _opt(
        None,
        "first-layer rows w_j = s (m0 u + √(1 − m0²) v_j), u the task's first "
        "direction, v_j ⊥ u uniform, s = init_scale: cosine m0 exactly (0: the "
        "equator); unset: the plain initialisation",
        ge=-1,
        le=1,
    )


@dataclass(frozen=True)
class OptimizerConfig:
    """The optimiser, the simulation method, and the noise sources of SGD."""

    lr: float = _opt(0.005, "learning rate", gt=0, sweep=True)
    batch_size: int = _opt(1, "samples per step", ge=1, sweep=True)
    momentum: float = _opt(0.0, "heavy-ball momentum", ge=0, lt=1, sweep=True)
    weight_decay: float = _opt(0.0, "decoupled weight decay", ge=0, sweep=True)
    label_noise: float = _opt(
        0.0, "label-noise SGD: fresh N(0, σ²) on each sampled label, every step", ge=0, sweep=True
    )
    label_flip: float = _opt(
        0.0, "label-flip SGD: each sampled label y → −y with probability p, every step", ge=0, le=1, sweep=True
    )
    langevin_temperature: float = _opt(0.0, "θ += √(2·lr·T) ξ after each step", ge=0, sweep=True)
    schedule: str = _opt(
        "constant",
        "learning-rate schedule: constant, or step (see decay_at, decay_factor)",
        choices=("constant", "step"),
    )
    decay_at: tuple[float, ...] = _opt(
        (0.5,), "step schedule: fractions of run.steps where lr decays", gt=0, lt=1, sort=True
    )
    decay_factor: float = _opt(0.1, "step schedule: factor applied to lr at each decay", gt=0, sweep=True)
    replacement: bool = _opt(False, "finite training sets: sample batches with replacement")
    method: str = _opt("sgd", "simulation method, e.g. sgd, sde, sde_exact, flow, svag (a registered name)", sweep=True)
    substeps: int = _opt(1, "sde / flow: integrator steps per SGD step of time", ge=1)
    sde_samples: int = _opt(
        1024,
        "online sde / flow: fresh samples per step for ∇L and Σ; sde_exact: "
        "field samples per step (its noise covariance is exact for any number; "
        "more make the noise closer to Gaussian, fewer are faster)",
        ge=1,
    )
    svag_l: int = _opt(1, "SVAG's l (1 = SGD)", ge=1, sweep=True)
    name: str = _opt("sgd", "the optimiser (a registered name, jaxrelu.optimizers); a grid axis too", sweep=True)
    second_layer_lr_ratio: float = _opt(
        1.0, "per-layer rates: the second layer's learning rate / the first's", ge=0, sweep=True, off=1.0
    )
    sphere_radius: float = _opt(
        0.0,
        "spherical SGD: after every step each first-layer row is projected back onto "
        "the sphere of this radius (0: off)",
        ge=0,
        sweep=True,
    )
    repeat: int = _opt(1, "data repetition: each fresh online batch is used for this many consecutive steps", ge=1)
    # the optimisers' own hyperparameters (defaults: optax's)
    momentum_beta: float = _opt(
        0.9, "β of the momentum and nesterov optimisers (sgd's is momentum)", ge=0, lt=1, sweep=True
    )
    adam_b1: float = _opt(0.9, "adam, adamw: decay of the first moment", ge=0, lt=1, sweep=True)
    adam_b2: float = _opt(0.999, "adam, adamw: decay of the second moment", ge=0, lt=1, sweep=True)
    adam_eps: float = _opt(1e-8, "adam, adamw: ε added to the root of the second moment", ge=0, sweep=True)
    adamw_weight_decay: float = _opt(1e-4, "adamw: decoupled weight decay", ge=0, sweep=True)
    rmsprop_decay: float = _opt(0.9, "rmsprop: decay of the squared-gradient average", ge=0, lt=1, sweep=True)
    rmsprop_eps: float = _opt(1e-8, "rmsprop: ε added to the squared-gradient average", ge=0, sweep=True)
    rmsprop_initial_scale: float = _opt(0.0, "rmsprop: initial squared-gradient average", ge=0, sweep=True)
    rmsprop_momentum: float = _opt(0.0, "rmsprop: momentum (0: none)", ge=0, lt=1, sweep=True)
    adagrad_initial: float = _opt(0.1, "adagrad: initial accumulator value", ge=0, sweep=True)
    adagrad_eps: float = _opt(1e-7, "adagrad: ε added to the accumulator's root", ge=0, sweep=True)
    lion_b1: float = _opt(0.9, "lion: interpolation of gradient and momentum in the sign", ge=0, le=1, sweep=True)
    lion_b2: float = _opt(0.99, "lion: decay of the momentum", ge=0, le=1, sweep=True)
    lion_weight_decay: float = _opt(1e-3, "lion: decoupled weight decay", ge=0, sweep=True)
    sam_rho: float = _opt(0.05, "sam: radius ρ of the ascent step θ + ρ g/‖g‖", ge=0, sweep=True)
    # noise models added to every update (jaxrelu.dynamics.noise); η_ℓ is the layer's learning rate
    anti_pgd_scale: float = _opt(0.0, "anti-correlated noise: θ += σ (ξ_{t+1} − ξ_t), ξ_t ~ N(0, I)", ge=0, sweep=True)
    stable_scale: float = _opt(0.0, "symmetric α-stable noise: θ += σ η_ℓ^{1/α} S_α (S_2 = N(0, 2))", ge=0, sweep=True)
    stable_alpha: float = _opt(1.5, "α of the α-stable noise", gt=0, le=2, sweep=True)
    student_t_scale: float = _opt(0.0, "Student-t noise: θ += σ √(2 η_ℓ) t_ν", ge=0, sweep=True)
    student_t_df: float = _opt(3.0, "ν (degrees of freedom) of the Student-t noise", gt=0, sweep=True)


@dataclass(frozen=True)
class FirstPassage:
    """The first record step at which a seed's observable is at or below (above) a threshold.

    In TOML: ``{ observable = "...", below = x }`` or ``{ observable = "...", above = x }``.
    """

    observable: str = _opt(doc="the observable (one of record.observables)")
    threshold: float = _opt(doc="the threshold: below = x (first at or below x) or above = x (first at or above x)")
    below: bool = _opt(True, "true when written below = x, false when written above = x")


@dataclass(frozen=True)
class Histogram:
    """A histogram over seeds of one observable at each record time.

    In TOML: ``[record.histograms]`` then ``observable = { min = ..., max = ..., bins = ..., log = ... }``.
    """

    observable: str = _opt(doc="the observable (one of record.observables): the table's key", key=False)
    min: float = _opt(doc="lower edge of the first bin")
    max: float = _opt(doc="upper edge of the last bin (> min)")
    bins: int = _opt(50, "number of bins", ge=1)
    log: bool = _opt(False, "log-spaced bins (needs min > 0)")


@dataclass(frozen=True)
class RecordConfig:
    """What is measured at each record time and how it is summarised over seeds."""

    observables: tuple[str, ...] = _opt(
        ("population_loss",), "what is measured at each record time (registered names)", nonempty=True, unique=True
    )
    quantiles: tuple[float, ...] = _opt((0.05, 0.25, 0.5, 0.75, 0.95), "quantile levels over seeds", ge=0, le=1)
    histograms: tuple[Histogram, ...] = _opt(
        (), "observable = { min, max, bins, log }: histograms over seeds", custom="table of tables"
    )
    first_passage: tuple[FirstPassage, ...] = _opt(
        (), "{ observable, below | above }: first-passage steps per seed", custom="list of tables, or one table"
    )
    keep_per_seed: tuple[str, ...] = _opt((), "observables also stored per seed (from record.observables)")
    theory: tuple[str, ...] = _opt(
        (), "ode: the teacher–student ODE beside the simulation, same config and seeds", choices=("ode",)
    )


def _section(cls, doc: str) -> Any:
    return field(default_factory=cls, metadata={"doc": doc})


@dataclass(frozen=True)
class Study:
    """A whole study: one compiled program runs every seed at every grid point."""

    run: RunConfig = _section(RunConfig, "trajectories, steps, records")
    task: TaskConfig = _section(TaskConfig, "the data")
    model: ModelConfig = _section(ModelConfig, "the student network")
    optimizer: OptimizerConfig = _section(OptimizerConfig, "SGD and its noise")
    sweep: tuple[tuple[str, tuple[float | str, ...]], ...] = _opt(
        (), '"section.key" = [values]: grid axes; the grid is their product', custom="table"
    )
    record: RecordConfig = _section(RecordConfig, "what is measured and how it is summarised")
    description: str = _opt("", "one line shown by `jaxrelu experiments`", empty_ok=True)
    base_dir: str = _opt(".", "where relative paths (task.file) are resolved", key=False)

    # ----------------------------------------------------------------- derived
    @property
    def grid_axes(self) -> tuple[str, ...]:
        """The swept keys, in grid-axis order."""
        return tuple(k for k, _ in self.sweep)

    @property
    def shape_axes(self) -> tuple[str, ...]:
        """The grid axes that change shapes or structure (:data:`SHAPE_KEYS`), in grid-axis order."""
        return tuple(k for k, _ in self.sweep if k in SHAPE_KEYS)

    def points(self) -> list[tuple[tuple, Study]]:
        """The study at each combination of its shape axes' values, in C order:
        ``[(values, study)]`` where ``study`` has those values set and only the traced axes
        left in its sweep, validated like a study file (an invalid combination raises a
        :class:`ConfigError` naming it).  ``[((), self)]`` when no shape key is swept."""
        axes = self.shape_axes
        if not axes:
            return [((), self)]
        base = self.to_dict()
        base["sweep"] = {k: list(v) for k, v in self.sweep if k not in SHAPE_KEYS}
        out = []
        for combo in itertools.product(*(dict(self.sweep)[a] for a in axes)):
            d = copy.deepcopy(base)
            for a, v in zip(axes, combo):
                sec, key = a.split(".")
                d[sec][key] = v
            try:
                out.append((combo, from_dict(d, self.base_dir)))
            except ConfigError as e:
                at = ", ".join(f"{a} = {v!r}" for a, v in zip(axes, combo))
                raise ConfigError(f"sweep at {at}: {e}") from None
        return out

    def in_steps(self) -> Study:
        """This study with its times counted in SGD steps: with ``run.time_unit = "d"``,
        ``steps·d`` steps recorded at ``t·d`` for each record time t; ``self`` otherwise.
        ``task.input_dim`` must not be swept (take :meth:`points` first)."""
        r = self.run
        if r.time_unit == "step":
            return self
        if "task.input_dim" in self.shape_axes:
            raise ConfigError("run.time_unit = 'd' with a sweep over task.input_dim: convert each of points()")
        d = self.task.input_dim
        run = dataclasses.replace(
            r,
            steps=r.steps * d,
            record_at=tuple(t * d for t in self.record_steps()),
            records=None,
            record_every=None,
            time_unit="step",
        )
        return dataclasses.replace(self, run=run)

    @property
    def methods(self) -> tuple[str, ...]:
        """The dynamics of the study: ``optimizer.method``, or the values of its sweep."""
        return tuple(dict(self.sweep).get("optimizer.method", (self.optimizer.method,)))

    @property
    def optimizers(self) -> tuple[str, ...]:
        """The optimisers of the study: ``optimizer.name``, or the values of its sweep."""
        return tuple(dict(self.sweep).get("optimizer.name", (self.optimizer.name,)))

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """The number of values of each grid axis."""
        return tuple(len(v) for _, v in self.sweep)

    def value(self, path: str) -> Any:
        """The configured value of ``section.key`` (not a sweep's values)."""
        section, key = path.split(".")
        return getattr(getattr(self, section), key)

    def record_steps(self) -> tuple[int, ...]:
        """The record times in ``run.time_unit`` (0 and ``run.steps`` included); SGD steps
        for the engine are those of :meth:`in_steps`."""
        r = self.run
        if r.record_at is not None:
            return tuple(sorted({0, *r.record_at, r.steps}))
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
        d["record"]["histograms"] = {
            h["observable"]: {k: v for k, v in h.items() if k != "observable"} for h in d["record"]["histograms"]
        }
        d["record"]["first_passage"] = [
            {"observable": f["observable"], ("below" if f["below"] else "above"): f["threshold"]}
            for f in d["record"]["first_passage"]
        ]
        d.pop("base_dir")
        fields = _fields(TaskConfig)
        d["task"] = {k: v for k, v in d["task"].items() if _for_kind(fields[k][0], self.task.kind)}
        if "params" in d["task"]:
            d["task"]["params"] = dict(self.task.params)
        if self.task.file is not None:  # a dataset file is recorded by path and content hash, not copied
            for k in ("inputs", "targets", "test_inputs", "test_targets"):
                d["task"].pop(k, None)
        return _drop_none(d)


#: The sections of a study file, by name.
_SECTIONS = {
    "run": RunConfig,
    "task": TaskConfig,
    "model": ModelConfig,
    "optimizer": OptimizerConfig,
    "record": RecordConfig,
}


@functools.cache
def _fields(cls) -> dict[str, tuple[dataclasses.Field, Any]]:
    """The TOML keys of ``cls``: name -> (field, its resolved type)."""
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls) if f.metadata.get("key", True)}


#: Hyperparameters that may be grid axes; each is a traced scalar per grid point.
SWEEPABLE = tuple(
    f"{s}.{k}" for s, cls in _SECTIONS.items() for k, (f, _) in _fields(cls).items() if f.metadata.get("sweep")
)

#: Keys that may be grid axes although they change shapes or structure (dimensions, widths, names):
#: the run compiles one program per combination of their values (:meth:`Study.points`).
SHAPE_KEYS = tuple(
    f"{s}.{k}" for s, cls in _SECTIONS.items() for k, (f, _) in _fields(cls).items() if f.metadata.get("shape")
)

#: The sweepable numbers and the value of each that switches its term off (0 unless a field declares
#: ``off``, e.g. ``optimizer.second_layer_lr_ratio``'s 1); the categorical axes (``optimizer.method``,
#: ``optimizer.name``) are not in it.
OFF = {
    f"{s}.{k}": f.metadata.get("off", 0.0)
    for s, cls in _SECTIONS.items()
    for k, (f, tp) in _fields(cls).items()
    if f.metadata.get("sweep") and tp is not str
}


def _geomspace(a: float, b: float, n: int) -> list[float]:
    if n <= 1:
        return [b]
    la, lb = math.log(a), math.log(b)
    return [math.exp(la + (lb - la) * i / (n - 1)) for i in range(n)]


def _drop_none(x):
    if isinstance(x, dict):
        return {k: _drop_none(v) for k, v in x.items() if v is not None}
    if isinstance(x, (list, tuple)):  # TOML/JSON lists
        return [_drop_none(v) for v in x]
    return x


def _for_kind(f: dataclasses.Field, kind: str) -> bool:
    """Whether task key ``f`` is for task kind ``kind``."""
    kinds = f.metadata.get("kinds")
    return kinds is None or kind in kinds or (_OTHER in kinds and kind not in BUILTIN_KINDS)


# ============================================================ generic checker
_BAD = object()


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _in_bounds(v, meta) -> bool:
    return not (
        ("ge" in meta and v < meta["ge"])
        or ("gt" in meta and v <= meta["gt"])
        or ("le" in meta and v > meta["le"])
        or ("lt" in meta and v >= meta["lt"])
    )


def _convert(v, tp, meta):
    """``v`` as a value of type ``tp`` within ``meta``'s bounds and choices, or ``_BAD``."""
    if tp is bool:
        return v if isinstance(v, bool) else _BAD
    if tp is int:  # an exact-integer float (1e5, 4.0) is an integer
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return v if isinstance(v, int) and not isinstance(v, bool) and _in_bounds(v, meta) else _BAD
    if tp is float:
        return float(v) if _is_num(v) and _in_bounds(v, meta) else _BAD
    if tp is str:
        if not isinstance(v, str):
            return _BAD
        if "choices" in meta:
            return v if v in meta["choices"] else _BAD
        return v if v or meta.get("empty_ok") else _BAD
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        if v is None:
            return None if type(None) in args else _BAD
        for a in args:
            out = _BAD if a is type(None) else _convert(v, a, meta)
            if out is not _BAD:
                return out
        return _BAD
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:  # tuple[T, ...]: a TOML list
        if not isinstance(v, (list, tuple)) or (meta.get("nonempty") and not v):
            return _BAD
        items = [_convert(x, args[0], meta) for x in v]
        if any(x is _BAD for x in items):
            return _BAD
        return tuple(sorted(items) if meta.get("sort") else items)
    raise TypeError(f"no generic check for type {tp}")  # a field needs custom=...


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _bounds(meta) -> str:
    """``meta``'s bounds as ``>= 1``, ``> 0``, ``in [0, 1)``, or ``""``."""
    lo = ("[", meta["ge"]) if "ge" in meta else ("(", meta["gt"]) if "gt" in meta else None
    hi = (meta["le"], "]") if "le" in meta else (meta["lt"], ")") if "lt" in meta else None
    if lo and hi:
        return f"in {lo[0]}{_num(lo[1])}, {_num(hi[0])}{hi[1]}"
    if lo:
        return f"{'>=' if lo[0] == '[' else '>'} {_num(lo[1])}"
    if hi:
        return f"{'<=' if hi[1] == ']' else '<'} {_num(hi[0])}"
    return ""


def _describe(tp, meta, plural: bool = False) -> str:
    """What a valid value is, in words: ``a positive integer``, ``a list of numbers in (0, 1)``, ..."""

    def noun(adj: str, word: str) -> str:
        if plural:
            return f"{adj}{word}s"
        return f"{'an' if (adj or word)[0] in 'aeiou' else 'a'} {adj}{word}"

    if tp is bool:
        return "booleans" if plural else "true or false"
    if tp in (int, float):
        word = "integer" if tp is int else "number"
        upper = "le" in meta or "lt" in meta
        if not upper and (meta.get("gt") == 0 or (tp is int and meta.get("ge") == 1)):
            return noun("positive ", word)
        if not upper and meta.get("ge") == 0:
            return noun("non-negative ", word)
        b = _bounds(meta)
        return noun("", word) + (f" {b}" if b else "")
    if tp is str:
        if "choices" in meta:
            listed = ", ".join(map(repr, meta["choices"]))
            return f"strings from {listed}" if plural else f"one of {listed}"
        return noun("" if meta.get("empty_ok") else "non-empty ", "string")
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        parts: list[str] = []
        for a in args:
            if a is str and "choices" in meta:
                parts += map(repr, meta["choices"])
            elif a is not type(None):
                parts.append(_describe(a, meta, plural))
        return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} or {parts[-1]}"
    if origin is tuple:
        return f"a {'non-empty ' if meta.get('nonempty') else ''}list of {_describe(args[0], meta, plural=True)}"
    raise TypeError(f"no description for type {tp}")


def _check(key: str, v, f: dataclasses.Field, tp):
    """``v`` checked against field ``f`` (type ``tp``) and converted; else a ConfigError naming ``key``."""
    out = _convert(v, tp, f.metadata)
    if out is _BAD:
        raise ConfigError(f"{key} must be {_describe(tp, f.metadata)}, got {v!r}")
    if f.metadata.get("unique") and len(set(out)) != len(out):
        twice = next(x for i, x in enumerate(out) if x in out[:i])
        raise ConfigError(f"{key} lists {twice!r} twice, got {v!r}")
    return out


def _known(cls, raw: dict, prefix: str) -> None:
    """Refuse a key of ``raw`` that is not a key of ``cls``, suggesting the nearest."""
    allowed = list(_fields(cls))
    for k in raw:
        if k not in allowed:
            raise _unknown(f"{prefix}.{k}" if prefix else k, allowed)


def _parse(cls, raw: dict, prefix: str) -> dict:
    """The generic checker: every key of ``cls`` its section does not read itself, checked, or its default."""
    out = {}
    for name, (f, tp) in _fields(cls).items():
        if "custom" in f.metadata:
            continue
        if name in raw or f.default is dataclasses.MISSING:  # a required key missing reads as None
            out[name] = _check(f"{prefix}.{name}", raw.get(name), f, tp)
        else:
            out[name] = f.default
    return out


def _unknown(name: str, allowed) -> ConfigError:
    guess = difflib.get_close_matches(name.split(".")[-1], list(allowed), n=1)
    hint = f" (did you mean {name.rsplit('.', 1)[0] + '.' if '.' in name else ''}{guess[0]}?)" if guess else ""
    return ConfigError(f"unknown key {name}{hint}")


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
    """Apply ``section.key=value`` strings in place; values are parsed as TOML.

    ``sweep.section.key=[...]`` (or ``sweep."section.key"=[...]``) sets a grid
    axis.  Setting a key that ``data`` already sweeps is refused: the sweep
    would silently win over it.
    """
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
            data.setdefault("sweep", {})[key[len("sweep.") :].strip('"')] = value
            continue
        sweep = data.get("sweep")
        if isinstance(sweep, dict) and key in sweep:
            raise ConfigError(f"--set {key} conflicts with the sweep over {key}; use --set sweep.{key}=[...]")
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


def from_dict(data: dict, base_dir: str = ".", overrides=()) -> Study:
    """Validate a nested dict (as read from TOML) into a :class:`Study`.

    ``overrides``: ``section.key=value`` strings applied to a copy of ``data`` first.
    """
    if not isinstance(data, dict):
        raise ConfigError("config must be a table")
    if overrides:
        data = copy.deepcopy(data)
        apply_overrides(data, overrides)
    _known(Study, data, "")  # "" : top-level keys are not prefixed
    sections = {}
    for name, cls in _SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{name} must be a table, got {raw!r}")
        _known(cls, raw, name)
        sections[name] = raw
    desc = _check("description", data.get("description", ""), *_fields(Study)["description"])

    study = Study(
        run=_run(sections["run"]),
        task=_task(sections["task"], base_dir),
        model=ModelConfig(**_parse(ModelConfig, sections["model"], "model")),
        optimizer=OptimizerConfig(**_parse(OptimizerConfig, sections["optimizer"], "optimizer")),
        record=_record(sections["record"]),
        description=desc,
        base_dir=base_dir,
    )
    study = dataclasses.replace(study, sweep=_sweep(data.get("sweep", {})))
    _cross_checks(study)
    return study


# ------------------------------------------------ the checks of several keys
def _run(d) -> RunConfig:
    r = RunConfig(**_parse(RunConfig, d, "run"))
    if sum(v is not None for v in (r.record_every, r.records, r.record_at)) > 1:
        raise ConfigError("run.records, run.record_every and run.record_at are exclusive; give one")
    if r.record_at is not None and r.record_at[-1] > r.steps:
        raise ConfigError(f"run.record_at must be <= run.steps ({r.steps}), got {list(r.record_at)}")
    if r.record_every is not None and r.record_every > r.steps:
        raise ConfigError(f"run.record_every must be <= run.steps ({r.steps}), got {r.record_every}")
    return _run_precision(r, d)


def _run_precision(r: RunConfig, d: dict) -> RunConfig:
    """``run.precision`` (a table or a list of tables) and ``run.max_seeds``, checked on their own."""
    raw = d.get("precision", [])
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError(f"run.precision must be a table or a list of tables, got {d.get('precision')!r}")
    out = []
    for t in raw:
        _known(PrecisionTarget, t, "run.precision")
        p = PrecisionTarget(**_parse(PrecisionTarget, t, "run.precision"))
        if (p.se is None) == (p.halfwidth is None):
            raise ConfigError(f"run.precision needs exactly one of se or halfwidth, got {t!r}")
        if (p.quantile is None) != (p.statistic != "quantile"):
            raise ConfigError(
                f"run.precision.quantile is {'required' if p.quantile is None else 'only'} "
                f"for statistic = 'quantile', got {t!r}"
            )
        if p.statistic == "median_escape" and p.at is not None:
            raise ConfigError(f"run.precision.at is not for statistic = 'median_escape', got {t['at']!r}")
        out.append(p)
    if out and r.max_seeds is None:
        raise ConfigError("run.max_seeds is required with run.precision (the most seeds per grid point)")
    if r.max_seeds is not None and r.max_seeds < r.seeds:
        raise ConfigError(f"run.max_seeds must be >= run.seeds ({r.seeds}), got {r.max_seeds}")
    return dataclasses.replace(r, precision=tuple(out))


def _precision_cross(study: Study) -> None:
    """The precision targets against the record section: observables, first passages, per-seed values."""
    rec, steps = study.record, study.record_steps()
    fps = {f.observable for f in rec.first_passage}
    for p in study.run.precision:
        if p.observable not in rec.observables:
            raise ConfigError(f"run.precision.observable must be one of record.observables, got {p.observable!r}")
        if p.statistic in ("passage_fraction", "survival", "median_escape") and p.observable not in fps:
            raise ConfigError(
                f"run.precision: statistic = {p.statistic!r} needs a record.first_passage for {p.observable!r}"
            )
        if p.statistic == "quantile" and not (rec.quantiles or p.observable in rec.keep_per_seed):
            raise ConfigError(
                "run.precision: statistic = 'quantile' needs per-seed values (record.quantiles "
                f"or record.keep_per_seed), got record.quantiles = {list(rec.quantiles)!r}"
            )
        if isinstance(p.at, tuple):
            if study.run.time_unit != "step":
                raise ConfigError(
                    f"run.precision.at: a list of record steps needs run.time_unit = 'step', got at = {list(p.at)!r}"
                )
            missing = [s for s in p.at if s not in steps]
            if missing:
                raise ConfigError(f"run.precision.at must list record steps, got {missing[0]!r} (not recorded)")


def _kinds_text(kinds) -> str:
    named = [f"kind = {k!r}" for k in kinds if k != _OTHER]
    return " or ".join(named + (["a registered task kind"] if _OTHER in kinds else []))


def _task(d, base_dir) -> TaskConfig:
    fields = _fields(TaskConfig)
    kind = _check("task.kind", d.get("kind", _TS), *fields["kind"])
    for k in d:
        if not _for_kind(fields[k][0], kind):
            raise ConfigError(
                f"task.{k} is only for {_kinds_text(fields[k][0].metadata['kinds'])}, not kind = {kind!r}"
            )
    vals = _parse(TaskConfig, d, "task")
    if kind == _DS:
        inputs, targets = _dataset(d, base_dir)
        test_inputs, test_targets = _dataset_test(d, base_dir, len(inputs[0]))
        file, digest = d.get("file"), d.get("file_sha256")
        if file is not None:
            path = (Path(base_dir) / file).resolve()
            found = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest is not None and digest != found:
                raise ConfigError(
                    f"task.file {str(path)!r} has changed since the study was saved "
                    f"(sha256 {found[:12]}..., recorded {str(digest)[:12]}...)"
                )
            file, digest = str(path), found
        elif digest is not None:
            raise ConfigError(f"task.file_sha256 needs task.file, got {digest!r} without one")
        return TaskConfig(
            **{
                **vals,
                "input_dim": len(inputs[0]),
                "teacher_width": 0,
                "train_size": len(inputs),
                "inputs": inputs,
                "targets": targets,
                "file": file,
                "file_sha256": digest,
                "test_inputs": test_inputs,
                "test_targets": test_targets,
            }
        )
    if kind != _TS:  # a registered task: its own parameters, no teacher
        return TaskConfig(**{**vals, "teacher_width": 0, "params": _params(d.get("params", {}))})
    width, tsl = vals["teacher_width"], vals["teacher_second_layer"]
    if isinstance(tsl, tuple) and len(tsl) != width:
        raise ConfigError(
            f"task.teacher_second_layer must be a number or a list of {width} numbers, "
            f"got {d['teacher_second_layer']!r}"
        )
    if vals["teacher_weights"] == "orthonormal" and width > vals["input_dim"]:
        raise ConfigError(
            f"task.teacher_width must be <= task.input_dim ({vals['input_dim']}) for orthonormal rows, got {width}"
        )
    return TaskConfig(**vals)


def _dataset(d, base_dir) -> tuple[tuple[tuple[float, ...], ...], tuple[float, ...]]:
    """``task.inputs`` and ``task.targets`` of a dataset, inline or read from ``task.file``."""
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
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise ConfigError(f"task.inputs must be a non-empty list, got {inputs!r}")
    rows = [r if isinstance(r, (list, tuple)) else [r] for r in inputs]
    dim = len(rows[0])
    if dim == 0 or any(len(r) != dim or not all(_is_num(v) for v in r) for r in rows):
        raise ConfigError("task.inputs must be numbers or equal-length lists of numbers")
    if not isinstance(targets, (list, tuple)) or len(targets) != len(rows) or not all(_is_num(v) for v in targets):
        raise ConfigError(f"task.targets must be a list of {len(rows)} numbers (one per input), got {targets!r}")
    return tuple(tuple(float(v) for v in r) for r in rows), tuple(float(v) for v in targets)


def _dataset_test(d, base_dir, dim: int):
    """A dataset's optional held-out set (``task.test_inputs``/``test_targets``, or arrays ``x_test``,
    ``y_test`` of ``task.file``): (rows, targets) with rows of ``dim`` numbers, or (None, None)."""
    inputs, targets, file = d.get("test_inputs"), d.get("test_targets"), d.get("file")
    if file is not None:
        if inputs is not None or targets is not None:
            raise ConfigError("task.file excludes task.test_inputs and task.test_targets")
        import numpy as np

        with np.load(Path(base_dir) / file) as z:  # readable: _dataset has read it
            if ("x_test" in z.files) != ("y_test" in z.files):
                raise ConfigError(f"task.file {file!r} must hold both x_test and y_test, or neither")
            if "x_test" not in z.files:
                return None, None
            inputs, targets = z["x_test"].tolist(), z["y_test"].tolist()
    if inputs is None and targets is None:
        return None, None
    if inputs is None or targets is None:
        raise ConfigError("task.test_inputs and task.test_targets go together; give both or neither")
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise ConfigError(f"task.test_inputs must be a non-empty list, got {inputs!r}")
    rows = [r if isinstance(r, (list, tuple)) else [r] for r in inputs]
    if any(len(r) != dim or not all(_is_num(v) for v in r) for r in rows):
        raise ConfigError(f"task.test_inputs must be numbers or lists of {dim} numbers (as the inputs)")
    if not isinstance(targets, (list, tuple)) or len(targets) != len(rows) or not all(_is_num(v) for v in targets):
        raise ConfigError(
            f"task.test_targets must be a list of {len(rows)} numbers (one per test input), got {targets!r}"
        )
    return tuple(tuple(float(v) for v in r) for r in rows), tuple(float(v) for v in targets)


def _frozen(v):
    """A task parameter as a hashable value (lists as tuples), or ``_BAD``."""
    if isinstance(v, (bool, int, str)) or _is_num(v):
        return v
    if isinstance(v, (list, tuple)):
        items = [_frozen(x) for x in v]
        return _BAD if any(x is _BAD for x in items) else tuple(items)
    return _BAD


def _params(raw) -> tuple[tuple[str, Any], ...]:
    """``task.params`` as sorted (key, value) pairs, so that the task stays hashable."""
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise ConfigError(f"task.params must be a table of name = value, got {raw!r}")
    out = []
    for k, v in sorted(raw.items()):
        fv = _frozen(v)
        if fv is _BAD:
            raise ConfigError(
                f"task.params.{k} must be a number, a string, true or false, or a list of them; got {v!r}"
            )
        out.append((k, fv))
    return tuple(out)


def _record(d) -> RecordConfig:
    vals = _parse(RecordConfig, d, "record")
    obs = vals["observables"]
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
        _known(Histogram, h, key)
        hh = Histogram(observable=name, **_parse(Histogram, h, key))
        if hh.max <= hh.min or (hh.log and hh.min <= 0):
            raise ConfigError(f"{key} needs min < max (and min > 0 when log = true), got {h!r}")
        hist_list.append(hh)
    fps = d.get("first_passage", [])
    if isinstance(fps, dict):
        fps = [fps]
    if not isinstance(fps, list):
        raise ConfigError(f"record.first_passage must be a table or a list of tables, got {fps!r}")
    fp_list: list[FirstPassage] = []
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
        side = "below" if "below" in fp else "above"
        thr = _check(f"record.first_passage.{side}", fp[side], *_fields(FirstPassage)["threshold"])
        if any(f.observable == o for f in fp_list):
            raise ConfigError(f"record.first_passage: one threshold per observable; {o!r} has two")
        fp_list.append(FirstPassage(o, thr, side == "below"))
    if any(k not in obs for k in vals["keep_per_seed"]):
        raise ConfigError(
            f"record.keep_per_seed must list observables from record.observables, got {d['keep_per_seed']!r}"
        )
    if vals["theory"] and "population_loss" not in obs:
        raise ConfigError("record.theory = ['ode'] needs population_loss in record.observables")
    return RecordConfig(**vals, histograms=tuple(hist_list), first_passage=tuple(fp_list))


def _sweep(raw) -> tuple[tuple[str, tuple], ...]:
    if not isinstance(raw, dict):
        raise ConfigError(f"sweep must be a table of 'section.key' = [values], got {raw!r}")
    known = [f"{s}.{k}" for s, cls in _SECTIONS.items() for k in _fields(cls)]
    out = []
    for key, values in raw.items():
        if key not in SWEEPABLE and key not in SHAPE_KEYS:
            if "." not in key and isinstance(values, dict):  # TOML read optimizer.lr = [...] as a table
                path = [key]
                while isinstance(values, dict) and values:
                    k, values = next(iter(values.items()))
                    path.append(k)
                raise ConfigError(f'sweep keys must be quoted: write "{".".join(path)}" = [...]')
            if key not in known:
                guess = difflib.get_close_matches(key, known, n=1)
                raise ConfigError(f"unknown key sweep.{key}" + (f" (did you mean {guess[0]}?)" if guess else ""))
            raise ConfigError(f"sweep.{key} cannot be swept; sweepable: {', '.join(SWEEPABLE + SHAPE_KEYS)}")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.{key} must be a non-empty list of values, got {values!r}")
        sec, k = key.split(".")
        f, tp = _fields(_SECTIONS[sec])[k]
        checked = []
        for v in values:
            try:
                checked.append(_check(key, v, f, tp))
            except ConfigError as e:
                raise ConfigError(f"sweep.{key}: {e}") from None
        if len(set(checked)) != len(checked):
            raise ConfigError(f"sweep.{key} repeats a value: {values!r}")
        out.append((key, tuple(checked)))
    return tuple(out)


def _cross_checks(study: Study) -> None:
    _precision_cross(study)
    t, o = study.task, study.optimizer
    bmax = max([o.batch_size] + [v for k, vs in study.sweep if k == "optimizer.batch_size" for v in vs])
    if t.train_size != "online" and bmax > t.train_size and not o.replacement:
        raise ConfigError(
            f"optimizer.batch_size must be <= task.train_size ({t.train_size}) without replacement, got {bmax}"
        )
