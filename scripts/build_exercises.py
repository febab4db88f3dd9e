"""Build the student exercises from the graded source notebooks.

    python scripts/build_exercises.py                 # every notebook in notebooks/
    python scripts/build_exercises.py 02_freezing     # only these (name or path)
    python scripts/build_exercises.py --execute       # first re-run the sources and save outputs

For each source notebook ``notebooks/NN_name.ipynb`` (otter-grader's source format)
this runs ``otter assign --no-pdfs``, which writes the student notebook with its public
tests and the autograder, and grades the solutions: it fails unless they score 100 %.
The result lands in ``exercises/NN_name/``::

    student/NN_name.ipynb            the notebook students open (no solutions, no outputs)
    student/tests/qN.py              public tests, used by grader.check("qN")
    autograder/NN_name-autograder.zip   all tests, hidden ones too: `otter run -a ...`
    autograder/NN_name.ipynb         the solutions, as otter graded them
    autograder/tests/qN.py           all tests
    autograder/otter_config.json     grading settings (seed, no PDFs)

Then it finishes the student notebook for Colab and for Jupyter:

* a "Open in Colab" badge at the top;
* a first code cell that, on Colab only, installs the pinned course package and
  otter-grader and fetches the notebook's public tests (otter needs ``./tests``); in
  Jupyter on your own machine it does nothing. It replaces the unpinned
  ``%pip install otter-grader`` cell that otter's ``runs_on: colab`` adds.

The output is deterministic (stable cell ids, zip entries without timestamps), so a
rebuild of unchanged sources changes no file and ``git status`` stays clean.
``tests/test_exercises.py`` rebuilds into a temporary folder and fails when the
committed exercises differ.

The GitHub repository, branch and otter version live here, in one place: the Colab
badge, the Colab install and the autograder's requirements are made from them.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXERCISES = ROOT / "exercises"

# The course's home: change these when the repository moves or a term pins a tag.
GITHUB_REPO = "ftlab-course/ftlab"
BRANCH = "main"
OTTER_VERSION = "7.0.0"

REPO_URL = f"https://github.com/{GITHUB_REPO}"
FTLAB_REQUIREMENT = f"ftlab @ git+{REPO_URL}@{BRANCH}"
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"

NBFORMAT_VERSION = 4
SOURCE_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
FIXED_ZIP_DATE = (2000, 1, 1, 0, 0, 0)


def colab_url(name: str) -> str:
    """Where Colab opens the student notebook of exercise `name` (e.g. "02_freezing")."""
    return (
        f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{BRANCH}/"
        f"exercises/{name}/student/{name}.ipynb"
    )


def raw_tests_url(name: str) -> str:
    """The folder of the exercise's public tests, as raw files on GitHub."""
    return (
        f"https://raw.githubusercontent.com/{GITHUB_REPO}/{BRANCH}/exercises/{name}/student/tests"
    )


def notebook_env() -> dict[str, str]:
    """Environment for the kernels that run the notebooks.

    TensorFlow's C++ start-up logs go to stderr, and a kernel forwards them into the
    notebook's outputs; the env-level Jupyter paths come first so the ``python3``
    kernel is this environment's Python (the kernel spec says ``python``, which
    jupyter_client replaces by the running interpreter); matplotlib picks the inline
    backend itself.
    """
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    env.pop("MPLBACKEND", None)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def source_notebooks(names: list[str] | None = None) -> list[Path]:
    """The source notebooks, in course order; `names` may be stems or paths."""
    found = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if SOURCE_PATTERN.match(p.name))
    if not names:
        return found
    by_stem = {p.stem: p for p in found}
    chosen = []
    for name in names:
        stem = Path(name).stem
        if stem not in by_stem:
            raise SystemExit(
                f"no source notebook {name!r}; choose from: {', '.join(sorted(by_stem))}"
            )
        chosen.append(by_stem[stem])
    return chosen


# ---------------------------------------------------------------------------
# Running the sources (to store their outputs)
# ---------------------------------------------------------------------------


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the kernels)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def execute_source(path: Path, timeout: int = 600) -> tuple[float, float]:
    """Run a source notebook top to bottom in place and save its outputs.

    Returns (wall seconds, CPU seconds of the kernel and this process): CPU time is the
    fairer measure on a busy machine.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=NBFORMAT_VERSION)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(notebook_env())
    try:
        start = time.perf_counter()
        cpu_start = _cpu_seconds()
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            record_timing=False,
            # TensorFlow's C++ start-up logs ignore TF_CPP_MIN_LOG_LEVEL since TF 2.20:
            # keep C-level output out of the saved notebook (it goes to this terminal).
            extra_arguments=["--IPKernelApp.capture_fd_output=False"],
        )
        client.execute()
        seconds = time.perf_counter() - start, _cpu_seconds() - cpu_start
    finally:
        os.environ.clear()
        os.environ.update(saved)
    nbformat.write(nb, path)
    return seconds


# ---------------------------------------------------------------------------
# Building one exercise
# ---------------------------------------------------------------------------


def assignment_config(nb) -> dict:
    """The YAML of the notebook's first cell (``# ASSIGNMENT CONFIG``)."""
    first = nb.cells[0]
    if first.cell_type != "raw" or not first.source.startswith("# ASSIGNMENT CONFIG"):
        raise ValueError("the first cell of a source notebook must be a raw # ASSIGNMENT CONFIG")
    return yaml.safe_load(first.source) or {}


def run_otter_assign(master: Path, result: Path, *, run_tests: bool = True) -> None:
    """`otter assign --no-pdfs master result`; raises with otter's output on failure."""
    command = [sys.executable, "-m", "otter", "assign", "--no-pdfs", str(master), str(result)]
    if not run_tests:
        command.insert(4, "--no-run-tests")
    done = subprocess.run(
        command, cwd=master.parent, env=notebook_env(), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"otter assign failed for {master.name} (exit {done.returncode}):\n"
            f"{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
        )


def colab_setup_cell(name: str, tests: list[str]):
    """The first code cell of a student notebook: set up Colab, do nothing elsewhere."""
    source = f'''\
# Setup. On Google Colab this installs the course package and otter-grader and
# downloads this notebook's tests; on your own computer (Jupyter) it does nothing.
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess
    import urllib.request

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q",
         "{FTLAB_REQUIREMENT}", "otter-grader=={OTTER_VERSION}"],
        check=True,
    )
    os.makedirs("tests", exist_ok=True)
    for question in {json.dumps(tests)}:
        urllib.request.urlretrieve(
            f"{raw_tests_url(name)}/{{question}}.py", f"tests/{{question}}.py"
        )'''
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata.update({"editable": False, "deletable": False})
    return cell


def badge_cell(name: str):
    cell = nbformat.v4.new_markdown_cell(
        f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({colab_url(name)})"
    )
    cell.metadata.update({"editable": False, "deletable": False})
    return cell


def _is_otter_pip_cell(cell) -> bool:
    return cell.cell_type == "code" and cell.source.strip().startswith("%pip install")


def stable_ids(nb) -> None:
    """Give every cell an id made from its content, so rebuilds do not change them."""
    seen: dict[str, int] = {}
    for cell in nb.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:10]
        seen[digest] = seen.get(digest, 0) + 1
        cell["id"] = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


NBVAL_MARKER = re.compile(r"^# NBVAL_[A-Z_]+\n?", flags=re.MULTILINE)


def finish_notebook(path: Path, name: str, tests: list[str], *, badge: bool) -> None:
    """Swap otter's Colab pip cell for the course's setup cell; add the badge; drop the
    nbval markers (they are for the source notebooks' tests); stable ids."""
    nb = nbformat.read(path, as_version=NBFORMAT_VERSION)
    cells = [c for c in nb.cells if not _is_otter_pip_cell(c)]
    for cell in cells:
        if cell.cell_type == "code":
            cell.source = NBVAL_MARKER.sub("", cell.source)
    head = [badge_cell(name)] if badge else []
    # The setup cell must come before otter's init cell: on Colab, otter.Notebook()
    # fails unless ./tests exists.
    nb.cells = head + [colab_setup_cell(name, tests)] + cells
    nb.metadata.pop("widgets", None)
    nb.metadata["language_info"] = {"name": "python"}
    stable_ids(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    nbformat.write(nb, path)


def deterministic_zip(src: Path, dst: Path) -> None:
    """Rewrite a zip with sorted entries and fixed timestamps (same input, same bytes)."""
    with zipfile.ZipFile(src) as zin:
        entries = sorted(
            ((info, zin.read(info.filename)) for info in zin.infolist()),
            key=lambda pair: pair[0].filename,
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for info, data in entries:
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_DATE)
            fixed.external_attr = info.external_attr
            fixed.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(fixed, data)
    dst.write_bytes(buffer.getvalue())


def zip_name(name: str) -> str:
    return f"{name}-autograder.zip"


def build(source: Path, out_root: Path = EXERCISES, *, run_tests: bool = True) -> Path:
    """Build exercise `source.stem` into ``out_root/<stem>/``; returns that folder.

    With `run_tests` (the default) otter grades the solutions and this fails unless
    they score 100 %.
    """
    source = Path(source).resolve()
    name = source.stem
    nb = nbformat.read(source, as_version=NBFORMAT_VERSION)
    config = assignment_config(nb)
    if config.get("name") != name:
        raise ValueError(
            f"{source.name}: the config's name is {config.get('name')!r}, not {name!r}"
        )
    with tempfile.TemporaryDirectory(prefix=f"build-{name}-") as tmp:
        stage = Path(tmp) / "source"
        stage.mkdir()
        master = stage / source.name
        # The autograder's environment (Gradescope, `otter grade`) installs the course
        # package: add it to the staged copy's config, so its URL lives here only.
        if "requirements" in config:
            raise ValueError(f"{source.name}: leave `requirements` to the builder")
        nb.cells[0].source += f"\nrequirements:\n  - {json.dumps(FTLAB_REQUIREMENT)}\n"
        nbformat.write(nb, master)
        dist = Path(tmp) / "dist"
        run_otter_assign(master, dist, run_tests=run_tests)

        student, autograder = dist / "student", dist / "autograder"
        tests = sorted(p.stem for p in (student / "tests").glob("*.py"))
        finish_notebook(student / source.name, name, tests, badge=True)
        finish_notebook(autograder / source.name, name, tests, badge=False)
        (zipped,) = autograder.glob(f"{name}-autograder_*.zip")
        deterministic_zip(zipped, autograder / zip_name(name))
        zipped.unlink()

        target = out_root / name
        if target.exists():
            shutil.rmtree(target)
        out_root.mkdir(parents=True, exist_ok=True)
        shutil.copytree(dist, target)
    return target


# ---------------------------------------------------------------------------
# Comparing a build with the committed exercises (used by the tests)
# ---------------------------------------------------------------------------


def _zip_contents(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n).decode() for n in sorted(zf.namelist())}


def _notebook_view(path: Path) -> dict:
    nb = json.loads(path.read_text())
    return {
        "metadata": nb.get("metadata"),
        "cells": [
            {
                "cell_type": c["cell_type"],
                "source": "".join(c["source"]),
                "metadata": c.get("metadata", {}),
            }
            for c in nb["cells"]
        ],
    }


def snapshot(folder: Path) -> dict[str, object]:
    """What matters in an exercise folder: every file's content (notebooks as cells and
    metadata, zips as their members), keyed by relative path."""
    out: dict[str, object] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if path.suffix == ".zip":
            out[rel] = _zip_contents(path)
        elif path.suffix == ".ipynb":
            out[rel] = _notebook_view(path)
        else:
            out[rel] = path.read_text()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebooks to build (default: all)")
    parser.add_argument(
        "--execute",
        action="store_true",
        help="first run each source notebook in place, saving its outputs",
    )
    parser.add_argument(
        "--no-run-tests", action="store_true", help="skip grading the solutions (faster)"
    )
    args = parser.parse_args(argv)
    sources = source_notebooks(args.names)
    if not sources:
        raise SystemExit(f"no source notebooks in {NOTEBOOKS}")
    known = {p.stem for p in source_notebooks()}
    for source in sources:
        if args.execute:
            wall, cpu = execute_source(source)
            print(
                f"executed {source.relative_to(ROOT)} in {wall:.1f} s ({cpu:.1f} s CPU)",
                flush=True,
            )
        start = time.perf_counter()
        target = build(source, run_tests=not args.no_run_tests)
        print(
            f"built {target.relative_to(ROOT)} in {time.perf_counter() - start:.1f} s",
            flush=True,
        )
    if not args.names:  # a full build also removes exercises whose source is gone
        for stale in sorted(p for p in EXERCISES.iterdir() if p.is_dir() and p.name not in known):
            shutil.rmtree(stale)
            print(f"removed {stale.relative_to(ROOT)} (no source notebook)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
