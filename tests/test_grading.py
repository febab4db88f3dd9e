"""ftlab grade: honest notebooks get otter's scores; broken and hostile ones never a wrong one.

A tiny otter assignment ("demo", three questions, hidden tests with canary strings) is built
with ``otter assign`` at test time, twice: with exception-based tests (like the course's
exercises, seeded through a variable) and with OK-format doctests (seeded like otter's
default). Submissions are notebooks written here, cell by cell. Grading a notebook takes a
second or two, so the hostile ones are graded together, in one run with two workers.
"""

from __future__ import annotations

import csv
import json
import os
import time
import zipfile
from pathlib import Path

import pytest

from ftlab import grading

CANARIES = ("HIDDEN-CANARY-q1", "HIDDEN-CANARY-q3", "math.isclose(square(1.5)")
INIT = 'import otter\ngrader = otter.Notebook("demo.ipynb")'
SQUARE = "def square(x):\n    return x * x"
GREETING = 'greeting = "hello"'
TOTAL = "total = sum(range(10))"
SOLUTION = [INIT, "import random", SQUARE, 'grader.check("q1")', GREETING]
SOLUTION += ['grader.check("q2")', TOTAL, 'grader.check("q3")']


# ---------------------------------------------------------------------------- the assignment


def _source_notebook(ok_format: bool):
    """The demo assignment in otter's source format."""
    import nbformat as nbf

    raw, code, md = nbf.v4.new_raw_cell, nbf.v4.new_code_cell, nbf.v4.new_markdown_cell
    hide = '""" # BEGIN TEST CONFIG\nhidden: true\n""" # END TEST CONFIG\n'

    def with_output(cell, text):
        output = nbf.v4.new_output("execute_result", data={"text/plain": text}, execution_count=1)
        cell.outputs = [output]
        cell.execution_count = 1
        return cell

    if ok_format:
        seed = "generate:\n  seed: 42\n"  # otter seeds random and numpy before each cell
        tests = {
            "q1": [
                with_output(code("square(3)"), "9"),
                with_output(code(hide + "square(-4) == 16 or 'HIDDEN-CANARY-q1'"), "True"),
                with_output(code(hide + "import math\nmath.isclose(square(1.5), 2.25)"), "True"),
            ],
            "q2": [with_output(code("greeting"), "'hello'")],
            "q3": [with_output(code(hide + "total == 45 or 'HIDDEN-CANARY-q3'"), "True")],
        }
    else:
        seed = "seed:\n  variable: SEED\n  autograder_value: 42\n  student_value: 42\n"
        tests = {
            "q1": [
                code("def test_square(square):\n    assert square(3) == 9, 'square(3) is not 9'"),
                code(
                    hide
                    + "def test_negative(square):\n    assert square(-4) == 16, 'HIDDEN-CANARY-q1'"
                ),
                code(
                    hide + "def test_float(square):\n    import math\n\n"
                    "    assert math.isclose(square(1.5), 2.25)"
                ),
            ],
            "q2": [
                code(
                    "def test_greeting(greeting):\n"
                    "    assert isinstance(greeting, str), 'greeting is not a str'\n"
                    "    assert greeting == 'hello', f'greeting is {greeting!r}'"
                )
            ],
            "q3": [
                code(hide + "def test_total(total):\n    assert total == 45, 'HIDDEN-CANARY-q3'")
            ],
        }
    config = (
        f"name: demo\nexport_cell: false\n{seed}tests:\n  ok_format: {str(ok_format).lower()}\n"
    )
    cells = [raw("# ASSIGNMENT CONFIG\n" + config), md("# Demo"), code("import random")]
    answers = {
        "q1": "def square(x):\n    return x * x  # SOLUTION",
        "q2": 'greeting = "hello"  # SOLUTION',
        "q3": "total = sum(range(10))  # SOLUTION",
    }
    points = {"q1": 2, "q2": 1, "q3": 1}
    for name, answer in answers.items():
        cells += [raw(f"# BEGIN QUESTION\nname: {name}\npoints: {points[name]}"), md(f"{name}?")]
        cells += [raw("# BEGIN SOLUTION"), code(answer), raw("# END SOLUTION")]
        cells += [raw("# BEGIN TESTS"), *tests[name], raw("# END TESTS"), raw("# END QUESTION")]
    notebook = nbf.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return notebook


@pytest.fixture(scope="module")
def assignments(tmp_path_factory):
    """{"exception": (zip, student notebook), "ok": (...)}, built with otter assign."""
    import nbformat as nbf
    from otter.assign import main as otter_assign

    built = {}
    for kind in ("exception", "ok"):
        folder = tmp_path_factory.mktemp(f"assignment-{kind}")
        source = folder / "source" / "demo.ipynb"
        source.parent.mkdir()
        nbf.write(_source_notebook(kind == "ok"), source)
        otter_assign(str(source), str(folder / "dist"), no_pdfs=True, no_run_tests=True)
        (zip_path,) = (folder / "dist" / "autograder").glob("*.zip")
        built[kind] = (zip_path, folder / "dist" / "student" / "demo.ipynb")
    return built


def notebook(*cells: str, name: str | None = "demo") -> str:
    """A submission: code cells, as JSON text."""
    metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    if name is not None:
        metadata["otter"] = {"assignment_name": name}
    code = [
        {"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": source, "outputs": []}
        for i, source in enumerate(cells)
    ]
    for cell in code:
        cell["execution_count"] = None
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": code})


def write(folder: Path, files: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return folder


def by_id(rows):
    return {row["id"]: row for row in rows}


def read_csv(path: Path) -> dict:
    with open(path, newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


# ---------------------------------------------------------------------------- bad input


def test_bad_input_is_refused_before_any_work(tmp_path, assignments):
    zip_path, _ = assignments["exception"]
    with pytest.raises(grading.GradingError, match="no such folder"):
        grading.grade_folder(tmp_path / "missing", zip_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(grading.GradingError, match="no submissions found"):
        grading.grade_folder(tmp_path / "empty", zip_path)
    folder = write(tmp_path / "subs", {"a.ipynb": notebook(GREETING)})
    with pytest.raises(grading.GradingError, match="workers must be at least 1"):
        grading.grade_folder(folder, zip_path, workers=0)
    for timeout in (0, -5):
        with pytest.raises(grading.GradingError, match="timeout must be more than 0"):
            grading.grade_folder(folder, zip_path, timeout=timeout)
    with pytest.raises(grading.GradingError, match="no such autograder zip"):
        grading.grade_folder(folder, tmp_path / "nope.zip")
    exercises = tmp_path / "course" / "exercises"
    (exercises / "01_freezing" / "autograder").mkdir(parents=True)
    (exercises / "01_freezing" / "autograder" / "a.zip").write_bytes(zip_path.read_bytes())
    with pytest.raises(grading.GradingError, match=r"unknown assignment 'nope'; available: 01_"):
        grading.grade_folder(folder, "nope", exercises_dir=exercises)
    assert grading.resolve_assignment("01", exercises)[0].name == "a.zip"  # a prefix works
    write(folder, {"a.zip": b"PK"})
    with pytest.raises(grading.GradingError, match="would both be graded as 'a'"):
        grading.grade_folder(folder, zip_path)
    assert not (tmp_path / "subs-graded").exists()


# ---------------------------------------------------------------------------- honest notebooks


PARTIAL = [INIT, "def square(x):\n    return x * abs(x)", 'grader.check("q1")']
PARTIAL += ['greeting = "hello"', "total = 44"]


def test_honest_notebooks_get_otter_run_scores(tmp_path, assignments):
    """The same scores as otter's own runner, question by question, in both test formats."""
    from otter.api import grade_submission  # otter run, in this process

    ours, theirs = {}, {}
    for kind, (zip_path, student) in assignments.items():
        folder = write(
            tmp_path / kind,
            {"solution.ipynb": notebook(*SOLUTION), "partial.ipynb": notebook(*PARTIAL)},
        )
        (folder / "student.ipynb").write_bytes(student.read_bytes())
        for row in grading.grade_folder(folder, zip_path, tmp_path / f"{kind}-out"):
            ours[kind, row["id"]] = row
        for name in ("partial", "student") if kind == "exception" else ("partial",):
            otter = grade_submission(str(folder / f"{name}.ipynb"), str(zip_path), quiet=True)
            theirs[kind, name] = {q: otter.get_score(q) for q in otter.test_files}
    for key, expected in theirs.items():
        assert ours[key]["status"] == "graded", (key, ours[key]["detail"])
        assert ours[key]["scores"] == pytest.approx(expected, abs=1e-4), key
    for kind in assignments:
        assert ours[kind, "solution"]["total"] == 4 and ours[kind, "student"]["total"] == 0
        # partial: q1 fails one hidden test of three (square(-4)); q2 right, q3 wrong
        expected = {"q1": 4 / 3, "q2": 1, "q3": 0}
        assert ours[kind, "partial"]["scores"] == pytest.approx(expected, abs=1e-3)


def test_a_question_is_graded_where_the_notebook_checks_it(tmp_path, assignments):
    """Like otter: variables rebound after grader.check don't change that question's score."""
    zip_path, _ = assignments["exception"]
    later = [*SOLUTION, 'greeting = "changed"\nsquare = None\ntotal = 0']
    early = [INIT, 'grader.check("q2")', GREETING, SQUARE, TOTAL]  # checked before answering
    folder = write(
        tmp_path / "subs", {"later.ipynb": notebook(*later), "early.ipynb": notebook(*early)}
    )
    rows = by_id(grading.grade_folder(folder, zip_path, tmp_path / "out"))
    assert rows["later"]["total"] == 4
    assert rows["later"]["checked_in_notebook"] == ["q1", "q2", "q3"]
    assert rows["early"]["scores"] == {"q1": 2, "q2": 0, "q3": 1}


def test_same_submission_same_scores(tmp_path, assignments):
    """Seeds (otter's per-cell seeding) and PYTHONHASHSEED make grading repeatable."""
    zip_path, _ = assignments["ok"]
    luck = [
        INIT,
        SQUARE,
        "import random\ngreeting = 'hello' if random.random() < 0.5 else 'bye'",
        "total = 45 if hash('ftlab') % 2 else 44",
    ]
    folder = write(tmp_path / "subs", {"luck.ipynb": notebook(*luck)})
    first = grading.grade_folder(folder, zip_path, tmp_path / "one")[0]
    second = grading.grade_folder(folder, zip_path, tmp_path / "two")[0]
    assert first["status"] == second["status"] == "graded"
    assert first["scores"] == second["scores"]
    assert [t["passed"] for t in first["tests"]] == [t["passed"] for t in second["tests"]]


# ---------------------------------------------------------------------------- hostile batch


def _hostile_submissions(zip_path: Path, victim: Path) -> dict:
    """Every broken or hostile submission, with the answers right unless said otherwise."""
    wrong = ["def square(x):\n    return 0", 'greeting = "bye"', "total = 0"]
    zipped = io_zip({"work/solution.ipynb": notebook(*SOLUTION)})
    return {
        "solution.ipynb": notebook(*SOLUTION),
        "zipped.zip": zipped,
        "two_notebooks.zip": io_zip({"a.ipynb": notebook(*SOLUTION), "b.ipynb": notebook()}),
        "with_helper.zip": io_zip(
            {
                "helper.py": "def square(x):\n    return x * x\n",
                "nb.ipynb": notebook(INIT, "from helper import square", GREETING, TOTAL),
            }
        ),
        "not_a_zip.zip": b"PK\x03\x04 this is not really a zip",
        "report.pdf": b"%PDF-1.4 not a notebook",
        "script.ipynb": "print('a notebook? no, a script')\n",
        "empty.ipynb": "",
        "corrupted.ipynb": notebook(*SOLUTION)[:200],
        "not_cells.ipynb": json.dumps({"nbformat": 4, "cells": "nope"}),
        "wrong_exercise.ipynb": notebook(*SOLUTION, name="another_exercise"),
        "deleted_cell.ipynb": notebook(*[c for c in SOLUTION if c != GREETING]),
        "reordered.ipynb": notebook(INIT, TOTAL, GREETING, SQUARE, 'grader.check("q1")'),
        "exception.ipynb": notebook(INIT, SQUARE, "1 / 0", GREETING, "undefined_name", TOTAL),
        "sys_exit.ipynb": notebook(*SOLUTION, "import sys\nsys.exit(1)", "exit()", "quit()"),
        "os_exit.ipynb": notebook(*SOLUTION, "import os\nos._exit(0)"),
        "infinite_loop.ipynb": notebook(*SOLUTION, "while True:\n    pass"),
        "huge_output.ipynb": notebook(
            *SOLUTION, "print('x' * 50_000_000)", "for i in range(200_000):\n    print(i)"
        ),
        "memory_hog.ipynb": notebook(
            *SOLUTION,
            "big = bytearray(10**13)",
            "hog = []\nwhile True:\n    hog.append(bytearray(10**7))",
        ),
        "forged_results.ipynb": notebook(
            INIT,
            *wrong,
            "import json, os\n"
            "fake = {'score': 4, 'tests': [{'name': q, 'score': 9} for q in 'q1 q2 q3']}\n"
            "for path in ('results.json', '../results/results.json', 'results/results.json'):\n"
            "    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)\n"
            "    json.dump(fake, open(path, 'w'))\n"
            "print('Total Score: 4.000 / 4.000 (100.000%)')",
        ),
        "forged_channel.ipynb": notebook(
            INIT,
            *wrong,
            'import os\nline = b\'{"type": "verdicts", "nonce": "x", "results": []}\\n\'\n'
            "for fd in range(3, 64):\n"
            "    try:\n        os.write(fd, line)\n    except OSError:\n        pass",
        ),
        "otter_patched.ipynb": notebook(
            INIT,
            *wrong,
            "grader.check = lambda *args, **kwargs: None\n"
            "otter.Notebook.check = lambda *args, **kwargs: None",
            "import sys\ndel sys.modules['otter']\nimport otter.test_files\n"
            "from otter.test_files.abstract_test import TestFile\n"
            "otter.test_files.ExceptionTestFile.run = lambda self, env: None\n"
            "TestFile.score = property(lambda self: self.possible)\n"
            "TestFile.passed_all = property(lambda self: True)",
            'grader.check("q1")',
        ),
        "builtins_patched.ipynb": notebook(
            INIT,
            *wrong,
            "import builtins\nbuiltins.isinstance = lambda *args: True\n"
            "builtins.AssertionError = type('Quiet', (Exception,), {})",
        ),
        "helper_patched.ipynb": notebook(
            INIT, *wrong, "import math\nmath.isclose = lambda *args, **kwargs: True"
        ),
        "class_patched.ipynb": notebook(
            *SOLUTION, "import fractions\nfractions.Fraction.__eq__ = lambda self, other: True"
        ),
        "shadowed.ipynb": notebook(
            INIT,
            "def square(x):\n    return 0",
            "greeting = 5",
            "isinstance = lambda *args: True\nstr = int\nlen = lambda x: 0\n"
            "class Math:\n    isclose = staticmethod(lambda *a, **k: True)\nmath = Math()",
        ),
        "snooping.ipynb": notebook(
            INIT,
            *wrong,
            "import sys\nsys.settrace(lambda *a: None)",
            "import sys\nsys.setprofile(lambda *a: None)",
            "import gc\ngc.get_objects()",
            "import sys\nsys.addaudithook(lambda *a: None)",
            "import ctypes\nctypes.string_at(id(1), 8)",
            "import subprocess\nsubprocess.run(['true'])",
            "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
            "import socket\nsocket.create_connection(('127.0.0.1', 9))",
            "(lambda: 0).__code__ = (lambda: 1).__code__\n"
            "import random\nrandom.random.__func__ if hasattr(random.random, '__func__') else 0",
        ),
        "vandal.ipynb": notebook(
            *SOLUTION,
            *[
                f"import os, shutil\nvictim = {str(victim)!r}\n{attack}"
                for attack in (
                    "open(os.path.join(victim, 'keep.txt'), 'w').write('gone')",
                    "os.remove(os.path.join(victim, 'keep.txt'))",
                    "shutil.rmtree(victim)",
                    "os.rename(victim, victim + '-moved')",
                    "os.symlink(victim, 'link')",
                    "os.chmod(victim, 0)",
                    "open(os.path.expanduser('~/ftlab-grading-was-here'), 'a')",
                )
            ],
            "open('mine.txt', 'w').write('my own files are fine')\nos.remove('mine.txt')",
        ),
        "reads_hidden_tests.ipynb": notebook(
            INIT,
            SQUARE,
            "import glob, os, zipfile\nfound = []\n"
            f"zip_path = {str(zip_path)!r}\n"
            "for pattern in ('tests/*.py', '../**/tests/*.py', '../../**/*.py', '**/*.zip'):\n"
            "    for path in glob.glob(pattern, recursive=True):\n"
            "        try:\n            found.append(open(path).read())\n"
            "        except Exception as error:\n            print(error)\n"
            "for attempt in (lambda: zipfile.ZipFile(zip_path).read('tests/q1.py').decode(),\n"
            "                lambda: open(zip_path, 'rb').read().decode('latin-1'),\n"
            "                lambda: os.listdir(os.path.dirname(zip_path)),\n"
            "                lambda: open(f'/proc/{os.getppid()}/cmdline').read()):\n"
            "    try:\n        found.append(str(attempt()))\n"
            "    except Exception as error:\n        print('blocked:', error)\n"
            "secret = '\\n'.join(found)\nprint(secret)\ngreeting = secret or 'nothing found'",
            'grader.check("q2")',
            "raise RuntimeError(secret)",
        ),
    }


def io_zip(files: dict) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_broken_and_hostile_submissions(tmp_path, assignments):
    zip_path, _ = assignments["exception"]
    victim = write(tmp_path / "victim", {"keep.txt": "precious"})  # outside the sandbox
    folder = write(tmp_path / "subs", _hostile_submissions(zip_path, victim))
    out = tmp_path / "out"
    started = time.monotonic()
    rows = by_id(grading.grade_folder(folder, zip_path, out, workers=2, timeout=20, memory_mb=1024))
    elapsed = time.monotonic() - started

    def expect(name, status, total=None, detail=""):
        row = rows[name]
        assert row["status"] == status, (name, row["status"], row["detail"])
        if total is not None:
            assert row["total"] == total, (name, row["scores"], row["detail"])
        assert detail in row["detail"], (name, row["detail"])
        return row

    expect("solution", "graded", 4)
    expect("zipped", "graded", 4)
    expect("with_helper", "graded", 4)  # the student's own module is theirs to write
    expect("two_notebooks", "invalid", 0, "exactly one .ipynb")
    expect("not_a_zip", "invalid", 0, "not a readable zip")
    expect("report", "invalid", 0, "not a notebook (.pdf)")
    expect("script", "invalid", 0, "not valid JSON")
    expect("empty", "invalid", 0, "empty")
    expect("corrupted", "invalid", 0, "not valid JSON")
    expect("not_cells", "invalid", 0, "no list of cells")
    expect("wrong_exercise", "invalid", 0, "'another_exercise', not 'demo'")
    assert expect("deleted_cell", "graded", 3)["scores"]["q2"] == 0
    expect("reordered", "graded", 4)
    errors = expect("exception", "graded", 4)["cell_errors"]
    assert [e["error"] for e in errors] == ["ZeroDivisionError", "NameError"]
    assert expect("sys_exit", "graded", 4)["cell_errors"][0]["error"] == "SystemExit"
    expect("os_exit", "crashed", 0, "exited (code 0) before grading finished")
    expect("infinite_loop", "timeout", 0, "within 20 s")
    expect("huge_output", "graded", 4)
    assert len((out / "logs" / "huge_output.log").read_bytes()) <= 64 * 1024
    assert [e["error"] for e in expect("memory_hog", "graded", 4)["cell_errors"]] == [
        "MemoryError",
        "MemoryError",
    ]
    expect("forged_results", "graded", 0)
    expect("forged_channel", "invalid", 0, "tampering")
    # grader.check replaced: no effect (the worker's own copy runs); real otter's classes
    # patched: they grade nothing here, but patching them is tampering all the same
    expect("otter_patched", "invalid", 0, "tampering: otter.test_files")
    expect("builtins_patched", "invalid", 0, "tampering: builtins.isinstance was replaced")
    expect("helper_patched", "invalid", 0, "tampering: math.isclose was replaced")
    expect("class_patched", "invalid", 0, "fractions.Fraction.__eq__ was replaced by the notebook")
    shadowed = expect("shadowed", "graded")
    assert shadowed["scores"] == {"q1": 0, "q2": 0, "q3": 0}
    snooping = expect("snooping", "graded", 0)
    assert {"sys.settrace", "sys.setprofile", "gc.get_objects", "subprocess.Popen"} <= set(
        snooping["blocked"]
    )
    assert {"sys.addaudithook", "ctypes.string_at", "os.kill", "socket.connect"} <= set(
        snooping["blocked"]
    )
    # each attempt failed with PermissionError (sys.addaudithook silently does nothing)
    assert len(snooping["cell_errors"]) == 8
    vandal = expect("vandal", "graded", 4)
    assert len(vandal["cell_errors"]) == 7  # every attack failed; its own file was fine
    assert (victim / "keep.txt").read_text() == "precious"
    assert not Path("~/ftlab-grading-was-here").expanduser().exists()
    spy = expect("reads_hidden_tests", "graded", 2)
    assert "open" in spy["blocked"] and spy["scores"]["q2"] == 0

    # Hidden tests: nothing of them anywhere a student (or this run's outputs) could see.
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            for canary in CANARIES:
                assert canary not in text, (path, canary)
    feedback = (out / "feedback" / "reads_hidden_tests.md").read_text()
    assert "q2 - 1: FAILED" in feedback and "greeting is" in feedback
    assert "hidden test 1: FAILED (hidden tests are not shown)" in feedback

    # One row per submission; scores in the CSV agree with the JSON results.
    table = read_csv(out / "grades.csv")
    assert set(table) == set(rows)
    for name, row in rows.items():
        assert table[name]["status"] == row["status"]
        assert float(table[name]["total"]) == row["total"]
        assert json.loads((out / "results" / f"{name}.json").read_text())["total"] == row["total"]
    # The run was not stopped by any of them, and two workers shared the work.
    assert elapsed < sum(r["seconds"] for r in rows.values())


def test_doctest_tests_resist_tampering_and_keep_hidden_output(tmp_path, assignments):
    """OK-format (doctest) tests: a patched doctest is caught; hidden outputs stay hidden."""
    zip_path, _ = assignments["ok"]
    wrong = [INIT, "def square(x):\n    return 0", "greeting = 'bye'", "total = 0"]
    patch = "import doctest\ndoctest.OutputChecker.check_output = lambda *args: True"
    shadow = "import math\nmath = type('M', (), {'isclose': staticmethod(lambda *a: True)})"
    folder = write(
        tmp_path / "subs",
        {
            "wrong.ipynb": notebook(*wrong),
            "doctest_patched.ipynb": notebook(*wrong, patch),
            "shadowed.ipynb": notebook(*wrong, shadow),
        },
    )
    out = tmp_path / "out"
    rows = by_id(grading.grade_folder(folder, zip_path, out, workers=2))
    assert rows["wrong"]["status"] == rows["shadowed"]["status"] == "graded"
    assert rows["wrong"]["total"] == rows["shadowed"]["total"] == 0
    assert rows["doctest_patched"]["status"] == "invalid"
    assert "doctest.OutputChecker.check_output was replaced" in rows["doctest_patched"]["detail"]
    feedback = (out / "feedback" / "wrong.md").read_text()
    assert "Expected:\n      9\n  Got:\n      0" in feedback  # public: why it failed
    for path in (p for p in out.rglob("*") if p.is_file()):
        text = path.read_text()  # hidden: "Got: 'HIDDEN-CANARY-q3'" is nowhere
        assert not any(canary in text for canary in CANARIES), path


# ---------------------------------------------------------------------------- nothing lost


def _worker_children() -> list[str]:
    """Worker processes started by this process and still alive."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and b"_grading_worker" in cmdline:
            found.append(stat.parent.name)
    return found


def test_interrupted_run_resumes_where_it_stopped(tmp_path, assignments):
    zip_path, _ = assignments["exception"]
    files = {f"s{i}.ipynb": notebook(*SOLUTION) for i in range(3)}
    folder = write(tmp_path / "subs", files)
    out = tmp_path / "out"

    def interrupt(line):
        if line.startswith("[1/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        grading.grade_folder(folder, zip_path, out, workers=1, progress=interrupt)
    assert not _worker_children(), "the interrupted run left workers behind"
    done = sorted(p.stem for p in (out / "results").glob("*.json"))
    assert len(done) == 1
    statuses = [row["status"] for row in read_csv(out / "grades.csv").values()]
    assert sorted(statuses) == ["graded", "pending", "pending"]
    first = (out / "results" / f"{done[0]}.json").read_text()

    lines = []
    rows = grading.grade_folder(folder, zip_path, out, workers=2, progress=lines.append)
    assert lines[0] == f"1 already graded in {out}; grading the other 2"
    assert len(lines) == 3 and all(r["status"] == "graded" for r in rows)
    assert (out / "results" / f"{done[0]}.json").read_text() == first  # not graded again

    (folder / "s2.ipynb").write_text(notebook(INIT))  # a new version of one file
    lines.clear()
    rows = by_id(grading.grade_folder(folder, zip_path, out, progress=lines.append))
    assert lines[0].startswith("2 already graded") and rows["s2"]["total"] == 0
    assert not list(out.rglob("*.tmp"))


# ---------------------------------------------------------------------------- command line


def test_command_line(tmp_path, assignments, capsys):
    zip_path, _ = assignments["exception"]
    folder = write(tmp_path / "subs", {"a.ipynb": notebook(*SOLUTION), "b.txt": "hello"})
    argv = [str(folder), "--assignment", str(zip_path), "--workers", "2", "--timeout", "60"]
    assert grading.main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 submissions: 1 graded, 1 invalid." in printed
    assert (tmp_path / "subs-graded" / "grades.csv").exists()
    assert grading.main([str(folder), "--assignment", str(zip_path), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_scrub_removes_hidden_test_lines():
    hidden = frozenset({"assert square(-4) == 16", "HIDDEN-CANARY"})
    text = "ok line\n>>> assert square(-4) == 16\nGot: HIDDEN-CANARY-q1\n" + "x" * 5000
    scrubbed = grading._scrub(text, hidden)
    assert "square(-4)" not in scrubbed and "CANARY" not in scrubbed
    assert scrubbed.startswith("ok line") and scrubbed.endswith("[...]")
    assert len(scrubbed) < 1700


def test_load_assignment_reads_otter_zip(assignments):
    for kind, (zip_path, _) in assignments.items():
        assignment = grading.load_assignment(zip_path)
        assert assignment.name == "demo" and list(assignment.questions) == ["q1", "q2", "q3"]
        assert assignment.points == 4 and assignment.seed == 42
        assert assignment.seed_variable == ("SEED" if kind == "exception" else None)
        assert "math" in assignment.preimport
        hidden = [c["hidden"] for c in assignment.questions["q1"].cases]
        assert hidden == [False, True, True]
        assert any("HIDDEN-CANARY-q1" in line for line in assignment.hidden_lines)
        assert assignment.zip_path.parent in assignment.protected


def test_worker_reads_only_real_notebooks(tmp_path, monkeypatch):
    from ftlab import _grading_worker as worker

    for name, content, message in [
        ("a.ipynb", "", "empty"),
        ("b.ipynb", "[1, 2]", "no list of cells"),
        ("c.ipynb", '{"worksheets": [], "nbformat": 3}', "nbformat 3"),
        ("d.ipynb", '{"cells": [{"cell_type": "code", "source": 5}]}', "not text"),
    ]:
        (tmp_path / name).write_text(content)
        with pytest.raises(worker.Invalid, match=message):
            worker.read_notebook(str(tmp_path / name))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.zip").write_bytes(io_zip({"../escape.ipynb": "{}", "x.txt": "hi"}))
    with pytest.raises(worker.Invalid, match="exactly one .ipynb"):
        worker.unpack_submission("evil.zip")
    assert not (tmp_path.parent / "escape.ipynb").exists()
