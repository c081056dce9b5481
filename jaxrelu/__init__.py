"""jaxrelu: a Monte Carlo laboratory for SGD on two-layer ReLU networks.

Public surface::

    study = jaxrelu.config.load("study.toml")     # data only: no JAX imported yet
    results = jaxrelu.run(study)                  # every seed × grid point, one compiled program
    results.save("runs/quick")
    results = jaxrelu.load("runs/quick")

Extensions are registered entries (``jaxrelu.activations``, ``jaxrelu.losses``,
``jaxrelu.tasks``, ``jaxrelu.optimizers``, ``jaxrelu.dynamics``,
``jaxrelu.observables``; docs/extending.md).  Conventions (loss ½, lr and time
units, initialisations) are stated once in :mod:`jaxrelu.conventions`.
"""

from jaxrelu.config import ConfigError, Study

__all__ = ["ConfigError", "Results", "Study", "load", "run"]
__version__ = "0.1.0"  # the one place: pyproject.toml reads it (tool.setuptools.dynamic)


def __getattr__(name):
    """``run``, ``load`` and ``Results`` on first use, so that ``import jaxrelu.config`` needs no JAX."""
    if name == "run":
        from jaxrelu.api import run

        return run
    if name in ("Results", "load"):
        from jaxrelu import results

        return getattr(results, name)
    raise AttributeError(f"module 'jaxrelu' has no attribute {name!r}")
