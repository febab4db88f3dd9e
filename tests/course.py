"""Shared helpers for the tests of the graded course (notebooks/ and exercises/)."""

import importlib.util
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _load_builder():
    path = ROOT / "scripts" / "build_exercises.py"
    spec = importlib.util.spec_from_file_location("build_exercises", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_exercises", module)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()
SOURCES = builder.source_notebooks()
EXERCISES = builder.EXERCISES


def ids(paths):
    return [p.stem for p in paths]


def read(path):
    return nbformat.read(path, as_version=4)


def config(path) -> dict:
    return builder.assignment_config(read(path))


def questions(path) -> dict[str, dict]:
    """{question name: its BEGIN QUESTION config} in notebook order."""
    found = {}
    for cell in read(path).cells:
        if cell.cell_type == "raw" and cell.source.startswith("# BEGIN QUESTION"):
            conf = yaml.safe_load(cell.source)
            found[conf["name"]] = conf
    return found


def question_test_cells(path) -> dict[str, list]:
    """{question name: its test cells}."""
    tests, current, inside = {}, None, False
    for cell in read(path).cells:
        text = cell.source
        if cell.cell_type == "raw" and text.startswith("# BEGIN QUESTION"):
            current = yaml.safe_load(text)["name"]
            tests[current] = []
        elif cell.cell_type == "raw" and text.startswith("# BEGIN TESTS"):
            inside = True
        elif cell.cell_type == "raw" and text.startswith("# END TESTS"):
            inside = False
        elif inside and cell.cell_type == "code":
            tests[current].append(cell)
    return tests


def results_scores(results_json: Path) -> dict[str, float]:
    """{question: score} from an `otter run` results.json."""
    data = json.loads(results_json.read_text())
    return {t["name"]: t["score"] for t in data["tests"] if "score" in t}


def run_timed(command: list[str], **kwargs):
    """subprocess.run(command) -> (completed, wall seconds, CPU seconds).

    CPU seconds count the command and every process it waited for (the notebook's
    kernel): unlike wall time, they hardly grow when other jobs share the machine.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, wall, cpu
