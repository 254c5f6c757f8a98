"""The manual (issue 39): the README stays a landing page under 200 lines, the reference pages
made from the code are what docs/generate.py makes now, every link resolves, every file the
pages cite is in the repository, and the settings file the configuration page prints loads."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from cora_ocr.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# A repository path in backticks: `cora_ocr/host/app.py`, `tests/acceptance/`, `bench/run`.
CITED = re.compile(r"`((?:cora_ocr|tests|bench|deploy|migrations|docs|wsdl)/[\w./-]*)`")


def generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_is_a_landing_page() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 200, len(lines)


@pytest.mark.parametrize("name", ["settings.md", "cli.md", "statuses.md"])
def test_the_generated_reference_is_current(name: str) -> None:
    made = generator().PAGES[name]()
    assert (ROOT / "docs" / "reference" / name).read_text() == made, (
        f"docs/reference/{name} is stale: run `python docs/generate.py`"
    )


def test_a_changed_setting_makes_the_page_stale(tmp_path: Path) -> None:
    """The staleness check can fail: the page names every setting's comment."""
    page = generator().settings_page()
    assert "| `retention_days` | `CORA_OCR_RETENTION_DAYS` | `0` |" in page
    assert "Jobs in a final state are deleted with their history" in page


def anchors(page: Path) -> set[str]:
    found = set()
    for line in page.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_link_resolves(page: Path) -> None:
    text = page.read_text()
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # an address outside the repository
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists() or (
            anchor and where.suffix == ".md" and anchor not in anchors(where)
        ):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_cited_file_is_in_the_repository(page: Path) -> None:
    missing = [
        cited
        for cited in CITED.findall(page.read_text())
        if not any(ch in cited for ch in "<>*")
        and not (ROOT / cited.split("::")[0].rstrip(".")).exists()
    ]
    assert missing == []


def test_nothing_cites_what_the_repository_does_not_hold() -> None:
    """Code comments once cited CONTRACT.md and DESIGN.md, which lived outside it."""
    citing = [
        str(path.relative_to(ROOT))
        for folder in ("cora_ocr", "tests", "bench", "docs")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"\b(CONTRACT|DESIGN|STYLE)\.md\b", path.read_text())
        and path.name != "test_docs.py"
    ]
    assert citing == []


def test_the_configuration_pages_settings_file_loads(tmp_path: Path) -> None:
    page = (ROOT / "docs" / "reference" / "configuration.md").read_text()
    [block] = re.findall(r"```toml\n(.*?)```", page, re.S)
    config = tmp_path / "cora-ocr.toml"
    config.write_text(block)
    settings = load_settings(config, environ={})
    assert settings.region == "eu" and "Default" in settings.profiles


def test_library_loggers_stay_quiet_at_info() -> None:
    """`cora-ocr connections check` once printed the Azure SDK's request headers."""
    import logging

    from cora_ocr import logs

    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in logs.QUIET_LIBRARIES}
    try:
        logs.configure("INFO")
        assert not logging.getLogger("azure.core.pipeline.policies").isEnabledFor(logging.INFO)
        assert logging.getLogger("cora_ocr.worker").isEnabledFor(logging.INFO)
    finally:
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)
