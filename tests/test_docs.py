"""The READMEs' relative links (figures, source files) point at files in the repository."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "experiments").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _relative_links(doc):
    for target in LINK.findall(doc.read_text()):
        if "://" not in target and not target.startswith(("#", "mailto:")):
            yield target.split("#")[0]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc):
    missing = [t for t in _relative_links(doc) if not (doc.parent / t).exists()]
    assert not missing, f"{doc.name}: links to missing files {missing}"
