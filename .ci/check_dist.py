"""What the built wheel and sdist hold (called by .ci/check-wheel).

Usage: python .ci/check_dist.py ROOT DIST_DIR

The wheel: every tracked file of the package (py.typed included) and the console
script's launcher, nothing else outside its .dist-info (no tests, no bytecode); the
version, the console script and the pytest plugin's entry point in its metadata. The
sdist: what a rebuild needs, and every tracked file of the package. Prints what it
checked; exits non-zero naming what is wrong.
"""

from __future__ import annotations

import email.parser
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

LAUNCHER = "_feldera_events_main.py"
#: Besides the package: what the sdist must hold for a rebuild and for users.
SDIST_FILES = {"pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", LAUNCHER, "PKG-INFO"}


def tracked(root: Path, where: str) -> set[str]:
    out = subprocess.run(
        # Untracked files that git does not ignore count: the build takes them too.
        [
            "git",
            "-C",
            str(root),
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            where,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {line for line in out.splitlines() if line and (root / line).exists()}


def check(root: Path, dist: Path) -> list[str]:
    problems: list[str] = []
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    version = project["version"]
    package = tracked(root, "feldera_events")
    if "feldera_events/py.typed" not in package:
        problems.append("feldera_events/py.typed is not tracked")

    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    if [w.name for w in wheels] != [f"feldera_events-{version}-py3-none-any.whl"]:
        problems.append(f"expected one pure wheel of version {version}, got {wheels}")
    if [s.name for s in sdists] != [f"feldera_events-{version}.tar.gz"]:
        problems.append(f"expected one sdist of version {version}, got {sdists}")
    if len(wheels) != 1 or len(sdists) != 1:
        return problems

    with zipfile.ZipFile(wheels[0]) as wheel:
        names = set(wheel.namelist())
        info = f"feldera_events-{version}.dist-info"
        content = {n for n in names if not n.startswith(info + "/")}
        expected = package | {LAUNCHER}
        if content != expected:
            problems.append(
                f"wheel: missing {sorted(expected - content)}, unexpected {sorted(content - expected)}"
            )
        metadata = email.parser.Parser().parsestr(wheel.read(f"{info}/METADATA").decode())
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
        licenses = {n for n in names if n.startswith(f"{info}/licenses/")}
    if metadata["Version"] != version:
        problems.append(f"wheel METADATA Version {metadata['Version']}, pyproject {version}")
    if metadata["License-Expression"] != project["license"]:
        problems.append(f"wheel License-Expression {metadata['License-Expression']!r}")
    if licenses != {f"{info}/licenses/LICENSE"}:
        problems.append(f"wheel license files: {sorted(licenses)}")
    requires = {
        r.split(";")[0].split(">")[0].split("=")[0].strip()
        for r in metadata.get_all("Requires-Dist") or []
    }
    for dependency in ("aiohttp", "attrs", "cattrs", "tenacity", "rich"):
        if dependency not in requires:
            problems.append(f"wheel METADATA does not require {dependency}")
    for line in (
        "feldera-events = _feldera_events_main:main",
        "feldera_events = feldera_events._pytest_plugin",
    ):
        if line not in entry_points:
            problems.append(f"wheel entry_points.txt lacks {line!r}")

    with tarfile.open(sdists[0]) as sdist:
        prefix = f"feldera_events-{version}/"
        members = {m.name.removeprefix(prefix) for m in sdist.getmembers() if m.isfile()}
    missing = (SDIST_FILES | package) - members
    if missing:
        problems.append(f"sdist lacks {sorted(missing)}")
    stray = sorted(m for m in members if "__pycache__" in m or m.endswith(".pyc"))
    if stray:
        problems.append(f"sdist holds bytecode: {stray}")

    if not problems:
        print(
            f"ok: wheel {wheels[0].name}: the package's {len(package)} files (py.typed "
            f"included) and {LAUNCHER}, no other; LICENSE, version, entry points"
        )
        print(f"ok: sdist {sdists[0].name}: {len(members)} files, rebuild files and the package")
    return problems


def main() -> int:
    root, dist = (Path(a).resolve() for a in sys.argv[1:3])
    problems = check(root, dist)
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
