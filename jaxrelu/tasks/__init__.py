"""Tasks: where the data come from, and how a mini-batch is drawn at step t.

A task is one registered entry (:data:`jaxrelu.registry.TASKS`), defined in a module of
its own (:mod:`jaxrelu.tasks.teacher_student`, :mod:`jaxrelu.tasks.dataset`,
:mod:`jaxrelu.tasks.classification`), with a small protocol (:class:`Task`):

* ``shared(key, cfg, dtype) -> TaskData``: what every seed shares (a teacher and its
  held-out sample, a fixed dataset);
* ``inputs(key, shape, dtype, start=0)``: the input distribution, drawn for online
  streams and for training sets drawn per seed (``None``: the task's data are fixed);
  ``inputs(key, shape, dtype, spec, start=0)`` for a task registered with ``inputs_spec``
  (a distribution set by ``spec.params``: :mod:`jaxrelu.tasks.index`);
* ``label(data, x, spec)``: the clean labels y = f*(x) of inputs (``None``: fixed labels);
* ``sample(key, shape, dtype, spec, start=0) -> (x, y)``: instead of ``inputs`` and
  ``label``, inputs (*shape) and clean labels (shape[:-1]) drawn together, for tasks whose
  label is not a function of the input (a mixture's label picks its cluster); ``spec.params``
  holds the task's parameters, and ``start`` counts the numbers of x's stream (d per row);
* ``teacher``: whether ``TaskData.teacher`` holds a target network (teacher overlaps,
  closed-form population loss);
* ``provides``: what else the task gives the observables, by name (``"test_set"``: a held-out
  set ``TaskData.x_test, y_test``; ``"direction"``: ``TaskData.directions``), or a function
  of the ``TaskConfig`` returning the names; ``"teacher"`` and (``task.train_size = n``)
  ``"train_set"`` are implied.  An observable's ``requires`` is checked against them
  (:func:`provided`);
* ``check(cfg)``: raises :class:`~jaxrelu.config.ConfigError` for bad ``task.params`` (or
  combinations), before anything runs.

Everything else is generic and lives here: ``task.train_size = "online"`` draws fresh
samples at every step; an integer n draws a training set per seed (label noise
``task.label_noise`` fixed per sample); a fixed dataset is shared by all seeds.

Mini-batches from a finite set are drawn without replacement within an epoch and
reshuffled every epoch: sample position p = t·B + i of the infinite stream
reads index perm_e[p mod n] with e = ⌊p/n⌋ and perm_e a permutation drawn from
(seed, e); B = n is exactly full-batch gradient descent.  With
``replacement = true`` indices are i.i.d. uniform.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrelu import rng
from jaxrelu.registry import TASKS


@dataclass(frozen=True, eq=False)
class Task:
    """A registered task (see the module docstring for the protocol)."""

    name: str
    shared: Callable
    inputs: Callable | None = None
    label: Callable | None = None
    teacher: bool = False
    sample: Callable | None = None
    provides: tuple | Callable = ()
    check: Callable | None = None
    inputs_spec: bool = False


def register(
    name: str,
    shared: Callable,
    *,
    inputs: Callable | None = None,
    label: Callable | None = None,
    teacher: bool = False,
    sample: Callable | None = None,
    provides: tuple | Callable = (),
    check: Callable | None = None,
    inputs_spec: bool = False,
) -> Task:
    """Register a task under ``name`` (``task.kind`` in a study); returns the entry.  ``inputs_spec``:
    ``inputs`` takes the :class:`TaskSpec` too, ``inputs(key, shape, dtype, spec, start=0)`` (an input
    distribution set by ``task.params``)."""
    return TASKS.register(
        name,
        Task(
            name,
            shared,
            inputs,
            label,
            teacher,
            sample,
            tuple(provides) if not callable(provides) else provides,
            check,
            inputs_spec,
        ),
    )


def draw_inputs(spec: TaskSpec, key, shape, dtype, start=None):
    """The task's inputs (*shape) from ``key`` by ``Task.inputs`` (``start``: the position in its stream)."""
    kw = {} if start is None else {"start": start}
    assert spec.task.inputs is not None  # Task.inputs is optional; only tasks with it draw inputs
    return (
        spec.task.inputs(key, shape, dtype, spec, **kw)
        if spec.task.inputs_spec
        else spec.task.inputs(key, shape, dtype, **kw)
    )


def provided(task: Task, cfg) -> frozenset:
    """What ``task`` under the ``TaskConfig`` ``cfg`` gives the observables (``Observable.requires``):
    ``"teacher"``, ``"train_set"``, and its ``provides``.  Runs the task's ``check(cfg)`` first."""
    if task.check is not None:
        task.check(cfg)
    names = task.provides(cfg) if callable(task.provides) else task.provides
    implied = (("teacher",) if task.teacher else ()) + (("train_set",) if cfg.train_size != "online" else ())
    return frozenset(tuple(names) + implied)


@dataclass(frozen=True)
class TaskSpec:
    """Static description of a task (shapes and structure; hashable)."""

    task: Task
    input_dim: int
    online: bool
    train_size: int  # 0 when online
    batch_max: int  # largest batch over the grid (rows drawn per step)
    full_batch: bool  # B = n fixed and no replacement: every step uses all data
    replacement: bool
    teacher_activation: object  # the teacher's activation entry (teacher tasks), else None
    test_size: int
    label_noise: bool  # data labels carry noise (task.label_noise ≠ 0 or swept)
    population_rows: int = 0  # online SDE/flow: fresh samples per step standing in for the population
    params: tuple = ()  # task.params of a user's task: sorted (key, value) pairs


class TaskData(NamedTuple):
    """Arrays of a task. Leaves may be shared (teacher, test set) or per seed (training set).

    Training labels are y_train + σ_data · e_train, with σ_data = ``task.label_noise``
    (a traced grid value) and e_train standard normal, fixed per seed and sample.
    """

    teacher: dict | None = None  # {"W": (k, d), "a": (k,)}
    x_train: jax.Array | None = None  # (n, d)
    y_train: jax.Array | None = None  # (n,) clean labels
    e_train: jax.Array | None = None  # (n,) standard-normal label noise of the samples
    x_test: jax.Array | None = None  # (n_test, d) shared held-out inputs
    y_test: jax.Array | None = None  # (n_test,) noiseless teacher outputs (clean labels)
    directions: jax.Array | None = None  # (k, d) unit vectors the task is built around (a mixture's mean)

    def labels(self, data_noise):
        """Training labels with the data noise of the grid point."""
        return self.y_train + data_noise * self.e_train

    def eval_set(self):
        """(x, y) on which observables evaluate: the training set, else the held-out sample."""
        return (self.x_test, self.y_test) if self.x_train is None else (self.x_train, self.y_train)

    def first_direction(self):
        """The task's first direction (d,): the teacher's first row, else ``directions[0]`` (an
        initial overlap's reference, ``model.init_overlap``)."""
        return self.teacher["W"][0] if self.teacher is not None else self.directions[0]


def make_shared(key, cfg, dtype) -> TaskData:
    """Everything shared by all seeds of the task ``cfg.kind`` (its entry's ``shared``)."""
    return TASKS.get(cfg.kind, "task.kind").shared(key, cfg, dtype)


def draw_seed_data(key, spec: TaskSpec, dtype) -> dict:
    """The random arrays of a seed's finite training set: e_train (n,)[, x_train (n, d) when the
    task draws its inputs]."""
    if spec.online:
        return {}
    kx, kn = rng.split(key)
    out = {"e_train": rng.normal(kn, (spec.train_size,), dtype)}
    if spec.task.sample is not None:
        out["x_train"], out["y_train"] = spec.task.sample(kx, (spec.train_size, spec.input_dim), dtype, spec)
    elif spec.task.inputs is not None:
        out["x_train"] = draw_inputs(spec, kx, (spec.train_size, spec.input_dim), dtype)
    return out


def label_seed_data(drawn: dict, shared: TaskData, spec: TaskSpec) -> dict:
    """:func:`draw_seed_data`'s arrays with the clean labels y_train (n,) of the drawn inputs added."""
    if "x_train" not in drawn or "y_train" in drawn:
        return drawn
    assert spec.task.label is not None  # x_train without y_train: drawn by Task.inputs, labelled by Task.label
    return {**drawn, "y_train": spec.task.label(shared, drawn["x_train"], spec)}


def make_seed_data(key, shared: TaskData, spec: TaskSpec, dtype) -> dict:
    """The per-seed arrays of a finite training set (empty when online)."""
    return label_seed_data(draw_seed_data(key, spec, dtype), shared, spec)


def epochs_spanned(spec: TaskSpec, batch_size) -> int:
    """How many epochs one batch can touch: 1 for a fixed B dividing n, else 2."""
    return 1 if isinstance(batch_size, int) and spec.train_size % batch_size == 0 else 2


def epoch_permutations(spec: TaskSpec, shuffle_key, e0, count: int):
    """The sample orders of epochs e0 .. e0 + count − 1 (each from (seed, epoch) only): (count, n) int32."""
    return jnp.stack([jax.random.permutation(rng.fold_in(shuffle_key, e0 + i), spec.train_size) for i in range(count)])


def _epoch_indices(spec: TaskSpec, perms, t, batch_size):
    """Indices of batch t (without replacement within an epoch) from the permutations of
    its first epoch and the next (``perms[1]``, when a batch can straddle two). -> (batch_max,)."""
    n = spec.train_size
    p = t * batch_size + jnp.arange(spec.batch_max)
    if perms.shape[0] == 1:
        return perms[0][p % n]
    return jnp.where(p // n == (t * batch_size) // n, perms[0][p % n], perms[1][p % n])


def epoch_batch(spec: TaskSpec, data: TaskData, perms, t, batch_size=None) -> dict:
    """Batch t from the permutations of the epochs it touches (see :func:`epoch_permutations`):
    inputs x (batch_max, d), clean labels y (batch_max,), data-noise normals e (batch_max,).

    ``batch_size``: the grid point's B (traced) when it is swept, whose batch t starts at
    sample position t·B (rows ≥ B are read but masked out by the loss); default ``batch_max``.
    """
    idx = _epoch_indices(spec, perms, t, spec.batch_max if batch_size is None else batch_size)
    return {"x": data.x_train[idx], "y": data.y_train[idx], "e": data.e_train[idx]}


def draw_online_batch(spec: TaskSpec, keys, i, dtype) -> dict:
    """Batch i of a block of online batches, drawn alone: inputs x (B, d) [and data-noise
    normals e (B,)].

    A block under ``keys = (kx, kn)`` is x = ``normal(kx, (steps, B, d))`` and
    e = ``normal(kn, (steps, B))``; batch i is their row i.  Each threefry word hashes
    its own counter (:func:`jaxrelu.rng.bits`), so a row is drawn without the rest.
    """
    kx, kn = keys
    B, d = spec.batch_max, spec.input_dim
    if spec.task.sample is not None:
        x, y = spec.task.sample(kx, (B, d), dtype, spec, start=i * (B * d))
        out = {"x": x, "y": y}
    else:
        out = {"x": draw_inputs(spec, kx, (B, d), dtype, start=i * (B * d))}
    if spec.label_noise:
        out["e"] = rng.normal(kn, (B,), dtype, start=i * B)
    return out


def online_batch(spec: TaskSpec, data: TaskData, drawn: dict) -> dict:
    """A :func:`draw_online_batch` draw with its clean labels y = f*(x) (B,)."""
    if "y" in drawn:  # drawn with the inputs (``Task.sample``)
        return drawn
    assert spec.task.label is not None  # x without y: drawn by Task.inputs, labelled by Task.label
    return {**drawn, "y": spec.task.label(data, drawn["x"], spec)}


def sample_iid(spec: TaskSpec, data: TaskData, key, rows: int, data_noise, dtype):
    """``rows`` i.i.d. samples: fresh Gaussian inputs online, uniform indices of a finite set."""
    if spec.online:
        kx, kn = rng.split(key)
        if spec.task.sample is not None:
            x, y = spec.task.sample(kx, (rows, spec.input_dim), dtype, spec)
        else:
            x = draw_inputs(spec, kx, (rows, spec.input_dim), dtype)
            assert spec.task.label is not None  # no Task.sample: Task.label labels the drawn inputs
            y = spec.task.label(data, x, spec)
        if data_noise is not None:
            y = y + data_noise * rng.normal(kn, (rows,), dtype)
        return x, y
    y = data.labels(data_noise) if data_noise is not None else data.y_train
    idx = jax.random.randint(key, (rows,), 0, spec.train_size)
    return data.x_train[idx], y[idx]


def full_sample(spec: TaskSpec, data: TaskData, key, rows: int, data_noise, dtype):
    """The whole training set, or (online) ``rows`` fresh samples standing in for the population."""
    if spec.online:
        return sample_iid(spec, data, key, rows, data_noise, dtype)
    return data.x_train, (data.labels(data_noise) if data_noise is not None else data.y_train)


def sample_batch(spec: TaskSpec, data: TaskData, key, shuffle_key, t, batch_size, data_noise, dtype):
    """The batch of step t: x (batch_max, d), y (batch_max,).

    ``key`` is the seed's key for step t, ``shuffle_key`` the seed's key for
    epoch permutations.  Rows beyond ``batch_size`` (when it is swept) are drawn
    but masked out by the loss.  Nothing here depends on grid values other than
    ``batch_size``, so under ``vmap`` over the grid the draws are shared: common
    random numbers at no extra cost.
    """
    if spec.online or spec.replacement:
        return sample_iid(spec, data, key, spec.batch_max, data_noise, dtype)
    if spec.full_batch:
        return full_sample(spec, data, key, 0, data_noise, dtype)
    y = data.labels(data_noise) if data_noise is not None else data.y_train
    perms = epoch_permutations(spec, shuffle_key, (t * batch_size) // spec.train_size, epochs_spanned(spec, batch_size))
    idx = _epoch_indices(spec, perms, t, batch_size)
    return data.x_train[idx], y[idx]


# the built-in tasks register themselves
from jaxrelu.tasks import classification, dataset, index, teacher_student  # noqa: E402,F401
