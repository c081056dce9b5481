"""Fuzzing the command line (hypothesis over configs and --set values): `jaxrelu validate` and
`jaxrelu run --out EXISTING` exit with 0 or 2 (one line `error: ...`), never a traceback, and a
results folder that already holds files is never modified."""

import hashlib
import json
import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxrelu import cli

KEYS = {
    "run": ["seeds", "steps", "record_every", "records", "spacing", "dtype", "chunk_size", "blowup", "plugins"],
    "task": [
        "kind",
        "input_dim",
        "teacher_width",
        "teacher_activation",
        "train_size",
        "label_noise",
        "loss",
        "test_size",
        "inputs",
        "targets",
    ],
    "model": ["width", "activation", "bias", "parametrization", "init_scale", "second_layer_init"],
    "optimizer": ["lr", "batch_size", "momentum", "method", "name", "schedule", "decay_at", "substeps"],
    "record": ["observables", "quantiles", "keep_per_seed", "theory", "first_passage"],
    "sweep": ['"optimizer.lr"', '"optimizer.batch_size"', '"model.width"', '"optimizer.method"', '"optimizer.lrr"'],
}
NAMES = [
    "relu",
    "erf",
    "linear",
    "tanh",
    "population_loss",
    "train_loss",
    "kink_count",
    "sharpness",
    "sgd",
    "sde",
    "adam",
    "dataset",
    "teacher_student",
    "online",
    "ode",
    "square",
    "log",
    "float64",
    "",
]
scalar = st.one_of(
    st.integers(-3, 300),
    st.floats(-2, 1e3, allow_nan=False),
    st.booleans(),
    st.sampled_from(NAMES),
    st.text(string.ascii_letters + ".-_", max_size=6),
)
value = st.one_of(
    scalar, st.lists(scalar, max_size=3), st.lists(st.lists(st.floats(-2, 2), min_size=1, max_size=2), max_size=3)
)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    return "[" + ", ".join(_toml_value(x) for x in v) + "]"


@st.composite
def study_text(draw):
    lines = []
    for section, keys in KEYS.items():
        chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=4))
        if chosen or draw(st.booleans()):
            lines.append(f"[{section}]")
            lines += [f"{k} = {_toml_value(draw(value))}" for k in chosen]
    return "\n".join(lines) + "\n"


overrides = st.lists(
    st.builds(
        lambda s, k, v: f"{s}.{k}={_toml_value(v)}",
        st.sampled_from(list(KEYS)[:5]),
        st.sampled_from(sum(KEYS.values(), [])),
        value,
    ),
    max_size=2,
)


def _digest(folder: Path) -> dict:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in folder.iterdir()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=study_text(), sets=overrides)
def test_validate_and_run_exit_0_or_2_and_never_touch_existing_results(tmp_path, capsys, text, sets):
    cfg = tmp_path / "study.toml"
    cfg.write_text(text)
    existing = tmp_path / "done"
    existing.mkdir(exist_ok=True)
    (existing / "results.npz").write_bytes(b"earlier results")
    before = _digest(existing)
    args = [a for s in sets for a in ("--set", s)]
    assert cli.main(["validate", str(cfg), *args]) in (0, 2)
    assert cli.main(["run", str(cfg), "--out", str(existing), "--quiet", *args]) == 2  # refused, never run
    assert _digest(existing) == before
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert all(line.startswith(("error: ", "ok: ", "running ")) for line in err.splitlines() if line)
