"""Optimisers by name, the optimiser as a grid axis, per-layer learning rates and the noise models.

* Each registered optimiser, run through jaxrelu full-batch on a tiny dataset (a fixed gradient
  sequence given the start), equals a hand loop with optax's own transformation (SAM: written out),
  step by step, in float64.
* ``optimizer.name`` as a grid axis gives per seed exactly (bitwise) the runs with one optimiser and
  the same other axes.
* Anti-PGD's increments have covariance 2σ² at lag 0, −σ² at lag 1, 0 at lag 2 (within 4 standard
  errors over seeds), and its perturbations telescope.
* The α-stable sampler's quantiles match ``scipy.stats.levy_stable``'s, the Student-t sampler's
  ``scipy.stats.t``'s: |empirical − exact| ≤ 4 standard errors of an empirical p-quantile,
  √(p(1 − p)/n) / f(x_p) with f the exact density (asymptotic normality of sample quantiles).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import study
from scipy import stats

import jaxrelu
from jaxrelu import observables
from jaxrelu.dynamics import noise
from jaxrelu.registry import OBSERVABLES

X = [[1.0, -0.5], [0.3, 0.8], [-1.2, 0.4], [0.7, 1.1], [-0.4, -0.9], [1.5, 0.2]]
Y = [0.5, -0.3, 0.8, 0.1, -0.6, 0.9]
M, D, STEPS, SEEDS = 2, 2, 12, 3
PARAMS = [("W", (j, i)) for j in range(M) for i in range(D)] + [("a", (j,)) for j in range(M)]
NAMES = [f"issue18_p{i}" for i in range(len(PARAMS))]

# non-default hyperparameters, fed through their config keys
HYPER = {
    "momentum": 0.3,
    "momentum_beta": 0.7,
    "adam_b1": 0.8,
    "adam_b2": 0.99,
    "adam_eps": 1e-6,
    "adamw_weight_decay": 0.05,
    "rmsprop_decay": 0.8,
    "rmsprop_eps": 1e-6,
    "rmsprop_initial_scale": 0.1,
    "rmsprop_momentum": 0.4,
    "adagrad_initial": 0.2,
    "adagrad_eps": 1e-6,
    "lion_b1": 0.8,
    "lion_b2": 0.95,
    "lion_weight_decay": 0.01,
    "sam_rho": 0.1,
    "weight_decay": 0.01,
}
LR = 0.05
REFERENCE = {  # optax's own transformations (SAM's ascent is written out in _hand_loop)
    "sgd": optax.sgd(LR, momentum=0.3),
    "momentum": optax.sgd(LR, momentum=0.7),
    "nesterov": optax.sgd(LR, momentum=0.7, nesterov=True),
    "adam": optax.adam(LR, b1=0.8, b2=0.99, eps=1e-6),
    "adamw": optax.adamw(LR, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.05),
    "rmsprop": optax.rmsprop(LR, decay=0.8, eps=1e-6, initial_scale=0.1, momentum=0.4),
    "adagrad": optax.adagrad(LR, initial_accumulator_value=0.2, eps=1e-6),
    "sign_sgd": optax.sign_sgd(LR),
    "lion": optax.lion(LR, b1=0.8, b2=0.95, weight_decay=0.01),
    "sam": None,
}


@pytest.fixture
def param_observables():
    for name, (leaf, idx) in zip(NAMES, PARAMS):
        observables.register(name, lambda p, p0, data, ctx, leaf=leaf, idx=idx: p[leaf][idx])
    yield NAMES
    for name in NAMES:
        OBSERVABLES.unregister(name)


def _toy(**sections):
    base = dict(
        task={"kind": "dataset", "inputs": X, "targets": Y},
        model={"width": M, "activation": "relu", "init_scale": 1.0},
        optimizer={"lr": LR, "batch_size": len(X), **HYPER},
        run={"seeds": SEEDS, "steps": STEPS, "record_every": 1, "dtype": "float64"},
        record={"observables": NAMES, "keep_per_seed": NAMES, "quantiles": []},
    )
    for k, v in sections.items():
        base[k] = {**base.get(k, {}), **v} if k != "sweep" else v
    return jaxrelu.run(study(**base))


def _trajectory(res, index=()):
    """Per-seed parameters at every record: {leaf: (seeds, records, *shape)}."""
    vals = np.stack([res[f"{n}.per_seed"][index] for n in NAMES], axis=-1)  # (S, R, 6)
    return {"W": vals[..., : M * D].reshape(vals.shape[:2] + (M, D)), "a": vals[..., M * D :]}


def _loss(p):
    x, y = jnp.asarray(X), jnp.asarray(Y)
    f = jax.nn.relu(x @ p["W"].T) @ p["a"]
    return jnp.mean(0.5 * (f - y) ** 2)


def _hand_loop(name, p0, lam=HYPER["weight_decay"], ratio=1.0):
    """Full-batch steps from p0 with weight decay λ (optax.add_decayed_weights) then optax's optimiser;
    SAM: ε = ρ g/‖g‖ on the regularised loss, then heavy-ball SGD on its gradient at θ + ε.  float64."""
    with jax.enable_x64(True):
        return _hand_loop64(name, p0, lam, ratio)


def _hand_loop64(name, p0, lam, ratio):
    total = lambda q: _loss(q) + 0.5 * lam * sum(jnp.sum(v * v) for v in q.values())  # noqa: E731
    tx = {**REFERENCE, "sam": optax.sgd(LR, momentum=HYPER["momentum"])}[name]
    p = {k: jnp.asarray(v) for k, v in p0.items()}
    s = tx.init(p)
    out = [p]
    for _ in range(STEPS):
        g = jax.grad(total)(p)
        if name == "sam":
            norm = jnp.sqrt(sum(jnp.sum(v * v) for v in g.values()))
            g = jax.grad(total)({k: p[k] + HYPER["sam_rho"] * g[k] / norm for k in p})
        u, s = tx.update(g, s, p)
        u = {**u, "a": ratio * u["a"]}
        p = optax.apply_updates(p, u)
        out.append(p)
    return {k: np.stack([np.asarray(q[k]) for q in out]) for k in p}


def test_every_optimiser_equals_optax_on_the_same_gradient_sequence(param_observables):
    """One run with all ten optimisers as a grid axis; each point against its own hand loop."""
    names = list(REFERENCE)
    res = _toy(sweep={"optimizer.name": names})
    assert list(res["optimizer.name"]) == names
    for g, name in enumerate(names):
        traj = _trajectory(res, g)
        for k in range(SEEDS):
            ref = _hand_loop(name, {leaf: traj[leaf][k, 0] for leaf in traj})
            for leaf in ("W", "a"):
                np.testing.assert_allclose(traj[leaf][k], ref[leaf], rtol=1e-9, atol=1e-12, err_msg=name)
        assert np.ptp(traj["W"][:, -1] - traj["W"][:, 0]) > 0  # it moved, differently per seed


def test_one_optimiser_alone_equals_optax(param_observables):
    """The single-optimiser path (no grid axis, no selection) against the hand loop too: SAM, whose
    second gradient is the special path."""
    traj = _trajectory(_toy(optimizer={"name": "sam"}))
    ref = _hand_loop("sam", {leaf: traj[leaf][0, 0] for leaf in traj})
    for leaf in ("W", "a"):
        np.testing.assert_allclose(traj[leaf][0], ref[leaf], rtol=1e-9, atol=1e-12)


def test_per_layer_learning_rates_scale_the_second_layer(param_observables):
    res = _toy(optimizer={"name": "adam"}, sweep={"optimizer.second_layer_lr_ratio": [0.25, 3.0]})
    for g, r in enumerate([0.25, 3.0]):
        traj = _trajectory(res, g)
        ref = _hand_loop("adam", {leaf: traj[leaf][0, 0] for leaf in traj}, ratio=r)
        for leaf in ("W", "a"):
            np.testing.assert_allclose(traj[leaf][0], ref[leaf], rtol=1e-9, atol=1e-12)


REC = {"observables": ["population_loss", "weight_norm"], "keep_per_seed": ["population_loss", "weight_norm"]}
OPT = {"momentum": 0.5, "langevin_temperature": 1e-5, "second_layer_lr_ratio": 0.5}
LRS = {"optimizer.lr": [0.01, 0.03]}


def _axis_against_separate_runs(names, compare, **run):
    grid = jaxrelu.run(study(optimizer=OPT, sweep={"optimizer.name": names, **LRS}, record=REC, run=run))
    for g, name in enumerate(names):
        alone = jaxrelu.run(study(optimizer={**OPT, "name": name}, sweep=LRS, record=REC, run=run))
        for obs in ("population_loss", "weight_norm"):
            compare(grid[f"{obs}.per_seed"][g], alone[f"{obs}.per_seed"], err_msg=name)
    assert len({grid["weight_norm.per_seed"][g, 0, 0, -1] for g in range(len(names))}) == len(names)


def test_optimizer_axis_equals_separate_runs():
    """Seeds see the same batches and noise at every grid point and the point's optimiser is selected:
    per seed, the runs with one optimiser and the same other axes (an lr axis here, so that similar
    vectorised programs compute them) to float32 rounding.  Not bitwise: XLA may vectorise and
    contract (FMA) Adam's update differently in programs of different grid widths, depending on the
    host's instruction set (equal on one 2-core machine, within 2 float32 ulps on another).  The
    helper's last assertion checks that the two optimisers' trajectories differ."""
    _axis_against_separate_runs(
        ["sgd", "adam"], lambda a, b, err_msg: np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=err_msg)
    )


@pytest.mark.slow
def test_optimizer_axis_with_four_optimisers_equals_separate_runs():
    """With more optimisers XLA fuses each one's update differently and contracts a·b + c into FMAs
    where its fusions allow, so equality holds to rounding: float64, a few ulps."""
    _axis_against_separate_runs(
        ["sgd", "adam", "sam", "momentum"],
        lambda a, b, err_msg: np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=err_msg),
        dtype="float64",
    )


def test_sgd_alone_carries_no_optimiser_state():
    from jaxrelu import engine
    from jaxrelu.engine import chunking

    prog, _ = engine.build(study())
    assert chunking.opt_state_copies(prog) == 0  # plain SGD: no state at all
    prog, _ = engine.build(study(sweep={"optimizer.name": ["sgd", "adam"]}))
    assert chunking.opt_state_copies(prog) > 2  # Adam's two moments and a count
    prog, _ = engine.build(study(optimizer={"anti_pgd_scale": 0.1}))
    assert chunking.opt_state_copies(prog) == 1  # ξ_t, one copy of the parameters


def test_sam_with_another_dynamics_is_refused():
    from jaxrelu import config, engine

    with pytest.raises(config.ConfigError, match="optimizer.name: sam takes a second gradient"):
        engine.build(study(optimizer={"name": "sam"}, sweep={"optimizer.method": ["sgd", "sde"]}))


# --------------------------------------------------------------------------------- noise models
@pytest.fixture
def w00():
    observables.register("issue18_w00", lambda p, p0, data, ctx: p["W"][0, 0])
    yield "issue18_w00"
    OBSERVABLES.unregister("issue18_w00")


def _drift_free(opt, seeds, steps, record_every=1, sweep=None):
    """A student whose loss has zero gradient in W (second layer frozen at 0, so f ≡ 0): W moves by
    the noise alone.  Returns W[0, 0] per seed and record."""
    st = study(
        task={"kind": "dataset", "inputs": X, "targets": Y},
        model={"width": 2, "train_second_layer": False, "second_layer_init": 0.0},
        optimizer={"lr": 0.1, "batch_size": 2, **opt},
        sweep=sweep or {},
        run={"seeds": seeds, "steps": steps, "record_every": record_every, "dtype": "float64", "blowup": 1e300},
        record={"observables": ["issue18_w00"], "keep_per_seed": ["issue18_w00"], "quantiles": []},
    )
    return jaxrelu.run(st)["issue18_w00.per_seed"]


def test_anti_pgd_increments_have_the_stated_covariance(w00):
    sigma, S, T = 0.3, 4096, 6
    w = _drift_free({"anti_pgd_scale": sigma}, S, T)  # (S, T + 1)
    inc = np.diff(w, axis=1)  # Δ_t = σ(ξ_{t+1} − ξ_t), ξ_0 = 0
    # lag 0 from Δ_1 (stationary), lag 1 from (Δ_1, Δ_2), lag 2 from (Δ_1, Δ_3): products over seeds
    for prod, expected in (
        (inc[:, 1] ** 2, 2 * sigma**2),
        (inc[:, 1] * inc[:, 2], -(sigma**2)),
        (inc[:, 1] * inc[:, 3], 0.0),
        (inc[:, 0] ** 2, sigma**2),
    ):
        se = prod.std(ddof=1) / np.sqrt(S)
        assert abs(prod.mean() - expected) < 4 * se, (prod.mean(), expected, se)
    total = w[:, -1] - w[:, 0]  # telescopes to σ ξ_T: variance σ²
    se = np.sqrt(2 / (S - 1)) * sigma**2
    assert abs(total.var(ddof=1) - sigma**2) < 4 * se


def test_zero_noise_scales_add_nothing_and_each_model_moves_the_weights(w00):
    scales = {
        "optimizer.anti_pgd_scale": [0.0, 0.1],
        "optimizer.stable_scale": [0.0, 0.1],
        "optimizer.student_t_scale": [0.0, 0.1],
    }
    w = _drift_free({"langevin_temperature": 0.0}, 16, 4, sweep=scales)  # (2, 2, 2, S, R)
    assert np.all(w[0, 0, 0] == w[0, 0, 0, :, :1])  # no noise: W stays put
    for idx in ((1, 0, 0), (0, 1, 0), (0, 0, 1)):
        assert np.all(np.abs(np.diff(w[idx], axis=-1)) > 0)


def test_stable_noise_through_the_engine_is_a_stable_sum(w00):
    """Without drift, W_T − W_0 = σ Σ_t η^{1/α} S_t = σ (ηT)^{1/α} S_α: its tail index is α."""
    from jaxrelu import analysis

    alpha, sigma, T, S = 1.3, 0.2, 4, 8192
    w = _drift_free({"stable_scale": sigma, "stable_alpha": alpha}, S, T, record_every=T)
    z = (w[:, -1] - w[:, 0]) / (sigma * (0.1 * T) ** (1 / alpha))
    est = analysis.block_tail_index(z, level=0.999)  # a 99.9 % interval: a fixed-seed check
    assert est.low <= alpha <= est.high and est.high - est.low < 0.4
    q = np.quantile(z, [0.1, 0.5, 0.9])
    exact = stats.levy_stable.ppf([0.1, 0.5, 0.9], alpha, 0.0)
    se = np.sqrt(0.09 / S) / stats.levy_stable.pdf(exact, alpha, 0.0)
    assert np.all(np.abs(q - exact) < 4 * se)


_sample_stable = jax.jit(lambda key, alpha, n, dtype: noise.stable(key, (n,), alpha, dtype), static_argnums=(2, 3))
_sample_t = jax.jit(lambda key, df, n: noise.student_t(key, (n,), df), static_argnums=2)


def _quantile_check(sample, dist, ps):
    n = len(sample)
    x = dist.ppf(ps)
    se = np.sqrt(ps * (1 - ps) / n) / dist.pdf(x)
    emp = np.quantile(sample, ps)
    assert np.all(np.abs(emp - x) < 4 * se), np.c_[ps, emp, x, se]


@pytest.mark.parametrize(
    "alpha,dtype",
    [
        (0.7, jnp.float64),
        (1.0, jnp.float64),
        (1.5, jnp.float64),
        (1.9, jnp.float64),
        (2.0, jnp.float64),
        (1.5, jnp.float32),
    ],
)
def test_stable_sampler_matches_scipy_levy_stable_quantiles(alpha, dtype):
    n = 200_000
    with jax.enable_x64(dtype == jnp.float64):
        s = np.asarray(_sample_stable(jax.random.PRNGKey(7), alpha, n, dtype))
    assert s.dtype == np.dtype(dtype) and np.all(np.isfinite(s))
    ps = np.array([0.01, 0.05, 0.1, 0.25, 0.4, 0.6, 0.75, 0.9, 0.95, 0.99])
    _quantile_check(s, stats.levy_stable(alpha, 0.0), ps)


@pytest.mark.parametrize("df", [1.0, 3.0, 10.0])
def test_student_t_sampler_matches_scipy_quantiles(df):
    n = 100_000
    s = np.asarray(_sample_t(jax.random.PRNGKey(3), df, n))
    _quantile_check(s, stats.t(df), np.array([0.01, 0.05, 0.1, 0.25, 0.4, 0.6, 0.75, 0.9, 0.95, 0.99]))


def test_resume_with_several_optimiser_states_and_noise_state_is_bitwise(tmp_path):
    """The optimiser axis's tuple of states and Anti-PGD's ξ_t go through checkpoints like any state."""
    st = study(
        run={"seeds": 6, "steps": 30, "record_every": 10, "chunk_size": 3, "checkpoint_every": 1},
        optimizer={"anti_pgd_scale": 0.01, "student_t_scale": 0.001},
        sweep={"optimizer.name": ["adam", "momentum"]},
        record={"observables": ["population_loss"], "keep_per_seed": ["population_loss"]},
    )
    ref = jaxrelu.run(st)
    calls = []

    class Stop(Exception):
        pass

    def progress(p):
        calls.append(p)
        if len(calls) == 4:
            raise Stop

    with pytest.raises(Stop):
        jaxrelu.run(st, progress=progress, checkpoint=tmp_path)
    res = jaxrelu.run(st, checkpoint=tmp_path)
    for k in ref.arrays:
        np.testing.assert_array_equal(ref[k], res[k], err_msg=k)
