"""The project's own promises: install files agree, CI runs the README's command."""

import re
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    major, minor = map(int, python.split("=")[1].split(".")[:2])
    required = pyproject()["project"]["requires-python"]
    low_major, low_minor = map(int, required.removeprefix(">=").split("."))
    assert (major, minor) >= (low_major, low_minor)
    assert "pip" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    # The pip section installs this package with every extra pyproject defines.
    extras = sorted(pyproject()["project"]["optional-dependencies"])
    assert pip_section == [f"-e .[{','.join(extras)}]"]


def test_pyproject_dependencies():
    project = pyproject()["project"]
    names = {re.split(r"[<>=\[ ]", dep)[0] for dep in project["dependencies"]}
    assert {"tensorflow", "keras", "keras-hub", "tensorflow-datasets", "numpy"} <= names
    assert {"matplotlib", "pillow"} <= names
    assert "keras>=3.15" in project["dependencies"]
    dev = {re.split(r"[<>=\[ ]", dep)[0] for dep in project["optional-dependencies"]["dev"]}
    assert {"pytest", "nbval", "otter-grader", "jupyter", "ruff", "hypothesis"} <= dev
    assert project["scripts"]["ftlab"] == "ftlab.cli:main"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line and not line.startswith(("#", "set "))]
    assert commands[-1] == "make test"
    readme = (ROOT / "README.md").read_text()
    assert "\nmake test" in readme


def test_every_public_name_is_documented_with_an_example():
    import ftlab

    readme = (ROOT / "README.md").read_text()
    for name in ftlab.__all__:
        obj = getattr(ftlab, name)
        doc = obj.__doc__ or ""
        if callable(obj) and not isinstance(obj, type):
            assert ">>>" in doc, f"ftlab.{name} has no example in its docstring"
        assert f"`{name}" in readme or f"{name}(" in readme, f"README's API misses {name}"


def test_readme_python_examples_run():
    """Every ```python block in the README runs as written."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
