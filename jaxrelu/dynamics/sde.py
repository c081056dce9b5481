"""``sde`` and ``flow``: SGD's stochastic modified equation by Euler–Maruyama, and gradient flow."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrelu import dynamics, losses, model, rng


def sde_gradient(spec, params, x, y, key, hp: dict, lr, h, noisy: bool = True):
    """g̃ such that θ − h·g̃ is one Euler–Maruyama step of the SDE of SGD.

    The stochastic modified equation (Li, Tai & E 2017/2019) of SGD with step lr
    and batch B is dθ = −∇L dt + √(lr/B) Σ(θ)^{1/2} dW in time t = lr·steps, with
    Σ = (1/n) Σ_i (g_i − ḡ)(g_i − ḡ)ᵀ the per-sample gradient covariance over the
    n rows of (x, y).  Its Euler–Maruyama step of size h is

        θ ← θ − h ∇L + √(h·lr/B) · n^{-1/2} Σ_i (z_i − z̄) g_i,    z ~ N(0, I_n),

    whose noise has covariance exactly h·lr/B·Σ; since Σ_i (z_i − z̄) g_i =
    ∇_θ Σ_i (z_i − z̄) ℓ_i, drift and noise cost one weighted backward pass.
    Label-noise SGD adds σ²/B · (1/n) Σ_i ∇f_i ∇f_iᵀ to Σ (square loss), sampled the same way.
    ``noisy = False`` gives gradient flow (explicit Euler).
    """
    n = x.shape[0]
    kz, kl = rng.split(key)
    if noisy:
        bs = hp["optimizer.batch_size"]
        c = jnp.sqrt(lr / (bs * n * h))
        z = rng.normal(kz, (n,), x.dtype)
        w = 1.0 / n - c * (z - jnp.mean(z))
    else:
        w = jnp.full((n,), 1.0 / n, x.dtype)

    def objective(p):
        f = model.apply(p, x, spec.c, spec.activation)
        o = losses.weighted_sum(spec.loss, w, f, y)
        if noisy and "optimizer.label_noise" in spec.on:
            o = o - c * hp["optimizer.label_noise"] * jnp.sum(rng.normal(kl, (n,), x.dtype) * f)
        return o

    return jax.grad(objective)(params)


def _euler(noisy: bool):
    def step(spec, params, opt_state, sample, keys, t, hp):
        """``spec.substeps`` Euler(–Maruyama) steps of size h = lr_t / substeps (one SGD step of time),
        on the whole training set (online: ``population_rows`` fresh samples, one draw per step)."""
        k_batch, key = keys
        x, y = sample.population(k_batch)
        lr = dynamics.learning_rate(spec, hp, t)
        h = lr / spec.substeps

        def sub(j, carry):
            p, s = carry
            kg, kv = rng.split(rng.fold_in(key, j))
            g = sde_gradient(spec, p, x, y, kg, hp, lr, h, noisy)
            return dynamics.apply_update(spec, p, s, g, kv, hp, h)

        return jax.lax.fori_loop(0, spec.substeps, sub, (params, opt_state))

    return step


SDE = dynamics.register("sde", _euler(True), population=True)
FLOW = dynamics.register("flow", _euler(False), population=True)
