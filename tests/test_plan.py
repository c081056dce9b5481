"""``jaxrelu plan``: a pilot run's errors, extrapolated as 1/√n, predict the seeds each precision
target needs; checked against the run itself."""

import re

import numpy as np
import pytest

import jaxrelu
from jaxrelu import cli, config, precision

STUDY = """
[run]
seeds = 16
steps = 60
record_every = 20
max_seeds = 256
chunk_size = 16
[[run.precision]]
statistic = "mean"
observable = "population_loss"
halfwidth = 0.06
relative = true
[[run.precision]]
statistic = "passage_fraction"
observable = "population_loss"
halfwidth = 0.1
[task]
input_dim = 12
teacher_width = 2
[model]
width = 3
[optimizer]
lr = 0.05
[sweep]
"optimizer.lr" = [0.01, 0.05]
[record]                # as test_precision_targets.BASE's: one compiled program serves both files
observables = ["population_loss", "weight_norm"]
keep_per_seed = ["population_loss"]
quantiles = [0.5, 0.9]
first_passage = { observable = "population_loss", below = 0.3 }
[record.histograms]
population_loss = { min = 1e-3, max = 10.0, bins = 8, log = true }
"""


def test_seeds_needed_scales_errors_as_one_over_root_n():
    assert precision.seeds_needed(0.2, 0.1, 100, 1000) == (400, False)
    assert precision.seeds_needed(0.2, 0.1, 100, 300) == (400, True)  # over the cap: flagged
    assert precision.seeds_needed(0.05, 0.1, 100, 1000) == (100, False)  # met already: the pilot's seeds
    assert precision.seeds_needed(np.inf, 0.1, 100, 1000) == (None, False)  # not estimable


def test_plan_predicts_the_seeds_the_run_needs(tmp_path, capsys):
    path = tmp_path / "study.toml"
    path.write_text(STUDY)
    assert cli.main(["plan", str(path), "--seeds", "48"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if "->" in ln]
    assert len(lines) == 4  # 2 targets x 2 grid points
    assert any(
        ln.startswith("passage_fraction population_loss at step 60: halfwidth <= 0.1 [optimizer.lr = 0.01]")
        for ln in lines
    )
    m = re.search(
        r"seeds per grid point \(capped at max_seeds 256\): \[(\d+), (\d+)\], "
        r"in chunks of 16: \[(\d+), (\d+)\]",
        out,
    )
    predicted = np.array([int(m[1]), int(m[2])])
    assert all(int(m[3 + i]) == -(-p // 16) * 16 for i, p in enumerate(predicted))
    assert re.search(r"\d s of stepping", out) or " min of stepping" in out
    res = jaxrelu.run(config.load(path))
    used = res["seeds_used"]
    # the pilot's relative error of a variance from 48 seeds is ≈ sqrt(2/47) = 21 %, so its
    # prediction n ∝ variance is within a factor 2 of the seeds needed (≈ 3.5 s.e.) unless the
    # run is capped; the run rounds up to chunks of 16 seeds
    for p, u in zip(predicted, used):
        assert u < 256 and p < 256  # neither capped: the check below is live
        assert p / 2 <= u <= 2 * p + 16, (predicted, used)


def test_plan_needs_precision_targets(tmp_path, capsys):
    path = tmp_path / "plain.toml"
    path.write_text(STUDY.split("[[run.precision]]")[0] + STUDY[STUDY.index("[task]") :])
    assert cli.main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: plan needs precision targets") and err.count("\n") == 1


@pytest.mark.parametrize("seeds", ["1"])
def test_plan_refuses_a_pilot_of_one_seed(tmp_path, capsys, seeds):
    path = tmp_path / "study.toml"
    path.write_text(STUDY)
    assert cli.main(["plan", str(path), "--seeds", seeds]) == 2
    assert "--seeds must be >= 2, got 1" in capsys.readouterr().err
