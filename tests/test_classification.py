"""Classification (issue 17): the logistic, exponential, hinge and correlation losses, the classification
tasks' samplers, their observables (errors, margins, norms, stable rank, alignment), a dataset's test
set, and label-flip SGD.

Statistical checks use fixed seeds and a tolerance of 4 standard errors (computed from the stated
formula, or from the sample where it has none): a correct sampler fails one with probability < 1e-4,
and each test says what a wrong one would give instead.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrelu
from jaxrelu import config, dynamics, losses, rng, tasks
from jaxrelu.config import ConfigError
from jaxrelu.observables import Context
from jaxrelu.observables import classification as cobs
from jaxrelu.registry import OBSERVABLES, TASKS
from jaxrelu.tasks import classification as ctasks

Z = 4.0  # tolerance in standard errors
CLASSIFICATION = ["logistic", "exponential", "hinge", "correlation"]


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


# =============================================================================== losses
def _reference(name, m):
    """ℓ as a function of the margin m = y f, in float64 numpy."""
    with np.errstate(over="ignore"):
        return {
            "logistic": np.logaddexp(0.0, -m),
            "exponential": np.exp(-m),
            "hinge": np.maximum(0.0, 1.0 - m),
            "correlation": -m,
        }[name]


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_loss_value_and_gradient_against_finite_differences(name, x64):
    L = losses.get(name)
    f = np.array([-3.1, -0.7, 0.2, 0.45, 1.6, 4.0])  # away from the hinge's kink y f = 1
    for y in (1.0, -1.0):
        yv = np.full_like(f, y)
        val = np.asarray(L(jnp.asarray(f), jnp.asarray(yv)))
        np.testing.assert_allclose(val, _reference(name, y * f), rtol=1e-13, atol=1e-15)
        grad = np.asarray(jax.vmap(jax.grad(lambda a, b: L(a, b)))(jnp.asarray(f), jnp.asarray(yv)))
        h = 1e-6  # central differences: error O(h²) ≈ 1e-12
        fd = (_reference(name, y * (f + h)) - _reference(name, y * (f - h))) / (2 * h)
        np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", CLASSIFICATION)
def test_losses_never_nan_at_margins_of_1e4(name, dtype, x64):
    dt = jnp.dtype(dtype)
    f = jnp.array([1e4, -1e4, 1e4, -1e4], dt)
    y = jnp.array([1.0, 1.0, -1.0, -1.0], dt)  # margins +1e4, -1e4, -1e4, +1e4
    L = losses.get(name)
    val = L(f, y)
    grad = jax.vmap(jax.grad(lambda a, b: L(a, b)))(f, y)
    assert val.dtype == dt and grad.dtype == dt
    assert not np.any(np.isnan(val)) and not np.any(np.isnan(grad))
    m = np.asarray(y * f, np.float64)
    if name == "exponential":
        # e^{1e4} exceeds every float (log max: 88.7 / 709.8): +inf, never nan; e^{-1e4} underflows to 0
        np.testing.assert_array_equal(val, np.where(m > 0, 0.0, np.inf))
        np.testing.assert_array_equal(grad, np.where(m > 0, 0.0, -np.asarray(y) * np.inf))
    else:  # finite, and exact to the dtype's rounding
        assert np.all(np.isfinite(val)) and np.all(np.isfinite(grad))
        np.testing.assert_allclose(np.asarray(val, np.float64), _reference(name, m), rtol=1e-6)
        expect_grad = {
            "logistic": -np.asarray(y) * (m < 0),
            "hinge": -np.asarray(y) * (m < 1),
            "correlation": -np.asarray(y),
        }[name]
        np.testing.assert_array_equal(grad, expect_grad)


def test_logistic_is_stable_where_the_naive_formula_is_not():
    f = jnp.array([-200.0, -100.0, 100.0, 200.0], jnp.float32)  # log(1 + e^{200}) overflows in float32
    with np.errstate(over="ignore"):
        assert np.all(np.isinf(np.log1p(np.exp(-np.asarray(f)))[:2]))
    np.testing.assert_allclose(losses.get("logistic")(f, jnp.ones_like(f)), [200, 100, 0, 0], atol=1e-30)
    # for large positive margins log(1 + e^{-m}) ≈ e^{-m}, resolved, not rounded to 0 by 1 + e^{-m}
    np.testing.assert_allclose(losses.get("logistic")(jnp.float32(30.0), jnp.float32(1.0)), math.exp(-30), rtol=1e-6)


def test_square_loss_is_unchanged():
    sq = losses.get("square")
    assert sq.square and sq.scale == 0.5 and sq is losses.SQUARE
    f, y = jnp.array([0.3, -1.7, 2.0]), jnp.array([1.0, 0.5, -1.0])
    np.testing.assert_array_equal(sq.fn(f, y), (f - y) ** 2)
    assert not any(losses.get(n).square for n in CLASSIFICATION)


# ================================================================================ tasks
def _spec(kind, d, **params):
    """A TaskSpec of ``kind`` in dimension d with ``params`` (as the program builds it)."""
    return tasks.TaskSpec(
        task=TASKS.get(kind),
        input_dim=d,
        online=True,
        train_size=0,
        batch_max=1,
        full_batch=False,
        replacement=False,
        teacher_activation=None,
        test_size=1,
        label_noise=False,
        params=tuple(sorted(params.items())),
    )


def _draw(kind, n, d, seed=0, **params):
    """n samples of ``kind`` (jitted: the threefry hash run eagerly is hundreds of tiny compiled ops)."""
    spec = _spec(kind, d, **params)
    x, y = jax.jit(lambda k: spec.task.sample(k, (n, d), jnp.float32, spec))(jax.random.PRNGKey(seed))
    return np.asarray(x, np.float64), np.asarray(y, np.float64)


def _fraction_ok(y, p):
    """The fraction of +1 labels within Z binomial standard errors of p."""
    assert set(np.unique(y)) <= {-1.0, 1.0}
    se = math.sqrt(p * (1 - p) / y.size)
    assert abs(np.mean(y > 0) - p) < Z * se, (np.mean(y > 0), p, se)


def _mean_ok(v, mu, sd=None):
    """The sample mean of v within Z standard errors (sd/√n; the sample's sd when not given) of mu."""
    se = (sd if sd is not None else np.std(v, ddof=1)) / math.sqrt(v.size)
    assert abs(np.mean(v) - mu) < Z * se, (np.mean(v), mu, se)


@pytest.mark.parametrize("fraction", [0.5, 0.2])
def test_gaussian_mixture_sampler(fraction):
    n, d, snr = 40_000, 6, 1.5
    x, y = _draw("gaussian_mixture", n, d, snr=snr, positive_fraction=fraction)
    _fraction_ok(y, fraction)
    for c in (1.0, -1.0):
        xc = x[y == c]
        _mean_ok(xc[:, 0], c * snr, sd=1.0)  # the mean is y μ, μ = snr e_1 (wrong sign: off by 3 snr)
        _mean_ok(xc[:, 1:].ravel(), 0.0, sd=1.0)
        # unit variance: the variance's standard error is √(2/(n − 1)) for Gaussian data
        s2 = np.var(xc, axis=0, ddof=1)
        assert np.all(np.abs(s2 - 1) < Z * math.sqrt(2 / (len(xc) - 1)) * math.sqrt(d)), s2
    # Bayes error Φ(−snr) of sign(x_1) (balanced classes only)
    if fraction == 0.5:
        err, p = np.mean(np.sign(x[:, 0]) != y), 0.5 * math.erfc(snr / math.sqrt(2))
        assert abs(err - p) < Z * math.sqrt(p * (1 - p) / n)


def test_gaussian_xor_sampler():
    n, d, snr = 40_000, 5, 2.0
    x, y = _draw("gaussian_xor", n, d, snr=snr)
    _fraction_ok(y, 0.5)
    for c, axis in ((1.0, 0), (-1.0, 1)):
        xc = x[y == c]
        other = 1 - axis
        _mean_ok(xc[:, axis], 0.0, sd=math.sqrt(snr**2 + 1))  # clusters at ±μ: mean 0, variance snr² + 1
        _mean_ok(xc[:, axis] ** 2, snr**2 + 1)  # E x² = snr² + 1 on the label's axis ...
        _mean_ok(xc[:, other] ** 2, 1.0)  # ... and 1 on the other's
        _mean_ok(np.sign(xc[:, axis]), 0.0, sd=1.0)  # the two clusters of a class equally likely
    # not linearly separable along either axis: the XOR rule sign(|x_1| − |x_2|) is near Bayes
    assert np.mean(np.sign(np.abs(x[:, 0]) - np.abs(x[:, 1])) == y) > 0.8


def test_orthogonally_separable_sampler():
    n, d, margin, radius = 600, 8, 1.0, 0.9
    x, y = _draw("orthogonally_separable", n, d, margin=margin, radius=radius)
    _fraction_ok(y, 0.5)
    G = (y[:, None] * x) @ (y[:, None] * x).T  # y_i y_j x_i·x_j: > 0 for every pair, exactly
    assert G.min() > d * (margin**2 - radius**2) * (1 - 1e-5)
    a = y * x[:, 0] / math.sqrt(d)
    assert a.min() >= margin * (1 - 1e-6)
    _mean_ok(a - margin, math.sqrt(2 / math.pi), sd=math.sqrt(1 - 2 / math.pi))  # |ξ|: half-normal
    np.testing.assert_allclose(np.linalg.norm(x[:, 1:], axis=1), radius * math.sqrt(d), rtol=1e-5)


def test_nearly_orthogonal_sampler():
    n, d = 30, 2000
    x, _ = _draw("nearly_orthogonal", n, d)
    np.testing.assert_allclose(np.sum(x * x, axis=1), d, rtol=1e-5)
    off = (x @ x.T)[np.triu_indices(n, 1)] / math.sqrt(d)  # ≈ N(0, 1) for i ≠ j: nearly orthogonal
    _mean_ok(off**2, 1.0, sd=math.sqrt(2))
    x2, y2 = _draw("nearly_orthogonal", 20_000, 50)
    _fraction_ok(y2, 0.5)
    _mean_ok(y2 * x2[:, 0], 0.0, sd=1.0)  # signal 0: labels independent of the inputs
    x3, y3 = _draw("nearly_orthogonal", 20_000, 50, signal=2.0)
    assert np.mean(y3 * x3[:, 0]) > 1.5  # signal 2: E y x_1 ≈ 2 √(50/54) = 1.92


@pytest.mark.parametrize("width,fraction", [(1, 0.5), (2, 3 / 8)])
def test_sign_teacher_labels(width, fraction):
    """y = +1 where f*(x) > 0.  k = 1: y = sign(w*·x), P = ½; k = 2 (orthonormal, a* = (1, −1)):
    f* = relu(u) − relu(v) with u, v i.i.d. N(0, 1), P(f* > 0) = (1 − P(u, v ≤ 0))/2 = 3/8."""
    d, n = 7, 40_000
    cfg = config.from_dict(
        {"task": {"kind": "sign_teacher", "input_dim": d, "test_size": n, "params": {"teacher_width": width}}}
    ).task
    data = jax.jit(lambda k: ctasks.sign_teacher_shared(k, cfg, jnp.float32))(jax.random.PRNGKey(3))
    W, a = np.asarray(data.teacher["W"], np.float64), np.asarray(data.teacher["a"])
    np.testing.assert_allclose(W @ W.T, np.eye(width), atol=1e-6)
    np.testing.assert_array_equal(a, [(-1.0) ** k for k in range(width)])
    x, y = np.asarray(data.x_test, np.float64), np.asarray(data.y_test)
    f = np.maximum(x @ W.T, 0) @ a
    np.testing.assert_array_equal(y, np.where(f > 0, 1.0, -1.0))
    _fraction_ok(y, fraction)
    spec = _spec("sign_teacher", d, teacher_width=width)
    np.testing.assert_array_equal(ctasks.sign_teacher_label(data, data.x_test[:50], spec), y[:50])
    np.testing.assert_allclose(np.asarray(data.directions), W, atol=1e-6)


@pytest.mark.parametrize("kind", ["gaussian_mixture", "gaussian_xor", "orthogonally_separable", "nearly_orthogonal"])
def test_online_rows_are_rows_of_the_block(kind):
    """An online batch drawn alone (``start``) is the same rows of the whole block's draw (the labels and
    the normals exactly; a row's normalisation, a reduction over d, may round differently with the shape)."""
    d, B = 5, 3
    spec = _spec(kind, d)
    key = jax.random.PRNGKey(7)
    xb, yb = jax.jit(lambda k: spec.task.sample(k, (8 * B, d), jnp.float32, spec))(key)
    row = jax.jit(lambda k, i: spec.task.sample(k, (B, d), jnp.float32, spec, start=i * B * d))
    for i in (0, 5):  # i traced, as in the engine
        xi, yi = row(key, i)
        np.testing.assert_allclose(xi, xb[i * B : (i + 1) * B], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(yi, yb[i * B : (i + 1) * B])


# =========================================================================== observables
def test_observables_against_a_hand_computation():
    """Two relu neurons in 2-D on three points, computed by hand."""
    params = {"W": jnp.array([[1.0, 0.0], [0.0, 2.0]]), "a": jnp.array([1.0, -1.0])}
    # f(x) = relu(x_1) − relu(2 x_2)
    x = jnp.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # f = 2, −2, −1
    y = jnp.array([1.0, -1.0, 1.0])  # y f = 2, 2, −1
    data = tasks.TaskData(
        x_train=x, y_train=y, x_test=x[:2], y_test=y[:2], directions=jnp.array([[1.0, 0.0], [0.6, 0.8]])
    )
    ctx = Context(1.0, "relu", None, False, False, "logistic")

    def obs(name):
        return float(OBSERVABLES.get(name).fn(params, None, data, ctx))

    assert obs("train_error") == pytest.approx(1 / 3)
    assert obs("test_error") == 0.0
    assert obs("margin") == -1.0
    norm2 = 1 + 4 + 1 + 1  # ‖W‖_F² + ‖a‖²
    assert obs("normalized_margin") == pytest.approx(-1 / norm2)
    assert obs("param_norm") == pytest.approx(math.sqrt(norm2))
    assert obs("stable_rank") == pytest.approx(5 / 4)  # ‖W‖_F² = 5, ‖W‖₂² = 4
    # cosines of w_1 = e_1, w_2 = e_2 with (1, 0): 1, 0; with (0.6, 0.8): 0.6, 0.8 -> min(1, 0.8)
    assert obs("direction_cosine") == pytest.approx(0.8)
    assert obs("test_loss") == pytest.approx(math.log1p(math.exp(-2)))
    # a bias counts in ‖θ‖²
    with_b = {**params, "b": jnp.array([0.0, 0.0])}
    assert float(cobs.normalized_margin(with_b, None, data, ctx)) == pytest.approx(-1 / norm2)
    zero = {"W": jnp.zeros((2, 2)), "a": jnp.zeros(2)}
    assert float(cobs.normalized_margin(zero, None, data, ctx)) == 0.0
    assert float(cobs.stable_rank(zero, None, data, ctx)) == 0.0


def test_normalized_margin_is_scale_invariant_for_a_homogeneous_net():
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    params = {"W": jax.random.normal(k[0], (4, 3)), "a": jax.random.normal(k[1], (4,))}
    x = jax.random.normal(k[2], (10, 3))
    data = tasks.TaskData(x_train=x, y_train=jnp.sign(x[:, 0]))
    ctx = Context(1.0, "relu", None, False, False, "logistic")
    m1 = cobs.normalized_margin(params, None, data, ctx)
    m2 = cobs.normalized_margin(jax.tree.map(lambda p: 3.0 * p, params), None, data, ctx)
    np.testing.assert_allclose(m1, m2, rtol=1e-5)
    assert float(cobs.margin(jax.tree.map(lambda p: 3.0 * p, params), None, data, ctx)) == pytest.approx(
        9 * float(cobs.margin(params, None, data, ctx)), rel=1e-5
    )


# ============================================================================ label flip
def _flip_spec(*on):
    return dynamics.StepSpec(
        c=1.0,
        activation=None,
        loss=None,
        optimizer=None,
        train_second_layer=True,
        on=frozenset(on),
        masked_batch=False,
        decay_steps=(),
    )


def test_uniform_is_jax_random_uniform_bit_for_bit():
    key = jax.random.PRNGKey(5)
    u = jax.jit(lambda k: rng.uniform(k, (4096,)))(key)
    np.testing.assert_array_equal(u, jax.random.uniform(key, (4096,)))
    np.testing.assert_array_equal(jax.jit(lambda k: rng.uniform(k, (7,), start=100))(key), u[100:107])
    assert float(u.min()) >= 0 and float(u.max()) < 1


def test_label_flip_frequency_matches_p():
    y = jnp.ones(100_000)
    key = jax.random.PRNGKey(11)
    spec = _flip_spec("optimizer.label_flip")
    flip = jax.jit(lambda p: dynamics.sampled_labels(spec, y, key, {"optimizer.label_flip": p}))
    for p in (0.05, 0.3, 0.5):
        yt = np.asarray(flip(jnp.float32(p)))
        assert set(np.unique(yt)) <= {-1.0, 1.0}
        se = math.sqrt(p * (1 - p) / y.size)
        assert abs(np.mean(yt < 0) - p) < Z * se, (p, np.mean(yt < 0), se)
    for p, expect in ((0.0, 1.0), (1.0, -1.0)):  # p = 0 flips nothing, p = 1 everything
        yt = flip(jnp.float32(p))
        np.testing.assert_array_equal(yt, expect * y)


def test_label_flip_leaves_the_label_noise_stream_alone():
    """ỹ = s ⊙ y + σ ξ with ξ = normal(key) whether or not flips are on (flips: fold_in(key, FLIP))."""
    y = jnp.linspace(-1.0, 1.0, 64)
    key = jax.random.PRNGKey(2)
    hp = {"optimizer.label_flip": jnp.float32(0.4), "optimizer.label_noise": jnp.float32(0.3)}
    xi = rng.normal(key, y.shape)
    noise_only = dynamics.sampled_labels(_flip_spec("optimizer.label_noise"), y, key, hp)
    flips_only = dynamics.sampled_labels(_flip_spec("optimizer.label_flip"), y, key, hp)
    both = dynamics.sampled_labels(_flip_spec("optimizer.label_noise", "optimizer.label_flip"), y, key, hp)
    np.testing.assert_array_equal(noise_only, y + 0.3 * xi)
    np.testing.assert_array_equal(jnp.abs(flips_only), jnp.abs(y))
    assert 0 < np.mean(np.asarray(flips_only) != np.asarray(y)) < 1
    np.testing.assert_array_equal(both, flips_only + 0.3 * xi)


def _flip_study(**optimizer):
    return {
        "run": {"seeds": 6, "steps": 60, "record_every": 20},
        "task": {
            "kind": "gaussian_mixture",
            "input_dim": 6,
            "train_size": 16,
            "loss": "logistic",
            "test_size": 64,
            "params": {"snr": 1.0},
        },
        "model": {"width": 4},
        "optimizer": {"lr": 0.2, "batch_size": 4, "label_noise": 0.1, **optimizer},
        "record": {"observables": ["train_loss", "margin"], "keep_per_seed": ["train_loss", "margin"]},
    }


def test_label_flip_zero_leaves_trajectories_bitwise_unchanged():
    """p = 0 flips nothing: set to 0 the key stays off (the same program as without it), and with the key
    switched on by a sweep the p = 0 grid point equals the same grid point of a sweep over another axis
    (lr, with the same first value: both grids have two points, so both programs vmap alike)."""
    lr_sweep = {"sweep": {"optimizer.lr": [0.2, 0.3]}}
    plain = jaxrelu.run(config.from_dict({**_flip_study(), **lr_sweep}))
    explicit = jaxrelu.run(config.from_dict({**_flip_study(label_flip=0.0), **lr_sweep}))
    swept = jaxrelu.run(config.from_dict({**_flip_study(), "sweep": {"optimizer.label_flip": [0.0, 0.25]}}))
    for o in ("train_loss", "margin"):
        ref = np.asarray(plain[f"{o}.per_seed"])
        np.testing.assert_array_equal(np.asarray(explicit[f"{o}.per_seed"]), ref)
        np.testing.assert_array_equal(np.asarray(swept[f"{o}.per_seed"])[0], ref[0])
        assert not np.array_equal(np.asarray(swept[f"{o}.per_seed"])[1], ref[0])  # p = 0.25 flips labels


def test_label_flip_is_refused_where_it_does_not_apply():
    with pytest.raises(ConfigError, match="optimizer.label_flip must be a number in \\[0, 1\\]"):
        config.from_dict(_flip_study(label_flip=1.5))
    with pytest.raises(ConfigError, match="optimizer.label_flip: .*sde"):
        jaxrelu.api.check(config.from_dict(_flip_study(label_flip=0.1, method="sde", label_noise=0.0)))


# ====================================================================== studies and config
def _task_study(kind, train_size, observables, **params):
    return {
        "run": {"seeds": 4, "steps": 40, "record_every": 20},
        "task": {
            "kind": kind,
            "input_dim": 8,
            "train_size": train_size,
            "loss": "logistic",
            "test_size": 200,
            "params": params,
        },
        "model": {"width": 4, "init_scale": 0.5},
        "optimizer": {"lr": 0.1, "batch_size": 4},
        "record": {"observables": observables},
    }


ALL = ["train_error", "test_error", "test_loss", "margin", "normalized_margin", "param_norm", "stable_rank"]


@pytest.mark.parametrize(
    "kind,train_size,params",
    [
        ("gaussian_mixture", "online", {"snr": 3.0}),  # online: the sampler's rows, step by step
        pytest.param("gaussian_xor", 16, {}, marks=pytest.mark.slow),  # (training sets: the label-flip tests)
        pytest.param("orthogonally_separable", 16, {}, marks=pytest.mark.slow),
        pytest.param("nearly_orthogonal", 8, {"signal": 1.0}, marks=pytest.mark.slow),
        pytest.param("sign_teacher", 16, {"teacher_width": 2}, marks=pytest.mark.slow),  # inputs + label
    ],
)
def test_each_task_runs_and_learns(kind, train_size, params):
    obs = (
        [o for o in ALL if o not in ("train_error", "margin", "normalized_margin")] if train_size == "online" else ALL
    ) + ["direction_cosine"]
    res = jaxrelu.run(config.from_dict(_task_study(kind, train_size, obs, **params)))
    for o in obs:
        v = np.asarray(res[f"{o}.mean"])
        assert np.all(np.isfinite(v)), o
    assert res["test_loss.mean"][-1] < res["test_loss.mean"][0]  # SGD on the logistic loss learns
    if train_size != "online":
        assert res["train_error.mean"][-1] <= res["train_error.mean"][0]
    assert np.all((np.asarray(res["test_error.mean"]) >= 0) & (np.asarray(res["test_error.mean"]) <= 1))


def test_task_parameters_are_checked_before_running():
    def check(kind, train_size=16, obs=("test_error",), **params):
        jaxrelu.api.check(config.from_dict(_task_study(kind, train_size, list(obs), **params)))

    with pytest.raises(ConfigError, match="task.params.snrr: unknown parameter of task 'gaussian_mixture'"):
        check("gaussian_mixture", snrr=1.0)
    with pytest.raises(ConfigError, match="task.params.snr must be a non-negative number, got -1"):
        check("gaussian_mixture", snr=-1)
    with pytest.raises(ConfigError, match="task.params.positive_fraction must be a number in"):
        check("gaussian_xor", positive_fraction=True)
    with pytest.raises(ConfigError, match="radius must be < task.params.margin"):
        check("orthogonally_separable", radius=1.0, margin=1.0)
    with pytest.raises(ConfigError, match="n <= task.input_dim"):
        check("nearly_orthogonal", train_size=9)
    with pytest.raises(ConfigError, match="teacher_activation: unknown activation 'rleu'"):
        check("sign_teacher", teacher_activation="rleu")
    with pytest.raises(ConfigError, match="direction_cosine needs a task that provides 'direction'"):
        check("nearly_orthogonal", train_size=8, obs=("direction_cosine",))
    check("nearly_orthogonal", train_size=8, obs=("direction_cosine",), signal=0.5)


def _dataset_study(**task):
    return {
        "run": {"seeds": 2, "steps": 20, "record_every": 10},
        "task": {
            "kind": "dataset",
            "inputs": [[1.0, 0.0], [-1.0, 0.5], [0.5, 1.0], [-0.5, -1.0]],
            "targets": [1.0, -1.0, 1.0, -1.0],
            "loss": "hinge",
            **task,
        },
        "model": {"width": 3},
        "optimizer": {"lr": 0.1, "batch_size": 4},
        "record": {"observables": ["train_error", "test_error", "test_loss"]},
    }


def test_dataset_with_a_test_set_inline_and_from_a_file(tmp_path):
    test = {"test_inputs": [[2.0, 0.0], [-2.0, 0.1], [0.0, 3.0]], "test_targets": [1.0, -1.0, 1.0]}
    inline = jaxrelu.run(config.from_dict(_dataset_study(**test)))
    d = _dataset_study()["task"]
    np.savez(
        tmp_path / "data.npz",
        x=np.array(d["inputs"]),
        y=np.array(d["targets"]),
        x_test=np.array(test["test_inputs"]),
        y_test=np.array(test["test_targets"]),
    )
    st = config.from_dict(
        {**_dataset_study(), "task": {"kind": "dataset", "file": "data.npz", "loss": "hinge"}}, base_dir=str(tmp_path)
    )
    assert st.task.test_inputs == tuple(tuple(r) for r in test["test_inputs"])
    from_file = jaxrelu.run(st)
    for o in ("train_error", "test_error", "test_loss"):
        np.testing.assert_array_equal(np.asarray(inline[f"{o}.mean"]), np.asarray(from_file[f"{o}.mean"]))
    # the saved study round-trips with its test set inline
    assert config.from_dict(st.to_dict()).task.test_targets == tuple(test["test_targets"])
    data = TASKS.get("dataset").shared(None, st.task, jnp.float32)
    np.testing.assert_array_equal(data.x_test, np.array(test["test_inputs"], np.float32))


def test_dataset_test_set_errors():
    with pytest.raises(ConfigError, match="test_error needs a task that provides 'test_set'"):
        jaxrelu.api.check(config.from_dict(_dataset_study()))
    with pytest.raises(ConfigError, match="task.test_inputs and task.test_targets go together"):
        config.from_dict(_dataset_study(test_inputs=[[1.0, 2.0]]))
    with pytest.raises(ConfigError, match="task.test_inputs must be numbers or lists of 2 numbers"):
        config.from_dict(_dataset_study(test_inputs=[[1.0, 2.0, 3.0]], test_targets=[1.0]))
    with pytest.raises(ConfigError, match="task.test_targets must be a list of 1 numbers"):
        config.from_dict(_dataset_study(test_inputs=[[1.0, 2.0]], test_targets=[1.0, 2.0]))
    with pytest.raises(ConfigError, match="task.test_inputs is only for kind = 'dataset'"):
        config.from_dict(
            _task_study("gaussian_mixture", 16, ["test_error"])
            | {"task": {"kind": "gaussian_mixture", "test_inputs": [[1.0]]}}
        )
