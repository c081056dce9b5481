"""The wheel is what a researcher installs: build it, install it into a fresh virtual environment (its
dependencies from the package index), and run the quickstart from another directory.

Slow (a fresh environment downloads and installs JAX): ``.ci/run`` runs it as its own step,
``python -m pytest -m slow tests/test_wheel.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the source (so the checkout gets no build/ or egg-info)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for f in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / f, src / f)
    shutil.copytree(ROOT / "jaxrelu", src / "jaxrelu", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", tmp / "dist", src], timeout=600)
    (whl,) = (tmp / "dist").glob("jaxrelu-*.whl")
    return whl


def test_wheel_contents(wheel):
    """The studies, py.typed and the license are in the wheel; its version is the package's one version."""
    import jaxrelu

    names = zipfile.ZipFile(wheel).namelist()
    for f in (
        "jaxrelu/py.typed",
        "jaxrelu/experiments/quickstart.toml",
        "jaxrelu/experiments/plateaus.py",
        "jaxrelu/experiments/_common.py",
    ):
        assert f in names, f
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    assert wheel.name.startswith(f"jaxrelu-{jaxrelu.__version__}-py3-none-any"), wheel.name
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert f"Version: {jaxrelu.__version__}\n" in meta and "License-Expression: Apache-2.0" in meta


def test_wheel_installs_into_a_fresh_venv_and_runs_the_quickstart(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], timeout=300)
    py = venv / "bin" / "python"
    _run([py, "-m", "pip", "install", "--quiet", wheel], timeout=1800)
    elsewhere = tmp_path / "elsewhere"  # no source checkout here
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["JAX_PLATFORMS"] = "cpu"
    r = _run(
        [
            venv / "bin" / "jaxrelu",
            "run",
            "quickstart",
            "--set",
            "run.seeds=8",
            "--set",
            "run.max_seeds=8",
            "--out",
            "q",
            "--quiet",
        ],
        cwd=elsewhere,
        env=env,
        timeout=900,
    )
    res = elsewhere / "q"
    assert (res / "results.npz").is_file(), r.stdout + r.stderr
    meta = json.loads((res / "meta.json").read_text())
    assert meta["seeds"] == 8 and meta["grid_shape"] == [3]  # max_seeds caps the quickstart's precision target
    where = _run(
        [py, "-c", "import jaxrelu, importlib.metadata as m; print(jaxrelu.__file__, m.version('jaxrelu'))"],
        cwd=elsewhere,
        env=env,
    ).stdout.split()
    assert where[0].startswith(str(venv)) and where[1] == __import__("jaxrelu").__version__
