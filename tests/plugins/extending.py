"""The examples of docs/extending.md: each extension is one registration, in one place."""

import jax
import jax.numpy as jnp

from jaxrelu import activations, losses, tasks

# an activation: the function (no closed-form kernel, so the population loss uses the held-out sample)
activations.register("swish", jax.nn.silu)  # σ(z) = z · sigmoid(z)

# a loss ℓ(f, y), elementwise
losses.register(
    "huber", lambda f, y: jnp.where(jnp.abs(f - y) <= 0.5, 0.5 * (f - y) ** 2, 0.5 * (jnp.abs(f - y) - 0.25))
)


# a task: a 1-D training set drawn per seed, x ~ U(-1, 1), y = sin(3x)
def uniform_inputs(key, shape, dtype, start=0):
    return jax.random.uniform(key, shape, dtype, -1.0, 1.0)


tasks.register(
    "sine_1d",
    shared=lambda key, cfg, dtype: tasks.TaskData(),
    inputs=uniform_inputs,
    label=lambda data, x, spec: jnp.sin(3 * x[..., 0]),
)
