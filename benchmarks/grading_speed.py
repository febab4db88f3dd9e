"""How fast ``ftlab grade`` grades: submissions per minute, with 1 and with 2 workers.

    .venv/bin/python benchmarks/grading_speed.py [--copies 3] [--out FILE]

Grades the first exercise's autograder (``exercises/01*/autograder/*.zip``) on a folder
holding ``--copies`` copies of its solution notebook and as many of its blank student
notebook, once with ``--workers 1`` and once with ``--workers 2``, one after the other in
this run, and writes a markdown table (default ``benchmarks/results/grading_speed.md``).
Every submission is graded from scratch (a fresh output folder per setting), and the
scores are checked: solutions get full marks, blank notebooks 0.

If no exercise has been built yet, it grades the small assignment of
``tests/test_grading.py`` instead, and says so in the table.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _exercise() -> tuple[str, Path, Path, Path]:
    """(name, autograder zip, solution notebook, student notebook) of the first exercise."""
    for folder in sorted((ROOT / "exercises").glob("01*")):
        zips = sorted((folder / "autograder").glob("*.zip"))
        solutions = sorted((folder / "autograder").glob("*.ipynb"))
        students = sorted((folder / "student").glob("*.ipynb"))
        if zips and solutions and students:
            return folder.name, zips[0], solutions[0], students[0]
    return _test_assignment()


def _test_assignment() -> tuple[str, Path, Path, Path]:
    """The tests' tiny assignment, built with otter assign (no exercise exists yet)."""
    import nbformat
    from otter.assign import main as otter_assign

    sys.path.insert(0, str(ROOT / "tests"))
    from test_grading import SOLUTION, _source_notebook, notebook

    folder = Path(tempfile.mkdtemp(prefix="ftlab-bench-"))
    source = folder / "source" / "demo.ipynb"
    source.parent.mkdir()
    nbformat.write(_source_notebook(False), source)
    otter_assign(str(source), str(folder / "dist"), no_pdfs=True, no_run_tests=True)
    solution = folder / "solution.ipynb"
    solution.write_text(notebook(*SOLUTION))
    (zip_path,) = (folder / "dist" / "autograder").glob("*.zip")
    student = folder / "dist" / "student" / "demo.ipynb"
    name = "the test assignment of tests/test_grading.py (no exercise built yet)"
    return name, zip_path, solution, student


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3, help="copies of each notebook")
    default_out = ROOT / "benchmarks" / "results" / "grading_speed.md"
    parser.add_argument("--out", default=str(default_out), help="markdown file to write")
    args = parser.parse_args(argv)

    from ftlab.grading import grade_folder, load_assignment

    name, zip_path, solution, student = _exercise()
    assignment = load_assignment(zip_path)
    work = Path(tempfile.mkdtemp(prefix="ftlab-grading-speed-"))
    submissions = work / "submissions"
    submissions.mkdir()
    for i in range(args.copies):
        shutil.copyfile(solution, submissions / f"solution{i}.ipynb")
        shutil.copyfile(student, submissions / f"student{i}.ipynb")
    count = 2 * args.copies

    rows = []
    load_before = _load()
    for workers in (1, 2):
        started = time.perf_counter()
        results = grade_folder(submissions, assignment, work / f"out-{workers}", workers=workers)
        wall = time.perf_counter() - started
        for result in results:
            expected = result["max"] if result["id"].startswith("solution") else 0
            if result["status"] != "graded" or result["total"] != expected:
                raise SystemExit(f"wrong grade for {result['id']}: {result}")
        mean = sum(r["seconds"] for r in results) / len(results)
        rows.append((workers, wall, 60 * count / wall, mean))
        print(f"workers={workers}: {count} submissions in {wall:.1f} s", flush=True)
    shutil.rmtree(work, ignore_errors=True)

    base = rows[0][1]
    lines = [
        "# Grading speed: `ftlab grade`, 1 vs 2 workers",
        "",
        f"Exercise: **{name}** ({assignment.points:g} points, {len(assignment.questions)} "
        f"questions). {count} submissions: {args.copies} solution notebooks (full marks) and "
        f"{args.copies} blank student notebooks (0), every one graded from scratch in its own "
        "worker process (each worker starts Python, IPython and TensorFlow).",
        "",
        "| workers | submissions | wall time (s) | submissions / minute "
        "| mean time per submission (s) | speed-up |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for workers, wall, per_minute, mean in rows:
        lines.append(
            f"| {workers} | {count} | {wall:.1f} | {per_minute:.1f} | {mean:.1f} "
            f"| {base / wall:.2f}x |"
        )
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines += [
        "",
        f"Machine: {cpus} CPU cores, {platform.system()} {platform.machine()}, Python "
        f"{platform.python_version()}; load average {load_before} before and {_load()} after "
        "the run (other work on the machine slows both settings).",
        f"Measured {datetime.date.today().isoformat()} with "
        "`.venv/bin/python benchmarks/grading_speed.py"
        + (f" --copies {args.copies}`." if args.copies != 3 else "`."),
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
