"""Checkpoint/resume: interrupted runs finish with results bitwise identical to uninterrupted ones."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import study

import jaxrelu
from jaxrelu import cli, engine
from jaxrelu.results import ResultsError

STUDY = """
[run]
seeds = 24
steps = 600
record_every = 20
chunk_size = 12
checkpoint_every = 1
[task]
input_dim = 10
teacher_width = 2
[model]
width = 3
[optimizer]
lr = 0.02
[sweep]
"optimizer.lr" = [0.01, 0.03]
[record]
observables = ["population_loss", "weight_norm"]
keep_per_seed = ["population_loss"]
first_passage = { observable = "population_loss", below = 0.2 }
[record.histograms]
population_loss = { min = 1e-3, max = 10.0, bins = 10, log = true }
"""


def assert_same_results(a, b, exact=True):
    """Bitwise equal; or (``exact=False``, runs on different device counts, which sum each
    chunk's statistics in different orders) per-seed values, counts and first passages
    bitwise equal and the float32-summed statistics to float32 rounding."""
    assert sorted(a.arrays) == sorted(b.arrays)
    for k in a.arrays:
        if (
            exact
            or k.endswith((".per_seed", ".count", ".hist", ".steps", ".survival", ".min", ".max"))
            or a[k].dtype.kind not in "f"
        ):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-12, equal_nan=True, err_msg=k)


class Stop(Exception):
    pass


def test_resume_after_exception_is_bitwise_identical(tmp_path):
    st = study(
        run={"seeds": 10, "steps": 60, "record_every": 10, "chunk_size": 4, "checkpoint_every": 1},
        record={
            "observables": ["population_loss"],
            "keep_per_seed": ["population_loss"],
            "first_passage": {"observable": "population_loss", "below": 0.5},
        },
    )
    ref = jaxrelu.run(st)
    for stop_at in (3, 9, 17):  # inside chunk 0, at a chunk edge region, in the last chunk
        calls = []

        def progress(p):
            calls.append(p)
            if len(calls) == stop_at:
                raise Stop

        ck = tmp_path / f"ck{stop_at}"
        with pytest.raises(Stop):
            jaxrelu.run(st, progress=progress, checkpoint=ck)
        assert (ck / "checkpoint.npz").exists()
        assert_same_results(ref, jaxrelu.run(st, checkpoint=ck))


def test_checkpoints_write_each_seed_once(tmp_path):
    """Per-seed arrays of a finished chunk go to a file of their own, written once; the
    checkpoint rewritten every segment holds only the current chunk's rows."""
    st = study(
        run={"seeds": 10, "steps": 40, "record_every": 10, "chunk_size": 2, "checkpoint_every": 1},
        record={
            "observables": ["population_loss"],
            "keep_per_seed": ["population_loss"],
            "first_passage": {"observable": "population_loss", "below": 0.5},
        },
    )
    ref = jaxrelu.run(st)

    def stop(p):
        if p["steps_done"] >= 3 * 2 * 40 + 2 * 20:  # chunk 3 (of 5), at its record of step 20
            raise Stop

    with pytest.raises(Stop):
        jaxrelu.run(st, progress=stop, checkpoint=tmp_path)
    with np.load(tmp_path / "checkpoint.npz") as z:
        assert z["acc.values"].shape[0] == 2 and z["acc.fpt"].shape[0] == 2
    chunks = sorted(f.name for f in tmp_path.glob("checkpoint.chunk*.npz"))
    assert chunks == [f"checkpoint.chunk{c:05d}.npz" for c in range(3)]
    assert_same_results(ref, jaxrelu.run(st, checkpoint=tmp_path))
    again = tmp_path / "again"  # a damaged or missing chunk file is refused
    with pytest.raises(Stop):
        jaxrelu.run(st, progress=stop, checkpoint=again)
    (again / chunks[1]).write_bytes(b"garbage")
    with pytest.raises(ResultsError, match="corrupt or missing chunk checkpoint"):
        jaxrelu.run(st, checkpoint=again)
    (again / chunks[1]).unlink()
    with pytest.raises(ResultsError, match="corrupt or missing chunk checkpoint"):
        jaxrelu.run(st, checkpoint=again)


def test_resume_keeps_the_chunks_it_started_with(tmp_path, monkeypatch):
    """The default chunk size depends on the machine (device count, CPU cap): a run
    resumed where it would be cut differently still finishes in its own chunks."""
    st = study(
        run={"seeds": 10, "steps": 40, "record_every": 10, "checkpoint_every": 1},
        record={"observables": ["population_loss"], "keep_per_seed": ["population_loss"]},
    )
    monkeypatch.setattr(engine.chunking, "CPU_CHUNK_TRAJECTORIES", 4)
    ref = jaxrelu.run(st)
    assert ref.meta["chunks"] == 3

    def stop(p):
        if p["steps_done"] > 10 * 10:  # in the second chunk
            raise Stop

    with pytest.raises(Stop):
        jaxrelu.run(st, progress=stop, checkpoint=tmp_path)
    monkeypatch.setattr(engine.chunking, "CPU_CHUNK_TRAJECTORIES", 1024)
    assert jaxrelu.run(st).meta["chunks"] == 1
    res = jaxrelu.run(st, checkpoint=tmp_path)
    assert res.meta["chunks"] == 3
    assert_same_results(ref, res)


def test_checkpoint_of_another_study_is_refused(tmp_path):
    st = study(run={"seeds": 4, "steps": 40, "record_every": 10, "checkpoint_every": 1})

    calls = []

    def stop(p):
        calls.append(p)
        if len(calls) == 3:
            raise Stop

    with pytest.raises(Stop):
        jaxrelu.run(st, progress=stop, checkpoint=tmp_path)
    other = study(run={"seeds": 4, "steps": 40, "record_every": 10, "checkpoint_every": 1}, optimizer={"lr": 0.01})
    with pytest.raises(ResultsError, match="different study"):
        jaxrelu.run(other, checkpoint=tmp_path)
    (tmp_path / "checkpoint.npz").write_bytes(b"garbage")
    with pytest.raises(ResultsError, match="corrupt checkpoint"):
        jaxrelu.run(st, checkpoint=tmp_path)


def _cli(*args):
    """The ``jaxrelu`` command in a subprocess (one JAX CPU device per core, as a user runs it)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen(
        [sys.executable, "-m", "jaxrelu", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_sigkill_at_random_points_then_resume_is_bitwise_identical(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(STUDY)
    ref_dir = tmp_path / "ref"
    assert _cli("run", str(cfg), "--out", str(ref_dir), "--quiet").wait(timeout=300) == 0
    ref = jaxrelu.load(ref_dir)

    rng = np.random.default_rng(0)
    out = tmp_path / "killed"
    ckpt = out / "checkpoint.npz"
    p = _cli("run", str(cfg), "--out", str(out), "--quiet")
    kills = 0
    while kills < 3:
        # wait for a fresh checkpoint (so every restart makes progress even on a loaded
        # machine), then kill at a random point of the following segments
        seen = ckpt.stat().st_mtime_ns if ckpt.exists() else 0
        deadline = time.time() + 120
        while p.poll() is None and time.time() < deadline and (not ckpt.exists() or ckpt.stat().st_mtime_ns == seen):
            time.sleep(0.05)
        if p.poll() is not None:
            break
        time.sleep(float(rng.uniform(0.0, 0.6)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
        if (out / "results.npz").exists():  # killed after writing results
            break
        p = _cli("run", "--resume", str(out), "--quiet")
    if not (out / "results.npz").exists():
        assert p.wait(timeout=300) == 0, p.stderr.read()
    assert kills >= 1
    assert_same_results(ref, jaxrelu.load(out))


@pytest.mark.slow  # long: the default suite stays under 10 minutes on 2 cores
def test_ctrl_c_leaves_a_directory_resumable_here_on_one_device(tmp_path):
    """Interrupted in the ``jaxrelu`` command (a device per core), resumed in this process
    (one device): the chunks of the interrupted run are kept, so it finishes; statistics
    summed on different device counts agree to float32 rounding."""
    cfg = tmp_path / "s.toml"
    cfg.write_text(STUDY.replace("steps = 600", "steps = 4000"))
    ref_dir = tmp_path / "ref"
    out = tmp_path / "int"
    p = _cli("run", str(cfg), "--out", str(out))
    # wait until it is past compilation (a checkpoint exists), then press Ctrl-C
    deadline = time.time() + 120
    while not (out / "checkpoint.npz").exists() and time.time() < deadline:
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    code = p.wait(timeout=120)
    err = p.stderr.read()
    assert code == 130, err
    assert "--resume" in err
    assert cli.main(["run", "--resume", str(out), "--quiet"]) == 0
    assert cli.main(["run", str(cfg), "--out", str(ref_dir), "--quiet"]) == 0
    assert_same_results(jaxrelu.load(ref_dir), jaxrelu.load(out), exact=False)
    # a finished directory is not resumed again, and a foreign one is refused
    assert cli.main(["run", "--resume", str(out)]) == 2
    assert cli.main(["run", "--resume", str(tmp_path)]) == 2
