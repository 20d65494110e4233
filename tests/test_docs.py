"""The documents' links lead somewhere: every relative link and picture in the README and
in docs/ names a file of the repository, and every `docs/...` or `scripts/...` path they
quote exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
QUOTED_PATH = re.compile(r"`((?:docs|scripts|tests|examples)/[\w./-]+\.\w+)`")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_links_and_quoted_paths_resolve(document):
    text = document.read_text()
    missing = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+://", target) or target.startswith("#"):
            continue
        if not (document.parent / target.split("#")[0]).exists():
            missing.append(f"link {target}")
    for path in QUOTED_PATH.findall(text):
        if not (REPO / path).exists():
            missing.append(f"quoted {path}")
    assert missing == [], f"{document.name}: {missing}"


def test_the_check_sees_a_broken_link(tmp_path):
    assert LINK.findall("see [the method](docs/method.md) and ![a](images/x.png)") == [
        "docs/method.md",
        "images/x.png",
    ]
