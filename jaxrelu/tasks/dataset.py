"""``dataset``: fixed arrays (x, y) shared by all trajectories (``task.inputs``/``task.targets`` or
``task.file``), visited in reshuffled epochs or with replacement (:mod:`jaxrelu.tasks`)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxrelu import tasks


def shared(key, cfg, dtype) -> tasks.TaskData:
    """The dataset as the training set (n, d), (n,)."""
    x = jnp.asarray(np.asarray(cfg.inputs), dtype)
    y = jnp.asarray(np.asarray(cfg.targets), dtype)
    return tasks.TaskData(x_train=x, y_train=y)


DATASET = tasks.register("dataset", shared)
