"""environment.yml (for conda users) and pyproject.toml (for ./course and pip) list the same packages with the
same version ranges, so that a conda user gets the stack the course is tested with."""

import re

import pytest
from packaging.requirements import Requirement  # a dependency of pytest itself, so present wherever tests run

from utils.settings import REPO_ROOT

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml takes Python 3.11's tomllib")

# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {"torch": "pytorch", "playwright": "playwright-python"}
# Entries of environment.yml with no counterpart among pyproject.toml's requirements.
CONDA_ONLY = {"python", "pip"}


def environment_lists(text: str) -> tuple[list[str], list[str]]:
    """(conda packages, pip lines) of an environment.yml of the simple form conda documents: a `dependencies:`
    list of strings, one of them a `pip:` item holding a list of its own. Not a YAML parser (none is among the
    course's dependencies): anything else in that list is refused, so that the check never passes by skipping."""
    conda, pip = [], []
    current = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):  # a top-level key: only the dependencies list matters here
            current = conda if line == "dependencies:" else None
            continue
        if current is None:
            continue
        item = line.strip()
        assert item.startswith("- "), f"environment.yml:{number}: expected a list item, got {item!r}"
        entry = item[2:].strip()
        if entry == "pip:":
            current = pip
        elif current is pip and len(line) - len(line.lstrip()) <= 2:  # back at the outer list's indent
            raise AssertionError(f"environment.yml:{number}: put conda packages before the pip: item")
        else:
            current.append(entry)
    return conda, pip


def test_environment_yml_lists_pyprojects_packages_with_the_same_ranges():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(text) for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]
    conda, pip = environment_lists((REPO_ROOT / "environment.yml").read_text())

    listed = {}
    for entry in conda:
        name = re.split(r"[=<>!~ ]", entry, maxsplit=1)[0]
        assert name not in listed, f"environment.yml lists {name} twice"
        listed[name] = entry
    for requirement in wanted:
        name = CONDA_NAMES.get(requirement.name, requirement.name)
        assert name in listed, f"environment.yml lacks {name} (pyproject.toml: {requirement})"
        assert Requirement(listed[name]).specifier == requirement.specifier, (
            f"environment.yml: {listed[name]}, pyproject.toml: {requirement}"
        )
    extra = set(listed) - CONDA_ONLY - {CONDA_NAMES.get(requirement.name, requirement.name) for requirement in wanted}
    assert not extra, f"environment.yml lists {sorted(extra)}, which pyproject.toml does not"
    # pip adds only the course itself (its packages and the dev extra, already satisfied by conda's packages).
    assert pip == ["-e .[dev]"]


def test_the_environment_reader_reads_both_lists():
    text = "name: x\ndependencies:\n  - python=3.11  # why\n  - numpy>=1.26\n  - pip:\n      - -e .\nchannels:\n  - a\n"
    assert environment_lists(text) == (["python=3.11", "numpy>=1.26"], ["-e ."])


@pytest.mark.parametrize("text", ["dependencies:\n  numpy: 1\n", "dependencies:\n  - pip:\n      - -e .\n  - numpy\n"])
def test_the_environment_reader_refuses_what_it_cannot_read(text):
    with pytest.raises(AssertionError, match="environment.yml:"):
        environment_lists(text)
