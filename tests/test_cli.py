"""The `ftlab` command: its outputs, and one clear line for every mistake."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from ftlab import vehicles
from ftlab.cli import main

# Hidden options shrink the run for tests (same code path as the default run).
FAST = [
    "--trucks", "4", "--seed", "1", "--quiet", "--head-epochs", "1", "--epochs", "1",
    "--scratch-epochs", "2", "--val", "2", "--test-per-class", "10",
    "--source-test-per-class", "3",
]  # fmt: skip


def test_car_to_truck_writes_report_and_pictures(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["car-to-truck", *FAST, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fine-tuned" in printed and str(out / "report.json") in printed
    report = json.loads((out / "report.json").read_text())
    assert {
        "task", "recipe", "before", "head_only", "fine_tuned", "forgetting",
        "from_scratch", "gain_over_scratch", "history", "timings_seconds", "versions", "files",
    } <= set(report)  # fmt: skip
    assert report["task"]["trucks"] == 4 and report["task"]["seed"] == 1
    assert report["task"]["test_per_class"] == 10
    assert 0.0 <= report["fine_tuned"]["accuracy"] <= 1.0
    assert 0.0 <= report["from_scratch"]["accuracy"] <= 1.0
    assert -1.0 <= report["forgetting"]["drop"] <= 1.0
    for name in report["files"]:
        with Image.open(out / name) as image:
            image.verify()


def _error_line(capsys):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("ftlab: error: ")
    return lines[0]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--trucks", "0"], "--trucks must be at least 1"),
        (["--trucks", "-5"], "--trucks must be at least 1"),
        (["--trucks", "many"], "expected a whole number"),
        (["--trucks", "5001"], "--trucks=5001 is too many"),
        (["--trucks", "4990", "--real"], "CIFAR-10 has 5000 trucks"),
        (["--seed", "-1"], "--seed must be a whole number >= 0"),
        (["--colour", "red"], "unrecognized arguments"),
    ],
)
def test_mistakes_are_one_line_and_exit_status_2(args, expected, capsys, tmp_path):
    assert main(["car-to-truck", *args, "--out", str(tmp_path)]) == 2
    assert expected in _error_line(capsys)
    assert not (tmp_path / "report.json").exists()


def test_real_without_network_suggests_the_offline_default(monkeypatch, capsys, tmp_path):
    def offline(*args, **kwargs):
        raise ConnectionError(
            "could not download CIFAR-10: there is no network here (or the download failed)."
        )

    monkeypatch.setattr(vehicles, "load_cifar10", offline)
    assert main(["car-to-truck", "--real", "--out", str(tmp_path)]) == 2
    line = _error_line(capsys)
    assert "--real" in line and "Run without --real" in line


def test_unknown_or_missing_subcommand(capsys):
    assert main(["fly"]) == 2
    assert "invalid choice" in _error_line(capsys)
    assert main([]) == 2
    assert "car-to-truck" in capsys.readouterr().out  # the help, listing the commands


def test_python_dash_m_ftlab_runs_the_cli():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "ftlab", "car-to-truck", "--trucks", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("ftlab: error: --trucks")
    assert "Traceback" not in done.stderr
