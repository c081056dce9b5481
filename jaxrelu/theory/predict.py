"""Theory on the axes of a study: the ODE prediction for the same config, grid and seeds.

:func:`ode_population_loss` integrates the online teacher–student ODEs
(:mod:`jaxrelu.theory.ode`) from the *empirical* initial order parameters
(Q₀, R₀, v₀) of the study's own trajectories (the same seeds, hence the same
initial weights, as the simulation) at every grid point, and averages ε(t)
over seeds at the record steps (t = step / d, η = lr · d).  Put in a study with
``[record] theory = ["ode"]``: the results then hold ``population_loss.ode``
of shape (*grid_shape, n_records), drawn by the standard figures.  With
``optimizer.method`` as a grid axis (SGD beside its SDE) every method's point
gets the SGD prediction: the SDE has the same d → ∞ limit.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrelu import engine
from jaxrelu.config import ConfigError, Study
from jaxrelu.registry import ACTIVATIONS, DYNAMICS, LOSSES, TASKS, load_plugins
from jaxrelu.theory import ode


def check_ode_applies(study: Study) -> None:
    """Raise ConfigError naming the key when the ODE limit does not describe the study."""
    load_plugins(study.run.plugins, study.base_dir)
    t, m, o = study.task, study.model, study.optimizer
    swept = set(study.grid_axes)
    act = ACTIVATIONS.get(m.activation, "model.activation")
    rules = [
        (
            not TASKS.get(t.kind, "task.kind").teacher or t.train_size != "online",
            "task.train_size",
            "the ODE needs online teacher-student data (train_size = 'online')",
        ),
        (
            m.activation != t.teacher_activation,
            "model.activation",
            f"the ODE needs the teacher's activation ({t.teacher_activation!r})",
        ),
        (act.ode is None, "model.activation", f"the ODE has no integrals for {m.activation!r}"),
        (not LOSSES.get(t.loss, "task.loss").square, "task.loss", "the ODE needs the square loss"),
        (m.bias, "model.bias", "the ODE has no biases"),
        (
            not any(DYNAMICS.get(k, "optimizer.method").ode for k in study.methods),
            "optimizer.method",
            "the ODE describes SGD (and its SDE); include 'sgd'",
        ),
        (study.optimizers != ("sgd",), "optimizer.name", "the ODE describes plain SGD"),
        (
            "optimizer.second_layer_lr_ratio" in swept or o.second_layer_lr_ratio != 1.0,
            "optimizer.second_layer_lr_ratio",
            "the ODE uses one lr for both layers",
        ),
        (o.schedule != "constant", "optimizer.schedule", "the ODE uses a constant lr"),
    ] + [
        (p in swept or float(study.value(p)) != 0.0, p, "the ODE has no such term")
        for p in (
            "optimizer.momentum",
            "optimizer.weight_decay",
            "optimizer.langevin_temperature",
            "optimizer.label_flip",
            "optimizer.anti_pgd_scale",
            "optimizer.stable_scale",
            "optimizer.student_t_scale",
        )
    ]
    for bad, key, why in rules:
        if bad:
            raise ConfigError(f"record.theory = ['ode'] does not apply: {key}: {why}")


def ode_population_loss(
    study: Study, seeds: int | None = 32, dt: float = 0.01, second_order: bool = True
) -> np.ndarray:
    """Mean over seeds of the ODE's ε_g at the record steps, shape (*grid_shape, n_records).

    ``seeds``: how many of the study's trajectories (from ``run.first_seed``) give
    initial conditions (None: all).  The relu I4 integral makes each seed's ODE
    costly (minutes for tens of seeds over t ~ 20), hence the default 32; the
    ODE curve then averages over fewer initial conditions than the Monte Carlo
    mean, so their values at t = 0 differ by the seed-sampling error.  ``second_order = False`` drops the η²/B terms.
    """
    n_records = len(study.record_steps())
    out = np.empty((max(1, int(np.prod(study.grid_shape))), n_records))
    for g, eps in _per_seed_eps(study, seeds, dt, second_order, ode.RELU_I4_LOG2_SAMPLES):
        out[g] = np.asarray(jnp.mean(eps, axis=0))
    return out.reshape(study.grid_shape + (n_records,))


def ode_trajectories(
    study: Study,
    seeds: int | None = 4,
    dt: float | Callable[[float], float] = 0.01,
    second_order: bool = True,
    log2_samples: int = ode.RELU_I4_LOG2_SAMPLES,
) -> np.ndarray:
    """ε_g of the ODE from each of the first ``seeds`` trajectories' initial weights: (*grid_shape, seeds, n_records).

    What :func:`ode_population_loss` averages, one curve per seed (for quantiles of
    the ODE beside those of SGD, or the ODE's own escape times), at the record steps
    (t = step / d, η = lr · d).  ``dt``: the RK4 step, or a function of η giving it
    (the rates of the ODE scale with η); ``log2_samples``: QMC points of the relu I4
    (:func:`jaxrelu.theory.ode.integrate`).
    """
    n_records = len(study.record_steps())
    n = study.run.seeds if seeds is None else min(seeds, study.run.seeds)
    out = np.empty((max(1, int(np.prod(study.grid_shape))), n, n_records))
    for g, eps in _per_seed_eps(study, n, dt, second_order, log2_samples):
        out[g] = np.asarray(eps)
    return out.reshape(study.grid_shape + (n, n_records))


def _per_seed_eps(study: Study, seeds, dt, second_order: bool, log2_samples: int):
    """Yield (grid index g, ε_g (seeds, n_records)) of the ODE started from each seed's initial weights."""
    check_ode_applies(study)
    n = study.run.seeds if seeds is None else min(seeds, study.run.seeds)
    params, shared, hp = engine.initial_params(study, n)
    d = study.task.input_dim
    times = np.asarray(study.in_steps().record_steps(), np.float64) / d
    c = float(engine.build(study)[0].step.c)
    teacher = ode.teacher_from_weights(shared.teacher["W"], shared.teacher["a"])
    for g in range(hp["optimizer.lr"].size):
        states = jax.vmap(lambda W, a: ode.state_from_weights(W, a, shared.teacher["W"], c))(
            params["W"][:, g], params["a"][:, g]
        )
        sigma = float(np.hypot(hp["optimizer.label_noise"][g], hp["task.label_noise"][g]))
        eta = float(hp["optimizer.lr"][g]) * d
        traj = jax.vmap(
            lambda s: ode.integrate(
                s,
                teacher,
                times,
                activation=ACTIVATIONS.get(study.model.activation).ode,
                eta=eta,
                batch_size=float(hp["optimizer.batch_size"][g]),
                label_noise=sigma,
                c=c,
                dt=dt(eta) if callable(dt) else dt,
                second_order=second_order,
                train_second_layer=study.model.train_second_layer,
                log2_samples=log2_samples,
            )
        )(states)
        yield g, traj.eps
