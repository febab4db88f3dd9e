"""The committed exercises (exercises/) are what `make exercises` builds, and sound.

The heavy test rebuilds each exercise into a temporary folder with the same code as
`make exercises` (scripts/build_exercises.py). That one `otter assign` run does two
jobs: otter grades the solutions and fails unless they score 100 %, and its output is
compared with the committed exercise, file by file (notebooks as cells, zips as their
members), so an edited source notebook without a rebuild fails here.
"""

import ast
import json
import subprocess
import sys
import types

import pytest
from course import EXERCISES, SOURCES, builder, ids, questions, read


def exercise(notebook):
    return EXERCISES / notebook.stem


def student_notebook(notebook):
    return exercise(notebook) / "student" / notebook.name


def test_every_source_has_an_exercise_and_nothing_else():
    built = sorted(p.name for p in EXERCISES.iterdir() if p.is_dir())
    assert built == [p.stem for p in SOURCES], "run `make exercises`"


def _differences(committed: dict, fresh: dict) -> list[str]:
    lines = []
    for path in sorted(set(committed) | set(fresh)):
        if path not in fresh:
            lines.append(f"{path}: committed but no longer built")
        elif path not in committed:
            lines.append(f"{path}: built but not committed")
        elif committed[path] != fresh[path]:
            lines.append(f"{path}: differs")
    return lines


@pytest.mark.parametrize("notebook", SOURCES, ids=ids(SOURCES))
def test_solutions_score_100_and_exercise_is_up_to_date(notebook, tmp_path):
    fresh = builder.build(notebook, tmp_path)  # raises unless the solutions score 100 %
    differences = _differences(builder.snapshot(exercise(notebook)), builder.snapshot(fresh))
    assert not differences, (
        f"exercises/{notebook.stem} is out of date: run `make exercises`.\n"
        + "\n".join(differences)
    )


@pytest.mark.parametrize("notebook", SOURCES, ids=ids(SOURCES))
def test_student_notebook_opens_on_colab_and_in_jupyter(notebook):
    cells = read(student_notebook(notebook)).cells
    badge, setup, init = cells[0], cells[1], cells[2]
    assert badge.cell_type == "markdown"
    assert builder.colab_url(notebook.stem) in badge.source
    assert builder.colab_url(notebook.stem).startswith(
        f"https://colab.research.google.com/github/{builder.GITHUB_REPO}/blob/{builder.BRANCH}/"
        f"exercises/{notebook.stem}/student/{notebook.name}"
    )
    assert setup.cell_type == "code" and '"google.colab" in sys.modules' in setup.source
    assert "grader = otter.Notebook()" in init.source
    assert not any("%pip install" in c.source for c in cells), "otter's unpinned install cell"
    checks = [c.source for c in cells if c.source.startswith("grader.check(")]
    assert checks == [f'grader.check("{q}")' for q in questions(notebook)]
    assert any("grader.export(" in c.source for c in cells)


@pytest.mark.parametrize("notebook", SOURCES, ids=ids(SOURCES))
def test_student_notebook_is_valid_python(notebook):
    """Solution stripping must leave code that parses (a `# SOLUTION` marker on one line
    of a statement that spans several lines does not)."""
    for number, cell in enumerate(read(student_notebook(notebook)).cells):
        if cell.cell_type != "code":
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
        try:
            ast.parse(code)
        except SyntaxError as error:
            pytest.fail(f"cell {number} of the student notebook does not parse: {error}\n{code}")


def solution_lines(notebook) -> list[str]:
    """Code lines that only the solutions have: `... # SOLUTION` lines and the lines of
    `# BEGIN SOLUTION` ... `# END SOLUTION` blocks, unless the same line also appears
    outside them (in given code or in a prompt)."""
    solutions, given, inside = [], set(), False
    for cell in read(notebook).cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            text = line.strip()
            if text.startswith("# BEGIN SOLUTION"):
                inside = True
            elif text.startswith("# END SOLUTION"):
                inside = False
            elif text.endswith("# SOLUTION"):
                solutions.append(text.rsplit("# SOLUTION", 1)[0].strip())
            elif inside and text:
                solutions.append(text)
            else:
                given.add(text)
    # Brackets and short fragments (a lone ")") also appear in given code.
    return [line for line in solutions if len(line) >= 12 and line not in given]


@pytest.mark.parametrize("notebook", SOURCES, ids=ids(SOURCES))
def test_student_files_hold_no_solutions_and_no_hidden_tests(notebook):
    student = student_notebook(notebook)
    cells = read(student).cells
    tagged = [c for c in cells if "otter_answer_cell" in c.metadata.get("tags", [])]
    answers = {line.strip() for c in tagged for line in c.source.splitlines()}
    assert answers, "no answer cells in the student notebook"
    for solution in solution_lines(notebook):
        assert solution not in answers, f"solution leaked: {solution}"
    assert "# NBVAL_" not in "\n".join(c.source for c in cells)
    assert all(c.outputs == [] for c in cells if c.cell_type == "code")
    public = sorted((student.parent / "tests").glob("*.py"))
    assert [p.stem for p in public] == list(questions(notebook))
    for path in public:
        assert "hidden=True" not in path.read_text(), f"{path.name} holds a hidden test"
    every = exercise(notebook) / "autograder" / "tests"
    assert any("hidden=True" in p.read_text() for p in every.glob("*.py"))


def _setup_cell(notebook):
    return read(student_notebook(notebook)).cells[1].source


def test_setup_cell_does_nothing_outside_colab(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("no install here"))
    exec(_setup_cell(SOURCES[0]), {})
    assert list(tmp_path.iterdir()) == []


def test_setup_cell_on_colab_installs_pinned_packages_and_fetches_the_tests(tmp_path, monkeypatch):
    import urllib.request

    notebook = SOURCES[0]
    installs, fetched = [], []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: installs.append(cmd))
    monkeypatch.setattr(urllib.request, "urlretrieve", lambda url, dst: fetched.append((url, dst)))
    exec(_setup_cell(notebook), {})
    (command,) = installs
    assert command[1:5] == ["-m", "pip", "install", "-q"]
    assert builder.FTLAB_REQUIREMENT in command
    assert f"otter-grader=={builder.OTTER_VERSION}" in command
    assert (tmp_path / "tests").is_dir()
    base = builder.raw_tests_url(notebook.stem)
    assert fetched == [(f"{base}/{q}.py", f"tests/{q}.py") for q in questions(notebook)]


def test_urls_come_from_one_place():
    assert f"https://github.com/{builder.GITHUB_REPO}" == builder.REPO_URL
    assert f"ftlab @ git+{builder.REPO_URL}@{builder.BRANCH}" == builder.FTLAB_REQUIREMENT
    zipped = exercise(SOURCES[0]) / "autograder" / builder.zip_name(SOURCES[0].stem)
    members = builder.snapshot(zipped.parent)[zipped.name]
    # The autograder's environment installs the course package from the same place.
    assert f"- {builder.FTLAB_REQUIREMENT}\n" in members["environment.yml"] + "\n"
    assert (zipped.parent / "requirements.txt").read_text().strip() == builder.FTLAB_REQUIREMENT
    assert json.loads(members["otter_config.json"])["seed_variable"] == "SEED"


def test_course_guide_links_every_exercise():
    guide = (builder.ROOT / "docs" / "course.md").read_text()
    assert builder.REPO_URL in guide
    assert f"otter-grader=={builder.OTTER_VERSION}" in guide
    for notebook in SOURCES:
        assert builder.colab_url(notebook.stem) in guide, f"docs/course.md misses {notebook.stem}"


def _run_test_file(path, env):
    """Run one of otter's exception-based test files against `env`, as grading does."""
    from otter.test_files import ExceptionTestFile

    test_file = ExceptionTestFile.from_file(str(path))
    test_file.run(dict(env))
    return test_file


@pytest.mark.parametrize("notebook", SOURCES, ids=ids(SOURCES))
def test_skipped_cells_get_a_message_not_a_crash(notebook):
    """Every test, hidden ones too, run on a notebook whose cells were never run: each
    fails with an AssertionError that names what is missing (no KeyError, NameError,
    TypeError or AttributeError from inside the test or ftlab)."""
    for path in sorted((exercise(notebook) / "autograder" / "tests").glob("*.py")):
        result = _run_test_file(path, {})
        for case in result.test_case_results:
            assert not case.passed, f"{path.name}: {case.test_case.name} passes with no answers"
            last = case.message.strip().splitlines()[-1]
            assert last.startswith("AssertionError: "), f"{path.name}: {case.message}"


def test_wrong_answers_get_messages_that_say_what_is_wrong():
    """Start here's checks, run by otter on answers that students really write."""
    import numpy as np

    tests = exercise(SOURCES[0]) / "student" / "tests"

    def messages(question, env):
        result = _run_test_file(tests / f"{question}.py", env)
        return "\n".join(case.message for case in result.test_case_results)

    assert "`n_classes` should be an int, but it is a list: [10]" in messages(
        "q1", {"n_classes": [10]}
    )
    assert "`n_classes` is still `...`" in messages("q1", {"n_classes": ...})
    assert "`x_small` is not defined. Run the cell that creates it" in messages("q2", {})

    def brightnes(images):
        return float(np.mean(images))

    assert "Did you rename it to `brightnes`?" in messages("q3", {"brightnes": brightnes})

    def brightness(images):
        np.mean(images)  # forgot to return

    assert "it is None. Did you forget a `return`?" in messages("q3", {"brightness": brightness})
