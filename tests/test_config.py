"""Config round trips and record schedules."""

import json

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


def test_dataset_round_trip_inlines_the_file(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.array([[0.0], [1.0]]), y=np.array([1.0, -1.0]))
    (tmp_path / "s.toml").write_text('[task]\nkind = "dataset"\nfile = "d.npz"\n[record]\nobservables = ["train_loss"]\n')
    st = config.load(tmp_path / "s.toml")
    assert st.task.inputs == ((0.0,), (1.0,)) and st.task.targets == (1.0, -1.0)
    back = config.from_dict(json.loads(json.dumps(st.to_dict())))
    assert back.task.inputs == st.task.inputs and back.task.file is None


def test_record_steps_linear_log_and_last_step():
    assert study(run={"steps": 25, "record_every": 10}).record_steps() == (0, 10, 20, 25)
    log = study(run={"steps": 1000, "records": 5, "spacing": "log", "record_every": None}).record_steps()
    assert log[0] == 0 and log[-1] == 1000 and all(b > a for a, b in zip(log, log[1:]))
    lin = study(run={"steps": 100, "records": 5, "record_every": None}).record_steps()
    assert lin == (0, 25, 50, 75, 100)
