"""The support matrix: the whole suite on each tested pair of Python and Django (`make test-matrix`).

One leg: ``nox -s "tests(python='3.12', django='6.1')"``; every leg: ``nox`` (or ``make test-matrix``);
the list: ``nox -l``. Arguments after ``--`` go to pytest, e.g. ``nox -s ... -- -m "not browser" -k keys``.
``DATABASE_URL`` passes through to the tests (SQLite when unset).

A Python that is not installed is skipped with a warning, except under ``CI=true``, where it fails.
Interpreters are looked up on ``PATH`` and in version managers (pyenv, ...), never downloaded.
"""

from __future__ import annotations

import os
import re

import nox
from packaging.requirements import Requirement

EXTRAS = "image,s3,azure,drf,tasks"  # what scripts/install.sh installs; the dev group adds strawberry-graphql-django

# (Python, Django): what the classifiers and requires-python in pyproject.toml claim, and nothing else.
MATRIX = [
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.13", "5.2"),
    ("3.12", "6.0"),
    ("3.13", "6.0"),
    ("3.12", "6.1"),
    ("3.13", "6.1"),
]


def _pyenv_versions() -> None:
    """Let nox find each pyenv-installed Python of the matrix, not only the one pyenv has selected.

    pyenv's shims answer only for the selected versions (``pyenv global``); nox resolves a shim through
    ``PYENV_VERSION``, so that lists the newest installed patch release of each Python of MATRIX.
    A ``PYENV_VERSION`` already set is left as it is.
    """
    root = os.environ.get("PYENV_ROOT")
    if not root or "PYENV_VERSION" in os.environ or not os.path.isdir(os.path.join(root, "versions")):
        return
    newest: dict[str, tuple[int, ...]] = {}
    for name in os.listdir(os.path.join(root, "versions")):
        if re.fullmatch(r"3\.\d+\.\d+", name) and (minor := name.rsplit(".", 1)[0]) in {py for py, _ in MATRIX}:
            newest[minor] = max(newest.get(minor, ()), tuple(map(int, name.split("."))))
    if newest:
        os.environ["PYENV_VERSION"] = ":".join(".".join(map(str, v)) for v in sorted(newest.values()))


_pyenv_versions()
nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = os.environ.get("CI") == "true"
nox.options.download_python = "never"
# uv makes each leg's virtualenv in seconds (pip took most of a minute): one leg installs the same
# packages, from the same index, either way. NOX_DEFAULT_VENV_BACKEND=virtualenv goes back to pip.
nox.options.default_venv_backend = "uv"


@nox.session
@nox.parametrize(("python", "django"), MATRIX, ids=[f"{py}-django{dj}" for py, dj in MATRIX])
def tests(session: nox.Session, django: str) -> None:
    """The suite (pytest -n 2) on one Python and the newest release of one Django feature version."""
    # The extras and the dev group are what scripts/install.sh installs. NOX_INSTALL_WHEEL (a built
    # wheel's path) installs that wheel instead of the source tree, and the suite then imports the
    # package from site-packages: CI runs one leg so, to test what PyPI would ship.
    wheel = os.environ.get("NOX_INSTALL_WHEEL")
    package = [f"{wheel}[{EXTRAS}]"] if wheel else ["-e", f".[{EXTRAS}]"]
    _install(session, *package, "--group", "dev", f"Django~={django}.0")
    if os.environ.get("DATABASE_URL", "").startswith("mysql"):
        session.install("mysqlclient>=2.2")  # builds against libmariadb-dev, as scripts/install.sh does
    session.run("python", "-c", "import django, sys; print('Django', django.get_version(), 'on Python', sys.version)")
    if wheel:
        # The src/ layout keeps the tree off sys.path: the tests import the installed wheel.
        session.run(
            "python",
            "-c",
            "import async_uploads as p; f = p.__file__; assert 'site-packages' in f, f; print('suite on', f)",
        )
    session.run("python", "-m", "pytest", "-n", "2", *session.posargs)


def _install(session: nox.Session, *args: str) -> None:
    """Install into the leg's virtualenv: ``uv pip install`` there, else pip (``--group`` needs pip 25.1)."""
    if session.venv_backend != "uv":
        session.install("pip>=25.1")
    session.install(*args)


def _lower_bounds(django: str) -> list[str]:
    """Each runtime requirement of pyproject.toml (dependencies and every extra) pinned to its lower bound."""
    project = nox.project.load_toml("pyproject.toml")["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    pins = [f"Django~={django}.0"]
    for text in requirements:
        req = Requirement(text)
        if req.name.lower() == "django":
            continue
        floors = [spec.version for spec in req.specifier if spec.operator == ">="]
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        pins.extend(f"{req.name}{extras}=={floor}" for floor in floors)
    return sorted(set(pins))


@nox.session(default=False)
@nox.parametrize(("python", "django"), [("3.11", "5.2"), ("3.12", "6.1")], ids=["3.11-django5.2", "3.12-django6.1"])
def lowest(session: nox.Session, django: str) -> None:
    """The suite with every runtime dependency at the lower bound pyproject.toml claims (oldest and newest Django)."""
    _install(session, "-e", f".[{EXTRAS}]", "--group", "dev", *_lower_bounds(django))
    if session.venv_backend == "uv":
        session.run("uv", "pip", "list", "--format=freeze", external=True)
    else:
        session.run("python", "-m", "pip", "list", "--format=freeze")
    session.run("python", "-m", "pytest", "-n", "2", *session.posargs)
