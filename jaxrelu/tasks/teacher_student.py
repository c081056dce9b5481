"""``teacher_student``: Gaussian inputs labelled by a two-layer teacher network.

x ~ N(0, I_d), y = f*(x) + σ_data ξ with f*(x) = Σ_k a*_k σ*(w*_k·x): rows orthonormal
(``task.teacher_weights = "orthonormal"``) or N(0, 1/d) entries (``"gaussian"``),
output scale 1, no bias, σ* = ``task.teacher_activation``.  The teacher and a held-out
sample of ``task.test_size`` inputs with noiseless labels are shared by all
trajectories of a run; the training data are online or a set of n samples per seed
(:mod:`jaxrelu.tasks`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxrelu import model, rng, tasks


def teacher_output(teacher: dict, x: jax.Array, activation) -> jax.Array:
    """f*(x) for x (..., d); ``activation`` a registered name or entry."""
    return model.apply(teacher, x, 1.0, activation)


def make_teacher(key, cfg, dtype) -> dict:
    """Teacher parameters {"W": (k, d), "a": (k,)} from ``TaskConfig`` cfg."""
    k, d = cfg.teacher_width, cfg.input_dim
    if cfg.teacher_weights == "orthonormal":
        W = model.orthonormal_rows(key, k, d, dtype)
    else:
        W = rng.normal(key, (k, d), dtype) / math.sqrt(d)
    a = jnp.broadcast_to(jnp.asarray(cfg.teacher_second_layer, dtype), (k,))
    return {"W": W, "a": a}


def gaussian_inputs(key, shape, dtype, start=0):
    """Standard normal inputs (the ``start``-th normal of the stream of ``key`` first)."""
    return rng.normal(key, shape, dtype, start=start)


def shared(key, cfg, dtype) -> tasks.TaskData:
    """The teacher and its held-out sample: ``split(key)`` = (teacher key, test-input key)."""
    kt, kx = rng.split(key)
    teacher = make_teacher(kt, cfg, dtype)
    x_test = rng.normal(kx, (cfg.test_size, cfg.input_dim), dtype)
    return tasks.TaskData(
        teacher=teacher, x_test=x_test, y_test=teacher_output(teacher, x_test, cfg.teacher_activation)
    )


def label(data: tasks.TaskData, x, spec: tasks.TaskSpec):
    """The teacher's clean labels f*(x)."""
    return teacher_output(data.teacher, x, spec.teacher_activation)


TEACHER_STUDENT = tasks.register(
    "teacher_student", shared, inputs=gaussian_inputs, label=label, teacher=True, provides=("test_set",)
)
