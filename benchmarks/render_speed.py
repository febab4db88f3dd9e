"""How fast does ftlab.vehicles draw pictures? Prints a markdown table and saves it.

Run from the repository root::

    python benchmarks/render_speed.py            # writes benchmarks/results/render_speed.md
    python benchmarks/render_speed.py --n 200    # images per class per timing

Numpy's element-wise work runs on one core, so the numbers are images per second on one
CPU core. Each cell is the best of a few repeats (the least disturbed by other work),
counted per CPU second of this process and per wall-clock second.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the docstring of vehicles says

import numpy as np  # noqa: E402

from ftlab import vehicles  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "render_speed.md"


def images_per_second(size: int, style: str, n_per_class: int, repeats: int):
    """Best-of-`repeats` rates for rendering n_per_class pictures of every class.

    Returns (per CPU second of this process, per wall-clock second). The first is what one
    core manages even when other programs share the machine; the second is what you wait.
    """
    best_cpu = best_wall = float("inf")
    for r in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        x, _ = vehicles.make_images(n_per_class=n_per_class, seed=r, size=size, style=style)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return len(x) / best_cpu, len(x) / best_wall


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="images per class per timing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    vehicles.make_images(n_per_class=5)  # warm up
    sizes, styles = (32, 64), vehicles.STYLES
    lines = [
        "# Render speed of `ftlab.vehicles`",
        "",
        f"Images per second on one CPU core ({len(vehicles.CLASS_NAMES)} classes, "
        f"{args.n} images per class, best of {args.repeats}): per CPU second of the process "
        f"and, in brackets, per wall-clock second (lower when other programs share the CPU). "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}.",
        "",
        "Command: `python benchmarks/render_speed.py`",
        "",
        "| size | " + " | ".join(styles) + " |",
        "|---:|" + "---:|" * len(styles),
    ]
    for size in sizes:
        rates = [images_per_second(size, s, args.n, args.repeats) for s in styles]
        cells = [f"{cpu:,.0f} ({wall:,.0f})" for cpu, wall in rates]
        lines.append(f"| {size}x{size} | " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    return table


if __name__ == "__main__":
    main()
