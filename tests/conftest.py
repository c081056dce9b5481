import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from jaxrelu import config  # noqa: E402


def study(**sections):
    """A small Study from keyword sections, e.g. study(run={"seeds": 8}, sweep={...})."""
    base = {
        "run": {"seeds": 8, "steps": 40, "record_every": 10},
        "task": {"input_dim": 12, "teacher_width": 2},
        "model": {"width": 3},
        "optimizer": {"lr": 0.05},
        "record": {"observables": ["population_loss"]},
    }
    for k, v in sections.items():
        replace = k == "sweep" or not isinstance(v, dict) or "kind" in v  # a new task kind starts afresh
        base[k] = v if replace else {**base.get(k, {}), **v}
    return config.from_dict(base)


def init_params(key, width: int, input_dim: int, bias: bool = True):
    """The engine's default initialisation in float64 (gaussian layers, scales 1): ``model.init``
    with every keyword spelt out once, for the tests' hand-written references."""
    import jax.numpy as jnp

    from jaxrelu import model

    return model.init(
        key,
        width=width,
        input_dim=input_dim,
        bias=bias,
        first_layer="gaussian",
        second_layer="gaussian",
        init_scale=1.0,
        second_layer_scale=1.0,
        dtype=jnp.float64,
    )
