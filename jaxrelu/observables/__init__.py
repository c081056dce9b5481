"""Observables: per-trajectory scalars evaluated at record times (:data:`jaxrelu.registry.OBSERVABLES`).

An observable is a pure function ``fn(params, params0, data, ctx) -> scalar`` of the
current parameters, the initial parameters (``None`` unless the observable declared
``needs_init``), the task arrays (:class:`jaxrelu.tasks.TaskData`) and the static
:class:`Context`.  The engine vmaps it over grid points and seeds.  Register your own
with :func:`register`; the built-ins are in :mod:`.core`, :mod:`.diagnostics` and
:mod:`.classification`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jaxrelu.registry import OBSERVABLES


@dataclass(frozen=True)
class Context:
    """Static facts an observable may need: the output scale c, the student's activation
    and the loss (entries), the teacher's activation entry (teacher tasks, else None),
    whether the population loss has a closed form, and whether the data are online."""

    c: float
    activation: object
    teacher_activation: object
    closed_form: bool
    online: bool
    loss: object = None

    def __post_init__(self):  # names are accepted too, e.g. Context(1.0, "relu", ...)
        from jaxrelu import activations, losses

        object.__setattr__(self, "activation", activations.get(self.activation))
        if self.teacher_activation is not None:
            object.__setattr__(self, "teacher_activation", activations.get(self.teacher_activation))
        object.__setattr__(self, "loss", losses.get(self.loss or "square"))


@dataclass(frozen=True, eq=False)
class Observable:
    """A registered observable: ``fn``, whether it reads the initial parameters, and what it
    requires of the task: ``"teacher"`` (a target network), ``"train_set"`` (a finite set), or
    anything a task ``provides`` (``"test_set"``, ``"direction"``: :func:`jaxrelu.tasks.provided`)."""

    fn: Callable
    needs_init: bool = False
    requires: str | None = None


def register(name: str, fn: Callable, needs_init: bool = False, requires: str | None = None) -> Observable:
    """Add an observable ``fn(params, params0, data, ctx) -> scalar`` under ``name``; returns the entry."""
    return OBSERVABLES.register(name, Observable(fn, needs_init, requires))


# the built-ins register themselves
from jaxrelu.observables import classification, core, diagnostics, index  # noqa: E402,F401
