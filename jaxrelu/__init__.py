"""jaxrelu: a Monte Carlo laboratory for SGD on two-layer ReLU networks.

Public surface::

    study = jaxrelu.config.load("experiments/quickstart.toml")
    results = jaxrelu.run(study)          # every seed × grid point, one compiled program
    results.save("runs/quick")
    results = jaxrelu.load("runs/quick")

Conventions (loss ½, lr and time units, initialisations) are stated once in
:mod:`jaxrelu.conventions`.
"""

from jaxrelu.config import ConfigError, Study
from jaxrelu.engine import run
from jaxrelu.results import Results, load

__all__ = ["ConfigError", "Results", "Study", "load", "run"]
__version__ = "0.1.0"
