"""A non-editable install ships the built-in studies: ``jaxrelu experiments`` and ``jaxrelu run quickstart``
work from the installed package, outside a source checkout."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _build_offline() -> bool:
    """Whether this environment's setuptools builds a wheel by itself (no build isolation, no index)."""
    import setuptools

    major, minor = (int(v) for v in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``pip install --no-deps --target SITE`` of a copy of the source (pyproject.toml, README.md, jaxrelu/)."""
    tmp = tmp_path_factory.mktemp("install")
    src, site = tmp / "src", tmp / "site"
    src.mkdir()
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / f, src / f)
    shutil.copytree(ROOT / "jaxrelu", src / "jaxrelu", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(src)]
    if _build_offline():
        cmd.append("--no-build-isolation")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode and "satisfies the requirement" in r.stderr:  # offline, without the build backend
        pytest.skip(f"cannot fetch the build requirements: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 0, r.stderr
    return tmp, site


def _jaxrelu(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    code = (
        "import sys, jaxrelu; from jaxrelu import cli; "
        f"assert jaxrelu.__file__.startswith({str(site)!r}), jaxrelu.__file__; sys.exit(cli.main(sys.argv[1:]))"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_install_contains_the_studies(installed):
    _, site = installed
    d = site / "jaxrelu" / "experiments"
    for name in ("quickstart.toml", "sgd_sde_ode.toml", "scale_million.toml", "_common.py", "plateaus.py"):
        assert (d / name).is_file(), name


def test_installed_package_lists_and_runs_its_studies(installed):
    tmp, site = installed
    cwd = tmp / "elsewhere"  # no experiments/ folder here
    cwd.mkdir(exist_ok=True)
    r = _jaxrelu(site, cwd, "experiments")
    assert r.returncode == 0, r.stderr
    names = {ln.split()[0] for ln in r.stdout.splitlines()}
    assert {"quickstart", "sgd_sde_ode", "plateaus", "sgd_vs_sde"} <= names
    assert not any(n.startswith("_") for n in names)
    r = _jaxrelu(site, cwd, "validate", "quickstart")
    assert r.returncode == 0 and r.stdout.startswith("ok:") and str(site) in r.stdout, r.stderr
    r = _jaxrelu(
        site,
        cwd,
        "run",
        "quickstart",
        "--quiet",
        "--out",
        "q",
        "--set",
        "run.seeds=2",
        "--set",
        "run.steps=20",
        "--set",
        "run.records=3",
    )
    assert r.returncode == 0, r.stderr
    assert (cwd / "q" / "results.npz").is_file()
