"""Index, parity and staircase targets (issue 16, part B): the ``index`` task's samplers against their
distributions, its labels (parities exactly), its target expressions and normalisation, and the
observables of :mod:`jaxrelu.observables.index`.

Statistical checks use fixed keys and a tolerance of Z = 4 standard errors, each computed from the
stated formula (or from the sample where it has none): a correct sampler fails one with probability
< 1e-4.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrelu
from jaxrelu import api, config, tasks
from jaxrelu.config import ConfigError
from jaxrelu.observables import index as iobs
from jaxrelu.registry import OBSERVABLES
from jaxrelu.tasks import index

Z = 4.0


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _cfg(d=8, test_size=64, **params):
    return config.from_dict({"task": {"kind": "index", "input_dim": d, "test_size": test_size, "params": params}}).task


def _shared(cfg, dtype=jnp.float32, seed=0) -> tasks.TaskData:
    """The task's shared data, compiled as one program (faster than op by op)."""
    return jax.jit(lambda k: tasks.make_shared(k, cfg, dtype))(jax.random.PRNGKey(seed))


def _draw(dist, seed, shape, dtype=jnp.float64):
    return np.asarray(jax.jit(lambda k: index.inputs(dist)(k, shape, dtype))(jax.random.PRNGKey(seed)))


def _spec(d=8, **params):
    """A TaskSpec of the index task (online, batch 1)."""
    cfg = _cfg(d, **params)
    return tasks.TaskSpec(
        task=tasks.TASKS.get("index"),
        input_dim=d,
        online=True,
        train_size=0,
        batch_max=1,
        full_batch=False,
        replacement=False,
        teacher_activation=None,
        test_size=64,
        label_noise=False,
        params=cfg.params,
    )


# ============================================================================== samplers
@pytest.mark.parametrize("dist", ["gaussian", "sphere", "hypercube"])
def test_sampler_moments(dist, x64):
    """Mean 0 and covariance I (each entry within Z se: se of a mean of n draws of x_i x_j is
    √(Var(x_i x_j)/n), Var = 2 on the diagonal for gaussian inputs, else from the sample);
    on the sphere ‖x‖ = √d to rounding, on the hypercube every entry exactly ±1."""
    n, d = 40000, 6
    x = _draw(dist, 3, (n, d))
    mean_se = np.sqrt(x.var(axis=0) / n)
    assert np.all(np.abs(x.mean(axis=0)) < Z * mean_se + 1e-12)
    prods = x[:, :, None] * x[:, None, :]  # (n, d, d)
    cov_se = np.sqrt(prods.var(axis=0) / n)
    err = np.abs(prods.mean(axis=0) - np.eye(d))
    if dist == "hypercube":  # x_i² = 1 exactly: no error on the diagonal
        np.testing.assert_array_equal(np.diag(prods.mean(axis=0)), 1.0)
        err, cov_se = err + np.eye(d), cov_se + np.eye(d)  # the diagonal is checked above
    assert np.all(err < Z * cov_se), (err / cov_se).max()
    if dist == "sphere":
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), math.sqrt(d), rtol=1e-14)
    if dist == "hypercube":
        assert set(np.unique(x)) == {-1.0, 1.0}
    if dist == "gaussian":  # fourth moment: E x⁴ = 3, Var(x⁴) = 105 − 9
        assert abs(np.mean(x**4) - 3) < Z * math.sqrt(96 / (n * d))


def test_sphere_inputs_are_uniform_in_direction(x64):
    """A uniform point on the sphere of radius √d has E x_1⁴ = 3d/(d + 2) (not 3): the sampler
    normalises the Gaussian rather than drawing Gaussian inputs.  se from the sample."""
    n, d = 200000, 4
    x = _draw("sphere", 5, (n, d))
    x4 = x[:, 0] ** 4
    assert abs(x4.mean() - 3 * d / (d + 2)) < Z * x4.std() / math.sqrt(n)


@pytest.mark.parametrize("dist", ["gaussian", "sphere", "hypercube"])
def test_online_rows_are_drawn_alone(dist):
    """Batch i of a block drawn alone (``start`` = i·B·d) equals row i of the whole block: the
    online stream's contract (:func:`jaxrelu.tasks.draw_online_batch`)."""
    spec = _spec(5, input_distribution=dist)
    key = jax.random.PRNGKey(11)
    block = jax.jit(lambda k: index.sample_inputs(k, (4, 3, 5), jnp.float32, spec))(key)
    rows = jax.jit(lambda k, i: index.sample_inputs(k, (3, 5), jnp.float32, spec, start=i * 15))
    for i in range(4):
        np.testing.assert_array_equal(rows(key, i), block[i])


# ================================================================================ labels
def test_parity_labels_are_exactly_the_product():
    """y = Π_{i∈S} x_i on the hypercube with coordinate directions (S = the first k coordinates), exactly."""
    cfg = _cfg(10, parity=3, input_distribution="hypercube")
    data = _shared(cfg)
    np.testing.assert_array_equal(np.asarray(data.directions), np.eye(3, 10))
    x = np.asarray(data.x_test)
    np.testing.assert_array_equal(np.asarray(data.y_test), x[:, 0] * x[:, 1] * x[:, 2])
    assert set(np.unique(np.asarray(data.y_test))) == {-1.0, 1.0}
    spec = _spec(10, parity=3, input_distribution="hypercube")
    xb = index.sample_inputs(jax.random.PRNGKey(1), (500, 10), jnp.float32, spec)
    yb = np.asarray(index.label(data, xb, spec))
    xb = np.asarray(xb)
    np.testing.assert_array_equal(yb, xb[:, 0] * xb[:, 1] * xb[:, 2])


def test_finite_training_set_of_a_parity():
    """``task.train_size = n``: a seed's training set has hypercube inputs and exact parity labels."""
    cfg = _cfg(10, parity=2, input_distribution="hypercube")
    spec = tasks.TaskSpec(
        task=tasks.TASKS.get("index"),
        input_dim=10,
        online=False,
        train_size=50,
        batch_max=5,
        full_batch=False,
        replacement=False,
        teacher_activation=None,
        test_size=64,
        label_noise=False,
        params=cfg.params,
    )
    data = _shared(cfg)
    seed = jax.jit(lambda k: tasks.make_seed_data(k, data, spec, jnp.float32))(jax.random.PRNGKey(7))
    x, y = np.asarray(seed["x_train"]), np.asarray(seed["y_train"])
    assert x.shape == (50, 10) and set(np.unique(x)) == {-1.0, 1.0}
    np.testing.assert_array_equal(y, x[:, 0] * x[:, 1])


def test_staircase_and_expression_labels():
    """The staircase shorthand is z1 + z1 z2 + z1 z2 z3; a target expression is evaluated on z = W* x
    with W* orthonormal (so z ~ N(0, I_K) for Gaussian x)."""
    cfg = _cfg(12, staircase=3, input_distribution="hypercube")
    data = _shared(cfg, seed=2)
    x = np.asarray(data.x_test)
    np.testing.assert_array_equal(np.asarray(data.y_test), x[:, 0] + x[:, 0] * x[:, 1] + x[:, 0] * x[:, 1] * x[:, 2])
    cfg = _cfg(12, target="z1 - 0.5*z2**2 + sign(z1*z2) / 2 + relu(z2)")
    data = _shared(cfg, seed=2)
    W = np.asarray(data.directions)
    np.testing.assert_allclose(W @ W.T, np.eye(2), atol=1e-6)
    z = np.asarray(data.x_test) @ W.T
    ref = z[:, 0] - 0.5 * z[:, 1] ** 2 + np.sign(z[:, 0] * z[:, 1]) / 2 + np.maximum(z[:, 1], 0)
    np.testing.assert_allclose(np.asarray(data.y_test), ref, rtol=1e-5, atol=1e-5)


def test_registered_activations_and_families_in_targets():
    """Names resolve through the activation registry: ``he3`` if registered (He3(z) = z³ − 3z), a
    family with its constants after the argument (``leaky_relu(z1, 0.1)`` is ``leaky_relu(0.1)``)."""
    z = jnp.array([[-2.0, 0.5], [1.5, -1.0], [0.3, 2.0]])
    from jaxrelu.registry import ACTIVATIONS

    if "he3" in ACTIVATIONS.names():
        e = index.expression("z1 + he3(z2)")
        zz = np.asarray(z)
        np.testing.assert_allclose(np.asarray(e(z)), zz[:, 0] + zz[:, 1] ** 3 - 3 * zz[:, 1], rtol=1e-6)
        assert e.k == 2 and e.degrees == {1: 1, 2: 3}
    try:
        ACTIVATIONS.get("leaky_relu(0.1)")
    except ConfigError:
        pytest.skip("no leaky_relu family registered")
    e = index.expression("leaky_relu(z1, 0.1)")
    np.testing.assert_allclose(np.asarray(e(z)), np.where(z[:, 0] > 0, z[:, 0], 0.1 * z[:, 0]), rtol=1e-6)


@pytest.mark.parametrize(
    "text, words",
    [
        ("z0 + z1", "'z0'"),
        ("x1", "'x1'"),
        ("z1 ** z2", "power"),
        ("z1 ** 0.5", "power"),
        ("foo(z1)", "foo"),
        ("z1 and z2", "BoolOp"),
        ("3", "none of z1..zK"),
        ("z1 +", "cannot parse"),
        ("relu(z1, z2)", "non-constant"),
        ("__import__('os')", "__import__"),
        ("z1.real", "Attribute"),
    ],
)
def test_bad_targets_are_one_line_config_errors(text, words):
    with pytest.raises(ConfigError, match=r"^task\.params\.target: ") as e:
        index.check(_cfg(4, target=text) if text != "z1 +" else _cfg(4, target=text))
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "params, key",
    [
        ({"parity": 0}, "task.params.parity"),
        ({"parity": 2, "staircase": 3}, "task.params: give one"),
        ({"input_distribution": "ball"}, "task.params.input_distribution"),
        ({"wat": 1}, "task.params.wat"),
        ({"target": "z9"}, "task.params.target: the target uses z9"),
        ({"normalize": 1}, "task.params.normalize"),
        ({"normalize": True, "input_distribution": "hypercube", "directions": "orthonormal"}, "task.params.normalize"),
    ],
)
def test_bad_params_are_refused_before_running(params, key):
    study = config.from_dict({"task": {"kind": "index", "input_dim": 4, "params": params}})
    with pytest.raises(ConfigError, match="^" + key.replace(".", r"\.")):
        api.check(study)


# ========================================================================= normalisation
@pytest.mark.parametrize(
    "text, dist, exact",
    [
        ("z1 + z1*z2 + z1*z2*z3", "gaussian", math.sqrt(3)),
        ("z1 + z1*z2 + z1*z2*z3", "hypercube", math.sqrt(3)),
        ("z1**3 - 3*z1", "gaussian", math.sqrt(6)),  # He3: Var = 3! = 6
        ("z1**2 + z2", "hypercube", 1.0),  # z1² = 1 on the hypercube
        ("relu(z1)", "gaussian", math.sqrt(0.5 - 0.5 / math.pi)),  # Var relu(z) = 1/2 − 1/(2π)
        ("sign(z1*z2*z3)", "gaussian", 1.0),
    ],
)
def test_normalisation_scale(text, dist, exact, x64):
    """s = √Var g(z) against its closed form: exactly where the module says it is exact; for the
    Monte Carlo estimates within Z se of s (se of a sample std of n draws: √((μ4/σ⁴ − 1)/(4n)) σ,
    μ4 from a reference sample)."""
    dirs = "coordinates" if dist == "hypercube" else "orthonormal"
    s, how = index.scale(text, dist, dirs, 16)
    if how.startswith("exact"):
        assert s == pytest.approx(exact, rel=1e-12)
    else:
        e = index.expression(text)
        y = np.asarray(e(jax.random.normal(jax.random.PRNGKey(9), (200000, e.k), jnp.float64)))
        kurt = np.mean((y - y.mean()) ** 4) / y.var() ** 2
        se = exact * math.sqrt((kurt - 1) / (4 * index.MC_SAMPLES))
        assert abs(s - exact) < Z * se, (s, exact, se)


def test_normalised_labels_have_unit_variance(x64):
    """With normalize = true the labels of sphere inputs (a Monte Carlo scale) have variance 1
    within Z se (se of a sample variance: √((μ4 − σ⁴)/n), from the sample)."""
    d, n = 10, 50000
    cfg = _cfg(d, n, target="z1*z2 + z2**2", input_distribution="sphere", normalize=True)
    y = np.asarray(_shared(cfg, jnp.float64, 4).y_test)
    se = math.sqrt(np.mean((y - y.mean()) ** 4) - y.var() ** 2) / math.sqrt(n)
    assert abs(y.var() - 1) < Z * se


# =========================================================================== observables
def _data(U):
    return tasks.TaskData(directions=jnp.asarray(U))


def test_index_observables_against_numpy(x64):
    r = np.random.default_rng(0)
    d, m = 7, 5
    U = np.linalg.qr(r.standard_normal((d, 3)))[0].T  # 3 orthonormal directions
    W = r.standard_normal((m, d))
    W[2] = 0.0  # a zero row: cosine and weight 0
    params, data = {"W": jnp.asarray(W), "a": jnp.ones(m)}, _data(U)
    norms = np.linalg.norm(W, axis=1)
    cos = np.abs(W @ U.T) / np.where(norms > 0, norms, 1)[:, None]
    weight = np.sum((W @ U.T) ** 2, axis=1) / np.where(norms > 0, norms**2, 1)
    for k in (1, 2, 3):
        v = OBSERVABLES.get(f"max_abs_cos({k})").fn(params, None, data, None)
        assert float(v) == pytest.approx(cos[:, k - 1].max(), rel=1e-12)
    assert float(iobs.min_max_abs_cos(params, None, data, None)) == pytest.approx(cos.max(axis=0).min(), rel=1e-12)
    assert float(iobs.max_support_weight(params, None, data, None)) == pytest.approx(weight.max(), rel=1e-12)
    assert float(iobs.mean_support_weight(params, None, data, None)) == pytest.approx(weight.mean(), rel=1e-12)
    for j in (1, 3, 5):
        v = OBSERVABLES.get(f"support_weight({j})").fn(params, None, data, None)
        assert float(v) == pytest.approx(weight[j - 1], rel=1e-12, abs=1e-15)
    with pytest.raises(ConfigError, match="max_abs_cos.4. asks for direction 4, but the task has K = 3"):
        OBSERVABLES.get("max_abs_cos(4)").fn(params, None, data, None)
    with pytest.raises(ConfigError, match="positive integer"):
        OBSERVABLES.get("max_abs_cos(1.5)")


def test_support_weight_is_the_weight_on_a_parity_support(x64):
    """With coordinate directions the support weight is Σ_{i∈S} w_ji² / ‖w_j‖²."""
    W = np.arange(1.0, 13.0).reshape(2, 6)
    params = {"W": jnp.asarray(W), "a": jnp.ones(2)}
    data = _data(np.eye(6)[[1, 4]])  # S = {2, 5}
    v = OBSERVABLES.get("support_weight(2)").fn(params, None, data, None)
    assert float(v) == pytest.approx((W[1, 1] ** 2 + W[1, 4] ** 2) / np.sum(W[1] ** 2), rel=1e-12)


@pytest.mark.slow
def test_index_run_records_escape_times():
    """A staircase on the hypercube, end to end: the observables run, escape times are first passages
    (per seed; censored ones inf), and the initial support weight is near K/d."""
    d = {
        "run": {"seeds": 4, "steps": 600, "record_every": 100},
        "task": {
            "kind": "index",
            "input_dim": 16,
            "test_size": 256,
            "params": {"staircase": 2, "input_distribution": "hypercube"},
        },
        "model": {"width": 4},
        "optimizer": {"lr": 0.05, "batch_size": 4},
        "record": {
            "observables": ["test_loss", "max_abs_cos(1)", "max_abs_cos(2)", "mean_support_weight"],
            "first_passage": [{"observable": "max_abs_cos(1)", "above": 0.6}],
        },
    }
    r = jaxrelu.run(config.from_dict(d))
    steps = r["fpt.max_abs_cos(1).steps"]
    assert steps.shape == (4,) and np.all((steps >= 0) & ((steps <= 600) | np.isinf(steps)))
    w0 = r["mean_support_weight.mean"][0]  # E = K/d = 1/8 at a rotation-invariant start
    assert 0.0 < w0 < 0.5
    assert r["max_abs_cos(1).mean"][-1] > r["max_abs_cos(1).mean"][0]
