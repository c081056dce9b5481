"""Training variants of the high-dimensional SGD literature (issue 16, part B): spherical SGD
(``optimizer.sphere_radius``), the correlation loss −y·f, data repetition (``optimizer.repeat``) and
initial conditions with a prescribed overlap (``model.init_overlap``).

Everything here is exact (to rounding): no statistical tolerance.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrelu
from jaxrelu import activations, api, config, dynamics, engine, losses, model, rng, tasks
from jaxrelu.config import ConfigError
from jaxrelu.engine import batching

EPS32 = float(np.finfo(np.float32).eps)


# ========================================================================== spherical SGD
def test_project_rows_puts_every_row_on_its_sphere():
    W = jax.random.normal(jax.random.PRNGKey(0), (6, 50)) * jnp.arange(1.0, 7.0)[:, None]
    W = W.at[3].set(0.0)  # a zero row stays zero (no nan)
    P = np.asarray(dynamics.project_rows(W, jnp.float32(1.7)))
    norms = np.linalg.norm(P, axis=1)
    np.testing.assert_allclose(np.delete(norms, 3), 1.7, rtol=8 * EPS32)
    np.testing.assert_array_equal(P[3], 0.0)
    cos = np.sum(P * np.asarray(W), axis=1) / (norms * np.linalg.norm(np.asarray(W), axis=1) + 1e-30)
    np.testing.assert_allclose(np.delete(cos, 3), 1.0, rtol=1e-6)  # same directions
    np.testing.assert_array_equal(np.asarray(dynamics.project_rows(W, jnp.float32(0.0))), np.asarray(W))


def _study(**over):
    d = {
        "run": {"seeds": 3, "steps": 60, "record_every": 20},
        "task": {
            "kind": "index",
            "input_dim": 12,
            "test_size": 64,
            "params": {"target": "z1 + z1*z2", "input_distribution": "sphere"},
        },
        "model": {"width": 1, "init_overlap": 0.25},
        "optimizer": {"lr": 0.2, "batch_size": 2},
        "sweep": {"optimizer.sphere_radius": [0.0, 1.0]},
        "record": {
            "observables": ["weight_norm", "max_abs_cos(1)"],
            "keep_per_seed": ["weight_norm", "max_abs_cos(1)"],
        },
    }
    for k, v in over.items():
        section, key = k.split(".")
        d[section][key] = v
    return config.from_dict(d)


def test_spherical_sgd_keeps_norms_and_overlap_init_starts_at_m0():
    """One run, two grid points (ρ = 0: plain SGD; ρ = 1: spherical), width 1 so that ``weight_norm``
    is the row's norm.  At step 0 every row has cosine exactly m0 = 0.25 with u_1 and norm
    init_scale = 1; spherical SGD keeps the norm at 1 to float32 rounding at every record,
    while plain SGD's drifts far from it."""
    r = jaxrelu.run(_study(**{"optimizer.repeat": 2}))  # data repetition on too (runs end to end)
    norm, cos1 = (r[f"{k}.per_seed"] for k in ("weight_norm", "max_abs_cos(1)"))
    np.testing.assert_allclose(cos1[:, :, 0], 0.25, rtol=1e-6)
    np.testing.assert_allclose(norm[:, :, 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(norm[1], 1.0, rtol=16 * EPS32)  # ρ = 1: every seed, every record
    assert np.max(np.abs(norm[0, :, 1:] - 1.0)) > 1e-2  # ρ = 0 is not projected
    assert np.all(cos1[1, :, -1] > 0.25)  # and the spherical run learns


def test_correlation_loss_gradient():
    """The correlation loss ℓ = −y f: ∇_W L_B = −(1/B) Σ_i y_i c a ⊙ σ'(W x_i) x_iᵀ, ∇_a = −(1/B) Σ_i y_i c σ(W x_i)."""
    spec = dynamics.StepSpec(
        c=0.5,
        activation=activations.get("relu"),
        loss=losses.get("correlation"),
        optimizer=None,
        train_second_layer=True,
        on=frozenset(),
        masked_batch=False,
        decay_steps=(),
    )
    r = np.random.default_rng(1)
    params = {
        "W": jnp.asarray(r.standard_normal((3, 5)), jnp.float32),
        "a": jnp.asarray(r.standard_normal(3), jnp.float32),
    }
    x, y = jnp.asarray(r.standard_normal((7, 5)), jnp.float32), jnp.asarray(r.choice([-1.0, 1.0], 7), jnp.float32)
    g = jax.jit(lambda p, x, y: dynamics.batch_gradient(spec, p, x, y, jax.random.PRNGKey(0), {}))(params, x, y)
    W, a, xn, yn = (np.asarray(v, np.float64) for v in (params["W"], params["a"], x, y))
    pre = xn @ W.T
    gW = -np.einsum("i,ij,j,ik->jk", yn, (pre > 0).astype(float), 0.5 * a, xn) / 7
    ga = -np.einsum("i,ij->j", yn, 0.5 * np.maximum(pre, 0)) / 7
    np.testing.assert_allclose(np.asarray(g["W"]), gW, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(g["a"]), ga, rtol=1e-5, atol=1e-6)


# ========================================================================== data repetition
def _online_batches(study, steps):
    """SGD's online batches of steps 0 .. steps − 1 of seed 0, as the engine's per-seed cache makes them."""
    prog, _ = engine.build(study)
    tag, make, batch = batching.cache(prog)
    seed_key = rng.fold_in(jax.random.PRNGKey(0), 0)
    data = tasks.make_shared(jax.random.PRNGKey(1), study.task, jnp.float32)
    draw = jax.jit(lambda t: batch(make(seed_key, t), data, t)["x"])
    return [np.asarray(draw(jnp.int32(t))) for t in range(steps)], [int(tag(t)) for t in range(steps)]


def test_data_repetition_reuses_each_fresh_batch_r_times():
    """With r = 3 step t reads the batch of step ⌊t/3⌋·3 of the plain online stream (bit for bit),
    so steps 0–2 share a batch, 3–5 the next, and the stream of r = 1 is unchanged."""
    base = _study(**{"model.init_overlap": None})
    plain, tags1 = _online_batches(base, 12)
    rep, tags3 = _online_batches(
        config.from_dict({**base.to_dict(), "optimizer": {**base.to_dict()["optimizer"], "repeat": 3}}), 12
    )
    for t in range(12):
        np.testing.assert_array_equal(rep[t], plain[(t // 3) * 3])
    assert not np.array_equal(plain[0], plain[1])
    assert tags1 == [t // batching.BLOCK for t in range(12)]
    assert tags3 == [((t // 3) * 3) // batching.BLOCK for t in range(12)]


def test_data_repetition_when_the_step_draws_its_batch():
    """The step called without the per-seed cache's batch draws its own (``trajectory.step_one``'s
    fallback): with r = 2, steps 4 and 5 from the same state take the same step (same batch; no other
    noise is on), step 6 another."""
    st = config.from_dict(
        {
            **_study(**{"model.init_overlap": None}).to_dict(),
            "optimizer": {"lr": 0.2, "repeat": 2},
            "sweep": {"optimizer.batch_size": [1, 2]},
        }
    )
    prog, hp_np = engine.build(st)
    hp = {k: jnp.asarray(v[1], jnp.float32) for k, v in hp_np.items()}  # grid point B = 2
    shared = tasks.make_shared(jax.random.PRNGKey(1), st.task, jnp.float32)
    seed_key = rng.fold_in(jax.random.PRNGKey(0), 0)
    from jaxrelu.engine import trajectory

    state = trajectory.init_one(prog, seed_key, hp, shared)
    step = jax.jit(lambda t: trajectory.step_one(prog, t, state, shared, seed_key, hp)["params"]["W"])
    w0, w1, w2 = (np.asarray(step(jnp.int32(t))) for t in (4, 5, 6))
    np.testing.assert_array_equal(w0, w1)
    assert not np.array_equal(w0, w2)


@pytest.mark.parametrize(
    "over, match",
    [
        ({"task.train_size": 32, "optimizer.repeat": 2}, r"^optimizer\.repeat: .*task\.train_size must be 'online'"),
        ({"optimizer.method": "sde", "optimizer.repeat": 2}, r"^optimizer\.repeat: repeats SGD's batch"),
        ({"model.first_layer_init": "orthonormal"}, r"^model\.init_overlap: sets the first-layer rows"),
        ({"optimizer.sphere_radius": -1.0}, r"^optimizer\.sphere_radius must be"),
        ({"model.init_overlap": 1.5}, r"^model\.init_overlap must be"),
        ({"optimizer.repeat": 0}, r"^optimizer\.repeat must be"),
    ],
)
def test_variant_config_errors(over, match):
    with pytest.raises(ConfigError, match=match):
        api.check(_study(**over))


def test_init_overlap_needs_a_direction():
    st = config.from_dict(
        {
            "task": {"kind": "dataset", "inputs": [[1.0, 0.0], [0.0, 1.0]], "targets": [1.0, 0.0]},
            "model": {"init_overlap": 0.0},
        }
    )
    with pytest.raises(ConfigError, match=r"^model\.init_overlap: needs a task with a teacher or directions"):
        api.check(st)


# ========================================================================== initial overlap
_KW = dict(
    width=5,
    input_dim=9,
    bias=False,
    first_layer="gaussian",
    second_layer="gaussian",
    init_scale=2.0,
    second_layer_scale=1.0,
)
_U = jnp.arange(1.0, 10.0)
_init_overlap = jax.jit(lambda k, m0: model.init(k, overlap=m0, direction=_U, **_KW))
_init_plain = jax.jit(lambda k: (model.init(k, **_KW), model.init(k, overlap=None, **_KW)))


@pytest.mark.parametrize("m0", [0.0, 0.3, -1.0, 1.0])
def test_overlap_init_rows(m0):
    """w_j = s (m0 û + √(1 − m0²) v_j): cosine exactly m0 with û, norm s; the plain init unchanged."""
    p = _init_overlap(jax.random.PRNGKey(4), m0)
    W = np.asarray(p["W"], np.float64)
    uh = np.asarray(_U) / np.linalg.norm(np.asarray(_U))
    np.testing.assert_allclose(np.linalg.norm(W, axis=1), 2.0, rtol=1e-6)
    np.testing.assert_allclose(W @ uh / 2.0, m0, atol=2e-7)
    plain, unset = _init_plain(jax.random.PRNGKey(4))  # the rest of the draw is the plain init's
    np.testing.assert_array_equal(np.asarray(p["a"]), np.asarray(plain["a"]))
    np.testing.assert_array_equal(np.asarray(unset["W"]), np.asarray(plain["W"]))
