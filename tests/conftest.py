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
