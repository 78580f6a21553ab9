"""The kit maker's own logic, without the network (tests/slow/test_offline.py builds real kits)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

from cogbrowser.bundle import (
    BundleError,
    Distribution,
    Target,
    explain_pip_failure,
    find_source_tree,
    walk_requirements,
)

WINDOWS = Target.of("win_amd64", "3.11")
LINUX = Target.of("manylinux_x86_64", "3.12")


def dist(name: str, version: str, *requires: str) -> Distribution:
    return Distribution(name, version, requires, Path(f"{name}-{version}-py3-none-any.whl"))


DISTS = {d.name: d for d in (
    dist("app", "1.0", "click>=8", "psycopg[binary]>=3.1", "uvloop; sys_platform != 'win32'"),
    dist("click", "8.1.7", "colorama; platform_system == 'Windows'"),
    dist("psycopg", "3.2.0", "tzdata; sys_platform == 'win32'", "psycopg-binary==3.2.0; extra == 'binary'",
         "psycopg-c==3.2.0; extra == 'c'", "typing-extensions>=4.4; python_version < '3.12'"),
    dist("psycopg-binary", "3.2.0"), dist("colorama", "0.4.6"), dist("uvloop", "0.19.0"),
    dist("typing-extensions", "4.12.0"),
)}


def test_the_targets_markers_decide_not_this_machines():
    needed, missing = walk_requirements(DISTS, Requirement("app"), WINDOWS.marker_environment())
    assert needed == {"app", "click", "colorama", "psycopg", "psycopg-binary", "typing-extensions"}
    assert [str(r) for r in missing] == ['tzdata; sys_platform == "win32"']  # the round after adds it
    needed, missing = walk_requirements(DISTS, Requirement("app"), LINUX.marker_environment())
    assert needed == {"app", "click", "psycopg", "psycopg-binary", "uvloop"} and not missing  # 3.12: no typing-ext.


def test_a_version_that_does_not_fit_counts_as_missing():
    dists = {**DISTS, "click": dist("click", "7.0")}
    _, missing = walk_requirements(dists, Requirement("app"), LINUX.marker_environment())
    assert [str(r) for r in missing] == ["click>=8"]


def test_pip_failures_become_one_line_naming_the_cause():
    output = ("ERROR: Could not find a version that satisfies the requirement pgserver>=0.1.4 (from cogbrowser) "
              "(from versions: none)\nERROR: No matching distribution found for pgserver>=0.1.4\n")
    assert explain_pip_failure(output, "downloading", Target.of("win_amd64", "3.12")) == \
        "no wheel of pgserver>=0.1.4 for win_amd64, CPython 3.12 (no version has one)"
    offline = ("WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(...)'\n" + output)
    assert "cannot reach the package index" in explain_pip_failure(offline, "downloading", WINDOWS)
    assert explain_pip_failure("ERROR: something else\n", "building", None) == "building: pip failed: something else"


def test_wrong_targets_and_trees_are_named():
    with pytest.raises(BundleError, match="unknown platform 'win32'"):
        Target.of("win32", "3.11")
    with pytest.raises(BundleError, match="not a Python version"):
        Target.of("win_amd64", "3")
    with pytest.raises(BundleError, match="no cogbrowser source tree"):
        find_source_tree(Path("/"))
    assert (find_source_tree() / "src" / "cogbrowser" / "bundle.py").is_file()


def test_manylinux_kits_take_every_glibc_tag_from_2_17_to_2_28():
    tags = Target.of("manylinux_x86_64", "3.11").pip_download_options()
    platforms = [tags[i + 1] for i, option in enumerate(tags) if option == "--platform"]
    wanted = {"manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"}
    assert wanted <= set(platforms)
    assert "manylinux_2_31_x86_64" not in platforms  # the kit must run on RHEL 8 (glibc 2.28)
