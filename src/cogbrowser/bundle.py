"""`cogbrowser bundle`: an install kit for a machine that never sees the Internet, made on one that does.

The kit is a folder to copy across the air gap (USB disk, data diode, DVD):

    wheels/             cogbrowser's wheel, built from its source tree, and a wheel of every runtime
                        dependency, for one platform and one Python version
    requirements.txt    every wheel pinned by version and SHA-256, so the install takes exactly these
                        files and pip itself refuses one damaged on the way (--require-hashes)
    install.sh          Linux and macOS: a virtual environment, then pip install --no-index
    install.bat         Windows (cmd), the same; install.ps1 the same for PowerShell, checking SHA256SUMS
    README-OFFLINE.md   the steps, for the person on the other side
    SHA256SUMS          every file's SHA-256 (`sha256sum -c SHA256SUMS`)

Only wheels: an sdist would need a compiler and build tools on the air-gapped side. The runtime
dependencies are those of the wheel built here, i.e. pyproject.toml's [project.dependencies]: one
source of truth. pip resolves them (`pip download --only-binary=:all: --platform ...`), but pip
evaluates environment markers such as `; sys_platform == "win32"` for the machine it runs on, not
for --platform: a Windows kit made on Linux would lack colorama (click) and tzdata (psycopg). So we
walk the downloaded wheels' own requirements again with the target's markers, have pip add what is
missing (resolved together with the rest), and drop what only the building machine would use.

Nothing here is for the air-gapped side: this module runs pip against an index, on purpose.
"""

from __future__ import annotations

import email.parser
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cogbrowser.errors import CogbrowserError

PYTHONS = ("3.10", "3.11", "3.12")  # what every dependency ships wheels for (pgserver has no cp313 yet)
MAX_ROUNDS = 5  # pip resolutions before giving up on a closed set (two suffice today)
_MANYLINUX_GLIBC = [f"manylinux_2_{minor}_x86_64" for minor in range(28, 16, -1)]


@dataclass(frozen=True)
class Platform:
    """A kit platform: the wheel tags pip may take for it and the environment markers it has."""

    name: str
    tags: tuple[str, ...]
    markers: dict[str, str]
    windows: bool
    note: str


PLATFORMS: dict[str, Platform] = {
    "win_amd64": Platform(
        "win_amd64", ("win_amd64",),
        {"os_name": "nt", "sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64"},
        windows=True, note="64-bit Windows 10 or later"),
    # glibc 2.28 or later: RHEL/Rocky/Alma 8+, Debian 10+, Ubuntu 20.04+; older manylinux tags run there too
    "manylinux_x86_64": Platform(
        "manylinux_x86_64",
        (*_MANYLINUX_GLIBC, "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"),
        {"os_name": "posix", "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"},
        windows=False, note="x86-64 Linux with glibc 2.28 or later (RHEL 8+, Debian 10+, Ubuntu 20.04+)"),
    # pip widens a macOS tag to every older release and to universal2 wheels itself
    "macosx_arm64": Platform(
        "macosx_arm64", ("macosx_11_0_arm64",),
        {"os_name": "posix", "sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"},
        windows=False, note="Apple silicon Macs, macOS 11 or later"),
}


class BundleError(CogbrowserError):
    """The kit cannot be made; the message says why (a dependency without a wheel, no index ...)."""


@dataclass(frozen=True)
class Target:
    """What a kit is for: a platform and a CPython version ("3.11")."""

    platform: Platform
    python: str

    @classmethod
    def of(cls, platform: str, python: str) -> Target:
        if platform not in PLATFORMS:
            raise BundleError(f"unknown platform {platform!r} (choose one of {', '.join(PLATFORMS)})")
        if not re.fullmatch(r"3\.\d{1,2}", python):
            raise BundleError(f"{python!r} is not a Python version like 3.11")
        return cls(PLATFORMS[platform], python)

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    def describe(self) -> str:
        return f"{self.platform.name}, CPython {self.python}"

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values of the target; every key is given, so none comes from this machine."""
        full = f"{self.python}.0"
        return {"implementation_name": "cpython", "implementation_version": full, "python_version": self.python,
                "python_full_version": full, "platform_python_implementation": "CPython",
                "platform_release": "", "platform_version": "", **self.platform.markers}

    def pip_download_options(self) -> list[str]:
        options = ["--only-binary=:all:", "--implementation", "cp", "--python-version", self.python,
                   "--abi", self.abi]
        for tag in self.platform.tags:
            options += ["--platform", tag]
        return options


@dataclass
class Kit:
    """A finished kit: its folder, its wheels and its size."""

    path: Path
    target: Target
    version: str
    wheels: list[Path] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


Echo = Callable[[str], None]


def make_kit(target: Target, out: Path, source: Path | None = None, echo: Echo = lambda message: None) -> Kit:
    """Write the kit for `target` into `out` (new or empty). Nothing is left behind on failure:
    the kit is made in a sibling folder and renamed into place at the end."""
    out = Path(out).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out} exists and is not an empty folder: give a new one")
    tree = find_source_tree(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        wheels = partial / "wheels"
        echo(f"Building the cogbrowser wheel from {tree} ...")
        own = build_wheel(tree, Path(tempfile.mkdtemp(dir=partial)))
        echo(f"Downloading the wheels of every dependency for {target.describe()} ...")
        dists = download_closed_set(own, target, wheels)
        shutil.rmtree(own.parent)
        version = dists["cogbrowser"].version
        write_requirements(partial / "requirements.txt", dists.values())
        write_scripts(partial, target)
        write_readme(partial / "README-OFFLINE.md", target, version, len(dists))
        write_checksums(partial)
        partial.chmod(0o755)  # mkdtemp made it private; a kit is for others to read
        if out.exists():
            out.rmdir()
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Kit(out, target, version, sorted((out / "wheels").glob("*.whl")))


# ---------------------------------------------------------------- the cogbrowser wheel

_NOT_SOURCES = {".git", ".hg", ".venv", ".ci-venv", "venv", "build", "dist", "node_modules", "__pycache__",
                ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis", ".tox", ".nox"}


def find_source_tree(explicit: Path | None = None) -> Path:
    """cogbrowser's source tree: the one given, else the one this package runs from (an editable
    install), else the current folder. A tree is one with pyproject.toml and src/cogbrowser."""
    if explicit is not None:
        candidates = [Path(explicit)]
    else:
        candidates = [Path(__file__).resolve().parents[2], Path.cwd()]
    for tree in candidates:
        if (tree / "pyproject.toml").is_file() and (tree / "src" / "cogbrowser" / "__init__.py").is_file():
            return tree.resolve()
    where = f"{explicit}" if explicit is not None else "this installation or the current folder"
    raise BundleError(f"no cogbrowser source tree in {where} (pyproject.toml and src/cogbrowser): "
                      f"run the command from the source folder, or give --source FOLDER")


def build_wheel(tree: Path, dest: Path) -> Path:
    """Build cogbrowser's wheel from a copy of the tree: building in place would leave build/ and
    egg-info folders in the user's checkout."""
    with tempfile.TemporaryDirectory(prefix="cogbrowser-build-") as scratch:
        copy = Path(scratch) / "src-tree"
        shutil.copytree(tree, copy, ignore=_ignore_non_sources)
        _run_pip(["wheel", "--no-deps", "--wheel-dir", str(dest), str(copy)], "building cogbrowser's wheel")
    built = sorted(dest.glob("cogbrowser-*.whl"))
    if len(built) != 1:
        raise BundleError(f"building cogbrowser's wheel from {tree} gave {[p.name for p in built] or 'no wheel'}")
    return built[0]


def _ignore_non_sources(folder: str, names: list[str]) -> set[str]:
    """Leave out version-control data, virtual environments, caches and build output."""
    return {name for name in names
            if name in _NOT_SOURCES or name.endswith(".egg-info")
            or (Path(folder, name) / "pyvenv.cfg").is_file()}


# ---------------------------------------------------------------- resolving for the target

@dataclass(frozen=True)
class Distribution:
    """A downloaded wheel: its project name (normalized), version and requirements."""

    name: str
    version: str
    requires: tuple[str, ...]
    wheel: Path


def download_closed_set(own_wheel: Path, target: Target, wheels: Path) -> dict[str, Distribution]:
    """Download cogbrowser's wheel and every wheel it needs on `target` into `wheels`: pip resolves,
    then the target's markers say what is missing (added at the next round) or unused (dropped)."""
    root = f"cogbrowser @ {own_wheel.as_uri()}"
    extra: list[str] = []  # requirements only the target's markers select, found in earlier rounds
    for _ in range(MAX_ROUNDS):
        shutil.rmtree(wheels, ignore_errors=True)
        wheels.mkdir(parents=True)
        pip_download([root, *extra], target, wheels)
        dists = {d.name: d for d in map(read_wheel, sorted(wheels.glob("*.whl")))}
        needed, missing = walk_requirements(dists, Requirement("cogbrowser"), target.marker_environment())
        if not missing:
            for name, dist in dists.items():
                if name not in needed:
                    dist.wheel.unlink()
            return {name: dists[name] for name in sorted(needed)}
        extra += [text for text in (_without_marker(req) for req in missing) if text not in extra]
    raise BundleError(f"the wheels for {target.describe()} still lack {', '.join(map(str, missing))} "
                      f"after {MAX_ROUNDS} resolutions")


def walk_requirements(dists: dict[str, Distribution], root: Requirement,
                      environment: dict[str, str]) -> tuple[set[str], list[Requirement]]:
    """The names `root` needs on the target (following extras and markers), and the requirements
    that no downloaded wheel satisfies."""
    needed: set[str] = set()
    missing: list[Requirement] = []
    seen: set[str] = set()
    queue = [root]
    while queue:
        requirement = queue.pop()
        if str(requirement) in seen:
            continue
        seen.add(str(requirement))
        dist = dists.get(canonicalize_name(requirement.name))
        if dist is None or not requirement.specifier.contains(dist.version, prereleases=True):
            missing.append(requirement)
            continue
        needed.add(dist.name)
        extras = ("", *sorted(requirement.extras))
        for text in dist.requires:
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate({**environment, "extra": e}) for e in extras):
                queue.append(child)
    return needed, missing


def _without_marker(requirement: Requirement) -> str:
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{requirement.specifier}"


def read_wheel(path: Path) -> Distribution:
    """Name, version and Requires-Dist of a wheel, from its METADATA."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            raise BundleError(f"{path.name} is not a wheel pip could read (no single .dist-info/METADATA)")
        metadata = email.parser.BytesParser().parsebytes(archive.read(names[0]), headersonly=True)
    return Distribution(canonicalize_name(metadata["Name"]), metadata["Version"],
                        tuple(metadata.get_all("Requires-Dist") or ()), path)


def pip_download(requirements: list[str], target: Target, dest: Path) -> None:
    """`pip download` of the requirements' wheels for the target; its failures become one line."""
    _run_pip(["download", *target.pip_download_options(), "--dest", str(dest), *requirements],
             f"downloading wheels for {target.describe()}", target)


def _run_pip(arguments: list[str], doing: str, target: Target | None = None) -> None:
    command = [sys.executable, "-m", "pip", *arguments, "--progress-bar", "off", "--disable-pip-version-check"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", errors="replace",
                                check=False)
    except OSError as exc:
        raise BundleError(f"cannot run pip ({exc}): bundle needs pip in this Python environment") from exc
    if result.returncode != 0:
        raise BundleError(explain_pip_failure(result.stdout + "\n" + result.stderr, doing, target))


_OFFLINE_SIGNS = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name",
                  "Name or service not known", "ConnectTimeout", "ProxyError", "Max retries exceeded",
                  "getaddrinfo failed")


def explain_pip_failure(output: str, doing: str, target: Target | None) -> str:
    """One line saying why pip failed: the dependency without a wheel for the target, no index
    reachable, or pip's own last error."""
    no_wheel = re.search(r"No matching distribution found for (\S+)", output)
    if any(sign in output for sign in _OFFLINE_SIGNS):
        return (f"{doing}: cannot reach the package index (bundle runs on a connected machine; "
                f"pip's proxy and index settings apply)")
    if no_wheel and target is not None:
        requirement = no_wheel.group(1)
        versions = re.search(rf"requirement {re.escape(requirement)}.*?\(from versions: ([^)]*)\)", output)
        listed = [v.strip() for v in versions.group(1).split(",")] if versions else []
        if listed and listed != ["none"]:
            found = f" (it has wheels of {', '.join(listed[-5:])}{' ...' if len(listed) > 5 else ''} only)"
        else:
            found = " (no version has one)"
        return f"no wheel of {requirement} for {target.describe()}{found}"
    errors = [line.removeprefix("ERROR: ").strip() for line in output.splitlines() if line.startswith("ERROR:")]
    last = errors[-1] if errors else (output.strip().splitlines() or ["no message"])[-1]
    return f"{doing}: pip failed: {last}"


# ---------------------------------------------------------------- the kit's other files

def write_requirements(path: Path, dists: Iterable[Distribution]) -> None:
    """Every wheel pinned with its hash: the install takes these files and no others."""
    lines = [f"{d.name}=={d.version} --hash=sha256:{sha256(d.wheel)}" for d in sorted(dists, key=lambda d: d.name)]
    path.write_text("# cogbrowser and its dependencies, as in wheels/ (pip install --require-hashes -r)\n"
                    + "\n".join(lines) + "\n", encoding="utf-8")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(kit: Path) -> None:
    """SHA256SUMS in the format of `sha256sum -c` (and `shasum -a 256 -c`)."""
    files = sorted(p for p in kit.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    lines = [f"{sha256(p)}  {p.relative_to(kit).as_posix()}" for p in files]
    (kit / "SHA256SUMS").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_scripts(kit: Path, target: Target) -> None:
    """The install scripts of the target's system; .bat and .ps1 with CRLF, which cmd needs."""
    values = {"PYTHON": target.python, "PYTHON_TUPLE": target.python.replace(".", ", ")}
    if target.platform.windows:
        for name in ("install.bat", "install.ps1"):
            _write_template(kit / name, name, values, newline="\r\n")
    else:
        script = kit / "install.sh"
        _write_template(script, "install.sh", values, newline="\n")
        script.chmod(0o755)


def write_readme(path: Path, target: Target, version: str, count: int) -> None:
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    steps = "windows" if target.platform.windows else "unix"
    body = _template(f"README-{steps}.md").format(
        VERSION=version, PLATFORM=target.platform.name, NOTE=target.platform.note, PYTHON=target.python,
        COUNT=count, MADE=made)
    path.write_text(body, encoding="utf-8")


def _template(name: str) -> str:
    return TEMPLATES[name]


def _write_template(path: Path, name: str, values: dict[str, str], newline: str) -> None:
    text = _template(name)
    for key, value in values.items():
        text = text.replace("@" + key + "@", value)
    with path.open("w", encoding="utf-8", newline=newline) as stream:
        stream.write(text)


def describe_size(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


# ---------------------------------------------------------------- templates
# The scripts run where nothing but the kit and a Python exist. They ignore the machine's pip
# configuration (PIP_CONFIG_FILE=devnull: no config file; --isolated: no PIP_* variables): a site's
# pip.conf may name a mirror or constraints that have nothing to do with the kit, and --no-index
# with --require-hashes leaves nothing to configure.

_INSTALL_SH = r"""#!/bin/sh
# Install cogbrowser from this kit, with no network: a virtual environment, then pip --no-index.
#   sh install.sh [VENV_DIR]        default VENV_DIR: $HOME/cogbrowser-venv
#   PYTHON=/path/to/python@PYTHON@ sh install.sh    to choose the interpreter (Python @PYTHON@)
set -eu
KIT=$(cd "$(dirname "$0")" && pwd)
VENV=${1:-"$HOME/cogbrowser-venv"}

if [ -z "${PYTHON:-}" ]; then
    if command -v python@PYTHON@ >/dev/null 2>&1; then PYTHON=python@PYTHON@; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (@PYTHON_TUPLE@))' 2>/dev/null; then
    echo "install.sh: this kit is for Python @PYTHON@ and '$PYTHON' is not it: install Python @PYTHON@, or set PYTHON=/path/to/python@PYTHON@" >&2
    exit 1
fi

# Did every file arrive whole? (pip checks the wheels again against requirements.txt)
if command -v sha256sum >/dev/null 2>&1; then CHECK="sha256sum -c"; elif command -v shasum >/dev/null 2>&1; then CHECK="shasum -a 256 -c"; else CHECK=""; fi
if [ -n "$CHECK" ] && ! (cd "$KIT" && $CHECK SHA256SUMS >/dev/null 2>&1); then
    (cd "$KIT" && $CHECK SHA256SUMS 2>/dev/null | grep -v ': OK$') >&2 || true
    echo "install.sh: the kit is damaged (the files above differ from SHA256SUMS): copy it again" >&2
    exit 1
fi

"$PYTHON" -m venv "$VENV"
PIP_CONFIG_FILE=/dev/null "$VENV/bin/python" -m pip install --isolated --no-index --find-links "$KIT/wheels" \
    --require-hashes -r "$KIT/requirements.txt" --disable-pip-version-check --no-warn-script-location --quiet
echo "cogbrowser is installed in $VENV"
echo "Try it:  \"$VENV/bin/cogbrowser\" demo      (then open http://127.0.0.1:8050/)"
echo "Serve your own data:  \"$VENV/bin/cogbrowser\" ingest FOLDER --recursive && \"$VENV/bin/cogbrowser\" serve"
"""

_INSTALL_BAT = r"""@echo off
rem Install cogbrowser from this kit, with no network: a virtual environment, then pip --no-index.
rem   install.bat [VENV_DIR]        default VENV_DIR: %LOCALAPPDATA%\cogbrowser-venv
rem   set PYTHON=C:\path\to\python.exe   to choose the interpreter (Python @PYTHON@); otherwise the
rem   active conda environment's python, else the py launcher's Python @PYTHON@, else python on PATH.
setlocal
set "KIT=%~dp0"
set "VENV=%~1"
if "%VENV%"=="" set "VENV=%LOCALAPPDATA%\cogbrowser-venv"
set "PYARGS="
if defined PYTHON goto check_python
if defined CONDA_PREFIX if exist "%CONDA_PREFIX%\python.exe" set "PYTHON=%CONDA_PREFIX%\python.exe"
if defined PYTHON goto check_python
where py >nul 2>nul
if errorlevel 1 goto plain_python
set "PYTHON=py"
set "PYARGS=-@PYTHON@"
goto check_python
:plain_python
set "PYTHON=python"
:check_python
"%PYTHON%" %PYARGS% -c "import sys; sys.exit(sys.version_info[:2] != (@PYTHON_TUPLE@))" >nul 2>nul
if errorlevel 1 goto wrong_python
"%PYTHON%" %PYARGS% -m venv "%VENV%"
if errorlevel 1 goto failed
set "PIP_CONFIG_FILE=nul"
"%VENV%\Scripts\python.exe" -m pip install --isolated --no-index --find-links "%KIT%wheels" --require-hashes -r "%KIT%requirements.txt" --disable-pip-version-check --no-warn-script-location --quiet
if errorlevel 1 goto failed
echo cogbrowser is installed in %VENV%
echo Try it:  "%VENV%\Scripts\cogbrowser.exe" demo      then open http://127.0.0.1:8050/
endlocal
exit /b 0
:wrong_python
echo install.bat: this kit is for Python @PYTHON@ and "%PYTHON% %PYARGS%" is not it: install Python @PYTHON@ or set PYTHON=C:\path\to\python.exe 1>&2
endlocal
exit /b 1
:failed
echo install.bat: the installation failed, see the message above 1>&2
endlocal
exit /b 1
"""

_INSTALL_PS1 = r"""<#
Install cogbrowser from this kit, with no network: a virtual environment, then pip --no-index.
  powershell -ExecutionPolicy Bypass -File install.ps1 [-Venv DIR] [-Python C:\path\to\python.exe]
Default DIR: $env:LOCALAPPDATA\cogbrowser-venv. Default Python @PYTHON@: the active conda environment's,
else the py launcher's, else python on PATH.
#>
param(
    [string]$Venv = (Join-Path $env:LOCALAPPDATA "cogbrowser-venv"),
    [string]$Python = ""
)
$ErrorActionPreference = "Stop"
$Kit = $PSScriptRoot

# Did every file arrive whole? (pip checks the wheels again against requirements.txt)
foreach ($line in Get-Content -LiteralPath (Join-Path $Kit "SHA256SUMS")) {
    if (-not $line) { continue }
    $expected, $name = $line -split "  ", 2
    $file = Join-Path $Kit ($name -replace "/", "\")
    if (-not (Test-Path -LiteralPath $file) -or
        (Get-FileHash -Algorithm SHA256 -LiteralPath $file).Hash.ToLower() -ne $expected) {
        throw "install.ps1: the kit is damaged ($name differs from SHA256SUMS): copy it again"
    }
}

$PyArgs = @()
if (-not $Python) {
    if ($env:CONDA_PREFIX -and (Test-Path (Join-Path $env:CONDA_PREFIX "python.exe"))) {
        $Python = Join-Path $env:CONDA_PREFIX "python.exe"
    } elseif (Get-Command py -ErrorAction SilentlyContinue) {
        $Python = "py"; $PyArgs = @("-@PYTHON@")
    } else {
        $Python = "python"
    }
}
try {  # no redirection of a native command's stderr: Windows PowerShell 5.1 turns it into errors
    & $Python @PyArgs -c "import sys; sys.exit(sys.version_info[:2] != (@PYTHON_TUPLE@))"
} catch {
    throw "install.ps1: no Python at '$Python': install Python @PYTHON@, or give -Python C:\path\to\python.exe"
}
if ($LASTEXITCODE -ne 0) {
    throw "install.ps1: this kit is for Python @PYTHON@ and '$Python $PyArgs' is not it: install Python @PYTHON@, or give -Python C:\path\to\python.exe"
}
& $Python @PyArgs -m venv $Venv
if ($LASTEXITCODE -ne 0) { throw "install.ps1: could not make the virtual environment $Venv" }
$env:PIP_CONFIG_FILE = "nul"
& (Join-Path $Venv "Scripts\python.exe") -m pip install --isolated --no-index --find-links (Join-Path $Kit "wheels") `
    --require-hashes -r (Join-Path $Kit "requirements.txt") --disable-pip-version-check --no-warn-script-location --quiet
if ($LASTEXITCODE -ne 0) { throw "install.ps1: the installation failed, see the message above" }
Write-Host "cogbrowser is installed in $Venv"
Write-Host "Try it:  & '$Venv\Scripts\cogbrowser.exe' demo      (then open http://127.0.0.1:8050/)"
"""

_README_HEAD = """# cogbrowser {VERSION}: offline install kit

For **{PLATFORM}** ({NOTE}) with **Python {PYTHON}**; {COUNT} wheels, made on {MADE}. Nothing in
this kit, the install or cogbrowser itself needs the network.

## Check the copy (optional: the install scripts check it too)

"""

_README_STEPS = {
    "windows": """    Get-FileHash -Algorithm SHA256 wheels\\*     (compare with SHA256SUMS; install.ps1 does it for you)

## Install

With Python {PYTHON} from python.org's offline installer (copy it along if the machine has none), in
a Command Prompt in this folder:

    install.bat

or in PowerShell: `powershell -ExecutionPolicy Bypass -File install.ps1`. Either makes a virtual
environment in `%LOCALAPPDATA%\\cogbrowser-venv` (another: `install.bat D:\\apps\\cogbrowser`) and
installs the wheels of `wheels\\` into it with `pip --no-index`.

In a conda environment that has Python {PYTHON}: activate it (`conda activate NAME`), then run
`install.bat` (it takes the active environment's Python), or install into the environment itself:

    python -m pip install --isolated --no-index --find-links wheels --require-hashes -r requirements.txt

## Start

    %LOCALAPPDATA%\\cogbrowser-venv\\Scripts\\cogbrowser demo

makes the demo data set and serves it on http://127.0.0.1:8050/ (Ctrl-C stops it). Your own data:

    %LOCALAPPDATA%\\cogbrowser-venv\\Scripts\\cogbrowser ingest D:\\scenes --recursive
    %LOCALAPPDATA%\\cogbrowser-venv\\Scripts\\cogbrowser serve

The embedded PostgreSQL comes with the kit (the pgserver wheel). Data lives in
`%LOCALAPPDATA%\\cogbrowser` unless `--data-dir` says otherwise.
""",
    "unix": """    sha256sum -c SHA256SUMS          (macOS: shasum -a 256 -c SHA256SUMS)

## Install

With Python {PYTHON} (`python{PYTHON}` or `python3`; another: `PYTHON=/opt/python/bin/python3 sh install.sh`),
in this folder:

    sh install.sh

makes a virtual environment in `~/cogbrowser-venv` (another: `sh install.sh /opt/cogbrowser`) and
installs the wheels of `wheels/` into it with `pip --no-index`. In a conda environment with Python
{PYTHON}: `python -m pip install --isolated --no-index --find-links wheels --require-hashes -r requirements.txt`.

## Start

    ~/cogbrowser-venv/bin/cogbrowser demo

makes the demo data set and serves it on http://127.0.0.1:8050/ (Ctrl-C stops it). Your own data:

    ~/cogbrowser-venv/bin/cogbrowser ingest /data/scenes --recursive
    ~/cogbrowser-venv/bin/cogbrowser serve --host 0.0.0.0      # for the LAN

The embedded PostgreSQL comes with the kit (the pgserver wheel). Data lives in
`~/.local/share/cogbrowser` unless `--data-dir` says otherwise.
""",
}

_README_TAIL = """
## If something goes wrong

- "this kit is for Python {PYTHON}": the wheels are compiled for that version; install it, or make a
  kit for the Python you have (`cogbrowser bundle --python ...` on the connected side).
- "the kit is damaged": a file changed on the way; copy the kit again.
- An update: make a new kit and run the install again into the same folder; the data dir is kept.
"""

TEMPLATES: dict[str, str] = {
    "install.sh": _INSTALL_SH,
    "install.bat": _INSTALL_BAT,
    "install.ps1": _INSTALL_PS1,
    **{f"README-{system}.md": _README_HEAD + steps + _README_TAIL for system, steps in _README_STEPS.items()},
}
