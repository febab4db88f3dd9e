"""The source notebooks (notebooks/): well-formed, and they run top to bottom.

Each notebook runs once here, under nbval with `--nbval-lax`: a cell that raises fails
the test (the test cells are code cells too, so every solution must pass every test,
hidden ones included), and the cells marked `# NBVAL_CHECK_OUTPUT` must print what the
committed notebook shows. The other kinds of checks (otter grades the solutions, a blank
student notebook scores 0) live in test_exercises.py and test_blank_exercises.py, so
pytest-xdist (`--dist loadfile`) spreads the three heavy files over its workers.
"""

import re
import sys

import pytest
from course import (
    ROOT,
    SOURCES,
    builder,
    config,
    ids,
    question_test_cells,
    questions,
    read,
    run_timed,
)

# Each notebook must run in 90 s on 2 CPU cores. Measured as CPU seconds (pytest, nbval
# and the kernel), which other jobs on the machine hardly change.
NOTEBOOK_BUDGET_S = 90


def test_there_are_source_notebooks():
    assert [p.stem for p in SOURCES][:1] == ["00_start_here"]


@pytest.mark.parametrize("notebook", SOURCES, ids=ids(SOURCES))
def test_assignment_config(notebook):
    conf = config(notebook)
    assert conf["name"] == notebook.stem
    assert conf["runs_on"] == "colab"
    assert conf["tests"] == {"files": True, "ok_format": False}
    assert conf["seed"] == {"variable": "SEED", "autograder_value": 42, "student_value": 42}
    assert conf["export_cell"]["pdf"] is False
    assert conf["generate"]["pdf"] is False


@pytest.mark.parametrize("notebook", SOURCES, ids=ids(SOURCES))
def test_notebook_shape(notebook):
    """Objectives, 2 to 5 graded questions with public and hidden tests, a summary."""
    nb = read(notebook)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert re.search(r"^# \d\d · ", markdown, flags=re.M), "title like '# 02 · Freezing'"
    assert "you will" in markdown.lower(), "state the objectives ('In this notebook you will')"
    assert "## Summary" in markdown
    qs = questions(notebook)
    assert 2 <= len(qs) <= 5, f"{len(qs)} questions"
    assert list(qs) == [f"q{i}" for i in range(1, len(qs) + 1)]
    for name, cells in question_test_cells(notebook).items():
        hidden = ["hidden: true" in c.source for c in cells]
        assert any(hidden) and not all(hidden), f"{name}: give it public and hidden tests"
        for cell in cells:
            assert "(env)" in cell.source and "(globals())" in cell.source, cell.source


@pytest.mark.parametrize("notebook", SOURCES, ids=ids(SOURCES))
def test_setup_cell_seeds_keras(notebook):
    code = [c.source for c in read(notebook).cells if c.cell_type == "code"]
    setup = next(c for c in code if "# SEED" in c)
    assert "SEED = 42  # SEED" in setup
    assert re.search(r"(set_random_seed|seed_everything)\(SEED\)", setup)


@pytest.mark.parametrize("notebook", SOURCES, ids=ids(SOURCES))
def test_notebook_is_saved_with_outputs(notebook):
    """nbval compares only cells with a stored execution count: save notebooks executed."""
    for cell in read(notebook).cells:
        if cell.cell_type == "code":
            assert cell.execution_count is not None, f"not executed: {cell.source[:60]!r}"
            assert not any(o.output_type == "error" for o in cell.outputs), cell.source[:60]


@pytest.mark.parametrize("notebook", SOURCES, ids=ids(SOURCES))
def test_notebook_runs_top_to_bottom(notebook):
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval-lax",
        "--nbval-current-env",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-q",
        str(notebook.relative_to(ROOT)),
    ]
    done, wall, cpu = run_timed(command, cwd=ROOT, env=builder.notebook_env())
    assert done.returncode == 0, f"nbval failed:\n{done.stdout[-8000:]}\n{done.stderr[-3000:]}"
    print(f"{notebook.name}: {wall:.0f} s wall, {cpu:.0f} s CPU")
    assert cpu < NOTEBOOK_BUDGET_S, f"{notebook.name} took {cpu:.0f} CPU seconds"
