import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from jaxrelu import config  # noqa: E402


def study(**sections):
    """A small Study from keyword sections, e.g. study(run={"seeds": 8}, sweep={...})."""
    base = {"run": {"seeds": 8, "steps": 40, "record_every": 10},
            "task": {"input_dim": 12, "teacher_width": 2},
            "model": {"width": 3},
            "optimizer": {"lr": 0.05},
            "record": {"observables": ["population_loss"]}}
    for k, v in sections.items():
        base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) and k != "sweep" else v
    return config.from_dict(base)
