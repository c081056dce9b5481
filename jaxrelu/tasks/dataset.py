"""``dataset``: fixed arrays (x, y) shared by all trajectories (``task.inputs``/``task.targets`` or
``task.file``), visited in reshuffled epochs or with replacement (:mod:`jaxrelu.tasks`); optionally a
held-out test set (``task.test_inputs``/``task.test_targets``, or arrays ``x_test``/``y_test`` of the
file), which observables that require ``"test_set"`` (``test_error``, ``test_loss``) evaluate on."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxrelu import tasks


def shared(key, cfg, dtype) -> tasks.TaskData:
    """The dataset as the training set (n, d), (n,), and its test set (n_test, d), (n_test,) if given."""
    x = jnp.asarray(np.asarray(cfg.inputs), dtype)
    y = jnp.asarray(np.asarray(cfg.targets), dtype)
    if getattr(cfg, "test_inputs", None) is None:
        return tasks.TaskData(x_train=x, y_train=y)
    return tasks.TaskData(
        x_train=x,
        y_train=y,
        x_test=jnp.asarray(np.asarray(cfg.test_inputs), dtype),
        y_test=jnp.asarray(np.asarray(cfg.test_targets), dtype),
    )


def provides(cfg) -> tuple[str, ...]:
    """``("test_set",)`` when the study gives a held-out set."""
    return ("test_set",) if getattr(cfg, "test_inputs", None) is not None else ()


DATASET = tasks.register("dataset", shared, provides=provides)
