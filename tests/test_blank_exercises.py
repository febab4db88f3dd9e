"""Grading a blank student notebook gives 0 on every question.

This is what a teacher runs for one submission (`otter run`, no Docker): the committed
autograder zip grades the committed student notebook, unanswered. A question that
scores anything here has a test that passes without an answer.
"""

import sys

import pytest
from course import EXERCISES, SOURCES, builder, ids, questions, results_scores, run_timed


@pytest.mark.parametrize("notebook", SOURCES, ids=ids(SOURCES))
def test_blank_student_notebook_scores_zero(notebook, tmp_path):
    folder = EXERCISES / notebook.stem
    autograder = folder / "autograder" / builder.zip_name(notebook.stem)
    student = folder / "student" / notebook.name
    out = tmp_path / "results"
    out.mkdir()
    command = [sys.executable, "-m", "otter", "run", "-a", str(autograder), "-o", str(out)]
    done, wall, cpu = run_timed([*command, str(student)], cwd=tmp_path, env=builder.notebook_env())
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    print(f"graded blank {notebook.name}: {wall:.0f} s wall, {cpu:.0f} s CPU")
    scores = results_scores(out / "results.json")
    assert set(scores) == set(questions(notebook))
    assert all(score == 0 for score in scores.values()), scores
