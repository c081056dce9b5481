"""The documentation is true: its links resolve, its code blocks run, its commands parse, its studies validate.

Pages: README.md, experiments/README.md and every page under docs/ (the mkdocs site).  A fenced block may be
excluded from running (never from parsing) by an HTML comment on the line before it, stating why:
``<!-- docs-test: skip (needs a GPU) -->``.

* ``python`` blocks of docs/ run, in order, in one namespace per page (so a page's later blocks use its earlier
  ones), in a scratch directory; the README's block is parsed only (it runs a full-size study).
* ``toml`` blocks are validated as studies by ``jaxrelu validate`` (with the extending page's tested plugin),
  unless they name plugins of their own.
* ``bash`` blocks: every ``jaxrelu ...`` command in them parses with the command line's own parser, and every
  ``jaxrelu validate ...`` runs.
"""

from __future__ import annotations

import ast
import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = sorted((ROOT / "docs").rglob("*.md"))
PAGES = [ROOT / "README.md", ROOT / "experiments" / "README.md", *SITE]
PLUGIN = ROOT / "tests" / "plugins" / "extending.py"
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b[^>]*-->\s*$")


def _id(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def blocks(page: Path, lang: str) -> list[tuple[str, bool]]:
    """``(code, skipped)`` of each fenced block of language ``lang`` in ``page``."""
    text = page.read_text()
    out = []
    for m in FENCE.finditer(text):
        if m.group(1) != lang:
            continue
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        out.append((m.group(2), bool(SKIP.search(before))))
    return out


def _relative_links(doc: Path):
    text = FENCE.sub("", doc.read_text())  # links inside code blocks are code
    for target in LINK.findall(text):
        if "://" not in target and not target.startswith(("#", "mailto:")):
            yield target.split("#")[0]


@pytest.mark.parametrize("doc", PAGES, ids=_id)
def test_relative_links_resolve(doc):
    missing = [t for t in _relative_links(doc) if t and not (doc.parent / t).exists()]
    assert not missing, f"{_id(doc)}: links to missing files {missing}"


def test_every_docs_page_is_in_the_site_navigation():
    """A page missing from mkdocs.yml's nav is unreachable on the site."""
    nav = (ROOT / "mkdocs.yml").read_text().split("\nnav:", 1)[1]
    listed = set(re.findall(r"([\w/.-]+\.md)", nav))
    orphans = [_id(p) for p in SITE if p.relative_to(ROOT / "docs").as_posix() not in listed]
    assert not orphans, f"add these pages to the nav of mkdocs.yml: {orphans}"
    assert all((ROOT / "docs" / p).is_file() for p in listed), "mkdocs.yml's nav lists a missing page"


def test_docs_describe_the_software_not_its_history():
    """No commit hashes, scratch scripts or debugger sessions on the pages."""
    bad = re.compile(r"\bcommit [0-9a-f]{7,40}\b|scratch script|\bgdb\b", re.I)
    hits = [(_id(p), m.group(0)) for p in PAGES for m in bad.finditer(p.read_text())]
    assert not hits, hits


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")], ids=_id)
def test_python_blocks_parse(page):
    for code, _ in blocks(page, "python"):
        ast.parse(code, filename=_id(page))


@pytest.mark.parametrize("page", [p for p in SITE if any(not s for _, s in blocks(p, "python"))], ids=_id)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    """The page's blocks in order, in one namespace, in a scratch directory (tiny seeds and steps: a few s)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for k, (code, skipped) in enumerate(blocks(page, "python")):
        if not skipped:
            exec(compile(code, f"{_id(page)}[python block {k}]", "exec"), namespace)


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "toml")], ids=_id)
def test_toml_blocks_are_valid_studies(page, tmp_path, capsys):
    from jaxrelu import cli

    for k, (code, skipped) in enumerate(blocks(page, "toml")):
        data = tomllib.loads(code)  # every block is TOML
        if skipped or data.get("run", {}).get("plugins"):
            continue
        path = tmp_path / f"block{k}.toml"
        path.write_text(code)
        rc = cli.main(["validate", str(path), "--plugin", str(PLUGIN)])
        assert rc == 0, f"{_id(page)}, toml block {k}: {capsys.readouterr().err.strip()}"


def _commands(code: str):
    """The ``jaxrelu ...`` commands of a shell block (``.venv/bin/jaxrelu`` too), as argument lists."""
    for line in code.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0]
        for part in re.split(r"&&|;|\|\|", line):
            words = shlex.split(part)
            if words and Path(words[0]).name == "jaxrelu":
                yield words[1:]


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "bash")], ids=_id)
def test_shell_commands_parse_and_validate(page, capsys):
    from jaxrelu import cli

    for code, skipped in blocks(page, "bash"):
        if skipped:
            continue
        for argv in _commands(code):
            if argv[:1] == ["bench"]:  # the benchmark parses its own options
                continue
            try:
                cli.parser().parse_args(argv)
            except SystemExit as e:
                pytest.fail(
                    f"{_id(page)}: `jaxrelu {shlex.join(argv)}` does not parse ({e.code}): "
                    f"{capsys.readouterr().err.strip()}"
                )
            if argv[:1] == ["validate"]:
                plugins = [a for a in argv if a.endswith(".py")]
                if all((ROOT / p).is_file() for p in plugins):
                    assert cli.main(argv) == 0, f"{_id(page)}: {capsys.readouterr().err.strip()}"


def test_every_registered_name_is_described_on_the_builtins_page():
    """docs/builtins.md renders the docstrings of the modules its ``:::`` lines name; every built-in
    activation, loss, task, optimiser, dynamics and observable (and each family of names with
    arguments) is named in one of them.  Listed in a fresh interpreter: other tests register plugins."""
    import json
    import subprocess
    import sys

    page = (ROOT / "docs" / "builtins.md").read_text()
    modules = re.findall(r"^::: ([\w.]+)$", page, re.M)
    code = (
        "import importlib, json\n"
        "from jaxrelu import registry as r\n"
        f"docs = [importlib.import_module(m).__doc__ or '' for m in {modules!r}]\n"
        "regs = [r.ACTIVATIONS, r.LOSSES, r.TASKS, r.OPTIMIZERS, r.DYNAMICS, r.OBSERVABLES]\n"
        "names = [(g.kind, n) for g in regs for n in [*g.names(), *g._families]]\n"
        "print(json.dumps({'text': '\\n'.join(docs), 'names': names}))\n"
    )
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    missing = [
        f"{kind} {name}"
        for kind, name in out["names"]
        if not re.search(rf"(?<![\w(]){re.escape(name)}(?![\w])", out["text"])
    ]
    assert not missing, f"not described in docs/builtins.md's modules: {', '.join(missing)}"
