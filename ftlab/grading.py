"""Grade a folder of notebook submissions locally, safely, without Docker.

``ftlab grade SUBMISSIONS --assignment NAME_OR_ZIP`` grades every file in ``SUBMISSIONS``
(a notebook, or a zip holding one) with an exercise's otter-grader autograder zip, the one
``otter assign`` writes to ``exercises/NAME/autograder/``. From Python:

    >>> from ftlab.grading import grade_folder
    >>> rows = grade_folder("submissions/", "00_start_here", out="graded/")  # doctest: +SKIP
    >>> rows[0]["id"], rows[0]["status"], rows[0]["total"], rows[0]["percent"]  # doctest: +SKIP
    ('alice', 'graded', 4.0, 80.0)

What it writes to ``--out DIR`` (default: ``SUBMISSIONS-graded`` next to the folder):

* ``results/<id>.json``: one per submission, written (atomically) the moment it is known.
  A run that is interrupted and started again grades only what is missing (or what changed:
  a new version of a file, a new autograder, a timeout with a longer ``--timeout``).
* ``grades.csv``: one row per submission (id, status, a column per question, total, max,
  percent, detail), rewritten after every submission. ``status`` is ``graded``, ``timeout``,
  ``crashed``, ``invalid`` (not a usable notebook, or it tampered with the grader), or
  ``pending`` (not graded yet). Only ``graded`` rows earn points.
* ``feedback/<id>.md``: for the student: which checks passed, which failed and why. Hidden
  tests appear as "hidden test: failed", never with their code or message.
* ``logs/<id>.log``: the end of what the notebook printed, for the instructor only.

How a submission is graded
--------------------------
Otter's own runner (``otter run``, ``otter.api.grade_submission``) executes the notebook in a
kernel and then runs the tests *in that same kernel*, with the hidden tests sitting in
``./tests`` the whole time: the student's code can read them, rewrite the test runner,
``assert`` helpers or ``numpy`` before they run, or write its own results. ``ftlab grade``
keeps otter's formats and otter's rules (the same zip, the same test files read by otter's
own parser, points and ``all_or_nothing`` scored by otter's ``GradingResults``, the same
seeding, a question graded where the notebook calls ``grader.check``), but runs them so:

1. **One process per submission**, in a new session, in a scratch folder holding only the
   submission and the assignment's support files, with an address-space limit
   (``--memory``, ``RLIMIT_AS``), a file-size limit, a scrubbed environment (no tokens or
   keys), and a wall-clock ``--timeout`` after which its whole process group is killed.
   Up to ``--workers`` of them run at once.
2. **The tests are not there while the student's code runs.** No test file is on disk in
   the scratch folder. When the notebook calls ``grader.check("q1")`` (or, after its last
   cell, for every question it did not check) the worker asks the parent, which only then
   sends q1's tests over a private pipe. The worker's audit hook (``sys.addaudithook``,
   which Python code cannot remove) refuses to open the autograder's folder, the course's
   ``notebooks/`` and ``.git``, the other submissions and the output folder, or another
   process's ``/proc`` files; to write, delete, rename or link anything outside the
   submission's scratch folder (your files are safe from ``shutil.rmtree``); to start
   processes, open network connections, signal other processes, install
   trace/profile/audit hooks, walk the garbage collector or poke memory through ctypes.
   The cell that tries fails with ``PermissionError``; grading goes on.
3. **Tests run on a copy, with the grader's own objects.** Each question's tests run in a
   fresh namespace: the notebook's variables at that moment (names that shadow a built-in
   dropped), the builtins as they were before the notebook ran, and ``import`` of the
   modules the tests use (``ftlab.checks``, ``numpy``...) answered with the module objects
   imported *before* the notebook ran. ``from otter.test_files import test_case`` gets the
   worker's own decorator: the notebook's ``import otter`` gets a harmless stand-in.
4. **Tampering is detected.** Before each check and at the end, the worker compares
   ``builtins``, ``doctest``, the grader's own objects, and every module the tests import
   (their functions, classes and modules, each function's code and defaults, and the same
   in their classes) with a snapshot taken before the notebook ran; their *data* may
   change (``keras.config.set_floatx`` is fine). It also scans every module and class for
   functions or objects made by the notebook (or by the student's own ``.py`` files). A
   change makes the submission ``invalid`` ("tampering: math.isclose was replaced") and
   no more of its tests run.
5. **Scores are computed by the parent.** The worker only reports, per test case, passed or
   not (and, for public cases, the failure message); each answer must echo a fresh random
   nonce and match the request exactly, or the submission is ``invalid``. The parent turns
   the answers into points with otter's classes. Files the notebook writes (a forged
   ``results.json``) are never read. Text shown to the student is cut short and scrubbed
   of any line of hidden-test source.

Residual risks (read before grading anything that matters)
----------------------------------------------------------
Python has no sandbox: this raises the bar, it is not a wall. What is left:

* **Native code is not watched.** Audit hooks see Python's file operations, not those of
  compiled libraries: ``tf.io.read_file`` / ``tf.io.gfile`` (TensorFlow), h5py and the
  like can read the autograder (``exercises/NAME/autograder/tests/`` sits next to ftlab)
  or write outside the scratch folder.
* **A determined student can still forge results or peek**, with code written against
  this worker: walk stack frames (``f_back``) to its objects, read its private pipe from
  a background thread, bend the checks with ``exec``-made code, or, from a function a
  hidden test calls, look at the caller's frame to see that test. What they learn can only
  leave through the feedback (public failure messages: cut to 1500 characters and scrubbed
  of hidden-test lines, but an encoded copy would pass), the files above, or the network
  from native code.
* **Answers can lie**: an object whose ``__eq__`` always returns True passes tests that
  don't check types (``ftlab.checks`` does).
* **The worker runs as you**, with no CPU limit but the timeout and no disk limit but
  1 GiB per file.

A tampered, crashed or timed-out submission gets 0 and says why: look at those rows, and
at outliers. For high stakes, grade in a container (below), where the autograder is the
only copy within reach and the network can be off.

Grading at course scale
-----------------------
The autograder zip in ``exercises/NAME/autograder/`` is an ordinary otter-grader
autograder, so the same file grades a large course elsewhere. On **Gradescope**, create a
programming assignment, upload the zip as its autograder (Gradescope builds the image from
its ``setup.sh`` and ``environment.yml``) and students submit their ``.ipynb``; each
submission runs in its own container. Where **Docker** is available (a lab server, CI),
``otter grade -a exercises/NAME/autograder/NAME-autograder.zip --containers 8
--no-network submissions/`` grades a folder in parallel containers and writes
``final_grades.csv``. Keep the otter-grader version pinned (``pyproject.toml``): a zip
built by one otter version may not run with another. ``ftlab grade`` is for the many
places with neither: a laptop, a course server without Docker, a quick regrade.

Differences from ``otter run`` (``tests/test_grading.py`` checks that honest notebooks get
the same scores): tests run on a copy of the notebook's variables, so what a test assigns
does not leak into the cells that follow; a variable named like a built-in (``sum = 0``)
is not what a test's ``sum`` means; a notebook without an assignment name in its metadata
is graded (otter refuses it); and a notebook may not start processes (``!pip``), use the
network or install trace hooks while graded (the cell fails, the grading goes on).
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import contextlib
import csv
import datetime
import doctest
import hashlib
import io
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "STATUSES",
    "Assignment",
    "GradingError",
    "find_submissions",
    "grade_folder",
    "load_assignment",
    "resolve_assignment",
]

STATUSES = ("graded", "timeout", "crashed", "invalid")
GRADER_VERSION = 1  # results saved by another version are graded again
WORKER_FILE = Path(__file__).with_name("_grading_worker.py")
DEFAULT_TIMEOUT = 600.0
DEFAULT_MEMORY_MB = 4096
DEFAULT_WORKERS = 2
MAX_SUBMISSION_BYTES = 200 * 2**20
MAX_LINE_BYTES = 2**20  # one message from a worker
LOG_TAIL_BYTES = 64 * 2**10
MAX_FEEDBACK_CHARS = 1500
MAX_PROTECTED_FILES = 50_000
_SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSW|KEY|CREDENTIAL|AUTH|COOKIE|SESSION", re.I)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,79}")
# Load the worker under its own name (not __main__), with its own copy of the built-ins
# (a notebook that replaces builtins.isinstance can't break the worker), and keep it out of
# sys.modules (a notebook can't `import` it).
_LAUNCH = (
    "import builtins, importlib.util as u, sys; "
    "s = u.spec_from_file_location('ftlab_grading_worker', sys.argv[1]); "
    "m = u.module_from_spec(s); m.__builtins__ = dict(vars(builtins)); "
    "s.loader.exec_module(m); sys.exit(m.main(sys.argv[2:]))"
)


class GradingError(ValueError):
    """Bad input, reported before any grading starts."""


# ---------------------------------------------------------------------------- assignments


@dataclass(frozen=True)
class Question:
    """One question of an assignment: its otter test file, parsed in this (trusted) process."""

    name: str
    format: str  # "ok" (doctest) or "exception" (functions with asserts)
    source: str
    cases: tuple[dict, ...]  # name, hidden, points, body (ok format), failure_message
    template: object = field(repr=False)  # otter's TestFile, for scoring

    @property
    def points(self) -> float:
        return float(self.template.possible)

    def request(self, nonce: str) -> dict:
        """The message that asks a worker to run this question's tests."""
        cases = [{"hidden": c["hidden"], "body": c["body"]} for c in self.cases]
        source = self.source if self.format == "exception" else ""
        return {
            "type": "run",
            "nonce": nonce,
            "question": self.name,
            "format": self.format,
            "source": source,
            "cases": cases,
        }

    def score(self, verdicts: list[dict]) -> float:
        """Points for these verdicts, by otter's rules."""
        from otter.test_files.abstract_test import TestCaseResult

        template = self.template
        test_file = type(template)(
            template.name, template.path, template.test_cases, template.all_or_nothing
        )
        test_file.test_case_results = [
            TestCaseResult(test_case=tc, message=v.get("message") or "", passed=v["passed"])
            for tc, v in zip(template.test_cases, verdicts)
        ]
        return float(test_file.score)


@dataclass(frozen=True)
class Assignment:
    """An otter autograder zip, read once: questions, seeds, support files, secrets."""

    name: str
    zip_path: Path
    sha256: str
    questions: dict[str, Question]
    seed: int | None = None
    seed_variable: str | None = None
    assignment_name: str | None = None
    support_files: dict[str, bytes] = field(default_factory=dict, repr=False)
    preimport: tuple[str, ...] = ()
    hidden_lines: frozenset[str] = field(default_factory=frozenset, repr=False)
    protected: tuple[Path, ...] = ()

    @property
    def points(self) -> float:
        return sum(q.points for q in self.questions.values())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _imports(code: str) -> set[str]:
    """Module names imported by Python ``code`` (``from a import b`` gives a and a.b).

    >>> sorted(_imports("import numpy as np; from ftlab import checks; from otter import x"))
    ['ftlab', 'ftlab.checks', 'numpy']
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.partition(".")[0] != "otter"}


def _doctest_code(body: str) -> str:
    examples = doctest.DocTestParser().get_examples(body)
    return "\n".join(example.source for example in examples)


def _case_lines(question: Question, case_index: int) -> list[str]:
    """The source lines of one test case."""
    if question.format == "ok":
        return _doctest_code(question.cases[case_index]["body"]).splitlines()
    func = question.template.test_cases[case_index].body.test_func
    tree = ast.parse(question.source)
    lines = question.source.splitlines()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == func.__name__:
            return lines[node.lineno - 1 : node.end_lineno]
    return []


def load_assignment(zip_path: str | os.PathLike, protect: Iterable[Path] = ()) -> Assignment:
    """Read an otter autograder zip with otter's own parser.

    ``protect``: more folders the graded notebooks may not read (the zip's folder always is).
    """
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    zip_path = Path(zip_path).resolve()
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as error:
        raise GradingError(f"cannot read the autograder zip {zip_path}: {error}") from None
    with archive, tempfile.TemporaryDirectory(prefix="ftlab-autograder-") as tmp:
        names = archive.namelist()
        if not any(n.startswith("tests/") and n.endswith(".py") for n in names):
            raise GradingError(f"{zip_path} is not an otter autograder zip (no tests/*.py)")
        archive.extractall(tmp)
        config_path = Path(tmp, "otter_config.json")
        config = json.loads(config_path.read_text()) if config_path.exists() else {}
        questions = {}
        for path in sorted(Path(tmp, "tests").glob("*.py")):
            if path.name == "__init__.py":
                continue
            source = path.read_text(encoding="utf-8")
            test_file = create_test_file(str(path), NBMetadataConfig())
            is_ok = type(test_file).__name__ == "OKTestFile"
            cases = tuple(
                {
                    "name": tc.name,
                    "hidden": bool(tc.hidden),
                    "points": float(tc.points),
                    "body": tc.body if is_ok else "",
                    "failure_message": tc.failure_message,
                }
                for tc in test_file.test_cases
            )
            questions[path.stem] = Question(
                path.stem, "ok" if is_ok else "exception", source, cases, test_file
            )
        support = {}
        for name in names:
            if name.startswith("files/") and not name.endswith("/"):
                support[name.removeprefix("files/")] = archive.read(name)
    if not questions:
        raise GradingError(f"{zip_path} holds no tests")
    preimport = set()
    for q in questions.values():
        for code in [q.source] if q.format == "exception" else [c["body"] for c in q.cases]:
            preimport |= _imports(code if q.format == "exception" else _doctest_code(code))
    public, hidden = set(), set()
    for q in questions.values():
        for i, case in enumerate(q.cases):
            lines = {line.strip() for line in _case_lines(q, i)}
            (hidden if case["hidden"] else public).update(lines)
    hidden_lines = frozenset(line for line in hidden - public if len(line) >= 8)
    return Assignment(
        name=str(config.get("assignment_name") or zip_path.stem.split("-autograder")[0]),
        zip_path=zip_path,
        sha256=_sha256(zip_path),
        questions=questions,
        seed=config.get("seed"),
        seed_variable=config.get("seed_variable"),
        assignment_name=config.get("assignment_name"),
        support_files=support,
        preimport=tuple(sorted(preimport)),
        hidden_lines=hidden_lines,
        protected=(zip_path.parent, *(Path(p).resolve() for p in protect)),
    )


def _exercise_roots(exercises_dir: str | os.PathLike | None) -> list[Path]:
    roots = [Path.cwd() / "exercises", Path(__file__).resolve().parent.parent / "exercises"]
    if exercises_dir is not None:
        roots = [Path(exercises_dir)]
    unique = []
    for root in roots:
        if root.is_dir() and root.resolve() not in unique:
            unique.append(root.resolve())
    return unique


def resolve_assignment(
    name_or_zip: str | os.PathLike, exercises_dir: str | os.PathLike | None = None
) -> tuple[Path, list[Path]]:
    """The autograder zip for an exercise name (or a zip path), and the folders to protect.

    A name is looked up as ``exercises/NAME/autograder/*.zip`` (in the current folder, then
    next to the ftlab package); a unique prefix works too (``01`` for ``01_freezing``).

    >>> resolve_assignment("no-such-exercise", exercises_dir="/nonexistent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ftlab.grading.GradingError: unknown assignment 'no-such-exercise'; available: none (no ...
    """
    text = str(name_or_zip)
    path = Path(text).expanduser()
    if text.endswith(".zip") or path.is_file():
        if not path.is_file():
            raise GradingError(f"no such autograder zip: {path}")
        return path.resolve(), []
    available: dict[str, tuple[Path, list[Path]]] = {}
    for root in _exercise_roots(exercises_dir):
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            zips = sorted((folder / "autograder").glob("*.zip"))
            if zips and folder.name not in available:
                available[folder.name] = (root, zips)
    matches = [text] if text in available else [n for n in available if n.startswith(text)]
    if len(matches) != 1:
        listing = ", ".join(available) or "none (no exercises/ folder found)"
        what = "ambiguous" if matches else "unknown"
        raise GradingError(f"{what} assignment {text!r}; available: {listing}")
    root, zips = available[matches[0]]
    if len(zips) > 1:
        found = ", ".join(z.name for z in zips)
        raise GradingError(f"{zips[0].parent} holds several zips ({found}); pass one by path")
    course = root.parent
    protect = [p for p in (course / "notebooks", course / ".git") if p.is_dir()]
    return zips[0].resolve(), protect


# ---------------------------------------------------------------------------- submissions


@dataclass(frozen=True)
class Submission:
    id: str
    path: Path


def _identifier(path: Path) -> str:
    """A file-name-safe id from a submission's file name.

    >>> _identifier(Path("Ada Lovelace (late).ipynb"))
    'Ada_Lovelace_late'
    """
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return re.sub(r"[^A-Za-z0-9._@+-]+", "_", stem).strip("._") or "submission"


def find_submissions(folder: str | os.PathLike) -> list[Submission]:
    """Every visible file in ``folder`` (not its subfolders), sorted, with a unique id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"no such folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise GradingError(f"no submissions found in {folder} (expected .ipynb or .zip files)")
    submissions, seen = [], {}
    for path in files:
        ident = _identifier(path)
        if ident in seen:
            clash = f"{seen[ident].name} and {path.name}"
            raise GradingError(f"{clash} would both be graded as {ident!r}: rename one of them")
        seen[ident] = path
        submissions.append(Submission(ident, path))
    return submissions


# ---------------------------------------------------------------------------- one worker


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass


class _Violation(Exception):
    pass


class _Session:
    """The parent's end of the pipes to one worker, with a deadline on every read and write."""

    def __init__(self, process: subprocess.Popen, cmd_w: int, res_r: int, deadline: float):
        self.process, self.cmd_w, self.res_r, self.deadline = process, cmd_w, res_r, deadline
        os.set_blocking(cmd_w, False)
        self._buffer = b""

    def _wait(self, fd: int, event: int) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Timeout
        with selectors.DefaultSelector() as selector:
            selector.register(fd, event)
            if not selector.select(remaining):
                raise _Timeout

    def send(self, message: dict) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            self._wait(self.cmd_w, selectors.EVENT_WRITE)
            try:
                data = data[os.write(self.cmd_w, data) :]
            except BlockingIOError:
                continue
            except OSError:
                raise _Died from None

    def receive(self) -> dict:
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE_BYTES:
                raise _Violation("an oversized message on the grader's channel")
            self._wait(self.res_r, selectors.EVENT_READ)
            chunk = os.read(self.res_r, 1 << 16)
            if not chunk:
                raise _Died
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message = json.loads(line)
        except ValueError:
            raise _Violation("garbage on the grader's channel") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise _Violation("a malformed message on the grader's channel")
        return message


def _scrub(text: str, hidden_lines: frozenset[str]) -> str:
    """``text`` cut short, without any line that quotes hidden-test source.

    >>> _scrub("Expected 9\\nassert square(-4) == 16, 'secret'", frozenset({"square(-4) == 16"}))
    'Expected 9\\n[line removed: it quotes a hidden test]'
    """
    lines = [
        "[line removed: it quotes a hidden test]"
        if any(secret in line for secret in hidden_lines)
        else line
        for line in text[:MAX_FEEDBACK_CHARS].splitlines()
    ]
    cut = "\n[...]" if len(text) > MAX_FEEDBACK_CHARS else ""
    return "\n".join(lines) + cut


def _run_question(session: _Session, question: Question, hidden_lines) -> list[dict]:
    nonce = secrets.token_hex(16)
    session.send(question.request(nonce))
    reply = session.receive()
    results = reply.get("results")
    if (
        reply.get("type") != "verdicts"
        or reply.get("nonce") != nonce
        or set(reply) != {"type", "nonce", "results"}
        or not isinstance(results, list)
        or len(results) != len(question.cases)
    ):
        raise _Violation("a forged or malformed answer on the grader's channel")
    verdicts = []
    for case, result in zip(question.cases, results):
        if not isinstance(result, dict) or not isinstance(result.get("passed"), bool):
            raise _Violation("a malformed test result")
        message = result.get("message")
        if case["hidden"] or not isinstance(message, str) or result["passed"]:
            message = None
        else:
            message = _scrub(message, hidden_lines)
        verdicts.append({"passed": result["passed"], "message": message})
    return verdicts


def _converse(session: _Session, assignment: Assignment, job: dict) -> dict:
    """Drive one worker through the protocol; the outcome, or raise _Timeout/_Died/_Violation."""
    session.send(job)
    message = session.receive()
    if message["type"] == "invalid":
        return {"status": "invalid", "detail": str(message.get("reason"))[:300]}
    if message["type"] != "loaded":
        raise _Violation("an unexpected first message")
    name = message.get("assignment_name")
    if assignment.assignment_name and name not in (None, assignment.assignment_name):
        detail = f"this notebook is for assignment {str(name)[:80]!r}, not {assignment.name!r}"
        return {"status": "invalid", "detail": detail}
    verdicts: dict[str, list[dict]] = {}
    checked: list[str] = []
    hidden_lines = assignment.hidden_lines
    while True:
        message = session.receive()
        if message.get("tampered"):
            return {"status": "invalid", "detail": f"tampering: {str(message['tampered'])[:200]}"}
        if message["type"] == "check":
            name = message.get("question")
            question = assignment.questions.get(name) if isinstance(name, str) else None
            if question is None:
                session.send({"type": "missing"})
                continue
            verdicts[question.name] = _run_question(session, question, hidden_lines)
            if question.name not in checked:
                checked.append(question.name)
        elif message["type"] == "notebook_done":
            errors = message.get("cell_errors")
            break
        else:
            raise _Violation(f"an unexpected {message['type'][:40]!r} message")
    for question in assignment.questions.values():
        if question.name not in verdicts:
            verdicts[question.name] = _run_question(session, question, hidden_lines)
    session.send({"type": "finish"})
    done = session.receive()
    if done["type"] != "done":
        raise _Violation("an unexpected last message")
    if done.get("tampered"):
        return {"status": "invalid", "detail": f"tampering: {str(done['tampered'])[:200]}"}
    cell_errors = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict) and isinstance(error.get("cell"), int):
            kind = str(error.get("error"))
            kind = kind if _IDENTIFIER.fullmatch(kind) else "an exception"
            cell_errors.append({"cell": error["cell"], "error": kind})
    denied = done.get("denied") if isinstance(done.get("denied"), list) else []
    return {
        "status": "graded",
        "detail": "",
        "verdicts": verdicts,
        "checked_in_notebook": checked,
        "cell_errors": cell_errors[:20],
        "blocked": sorted({str(d)[:40] for d in denied})[:20],
    }


def _essential_paths() -> list[Path]:
    """What every worker must be able to read: Python, its packages, ftlab itself."""
    import sysconfig

    paths = {sys.prefix, sys.base_prefix, *sysconfig.get_paths().values()}
    paths.add(str(Path(__file__).resolve().parent))
    return [Path(p).resolve() for p in paths if p]


def _protected_inodes(deep: Iterable[Path], shallow: Iterable[Path]) -> list[list[int]]:
    """(device, inode) of the files and folders a graded notebook may not open or list.

    Everything under each ``deep`` folder; each ``shallow`` folder and the files directly
    in it. A folder that holds Python, its packages or ftlab is never protected itself
    (imports list folders), only the files in it.
    """
    essential = _essential_paths()
    deep = [Path(folder).resolve() for folder in deep]
    found: set[tuple[int, int]] = set()

    def add(path: str) -> None:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            found.add((st.st_dev, st.st_ino))

    for folder in [*deep, *(Path(f).resolve() for f in shallow)]:
        if not folder.is_dir():
            add(str(folder))
            continue
        holds_python = any(e == folder or folder in e.parents for e in essential)
        recursive = folder in deep and not holds_python
        for root, _, files in os.walk(folder):
            if not holds_python:
                add(root)
            for name in files:
                add(os.path.join(root, name))
            if not recursive or len(found) > MAX_PROTECTED_FILES:
                break
    return sorted([dev, ino] for dev, ino in found)


def _worker_env(scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _SECRET_ENV.search(k)}
    for name in ("PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONBREAKPOINT", "PYTHONWARNINGS"):
        env.pop(name, None)
    ftlab_root = str(Path(__file__).resolve().parent.parent)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    tmp = str(scratch / "tmp")
    env.update(
        PYTHONPATH=os.pathsep.join([*paths, ftlab_root]),
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        TMPDIR=tmp,
        TMP=tmp,
        TEMP=tmp,
        IPYTHONDIR=str(scratch / "ipython"),
        MPLBACKEND="Agg",
        MALLOC_ARENA_MAX="2",
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


class _LogTail(threading.Thread):
    """Drains a worker's stdout/stderr, keeping only the end: huge output can't hurt."""

    def __init__(self, fd: int):
        super().__init__(daemon=True)
        self.fd, self.tail = fd, bytearray()

    def run(self) -> None:
        while chunk := os.read(self.fd, 1 << 16):
            self.tail += chunk
            if len(self.tail) > 2 * LOG_TAIL_BYTES:
                del self.tail[:-LOG_TAIL_BYTES]
        os.close(self.fd)

    def text(self) -> str:
        return bytes(self.tail[-LOG_TAIL_BYTES:]).decode("utf-8", "replace")


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _describe_death(code: int | None) -> str:
    if code is None:
        return "the notebook stopped answering the grader"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else code
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"the Python process running the notebook was killed by {name}{hint}"
    return f"the Python process running the notebook exited (code {code}) before grading finished"


def _grade_one(
    submission: Submission,
    assignment: Assignment,
    *,
    timeout: float,
    memory_mb: int,
    scratch_root: Path,
    forbidden: list,
    live: dict,
    cancel: threading.Event,
) -> dict | None:
    """Grade one submission in its own worker process. None if the run was cancelled."""
    started = time.monotonic()
    outcome: dict
    log = ""
    if submission.path.stat().st_size > MAX_SUBMISSION_BYTES:
        outcome = {"status": "invalid", "detail": "the file is too large"}
        return _result(submission, assignment, outcome, timeout, memory_mb, started, log)
    scratch = Path(tempfile.mkdtemp(dir=scratch_root))
    work = scratch / "work"
    for folder in (work, scratch / "tmp", scratch / "ipython"):
        folder.mkdir()
    for name, data in assignment.support_files.items():
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    shutil.copyfile(submission.path, work / submission.path.name)
    job = {
        "type": "job",
        "submission": submission.path.name,
        "seed": assignment.seed,
        "seed_variable": assignment.seed_variable,
        "preimport": list(assignment.preimport),
        "forbidden": forbidden,
    }
    cmd_r, cmd_w = os.pipe()
    res_r, res_w = os.pipe()
    log_r, log_w = os.pipe()
    process = None
    try:
        if cancel.is_set():
            return None
        command = [sys.executable, "-s", "-c", _LAUNCH, str(WORKER_FILE)]
        process = subprocess.Popen(
            [*command, str(cmd_r), str(res_w), str(memory_mb)],
            cwd=work,
            env=_worker_env(scratch),
            stdin=subprocess.DEVNULL,
            stdout=log_w,
            stderr=log_w,
            pass_fds=(cmd_r, res_w),
            start_new_session=True,
        )
        live[submission.id] = process
        for fd in (cmd_r, res_w, log_w):
            os.close(fd)
        cmd_r = res_w = log_w = -1
        tail = _LogTail(log_r)
        log_r = -1
        tail.start()
        session = _Session(process, cmd_w, res_r, started + timeout)
        try:
            outcome = _converse(session, assignment, job)
        except _Timeout:
            outcome = {"status": "timeout", "detail": f"did not finish within {timeout:g} s"}
        except _Violation as error:
            outcome = {"status": "invalid", "detail": f"tampering: {error}"}
        except _Died:
            try:
                code = process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
            outcome = {"status": "crashed", "detail": _describe_death(code)}
        except Exception as error:  # a bug here must not stop the whole run
            detail = f"the grader failed on this submission ({type(error).__name__}: {error})"
            outcome = {"status": "crashed", "detail": detail[:300]}
        _kill_group(process)
        process.wait()
        tail.join(timeout=5)
        log = tail.text()
        if cancel.is_set():
            return None
    finally:
        if process is not None:
            _kill_group(process)
            live.pop(submission.id, None)
        for fd in (cmd_r, cmd_w, res_r, res_w, log_r, log_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        shutil.rmtree(scratch, ignore_errors=True)
    return _result(submission, assignment, outcome, timeout, memory_mb, started, log)


def _result(submission, assignment, outcome, timeout, memory_mb, started, log) -> dict:
    """The JSON record of one graded submission."""
    graded = outcome["status"] == "graded"
    scores, tests = {}, []
    for question in assignment.questions.values():
        verdicts = outcome["verdicts"][question.name] if graded else None
        scores[question.name] = round(question.score(verdicts), 4) if graded else 0.0
        hidden = 0
        for i, case in enumerate(question.cases):
            test = {"question": question.name, "hidden": case["hidden"]}
            hidden += case["hidden"]
            test["name"] = f"hidden test {hidden}" if case["hidden"] else case["name"]
            test["points"] = case["points"]
            if graded:
                test.update(verdicts[i])
                if not case["hidden"] and not test["passed"] and case["failure_message"]:
                    test["hint"] = case["failure_message"]
            tests.append(test)
    total, possible = round(sum(scores.values()), 4), round(assignment.points, 4)
    return {
        "id": submission.id,
        "file": submission.path.name,
        "status": outcome["status"],
        "detail": outcome.get("detail", ""),
        "scores": scores,
        "possible": {q.name: round(q.points, 4) for q in assignment.questions.values()},
        "total": total,
        "max": possible,
        "percent": round(100 * total / possible, 2) if possible else 0.0,
        "tests": tests,
        "checked_in_notebook": outcome.get("checked_in_notebook", []),
        "cell_errors": outcome.get("cell_errors", []),
        "blocked": outcome.get("blocked", []),
        "assignment": assignment.name,
        "grader_version": GRADER_VERSION,
        "autograder_sha256": assignment.sha256,
        "submission_sha256": _sha256(submission.path),
        "timeout_s": timeout,
        "memory_mb": memory_mb,
        "seconds": round(time.monotonic() - started, 2),
        "graded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "log": log,
    }


# ---------------------------------------------------------------------------- reports


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _number(value: float) -> str:
    """Points as people write them.

    >>> _number(2.0), _number(0.3333333), _number(1.5)
    ('2', '0.3333', '1.5')
    """
    return f"{round(value, 4):g}" if abs(value) < 1e6 else str(value)


def _csv(submissions: list[Submission], results: dict, assignment: Assignment) -> str:
    names = list(assignment.questions)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "status", *names, "total", "max", "percent", "detail"])
    for submission in submissions:
        result = results.get(submission.id)
        if result is None:
            writer.writerow([submission.id, "pending", *[""] * len(names), "", "", "", ""])
            continue
        scores = [_number(result["scores"].get(n, 0.0)) for n in names]
        writer.writerow(
            [
                result["id"],
                result["status"],
                *scores,
                _number(result["total"]),
                _number(result["max"]),
                f"{result['percent']:.2f}",
                result["detail"],
            ]
        )
    return out.getvalue()


_ADVICE = {
    "timeout": "Your notebook did not finish in time (an endless loop, or far too much work). "
    "Use Kernel > Restart & Run All and check that every cell finishes.",
    "crashed": "The Python process running your notebook stopped before grading finished "
    "(a call like os._exit, a crash, or running out of memory). Use Kernel > Restart & Run "
    "All and check that the notebook runs to the end.",
    "invalid": "Your submission could not be graded. Submit the .ipynb notebook of this "
    "exercise, saved from Jupyter or Colab, and leave the grader alone.",
}


def _feedback(result: dict) -> str:
    """What the student reads: each check, passed or failed and why; hidden tests unnamed."""
    status = result["status"]
    points = f"{_number(result['total'])} / {_number(result['max'])}"
    lines = [f"# {result['assignment']}: feedback for {result['id']}", ""]
    if status != "graded":
        lines += [f"**Not graded ({status}): 0 / {_number(result['max'])} points.**", ""]
        lines += [_ADVICE[status], "", f"Reason: {result['detail']}", ""]
        return "\n".join(lines)
    lines += [f"**Score: {points} points ({result['percent']:.2f} %).**", ""]
    by_question: dict[str, list[dict]] = {}
    for test in result["tests"]:
        by_question.setdefault(test["question"], []).append(test)
    for name, tests in by_question.items():
        score = f"{_number(result['scores'][name])} / {_number(result['possible'][name])}"
        lines += [f"## {name}: {score}", ""]
        for test in tests:
            mark = "passed" if test["passed"] else "FAILED"
            lines.append(f"- {test['name']}: {mark}")
            if test["hidden"] and not test["passed"]:
                lines[-1] += " (hidden tests are not shown)"
            for extra in (test.get("hint"), test.get("message")):
                if extra:
                    lines += ["", "  ```", *[f"  {x}" for x in extra.splitlines()], "  ```", ""]
        lines.append("")
    if result["cell_errors"]:
        lines += ["## Cells that raised an error", ""]
        lines += [f"- cell {e['cell']}: {e['error']}" for e in result["cell_errors"]]
        lines.append("")
    return "\n".join(lines)


def _load_result(path: Path) -> dict | None:
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) and result.get("status") in STATUSES else None


def _up_to_date(result: dict | None, sha256: str, assignment, timeout, memory_mb) -> bool:
    if result is None or result.get("submission_sha256") != sha256:
        return False
    if result.get("grader_version") != GRADER_VERSION:
        return False
    if result.get("autograder_sha256") != assignment.sha256:
        return False
    if result["status"] == "timeout" and timeout > result.get("timeout_s", 0):
        return False
    return not (result["status"] == "crashed" and memory_mb > result.get("memory_mb", 0))


# ---------------------------------------------------------------------------- the run


def grade_folder(
    submissions: str | os.PathLike,
    assignment: str | os.PathLike | Assignment,
    out: str | os.PathLike | None = None,
    *,
    workers: int = DEFAULT_WORKERS,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int = DEFAULT_MEMORY_MB,
    exercises_dir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Grade every submission in a folder; the results (one dict per submission, by id).

    ``assignment``: an exercise name, a path to an autograder zip, or a loaded
    ``Assignment``. Results already in ``out`` for the same file and autograder are reused.
    Bad input raises ``GradingError`` before anything is graded:

    >>> grade_folder("no/such/folder", "whatever.zip")
    Traceback (most recent call last):
    ...
    ftlab.grading.GradingError: no such folder: no/such/folder
    """
    folder = Path(submissions)
    found = find_submissions(folder)
    if not isinstance(workers, int) or workers < 1:
        raise GradingError(f"--workers must be at least 1 (got {workers})")
    if not timeout > 0:
        raise GradingError(f"--timeout must be more than 0 seconds (got {timeout})")
    if not isinstance(memory_mb, int) or memory_mb < 256:
        raise GradingError(f"--memory must be at least 256 MB (got {memory_mb})")
    if not isinstance(assignment, Assignment):
        zip_path, protect = resolve_assignment(assignment, exercises_dir)
        assignment = load_assignment(zip_path, protect)
    out = Path(out) if out is not None else folder.resolve().parent / f"{folder.name}-graded"
    if out.resolve() == folder.resolve():
        raise GradingError("--out must not be the submissions folder")
    for sub in ("results", "feedback", "logs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    say = progress or (lambda line: None)

    results: dict[str, dict] = {}
    todo = []
    for submission in found:
        previous = _load_result(out / "results" / f"{submission.id}.json")
        sha = _sha256(submission.path)
        if _up_to_date(previous, sha, assignment, timeout, memory_mb):
            results[submission.id] = previous
        else:
            todo.append(submission)
    if results:
        say(f"{len(results)} already graded in {out}; grading the other {len(todo)}")
    _write_atomic(out / "grades.csv", _csv(found, results, assignment))

    scratch_root = Path(tempfile.mkdtemp(prefix="ftlab-grade-"))
    deep = [*assignment.protected, scratch_root]
    shallow = [folder, out, *(out / sub for sub in ("results", "feedback", "logs"))]
    forbidden = _protected_inodes(deep, shallow)
    live: dict[str, subprocess.Popen] = {}
    cancel = threading.Event()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    options = dict(timeout=timeout, memory_mb=memory_mb, scratch_root=scratch_root)
    try:
        futures = [
            pool.submit(
                _grade_one, s, assignment, forbidden=forbidden, live=live, cancel=cancel, **options
            )
            for s in todo
        ]
        for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
            result = future.result()
            if result is None:
                continue
            log = result.pop("log")
            _write_atomic(out / "logs" / f"{result['id']}.log", log)
            _write_atomic(out / "feedback" / f"{result['id']}.md", _feedback(result))
            _write_atomic(out / "results" / f"{result['id']}.json", json.dumps(result, indent=1))
            results[result["id"]] = result
            _write_atomic(out / "grades.csv", _csv(found, results, assignment))
            score = f"{_number(result['total'])}/{_number(result['max'])}"
            detail = f" - {result['detail']}" if result["detail"] else ""
            line = f"[{done}/{len(todo)}] {result['id']}: {result['status']} {score}"
            say(f"{line} ({result['seconds']:.1f} s){detail}")
    except BaseException:
        cancel.set()
        for process in list(live.values()):
            _kill_group(process)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(scratch_root, ignore_errors=True)
    return [results[s.id] for s in found]


# ---------------------------------------------------------------------------- command line


def add_grade_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``ftlab grade`` on an argparse subparsers object."""
    parser = subparsers.add_parser(
        "grade",
        help="grade a folder of notebook submissions with an otter autograder, without Docker",
        description="Grade every submission (.ipynb, or .zip holding one) in SUBMISSIONS with "
        "an exercise's otter autograder: one isolated process per submission, results saved "
        "as they come (run again to finish an interrupted run).",
    )
    parser.add_argument("submissions", metavar="SUBMISSIONS", help="folder of submissions")
    parser.add_argument(
        "--assignment",
        "-a",
        required=True,
        metavar="NAME_OR_ZIP",
        help="exercise name (exercises/NAME/autograder/*.zip) or path to an autograder zip",
    )
    parser.add_argument("--out", metavar="DIR", help="output folder (default: SUBMISSIONS-graded)")
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        metavar="N",
        help="submissions graded at once (default 2)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help="seconds per submission (default 600)",
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=DEFAULT_MEMORY_MB,
        metavar="MB",
        help="address-space limit per submission (TensorFlow alone reserves about 3000 MB)",
    )
    parser.set_defaults(handler=run_grade)
    return parser


def run_grade(args: argparse.Namespace) -> int:
    """Run ``ftlab grade`` with parsed arguments; the exit status."""
    try:
        results = grade_folder(
            args.submissions,
            args.assignment,
            args.out,
            workers=args.workers,
            timeout=args.timeout,
            memory_mb=args.memory,
            progress=lambda line: print(line, flush=True),
        )
    except GradingError as error:
        print(f"ftlab: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ftlab grade: interrupted; run the same command again to grade the rest")
        return 130
    counts = {s: sum(r["status"] == s for r in results) for s in STATUSES}
    out = args.out or f"{Path(args.submissions).resolve()}-graded"
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    print(f"{len(results)} submissions: {summary}. Grades: {Path(out) / 'grades.csv'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m ftlab.grading SUBMISSIONS --assignment NAME`` (same as ``ftlab grade``)."""
    parser = argparse.ArgumentParser(prog="ftlab")
    add_grade_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["grade", *(sys.argv[1:] if argv is None else argv)])
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
