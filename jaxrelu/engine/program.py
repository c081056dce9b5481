"""The static program of a study: its shapes, switches and registered entries (hashable).

:func:`build` resolves every name of the study through the registries (after importing
``run.plugins``), runs the checks that involve several sections, and returns the
:class:`Program` with the traced hyperparameters.  Two equal Programs share compiled
code; entries compare by identity, so a changed registration compiles afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxrelu import model, stats, tasks
from jaxrelu.config import OFF, SWEEPABLE, ConfigError, Study
from jaxrelu.dynamics import StepSpec, check_variants
from jaxrelu.observables import Context
from jaxrelu.registry import ACTIVATIONS, DYNAMICS, LOSSES, OBSERVABLES, OPTIMIZERS, TASKS, load_plugins
from jaxrelu.theory import kernels


@dataclass(frozen=True)
class Program:
    """Everything static about a study: two equal Programs share compiled code."""

    task: tasks.TaskSpec
    step: StepSpec
    ctx: Context
    width: int
    bias: bool
    first_layer: str
    second_layer: float | str
    observables: tuple[str, ...]
    observers: tuple  # the observables' entries
    needs_init: bool
    dtype: str
    grid_size: int
    blowup: float
    first_passage: tuple[tuple[int, float, bool], ...]  # (observable index, threshold, below)
    histograms: tuple[tuple[int, tuple[float, ...]], ...]  # (observable index, edges)
    return_values: bool  # bring per-seed values to the host
    init_overlap: float | None = None  # model.init_overlap (rows at cosine m0 with u_1)


def build(study: Study) -> tuple[Program, dict[str, np.ndarray]]:
    """The static :class:`Program` and the traced hyperparameters, each of shape (G,).

    Raises :class:`~jaxrelu.config.ConfigError` (one line naming the key) for an unknown
    name or a combination the program cannot run.
    """
    load_plugins(getattr(study.run, "plugins", ()), study.base_dir)
    if study.shape_axes:
        raise ConfigError(
            f"sweep.{study.shape_axes[0]} changes shapes: one program per value; run the study "
            "with jaxrelu.run, or build each of study.points()"
        )
    study = study.in_steps()
    t, m, o, r = study.task, study.model, study.optimizer, study.record
    grid = list(np.ndindex(*study.grid_shape)) if study.sweep else [()]
    sweep = dict(study.sweep)
    names = study.methods
    methods = tuple(DYNAMICS.get(k, "optimizer.method") for k in names)
    task = TASKS.get(t.kind, "task.kind")
    activation = ACTIVATIONS.get(m.activation, "model.activation")
    teacher = ACTIVATIONS.get(t.teacher_activation, "task.teacher_activation") if task.teacher else None
    loss = LOSSES.get(getattr(t, "loss", "square"), "task.loss")
    opt_names = study.optimizers
    optimizers = tuple(OPTIMIZERS.get(k, "optimizer.name") for k in opt_names)
    observers = tuple(OBSERVABLES.get(k, "record.observables") for k in r.observables)

    categorical = {"optimizer.method": names, "optimizer.name": opt_names}

    def number(path, v):  # a categorical axis is traced as an index into its entries
        return categorical[path].index(v) if path in categorical else v

    hp = {}
    for path in SWEEPABLE:
        vals = sweep.get(path)
        hp[path] = np.array(
            [number(path, vals[i[study.grid_axes.index(path)]]) for i in grid]
            if vals is not None
            else [number(path, study.value(path))] * len(grid),
            float,
        )
    swept = set(study.grid_axes)
    bmax = int(hp["optimizer.batch_size"].max())
    online = t.train_size == "online"
    n = 0 if online else t.train_size
    if m.first_layer_init == "orthonormal" and m.width > t.input_dim:
        raise ConfigError(f"model.width must be <= task.input_dim ({t.input_dim}) for orthonormal init, got {m.width}")
    provided = tasks.provided(task, t)  # runs the task's check of task.params
    check_variants(study, task, provided, methods)
    for name, obs in zip(r.observables, observers):
        if obs.requires not in (None, "teacher", "train_set") and obs.requires not in provided:
            raise ConfigError(
                f"record.observables: {name} needs a task that provides {obs.requires!r}; "
                f"task.kind = {t.kind!r} provides {', '.join(sorted(provided)) or 'nothing'}"
            )
        if obs.requires == "teacher" and not task.teacher:
            raise ConfigError(
                f"record.observables: {name} needs a task with a teacher "
                f"(task.kind = 'teacher_student'), got task.kind = {t.kind!r} (use train_loss)"
            )
        if obs.requires == "train_set" and online:
            raise ConfigError(
                f"record.observables: {name} needs a finite training set "
                "(task.train_size = n); online, use population_loss"
            )
    if (
        not loss.square
        and any(d.population for d in methods)
        and ("optimizer.label_noise" in swept or o.label_noise != 0.0)
    ):
        raise ConfigError(
            f"optimizer.label_noise: the SDE's label-noise term assumes task.loss = 'square', got {t.loss!r}"
        )
    if any(d.population for d in methods) and ("optimizer.label_flip" in swept or getattr(o, "label_flip", 0.0)):
        raise ConfigError(
            "optimizer.label_flip: flips SGD's sampled labels; the "
            f"{'/'.join(d.name for d in methods if d.population)} dynamics has no label-flip term "
            "(use optimizer.method = 'sgd' or 'svag')"
        )
    if any(opt.needs_loss for opt in optimizers) and any(d.name != "sgd" for d in methods):
        raise ConfigError(
            f"optimizer.name: {', '.join(k for k, e in zip(opt_names, optimizers) if e.needs_loss)} "
            "takes a second gradient of SGD's batch, which only optimizer.method = 'sgd' supplies, "
            f"got {', '.join(names)}"
        )
    spec = tasks.TaskSpec(
        task=task,
        input_dim=t.input_dim,
        online=online,
        train_size=n,
        batch_max=bmax,
        full_batch=(not online and bmax == n and "optimizer.batch_size" not in swept and not o.replacement),
        replacement=o.replacement,
        teacher_activation=teacher,
        test_size=t.test_size,
        label_noise="task.label_noise" in swept or t.label_noise != 0.0,
        population_rows=o.sde_samples if online and any(d.population for d in methods) else 0,
        params=tuple(getattr(t, "params", ())),
    )
    c = model.output_scale(m.parametrization, m.width)
    step = StepSpec(
        c=c,
        activation=activation,
        loss=loss,
        optimizer=optimizers[0],
        train_second_layer=m.train_second_layer,
        on=frozenset(
            p for p, off in OFF.items() if p.startswith("optimizer.") and (p in swept or float(study.value(p)) != off)
        ),
        masked_batch="optimizer.batch_size" in swept,
        decay_steps=tuple(int(f * study.run.steps) for f in o.decay_at) if o.schedule == "step" else (),
        methods=methods,
        substeps=o.substeps,
        svag_max=int(hp["optimizer.svag_l"].max()),
        optimizers=optimizers if len(optimizers) > 1 else (),
        repeat=o.repeat,
    )
    for d in methods:
        if d.check is not None:
            d.check(step, spec, m.bias)
    ctx = Context(
        c=c,
        activation=activation,
        teacher_activation=teacher,
        online=online,
        loss=loss,
        closed_form=(task.teacher and not m.bias and loss.square and kernels.has_closed_form(activation, teacher)),
    )
    names = r.observables
    hists = tuple(
        (names.index(h.observable), tuple(stats.histogram_edges(h.min, h.max, h.bins, h.log).tolist()))
        for h in r.histograms
    )
    fps = tuple((names.index(f.observable), f.threshold, f.below) for f in r.first_passage)
    prog = Program(
        task=spec,
        step=step,
        ctx=ctx,
        width=m.width,
        bias=m.bias,
        first_layer=m.first_layer_init,
        second_layer=m.second_layer_init,
        observables=names,
        observers=observers,
        needs_init=any(obs.needs_init for obs in observers),
        dtype=study.run.dtype,
        grid_size=len(grid),
        blowup=study.run.blowup,
        first_passage=fps,
        histograms=hists,
        return_values=bool(r.quantiles or r.keep_per_seed),
        init_overlap=m.init_overlap,
    )
    return prog, {k: v.astype(study.run.dtype) for k, v in hp.items()}
