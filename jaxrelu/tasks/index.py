"""``index``: single- and multi-index targets y = g(W* x), sparse parities and staircases.

x ∈ R^d is drawn from ``input_distribution``; z = W* x ∈ R^K are its projections on K unit
teacher directions (the rows of W*, ``TaskData.directions`` (K, d)); the label is

    y = g(z_1, …, z_K) / s            (s = 1, or s = std of g(z) with ``normalize = true``)

with g a small expression (``target``).  Parameters, from ``task.params`` (checked before
anything runs; unknown names refused):

``target``               g as an expression over ``z1 … zK``: numbers, ``+ − * /``, unary ``−``,
                         powers by non-negative integer constants (``z1**2``), and calls by name of
                         registered activations (:mod:`jaxrelu.activations`: ``relu(z1)``,
                         ``he3(z2)`` where registered, ``tanh(z1 + z2)``; a parametric one with its
                         constants after the argument: ``leaky_relu(z1, 0.1)`` looks up
                         ``leaky_relu(0.1)``) or ``sign(·)`` (sign(0) = 0).  K is the largest
                         index used.  E.g. ``"z1 + he3(z2)"``, ``"z1 + z1*z2 + z1*z2*z3"``,
                         ``"sign(z1*z2*z3)"``.  Default ``"z1"``.
``parity``               k: shorthand for ``target = "z1*z2*…*zk"``: with coordinate directions on
                         the hypercube, the sparse parity y = Π_{i∈S} x_i of S = {1, …, k}.
``staircase``            k: shorthand for ``target = "z1 + z1*z2 + … + z1*…*zk"`` (the staircase of
                         Abbe, Boix-Adserà & Misiakiewicz 2022).
``input_distribution``   ``"gaussian"`` (x ~ N(0, I_d), default), ``"sphere"`` (uniform on the sphere
                         of radius √d: x = √d g/‖g‖, g ~ N(0, I_d)) or ``"hypercube"``
                         (x uniform on {−1, +1}^d, Rademacher entries).
``directions``           ``"orthonormal"``: Haar-random orthonormal rows (default for gaussian and
                         sphere inputs); ``"coordinates"``: e_1 … e_K (default on the hypercube,
                         where z_k = x_k).  Inputs and the student's initialisation are rotation
                         invariant for gaussian and sphere inputs, so coordinates lose nothing
                         there; on the hypercube they are what a parity or staircase means.
``normalize``            ``true``: divide g by s = √Var g(z) so that Var y = 1 (default false).
                         s is exact where it is known in closed form: on the hypercube with
                         coordinate directions (the mean over the 2^K corners, K ≤ 20), and for
                         Gaussian inputs when g is a polynomial (products, powers, ``heK``, any
                         activation whose entry declares a polynomial ``degree``): tensor
                         Gauss–Hermite quadrature exact to the degree of g².  Otherwise (gaussian
                         inputs with a non-polynomial g, and sphere inputs) it is estimated from
                         2^20 draws of z from a fixed seed (relative standard error
                         ≈ √(κ−1)/(2·2^10), κ the kurtosis of g; :func:`scale` returns how it was
                         obtained).  Hypercube inputs with orthonormal directions are refused
                         with normalize.  The scale is a constant of the program (a float).

The task shares with every seed W* and a held-out test set of ``task.test_size`` inputs with
clean labels (``test_loss``, ``test_error``); ``task.train_size`` is ``"online"`` or n,
``task.label_noise`` adds noise as for every task (:mod:`jaxrelu.tasks`).  It provides
``"direction"``: the observables of :mod:`jaxrelu.observables.index` (max |cos| per direction,
projections on span W*, weight on a parity's support) and ``direction_cosine``.

Randomness: ``split(shared key)`` = (W*'s key, the test inputs' key); the inputs of a sample are
``normal(key, shape, start)`` (gaussian, sphere) or the top bit of ``bits(key, shape, start)``
(hypercube), so online batches are drawn row by row like the teacher–student stream.
"""

from __future__ import annotations

import ast
import functools
import itertools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np

from jaxrelu import model, rng, tasks
from jaxrelu.config import ConfigError
from jaxrelu.registry import ACTIVATIONS

INPUTS = ("gaussian", "sphere", "hypercube")
DIRECTIONS = ("orthonormal", "coordinates")
MC_SAMPLES = 2**20  # draws of z for a normalisation with no closed form
_MC_SEED = 0x5EED  # the fixed seed of those draws: numpy.random.default_rng(_MC_SEED)


def _posint(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


#: name -> (default, what a valid value is, validity test)
PARAMS = {
    "target": (None, "an expression over z1..zK (a string)", lambda v: isinstance(v, str) and v.strip() != ""),
    "parity": (None, "a positive integer k", _posint),
    "staircase": (None, "a positive integer k", _posint),
    "input_distribution": ("gaussian", f"one of {', '.join(INPUTS)}", lambda v: v in INPUTS),
    "directions": (None, f"one of {', '.join(DIRECTIONS)}", lambda v: v in DIRECTIONS),
    "normalize": (False, "true or false", lambda v: isinstance(v, bool)),
}


# --------------------------------------------------------------------------- expressions
def sign(z):
    """sign(z) ∈ {−1, 0, +1} (0 at 0), elementwise."""
    return jnp.sign(z)


#: functions an expression may call besides the registered activations
EXTRA_FUNCTIONS = {"sign": sign}


class Expression:
    """A parsed target expression: ``fn(z)`` for z (..., K) -> (...,), its K, and per-variable
    polynomial degrees (``None`` when g is not a polynomial)."""

    def __init__(self, text: str, key: str = "task.params.target"):
        self.text, self._key = text, key
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            raise ConfigError(f"{key}: cannot parse {text!r} as an expression over z1..zK") from None
        self._vars: set[int] = set()
        self.fn_tree = self._compile(tree.body)
        if not self._vars:
            raise ConfigError(f"{key}: {text!r} uses none of z1..zK")
        self.k = max(self._vars)
        self.degrees = self._degree(tree.body)

    def _bad(self, what: str):
        return ConfigError(
            f"{self._key}: {what} in {self.text!r} (allowed: numbers, z1..zK, + - * /, "
            "** by an integer constant, calls of registered activations and sign)"
        )

    def _function(self, node: ast.Call):
        if not isinstance(node.func, ast.Name) or node.keywords or not node.args:
            raise self._bad("a call that is not name(argument[, constants])")
        name, extra = node.func.id, node.args[1:]
        consts = []
        for a in extra:
            v = _constant(a)
            if v is None:
                raise self._bad(f"a non-constant parameter of {name}")
            consts.append(v)
        if consts:
            name = f"{name}({', '.join(repr(c) for c in consts)})"
        if not consts and name in EXTRA_FUNCTIONS:
            return name, EXTRA_FUNCTIONS[name]
        try:
            return name, ACTIVATIONS.get(name).fn
        except ConfigError as e:
            raise ConfigError(f"{self._key}: in {self.text!r}: {e} (or {', '.join(EXTRA_FUNCTIONS)})") from None

    def _compile(self, node):
        """A closure z (..., K) -> (...,) for the AST ``node``."""
        if isinstance(node, ast.Constant) and _constant(node) is not None:
            c = float(node.value)
            return lambda z: jnp.asarray(c, z.dtype)
        if isinstance(node, ast.Name):
            m = re.fullmatch(r"z([1-9][0-9]*)", node.id)
            if m is None:
                raise self._bad(f"the name {node.id!r}")
            i = int(m.group(1))
            self._vars.add(i)
            return lambda z: z[..., i - 1]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            f = self._compile(node.operand)
            return (lambda z: -f(z)) if isinstance(node.op, ast.USub) else f
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                p = _constant(node.right)
                if not (isinstance(p, int) and p >= 0):
                    raise self._bad("a power that is not a non-negative integer constant")
                f = self._compile(node.left)
                return lambda z: f(z) ** p
            ops = {ast.Add: jnp.add, ast.Sub: jnp.subtract, ast.Mult: jnp.multiply, ast.Div: jnp.divide}
            op = ops.get(type(node.op))
            if op is None:
                raise self._bad(f"the operator {type(node.op).__name__}")
            f, g = self._compile(node.left), self._compile(node.right)
            return lambda z: op(f(z), g(z))
        if isinstance(node, ast.Call):
            _, fn = self._function(node)
            f = self._compile(node.args[0])
            return lambda z: fn(f(z))
        raise self._bad(f"{type(node).__name__}")

    def _degree(self, node):
        """{variable: degree} of a polynomial expression, or None."""
        if isinstance(node, ast.Constant):
            return {}
        if isinstance(node, ast.Name):
            return {int(node.id[1:]): 1}
        if isinstance(node, ast.UnaryOp):
            return self._degree(node.operand)
        if isinstance(node, ast.BinOp):
            a = self._degree(node.left)
            if isinstance(node.op, ast.Pow):
                return None if a is None else {k: v * _constant(node.right) for k, v in a.items()}
            b = self._degree(node.right)
            if a is None or b is None:
                return None
            if isinstance(node.op, (ast.Add, ast.Sub)):
                return {k: max(a.get(k, 0), b.get(k, 0)) for k in a.keys() | b.keys()}
            if isinstance(node.op, ast.Mult):
                return {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}
            return a if not b else None  # division by a constant only
        if isinstance(node, ast.Call):
            name, _ = self._function(node)
            deg = None if name in EXTRA_FUNCTIONS else getattr(ACTIVATIONS.get(name), "degree", None)
            a = self._degree(node.args[0])
            return None if deg is None or a is None else {k: v * deg for k, v in a.items()}
        return None

    def __call__(self, z):
        """g(z) for z (..., K) -> (...,)."""
        return self.fn_tree(z)


def _constant(node):
    """The int/float value of a (signed) numeric constant node, else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _constant(node.operand)
        return None if v is None else -v
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    return None


def target_text(p: dict) -> str:
    """The target expression of the parameters ``p`` (``target``, ``parity`` or ``staircase``)."""
    if p["parity"] is not None:
        return "*".join(f"z{i}" for i in range(1, p["parity"] + 1))
    if p["staircase"] is not None:
        return " + ".join("*".join(f"z{i}" for i in range(1, j + 1)) for j in range(1, p["staircase"] + 1))
    return p["target"] if p["target"] is not None else "z1"


@functools.lru_cache(maxsize=256)
def expression(text: str) -> Expression:
    """The parsed expression ``text`` (cached)."""
    return Expression(text)


# ------------------------------------------------------------------------------ params
def params(obj) -> dict:
    """The parameters from ``obj.params`` (a ``TaskSpec`` or ``TaskConfig``: sorted (key, value) pairs),
    defaults filled in (``directions`` resolved from the input distribution).  Unchecked."""
    given = dict(obj.params)
    p = {k: given.get(k, default) for k, (default, _, _) in PARAMS.items()}
    if p["directions"] is None:
        p["directions"] = "coordinates" if p["input_distribution"] == "hypercube" else "orthonormal"
    return p


def check(cfg) -> None:
    """ConfigError (naming the key) for bad ``task.params`` or combinations, before anything runs."""
    for k, v in cfg.params:
        if k not in PARAMS:
            raise ConfigError(f"task.params.{k}: unknown parameter of task 'index' (known: {', '.join(PARAMS)})")
        _, what, ok = PARAMS[k]
        if (isinstance(v, bool) and k != "normalize") or not ok(v):
            raise ConfigError(f"task.params.{k} must be {what}, got {v!r}")
    given = [k for k in ("target", "parity", "staircase") if k in dict(cfg.params)]
    if len(given) > 1:
        raise ConfigError(f"task.params: give one of target, parity, staircase, got {', '.join(given)}")
    p = params(cfg)
    e = expression(target_text(p))
    if e.k > cfg.input_dim:
        raise ConfigError(
            f"task.params.{given[0] if given else 'target'}: the target uses z{e.k}, more teacher "
            f"directions than task.input_dim ({cfg.input_dim})"
        )
    if p["normalize"] and p["input_distribution"] == "hypercube" and p["directions"] == "orthonormal":
        raise ConfigError(
            "task.params.normalize: no normalisation for hypercube inputs with orthonormal "
            "directions (use directions = 'coordinates', or normalize = false)"
        )
    if p["normalize"]:
        s, _ = scale(target_text(p), p["input_distribution"], p["directions"], cfg.input_dim)
        if not s > 0:
            raise ConfigError(f"task.params.normalize: the target {target_text(p)!r} has zero variance")


# --------------------------------------------------------------------------- sampling
def inputs(distribution: str):
    """The sampler ``(key, shape, dtype, start=0) -> x`` of an input distribution (``INPUTS``)."""

    def gaussian(key, shape, dtype, start=0):
        return rng.normal(key, shape, dtype, start=start)

    def sphere(key, shape, dtype, start=0):
        g = rng.normal(key, shape, jnp.float32, start=start).astype(dtype)
        return math.sqrt(shape[-1]) * g / jnp.linalg.norm(g, axis=-1, keepdims=True)

    def hypercube(key, shape, dtype, start=0):
        top = rng.bits(key, shape, start) >> np.uint32(31)
        return (1 - 2 * top.astype(jnp.int32)).astype(dtype)

    return {"gaussian": gaussian, "sphere": sphere, "hypercube": hypercube}[distribution]


def sample_inputs(key, shape, dtype, spec, start=0):
    """Inputs x (*shape) of the task's distribution (``start``: the position in the key's stream)."""
    return inputs(params(spec)["input_distribution"])(key, shape, dtype, start)


def teacher_directions(key, p: dict, k: int, d: int, dtype):
    """W* (K, d): Haar-random orthonormal rows, or the coordinate vectors e_1 … e_K."""
    if p["directions"] == "coordinates":
        return jnp.eye(k, d, dtype=dtype)
    return model.orthonormal_rows(key, k, d, dtype)


@functools.lru_cache(maxsize=256)
def scale(text: str, distribution: str, directions: str, d: int) -> tuple[float, str]:
    """s = √Var g(z) of the target ``text`` under the input distribution, and how it was obtained:
    ``"exact (2^K corners)"``, ``"exact (Gauss–Hermite)"`` or ``"Monte Carlo (2^20 draws)"``."""
    e = expression(text)
    k = e.k
    with jax.enable_x64(True), jax.ensure_compile_time_eval():  # a constant, also when called under jit
        if distribution == "hypercube" and directions == "coordinates" and k <= 20:
            z = np.array(list(itertools.product((-1.0, 1.0), repeat=k)))
            y = np.asarray(e(jnp.asarray(z, jnp.float64)))
            return float(np.sqrt(np.mean(y**2) - np.mean(y) ** 2)), f"exact ({2**k} corners)"
        if distribution == "gaussian" and e.degrees is not None:
            n = max(e.degrees.values(), default=0) + 1
            if n**k <= 2**21:
                nodes, weights = np.polynomial.hermite_e.hermegauss(n)
                weights = weights / weights.sum()
                z = np.array(list(itertools.product(nodes, repeat=k)))
                w = np.prod(np.array(list(itertools.product(weights, repeat=k))), axis=1)
                y = np.asarray(e(jnp.asarray(z, jnp.float64)))
                mean = np.sum(w * y)
                return float(np.sqrt(max(np.sum(w * y**2) - mean**2, 0.0))), "exact (Gauss–Hermite)"
        gen = np.random.default_rng(_MC_SEED)
        if distribution == "gaussian":
            z = gen.standard_normal((MC_SAMPLES, k))
        elif distribution == "sphere":  # rotation invariance: the first K coordinates
            z = _sphere_marginal(gen, MC_SAMPLES, k, d)
        else:
            raise ValueError("no normalisation for hypercube inputs with orthonormal directions")
        y = np.asarray(e(jnp.asarray(z, jnp.float64)))
        return float(np.std(y)), f"Monte Carlo ({len(y)} draws)"


def _sphere_marginal(gen, n: int, k: int, d: int):
    """The first k coordinates of n points uniform on the sphere of radius √d, (n, k), without drawing
    all d: √d g / √(‖g‖² + χ²_{d−k}), g ~ N(0, I_k) and χ²_{d−k} independent (numpy ``gen``)."""
    g = gen.standard_normal((n, k))
    rest = gen.chisquare(d - k, n) if d > k else 0.0
    return g * np.sqrt(d / (np.sum(g**2, axis=1) + rest))[:, None]


def labels(directions, x, spec_or_cfg, d: int):
    """y = g(W* x) / s for x (..., d) -> (...,)."""
    p = params(spec_or_cfg)
    text = target_text(p)
    y = expression(text)(x @ directions.T)
    if p["normalize"]:
        y = y / scale(text, p["input_distribution"], p["directions"], d)[0]
    return y


def shared(key, cfg, dtype) -> tasks.TaskData:
    """W* (K, d) as ``directions`` and the test set (test_size, d), (test_size,): ``split(key)`` =
    (W*'s key, the test inputs' key)."""
    p = params(cfg)
    kt, kx = rng.split(key)
    W = teacher_directions(kt, p, expression(target_text(p)).k, cfg.input_dim, dtype)
    x = inputs(p["input_distribution"])(kx, (cfg.test_size, cfg.input_dim), dtype)
    return tasks.TaskData(x_test=x, y_test=labels(W, x, cfg, cfg.input_dim), directions=W)


def label(data: tasks.TaskData, x, spec: tasks.TaskSpec):
    """The clean labels y = g(W* x)/s of inputs x (..., d) -> (...,)."""
    return labels(data.directions, x, spec, spec.input_dim)


INDEX = tasks.register(
    "index",
    shared,
    inputs=sample_inputs,
    label=label,
    provides=("test_set", "direction"),
    check=check,
    inputs_spec=True,
)
