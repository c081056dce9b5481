"""Binary classification tasks, labels y ∈ {−1, +1}: one registered entry each (:mod:`jaxrelu.tasks`).

Use them with a classification loss (``task.loss = "logistic"``, ``"exponential"``, ``"hinge"``,
``"correlation"``: :mod:`jaxrelu.losses`).  Parameters come from ``task.params`` (a TOML table,
checked before anything runs; unknown names are refused); ``task.train_size`` is ``"online"``
(fresh samples every step) or n (a training set per seed), as for every task.  Each task also
draws a held-out **test set** of ``task.test_size`` samples with clean labels from the run's
shared key (``TaskData.x_test, y_test``: ``test_error``, ``test_loss``), and, where it knows
one, the **directions** it is built around (``TaskData.directions`` (k, d), unit rows:
``direction_cosine``).  e_1, e_2 are the first two coordinate axes: the inputs' noise and
the network's initialisation are rotation invariant, so axis-aligned means lose nothing.
``positive_fraction`` = P(y = +1) (class imbalance; default ½) in every task but
``sign_teacher``.

``gaussian_mixture``        x = y μ + z, z ~ N(0, I_d), μ = ``snr`` · e_1 (‖μ‖ = snr in units of
                            the noise's std; default 2).  Balanced, the Bayes classifier is
                            sign(x_1) with error Φ(−snr).  Direction: e_1.
``gaussian_xor``            four clusters x = s μ_y + z, s = ±1 equally likely, z ~ N(0, I_d),
                            μ_{+1} = ``snr`` · e_1, μ_{−1} = ``snr`` · e_2 (default 3): the label is
                            +1 on the clusters ±μ_{+1}, −1 on ±μ_{−1}, not linearly separable.
                            Needs d ≥ 2.  Directions: ±e_1, ±e_2.
``orthogonally_separable``  x = y √d (a e_1 + ``radius`` · u), a = ``margin`` + |ξ|, ξ ~ N(0, 1), u
                            uniform on the unit sphere of e_1^⊥ (defaults margin 1, radius 0.8).
                            With radius < margin (required), y_i y_j x_i·x_j = d (a_i a_j +
                            radius² u_i·u_j) > d (margin² − radius²) > 0 for *every* pair: samples
                            of one class have positive, of different classes negative inner
                            products (orthogonal separability, Phuong & Lampert, ICLR 2021).
                            Needs d ≥ 2.  Direction: e_1.
``nearly_orthogonal``       x = √d v / ‖v‖, v = z + y · ``signal`` · e_1, z ~ N(0, I_d): ‖x_i‖² = d
                            exactly and |x_i·x_j| = O(√(d log n)) for i ≠ j, so n ≪ d points are
                            nearly orthogonal (the high-dimensional regime of Frei et al., 2023).
                            With ``signal`` = 0 (default) the labels are independent of the inputs
                            (the test error is ½ whatever is learned); signal > 0 is a normalised
                            mixture, with direction e_1.  A training set of n ≤ d samples is
                            required (``task.train_size``); nothing checks that n ≪ d.
``sign_teacher``            x ~ N(0, I_d), y = +1 where f*(x) > 0, else −1, for the teacher network
                            f*(x) = Σ_k a*_k σ*(w*_k·x) of :mod:`jaxrelu.tasks.teacher_student`
                            (``teacher_width`` k, default 1; ``teacher_activation`` σ*, default relu;
                            ``teacher_weights`` orthonormal or gaussian; ``teacher_second_layer`` a
                            number, a list of k numbers, or "alternating" (default): a*_k = (−1)^k;
                            k = 1 gives y = sign(w*·x); a relu teacher with orthonormal rows and
                            even k has P(y = +1) = (1 − 2^{−k})/2, since f* = 0 where no unit is
                            active).  Not a ``teacher`` task: the square loss's closed form
                            and the ODE, which assume the labels f*(x), do not apply.  Directions:
                            the teacher's rows.

Randomness.  ``sample(key, (..., d), dtype, spec, start)`` draws the inputs' normals from ``key``
(``start``: the position in that stream, d per row) and each row's label (and cluster sign, or
radial part) from ``fold_in(key, 1)`` (and ``fold_in(key, 2)``) at the row's position, so an
online batch is drawn row by row like the teacher–student stream.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import jax.numpy as jnp

from jaxrelu import model, rng, tasks
from jaxrelu.config import ConfigError
from jaxrelu.registry import ACTIVATIONS
from jaxrelu.tasks import teacher_student

_LABELS, _EXTRA = 1, 2  # fold_in tags of the label and extra streams of a sample's key

_FRACTION = ("positive_fraction", 0.5, "a number in [0, 1]", lambda v: 0 <= v <= 1)
_NONNEG = "a non-negative number"
#: task -> its parameters: (name, default, what a valid value is, validity test)
PARAMS = {
    "gaussian_mixture": (("snr", 2.0, _NONNEG, lambda v: v >= 0), _FRACTION),
    "gaussian_xor": (("snr", 3.0, _NONNEG, lambda v: v >= 0), _FRACTION),
    "orthogonally_separable": (
        ("margin", 1.0, "a positive number", lambda v: v > 0),
        ("radius", 0.8, _NONNEG, lambda v: v >= 0),
        _FRACTION,
    ),
    "nearly_orthogonal": (("signal", 0.0, _NONNEG, lambda v: v >= 0), _FRACTION),
    "sign_teacher": (
        ("teacher_width", 1, "a positive integer", lambda v: isinstance(v, int) and v >= 1),
        ("teacher_activation", "relu", "a registered activation name", lambda v: isinstance(v, str)),
        ("teacher_weights", "orthonormal", "'orthonormal' or 'gaussian'", lambda v: v in ("orthonormal", "gaussian")),
        (
            "teacher_second_layer",
            "alternating",
            "a number, a list of numbers, or 'alternating'",
            lambda v: v == "alternating" or _is_num(v) or (isinstance(v, tuple) and v and all(_is_num(x) for x in v)),
        ),
    ),
}


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def params(obj, name: str) -> dict:
    """The parameters of task ``name`` from ``obj.params`` (a ``TaskSpec`` or ``TaskConfig``: sorted
    (key, value) pairs), defaults filled in.  Unchecked: :func:`check_params` checks them."""
    given = dict(obj.params)
    return {k: given.get(k, default) for k, default, _, _ in PARAMS[name]}


def check_params(cfg, name: str) -> dict:
    """``cfg.params`` checked against task ``name``'s table: the parameters, or ConfigError naming the key."""
    known = {k: (what, ok) for k, _, what, ok in PARAMS[name]}
    for k, v in cfg.params:
        if k not in known:
            raise ConfigError(f"task.params.{k}: unknown parameter of task {name!r} (known: {', '.join(known)})")
        what, ok = known[k]
        if isinstance(v, bool) or not ok(v):
            raise ConfigError(f"task.params.{k} must be {what}, got {v!r}")
    return params(cfg, name)


def _labels(key, rows: tuple, dtype, fraction: float, start):
    """±1 labels of shape ``rows``, +1 with probability ``fraction`` (the row-th uniform of ``key``)."""
    return jnp.where(rng.uniform(key, rows, jnp.float32, start) < fraction, 1.0, -1.0).astype(dtype)


def _signs(key, rows: tuple, dtype, start):
    """Fair ±1 signs of shape ``rows``."""
    return _labels(key, rows, dtype, 0.5, start)


def _axis(d: int, i: int, dtype):
    return jnp.zeros((d,), dtype).at[i].set(1)


# ------------------------------------------------------------------------------ samplers
def mixture_sample(key, shape, dtype, spec, start=0):
    """``gaussian_mixture``: x (*shape) = y μ + z, y (shape[:-1]) ±1."""
    p, d = params(spec, "gaussian_mixture"), shape[-1]
    y = _labels(rng.fold_in(key, _LABELS), shape[:-1], dtype, p["positive_fraction"], start // d)
    x = rng.normal(key, shape, dtype, start)
    return x.at[..., 0].add(p["snr"] * y), y


def xor_sample(key, shape, dtype, spec, start=0):
    """``gaussian_xor``: x (*shape) = s μ_y + z, y (shape[:-1]) ±1."""
    p, d = params(spec, "gaussian_xor"), shape[-1]
    y = _labels(rng.fold_in(key, _LABELS), shape[:-1], dtype, p["positive_fraction"], start // d)
    s = p["snr"] * _signs(rng.fold_in(key, _EXTRA), shape[:-1], dtype, start // d)
    x = rng.normal(key, shape, dtype, start)
    return x.at[..., 0].add(jnp.where(y > 0, s, 0)).at[..., 1].add(jnp.where(y > 0, 0, s)), y


def orthogonal_sample(key, shape, dtype, spec, start=0):
    """``orthogonally_separable``: x (*shape) = y √d (a e_1 + radius u), y (shape[:-1]) ±1."""
    p, d = params(spec, "orthogonally_separable"), shape[-1]
    y = _labels(rng.fold_in(key, _LABELS), shape[:-1], dtype, p["positive_fraction"], start // d)
    a = p["margin"] + jnp.abs(rng.normal(rng.fold_in(key, _EXTRA), shape[:-1], dtype, start // d))
    g = rng.normal(key, shape, dtype, start).at[..., 0].set(0)
    u = g / jnp.linalg.norm(g, axis=-1, keepdims=True)
    x = (math.sqrt(d) * y)[..., None] * (p["radius"] * u).at[..., 0].set(a)
    return x, y


def nearly_orthogonal_sample(key, shape, dtype, spec, start=0):
    """``nearly_orthogonal``: x (*shape) = √d v/‖v‖, v = z + y signal e_1, y (shape[:-1]) ±1."""
    p, d = params(spec, "nearly_orthogonal"), shape[-1]
    y = _labels(rng.fold_in(key, _LABELS), shape[:-1], dtype, p["positive_fraction"], start // d)
    v = rng.normal(key, shape, dtype, start).at[..., 0].add(p["signal"] * y)
    return math.sqrt(d) * v / jnp.linalg.norm(v, axis=-1, keepdims=True), y


def _sampled_task(name: str, sample, directions, check=None):
    """Register a task whose inputs and labels are drawn together by ``sample``; ``directions(p, d,
    dtype)`` (k, d) or None."""

    def shared(key, cfg, dtype) -> tasks.TaskData:
        """The held-out test set (test_size, d), (test_size,) and the directions."""
        p = params(cfg, name)
        x, y = sample(rng.split(key)[1], (cfg.test_size, cfg.input_dim), dtype, cfg)
        return tasks.TaskData(x_test=x, y_test=y, directions=directions(p, cfg.input_dim, dtype))

    def provides(cfg) -> tuple[str, ...]:
        return ("test_set",) + (("direction",) if directions(params(cfg, name), 1, jnp.float32) is not None else ())

    def checked(cfg) -> None:
        check_params(cfg, name)
        if check is not None:
            check(cfg, params(cfg, name))

    return tasks.register(name, shared, sample=sample, provides=provides, check=checked)


def _needs_2d(cfg, p) -> None:
    if cfg.input_dim < 2:
        raise ConfigError(f"task.input_dim must be >= 2 for task.kind = {cfg.kind!r}, got {cfg.input_dim}")


def _orthogonal_check(cfg, p) -> None:
    _needs_2d(cfg, p)
    if not p["radius"] < p["margin"]:
        raise ConfigError(
            f"task.params.radius must be < task.params.margin ({p['margin']}) for orthogonal "
            f"separability, got {p['radius']}"
        )


def _nearly_orthogonal_check(cfg, p) -> None:
    if cfg.train_size == "online" or cfg.train_size > cfg.input_dim:
        raise ConfigError(
            f"task.train_size must be a training set of n <= task.input_dim ({cfg.input_dim}) "
            f"samples for task.kind = 'nearly_orthogonal' (n ≪ d), got {cfg.train_size!r}"
        )


GAUSSIAN_MIXTURE = _sampled_task("gaussian_mixture", mixture_sample, lambda p, d, dt: _axis(d, 0, dt)[None])
GAUSSIAN_XOR = _sampled_task(
    "gaussian_xor",
    xor_sample,
    lambda p, d, dt: (
        jnp.stack([_axis(d, 0, dt), -_axis(d, 0, dt), _axis(d, 1, dt), -_axis(d, 1, dt)])
        if d >= 2
        else jnp.zeros((4, d), dt)
    ),
    _needs_2d,
)
ORTHOGONALLY_SEPARABLE = _sampled_task(
    "orthogonally_separable", orthogonal_sample, lambda p, d, dt: _axis(d, 0, dt)[None], _orthogonal_check
)
NEARLY_ORTHOGONAL = _sampled_task(
    "nearly_orthogonal",
    nearly_orthogonal_sample,
    lambda p, d, dt: _axis(d, 0, dt)[None] if p["signal"] > 0 else None,
    _nearly_orthogonal_check,
)


# ------------------------------------------------------------------------- sign teacher
def _teacher_config(cfg, p) -> SimpleNamespace:
    k = p["teacher_width"]
    tsl = p["teacher_second_layer"]
    if tsl == "alternating":
        tsl = tuple(float((-1) ** i) for i in range(k))
    return SimpleNamespace(
        teacher_width=k, input_dim=cfg.input_dim, teacher_weights=p["teacher_weights"], teacher_second_layer=tsl
    )


def sign_teacher_shared(key, cfg, dtype) -> tasks.TaskData:
    """The teacher {"W": (k, d), "a": (k,)}, its test set (test_size, d), (test_size,) and its unit rows (k, d)."""
    p = params(cfg, "sign_teacher")
    kt, kx = rng.split(key)
    teacher = teacher_student.make_teacher(kt, _teacher_config(cfg, p), dtype)
    x = rng.normal(kx, (cfg.test_size, cfg.input_dim), dtype)
    y = sign_labels(teacher, x, p["teacher_activation"])
    rows = teacher["W"] / jnp.linalg.norm(teacher["W"], axis=1, keepdims=True)
    return tasks.TaskData(teacher=teacher, x_test=x, y_test=y, directions=rows)


def sign_labels(teacher: dict, x, activation):
    """y = +1 where f*(x) > 0, else −1, for x (..., d) -> (...,)."""
    f = model.apply(teacher, x, 1.0, activation)
    return jnp.where(f > 0, 1.0, -1.0).astype(x.dtype)


def sign_teacher_label(data: tasks.TaskData, x, spec):
    """The labels of inputs x (..., d) -> (...,)."""
    return sign_labels(data.teacher, x, params(spec, "sign_teacher")["teacher_activation"])


def _sign_teacher_check(cfg) -> None:
    p = check_params(cfg, "sign_teacher")
    ACTIVATIONS.get(p["teacher_activation"], "task.params.teacher_activation")
    k, tsl = p["teacher_width"], p["teacher_second_layer"]
    if isinstance(tsl, tuple) and len(tsl) != k:
        raise ConfigError(f"task.params.teacher_second_layer must be a number or a list of {k} numbers, got {tsl!r}")
    if p["teacher_weights"] == "orthonormal" and k > cfg.input_dim:
        raise ConfigError(
            f"task.params.teacher_width must be <= task.input_dim ({cfg.input_dim}) for orthonormal rows, got {k}"
        )


SIGN_TEACHER = tasks.register(
    "sign_teacher",
    sign_teacher_shared,
    inputs=teacher_student.gaussian_inputs,
    label=sign_teacher_label,
    provides=("test_set", "direction"),
    check=_sign_teacher_check,
)
