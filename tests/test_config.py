"""Config round trips and record schedules."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import study

from jaxrelu import config
from jaxrelu.cli import experiments_dir


@pytest.mark.parametrize("path", sorted(experiments_dir().glob("*.toml")), ids=lambda p: p.stem)
def test_builtin_configs_round_trip_through_json(path):
    st = config.load(path)
    back = config.from_dict(json.loads(json.dumps(st.to_dict())), base_dir=st.base_dir)
    assert back == st


def test_dataset_file_is_recorded_by_path_and_hash_not_copied(tmp_path):
    x = np.linspace(-1, 1, 5000)[:, None]
    np.savez(tmp_path / "d.npz", x=x, y=np.sin(3 * x[:, 0]))
    (tmp_path / "s.toml").write_text(
        '[task]\nkind = "dataset"\nfile = "d.npz"\n[record]\nobservables = ["train_loss"]\n'
    )
    st = config.load(tmp_path / "s.toml")
    assert st.task.inputs[1] == (x[1, 0],) and len(st.task.targets) == 5000
    saved = json.dumps(st.to_dict())
    assert len(saved) < 3000 and str((tmp_path / "d.npz").resolve()) in saved  # the path, not 5000 rows
    back = config.from_dict(json.loads(saved))
    assert back.task == st.task and back.task.file_sha256 == st.task.file_sha256 is not None
    np.savez(tmp_path / "d.npz", x=x, y=np.cos(3 * x[:, 0]))  # the file changes
    with pytest.raises(config.ConfigError, match=r"^task.file .* has changed since the study was saved"):
        config.from_dict(json.loads(saved))


def test_record_steps_linear_log_and_last_step():
    assert study(run={"steps": 25, "record_every": 10}).record_steps() == (0, 10, 20, 25)
    log = study(run={"steps": 1000, "records": 5, "spacing": "log", "record_every": None}).record_steps()
    assert log[0] == 0 and log[-1] == 1000 and all(b > a for a, b in zip(log, log[1:]))
    lin = study(run={"steps": 100, "records": 5, "record_every": None}).record_steps()
    assert lin == (0, 25, 50, 75, 100)


# ------------------------------------------------------------- declared once
def _err(data, overrides=()):
    with pytest.raises(config.ConfigError) as e:
        config.from_dict(data, overrides=overrides)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_errors_are_one_line_naming_the_key_and_value():
    assert _err({"optimizer": {"lr": -1}}) == "optimizer.lr must be a positive number, got -1"
    assert _err({"optimizer": {"momentun": 0.9}}) == "unknown key optimizer.momentun (did you mean optimizer.momentum?)"
    assert _err({"recrod": {}}) == "unknown key recrod (did you mean record?)"
    assert _err({"run": {"seeds": 2.5}}) == "run.seeds must be a positive integer, got 2.5"
    assert _err({"run": {"seeds": True}}) == "run.seeds must be a positive integer, got True"
    assert _err({"task": {"train_size": 0}}) == "task.train_size must be a positive integer or 'online', got 0"
    assert "optimizer.decay_at" in _err({"optimizer": {"decay_at": [1.5]}})
    assert "record.observables" in _err({"record": {"observables": []}})
    assert "record.observables lists 'weight_norm' twice" in _err(
        {"record": {"observables": ["weight_norm", "weight_norm"]}}
    )
    assert (
        _err({"record": {"histograms": {"population_loss": {"max": 1.0}}}})
        == "record.histograms.population_loss.min must be a number, got None"
    )
    assert "record.first_passage.below" in _err(
        {"record": {"first_passage": {"observable": "population_loss", "below": "low"}}}
    )


def test_integers_accept_exact_integer_floats():
    st = study(run={"steps": 1e5, "seeds": 4.0}, optimizer={"batch_size": 2.0})
    assert st.run.steps == 100_000 and type(st.run.steps) is int and type(st.run.seeds) is int
    assert type(st.optimizer.batch_size) is int
    st = config.from_dict({}, overrides=["run.steps=1e5"])
    assert st.run.steps == 100_000 and type(st.run.steps) is int
    assert "run.steps" in _err({"run": {"steps": 1.5}})


def test_sweep_values_keep_their_types_and_reload():
    st = study(
        sweep={
            "optimizer.batch_size": [4.0, 8],
            "optimizer.lr": [1, 0.5],
            "optimizer.method": ["sgd", "x"],
            "optimizer.svag_l": [1.0, 2.0],
        }
    )
    sweep = dict(st.sweep)
    assert sweep["optimizer.batch_size"] == (4, 8) and all(type(v) is int for v in sweep["optimizer.batch_size"])
    assert all(type(v) is int for v in sweep["optimizer.svag_l"])
    assert all(type(v) is float for v in sweep["optimizer.lr"]) and sweep["optimizer.method"] == ("sgd", "x")
    d = st.to_dict()
    assert all(type(v) is int for v in d["sweep"]["optimizer.batch_size"])
    assert config.from_dict(json.loads(json.dumps(d))) == st
    assert config.from_dict({**d, "sweep": {**d["sweep"], "optimizer.batch_size": [4.0, 8.0]}}) == st
    assert "sweep.optimizer.batch_size" in _err({"sweep": {"optimizer.batch_size": [4, 4.0]}})


def test_names_are_left_to_the_registries():
    st = study(
        model={"activation": "my_act"},
        task={"teacher_activation": "my_teacher_act"},
        optimizer={"method": "my_method", "name": "adam"},
        record={"observables": ["my_observable"], "keep_per_seed": ["my_observable"]},
        sweep={"optimizer.method": ["my_method", "other"]},
    )
    assert st.model.activation == "my_act" and st.optimizer.name == "adam"
    assert st.record.observables == ("my_observable",)
    for bad in (
        {"model": {"activation": ""}},
        {"optimizer": {"method": 3}},
        {"task": {"loss": ""}},
        {"record": {"observables": ["ok", 1]}},
        {"optimizer": {"name": None}},
    ):
        sec, key = next(iter(bad.items()))
        assert f"{sec}.{next(iter(key))}" in _err(bad)
    assert "sweep.optimizer.method" in _err({"sweep": {"optimizer.method": ["sgd", ""]}})
    assert "record.keep_per_seed" in _err({"record": {"keep_per_seed": ["weight_norm"]}})


def test_new_fields_defaults_and_round_trip():
    st = config.from_dict({})
    assert st.run.plugins == () and st.optimizer.name == "sgd" and st.task.loss == "square" and st.task.params == ()
    st = study(
        run={"plugins": ["my_plugin", "plugins/extra.py"]}, optimizer={"name": "adam"}, task={"loss": "logistic"}
    )
    assert st.run.plugins == ("my_plugin", "plugins/extra.py")
    assert config.from_dict(json.loads(json.dumps(st.to_dict()))) == st
    assert "run.plugins" in _err({"run": {"plugins": "my_plugin"}})


def test_registered_task_kind_takes_generic_fields_and_params():
    task = {
        "kind": "my_task",
        "input_dim": 5,
        "train_size": 64.0,
        "label_noise": 0.1,
        "loss": "hinge",
        "params": {"width": 3, "scale": 0.5, "name": "x", "pairs": [[1, 2], [3, 4]]},
    }
    st = study(task=task)
    t = st.task
    assert (t.kind, t.input_dim, t.train_size, t.loss) == ("my_task", 5, 64, "hinge")
    assert t.params == (("name", "x"), ("pairs", ((1, 2), (3, 4))), ("scale", 0.5), ("width", 3))
    hash(st)
    d = st.to_dict()
    assert d["task"]["params"] == {"name": "x", "pairs": [[1, 2], [3, 4]], "scale": 0.5, "width": 3}
    assert set(d["task"]) == {"kind", "input_dim", "train_size", "label_noise", "test_size", "loss", "params"}
    assert config.from_dict(json.loads(json.dumps(d))) == st
    assert (
        _err({"task": {"kind": "my_task", "teacher_width": 2}})
        == "task.teacher_width is only for kind = 'teacher_student', not kind = 'my_task'"
    )
    assert "task.inputs is only for kind = 'dataset'" in _err({"task": {"kind": "my_task", "inputs": [1.0]}})
    assert "task.params is only for a registered task kind" in _err({"task": {"params": {"a": 1}}})
    assert "task.params.a" in _err({"task": {"kind": "my_task", "params": {"a": {"b": 1}}}})
    assert "task.params" in _err({"task": {"kind": "my_task", "params": [1]}})
    assert "task.kind" in _err({"task": {"kind": ""}})
    assert "optimizer.batch_size" in _err(
        {"task": {"kind": "my_task", "train_size": 4}, "optimizer": {"batch_size": 8}}
    )


def test_built_in_kinds_refuse_the_other_kinds_keys():
    assert "task.input_dim is only for kind = 'teacher_student'" in _err(
        {"task": {"kind": "dataset", "inputs": [1.0], "targets": [1.0], "input_dim": 3}}
    )
    assert "task.file is only for kind = 'dataset'" in _err({"task": {"file": "d.npz"}})
    st = study(
        task={"kind": "dataset", "inputs": [[1.0], [2.0]], "targets": [0.0, 1.0], "loss": "abs"},
        record={"observables": ["train_loss"]},
    )
    assert st.task.loss == "abs" and st.task.train_size == 2 and st.to_dict()["task"]["loss"] == "abs"


def test_sweep_key_messages():
    assert _err({"sweep": {"optimizer.lrr": [0.1]}}) == "unknown key sweep.optimizer.lrr (did you mean optimizer.lr?)"
    assert "sweep.run.seeds cannot be swept" in _err({"sweep": {"run.seeds": [4, 8]}})
    assert (
        _err({"sweep": {"model.width": [4, 0]}}) == "sweep.model.width: model.width must be a positive integer, got 0"
    )
    assert (
        _err({"sweep": {"optimizer": {"lr": [0.1, 0.2]}}}) == 'sweep keys must be quoted: write "optimizer.lr" = [...]'
    )
    import tomllib

    assert (
        _err(tomllib.loads("[sweep]\noptimizer.lr = [0.1, 0.2]\n"))
        == 'sweep keys must be quoted: write "optimizer.lr" = [...]'
    )
    assert (
        _err({"sweep": {"optimizer.lr": [0.1, -0.1]}})
        == "sweep.optimizer.lr: optimizer.lr must be a positive number, got -0.1"
    )


def test_set_on_a_swept_key_is_refused_naming_both():
    data = {"sweep": {"optimizer.lr": [0.1, 0.2]}}
    assert (
        _err(data, ["optimizer.lr=0.3"])
        == "--set optimizer.lr conflicts with the sweep over optimizer.lr; use --set sweep.optimizer.lr=[...]"
    )
    st = config.from_dict(data, overrides=["sweep.optimizer.lr=[0.3, 0.4]", "optimizer.momentum=0.5"])
    assert dict(st.sweep)["optimizer.lr"] == (0.3, 0.4) and st.optimizer.momentum == 0.5
    assert data == {"sweep": {"optimizer.lr": [0.1, 0.2]}}  # from_dict's overrides work on a copy


def test_sweepable_keys_are_the_declared_ones():
    assert set(config.SWEEPABLE) == {
        "optimizer.lr",
        "optimizer.batch_size",
        "optimizer.momentum",
        "optimizer.weight_decay",
        "optimizer.label_noise",
        "optimizer.langevin_temperature",
        "optimizer.decay_factor",
        "model.init_scale",
        "model.second_layer_scale",
        "task.label_noise",
        "optimizer.method",
        "optimizer.svag_l",
    } | {
        "optimizer.label_flip",  # label-flip SGD
        "optimizer.name",
        "optimizer.second_layer_lr_ratio",
        "optimizer.momentum_beta",  # optimisers (issue 18)
        "optimizer.adam_b1",
        "optimizer.adam_b2",
        "optimizer.adam_eps",
        "optimizer.adamw_weight_decay",
        "optimizer.rmsprop_decay",
        "optimizer.rmsprop_eps",
        "optimizer.rmsprop_initial_scale",
        "optimizer.rmsprop_momentum",
        "optimizer.adagrad_initial",
        "optimizer.adagrad_eps",
        "optimizer.lion_b1",
        "optimizer.lion_b2",
        "optimizer.lion_weight_decay",
        "optimizer.sam_rho",
        "optimizer.anti_pgd_scale",
        "optimizer.stable_scale",
        "optimizer.stable_alpha",
        "optimizer.student_t_scale",
        "optimizer.student_t_df",
    } | {"optimizer.sphere_radius"}  # spherical SGD (issue 16)
    assert len(set(config.SWEEPABLE)) == len(config.SWEEPABLE)
    assert {
        "task.input_dim",
        "task.teacher_width",
        "task.teacher_activation",
        "task.kind",
        "task.loss",
        "model.width",
        "model.activation",
    } <= set(config.SHAPE_KEYS)  # issue 16: one program each
    assert not set(config.SHAPE_KEYS) & set(config.SWEEPABLE)
    assert set(config.OFF) == set(config.SWEEPABLE) - {"optimizer.method", "optimizer.name"}
    assert config.OFF["optimizer.second_layer_lr_ratio"] == 1.0 and config.OFF["optimizer.lr"] == 0.0


def test_config_imports_neither_jax_nor_numpy_nor_registries():
    import ast

    tree = ast.parse(Path(config.__file__).read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in top if isinstance(n, ast.ImportFrom)]
    assert not [m for m in names if m.split(".")[0] in ("jax", "numpy", "jaxrelu")], names


# -------------------------------------------------------------- reference doc
def _config_classes():
    return [config.Study, *config._SECTIONS.values(), config.Histogram, config.FirstPassage]


def test_every_field_has_a_one_line_doc():
    for cls in _config_classes():
        for f in dataclasses.fields(cls):
            doc = f.metadata.get("doc", "")
            assert doc.strip() and "\n" not in doc, f"{cls.__name__}.{f.name} has no one-line doc"


def test_reference_doc_is_up_to_date():
    from jaxrelu import _configdoc

    assert _configdoc.DOC_PATH.read_text() == _configdoc.markdown(), (
        "docs/config.md is stale: run python -m jaxrelu._configdoc"
    )


def test_reference_doc_names_every_key():
    from jaxrelu import _configdoc

    text = _configdoc.markdown()
    for name, cls in config._SECTIONS.items():
        for key in config._fields(cls):
            assert f"`{name}.{key}`" in text


@pytest.mark.parametrize("key", config.SWEEPABLE)
def test_every_sweepable_key_round_trips_through_study_json(key):
    """What ``jaxrelu run --resume`` does: a study sweeping any key reloads from its saved JSON as the
    same study (integer keys stay integers: a batch-size sweep saved as 4.0 used to be refused)."""
    from dataclasses import fields as dc_fields

    section, name = key.split(".")
    default = next(f.default for f in dc_fields(config._SECTIONS[section]) if f.name == name)
    values = {"optimizer.method": ["sgd", "flow"], "optimizer.name": ["sgd", "adam"]}.get(key)
    if values is None:
        values = [default, default + 1] if isinstance(default, int) else [default, default / 2 if default else 0.1]
    st = config.from_dict({"run": {"seeds": 2, "steps": 4}, "sweep": {key: values}})
    saved = json.loads(json.dumps(st.to_dict()))
    back = config.from_dict(saved)
    assert back == st and back.to_dict() == st.to_dict()
    assert [type(v) for v in dict(back.sweep)[key]] == [type(v) for v in values]
