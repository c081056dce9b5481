"""The public run: simulate a study (:mod:`jaxrelu.engine`) and put its theory beside it
(:mod:`jaxrelu.theory.predict`), with every check made before anything runs."""

from __future__ import annotations

import os
from typing import Callable

from jaxrelu import engine
from jaxrelu.config import ConfigError, Study
from jaxrelu.results import Results
from jaxrelu.theory import predict


def check(study: Study) -> engine.Program:
    """Every check a run makes before it simulates: the names and their combinations, the ODE's
    scope, and the observables traced on the study's shapes (an observable refusing them, e.g.
    ``kink_count`` without 1-D relu, raises at trace time).  Returns the program, or raises
    :class:`~jaxrelu.config.ConfigError` naming the key."""
    prog, hp = engine.build(study)
    if "ode" in study.record.theory:
        predict.check_ode_applies(study)
    try:
        engine.trace_observables(prog, study, hp)
    except ValueError as e:
        raise ConfigError(f"record.observables: {e}") from None
    return prog


def run(study: Study, progress: Callable[[dict], None] | None = None,
        checkpoint: str | os.PathLike | None = None) -> Results:
    """Run every seed at every grid point (:func:`jaxrelu.engine.run`: ``progress`` and
    ``checkpoint`` as there) and return statistics over seeds; with ``record.theory =
    ["ode"]`` also ``population_loss.ode``, the ODE from the same seeds' initial weights
    (:func:`jaxrelu.theory.predict.ode_population_loss`)."""
    check(study)                                 # fail before simulating, not after
    res = engine.run(study, progress, checkpoint)
    if "ode" in study.record.theory:
        res.arrays["population_loss.ode"] = predict.ode_population_loss(study)
    return res
