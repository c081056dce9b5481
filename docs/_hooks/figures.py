"""mkdocs hook: serve the repository's ``figures/`` folder with the docs.

The pages link figures by their path in the repository (``../../figures/quickstart/x.png`` from
``docs/experiments/``), so the links also work on a code host and in an editor.  This hook adds
``figures/**/*.png`` to the site as ``figures/...`` and rewrites those links to it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

_LINK = re.compile(r"(\]\()([^)\s]+\.png)")


def _root(config) -> Path:
    return Path(config.config_file_path).resolve().parent


def on_files(files, config):
    """Add every PNG under the repository's ``figures/`` to the site."""
    root = _root(config)
    for png in sorted((root / "figures").rglob("*.png")):
        files.append(
            File(
                png.relative_to(root).as_posix(),
                src_dir=str(root),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    return files


def on_page_markdown(markdown, page, config, files):
    """``../figures/x.png`` (repository-relative, from the page's folder) → the site's ``figures/x.png``."""
    root, docs = _root(config), Path(config.docs_dir).resolve()
    page_dir = (docs / page.file.src_uri).parent

    def fix(m):
        target = (page_dir / m.group(2)).resolve()
        try:
            rel = target.relative_to(root / "figures")
        except ValueError:
            return m.group(0)
        site_target = posixpath.join("figures", rel.as_posix())
        return m.group(1) + posixpath.relpath(site_target, posixpath.dirname(page.file.src_uri) or ".")

    return _LINK.sub(fix, markdown)
