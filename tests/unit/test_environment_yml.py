"""environment.yml lists exactly pyproject.toml's runtime dependencies, with the same lower bounds.

conda itself is not run here (it is not on the test machines): this checks that the two lists say
the same, so a dependency added to pyproject.toml cannot be forgotten in the conda environment.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
CONDA_TO_PYPI = {"python-isal": "isal"}  # conda-forge names that differ from PyPI's
NOT_FROM_PYPROJECT = {
    "python": "the interpreter (pyproject's requires-python)",
    "pip": "installs the pip: section",
    "postgresql": "the embedded database's binaries where the pgserver wheel is missing",
}


def pyproject() -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def runtime_requirements() -> dict[str, SpecifierSet]:
    requirements = [Requirement(text) for text in pyproject()["project"]["dependencies"]]
    return {canonicalize_name(r.name): r.specifier for r in requirements}


def conda_entry(text: str) -> tuple[str, SpecifierSet]:
    """A conda MatchSpec as simple as ours (`name>=1.2,<2`): its name and version bounds."""
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*([<>=!~].*)?", text.strip())
    assert match, f"environment.yml: {text!r} is not of the form name>=version"
    return canonicalize_name(match.group(1)), SpecifierSet(match.group(2) or "")


def environment() -> tuple[dict[str, SpecifierSet], dict[str, SpecifierSet]]:
    """The conda and the pip entries of environment.yml."""
    document = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert document["channels"][0] == "conda-forge"
    conda_entries, pip_entries = {}, {}
    for entry in document["dependencies"]:
        if isinstance(entry, dict):
            for text in entry["pip"]:
                requirement = Requirement(text)
                pip_entries[canonicalize_name(requirement.name)] = requirement.specifier
        else:
            name, specifier = conda_entry(entry)
            conda_entries[CONDA_TO_PYPI.get(name, name)] = specifier
    return conda_entries, pip_entries


def test_environment_yml_lists_the_runtime_dependencies_of_pyproject():
    runtime = runtime_requirements()
    conda_entries, pip_entries = environment()
    extra = {name for name in conda_entries if name not in runtime and name not in NOT_FROM_PYPROJECT}
    extra |= {name for name in pip_entries if name not in runtime}
    assert not extra, f"in environment.yml but not a runtime dependency of pyproject.toml: {sorted(extra)}"
    listed = [name for name in conda_entries if name in runtime] + list(pip_entries)
    assert sorted(listed) == sorted(runtime), \
        f"pyproject.toml's dependencies missing from environment.yml: {sorted(set(runtime) - set(listed))}"
    bounds = {**conda_entries, **pip_entries}
    differ = {name: (str(bounds[name]), str(spec)) for name, spec in runtime.items() if bounds[name] != spec}
    assert not differ, f"environment.yml and pyproject.toml disagree on versions: {differ}"


def test_environment_yml_python_matches_requires_python():
    conda_entries, _ = environment()
    lower = [s for s in conda_entries["python"] if s.operator == ">="]
    assert [str(s) for s in lower] == [pyproject()["project"]["requires-python"]]
    assert "postgresql" in conda_entries  # the fallback of the embedded database
