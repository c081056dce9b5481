"""The SGD-vs-SDE experiment script runs end to end at --quick size."""

import json

import pytest

from jaxrelu import cli


@pytest.mark.slow  # long: the default suite stays under 10 minutes on 2 cores
def test_sgd_vs_sde_quick(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["run", "sgd_vs_sde", "--quick", "--out", str(out), "--figures", str(tmp_path / "fig")]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["sgd_vs_sde"]) == 2 and len(summary["svag"]) == 2
    assert (tmp_path / "fig" / "weak_error.png").stat().st_size > 0
