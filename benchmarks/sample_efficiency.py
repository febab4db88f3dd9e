"""How many trucks does each method need? Fine-tuning vs feature extraction vs from scratch.

For N trucks (and as many cars) in {5, 10, 20, 50, 100, 200, 500} and several seeds, train

* **fine-tuned**: the car model with a new car/truck head, head first, then the top
  block unfrozen at a 10x lower learning rate (`ftlab.car_to_truck.fine_tune_car_model`);
* **feature extraction**: the same, but the body stays frozen: only the head trains,
  for as many epochs as fine-tuning's two stages together;
* **from scratch**: the same architecture, randomly initialised, every layer training;

and measure test accuracy on 500 + 500 held-out pictures (the same test pictures for
every N of a seed). The recipe is `ftlab.car_to_truck.Recipe()`, the one
``ftlab car-to-truck`` uses; nothing here is tuned on the test set.

Results are cached, one JSON line per (method, N, seed), in
``benchmarks/results/sample_efficiency.jsonl``: run it again and it resumes where it
stopped (cached lines from another recipe or another car model are ignored). At the end
it writes ``sample_efficiency.md`` (a table, mean and spread) and
``sample_efficiency.png`` (a plot) next to the cache.

    python benchmarks/sample_efficiency.py            # the full run (about half an hour)
    python benchmarks/sample_efficiency.py --quick    # N in {5, 20}, 1 seed, short training
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from ftlab import vehicles  # noqa: E402
from ftlab.car_model import CAR_MODEL_PRESET, load_car_model  # noqa: E402
from ftlab.car_to_truck import (  # noqa: E402
    Recipe,
    accuracy_on,
    feature_extraction,
    fine_tune_car_model,
    target_data,
    train_from_scratch,
)
from ftlab.reproducibility import seed_everything  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (5, 10, 20, 50, 100, 200, 500)
SEEDS = (0, 1, 2)
TEST_PER_CLASS = 500
METHODS = ("fine-tuned", "feature extraction", "from scratch")
QUICK_RECIPE = {"head_epochs": 5, "epochs": 5, "scratch_epochs": 20}


def fingerprint(*files) -> str:
    """A short hash of files: cached results belong to one car model and one renderer."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()[:12]


def renderer_fingerprint() -> str:
    """A short hash of pictures the renderer draws: a change in them invalidates the cache
    (an edit of vehicles.py that draws the same pictures does not)."""
    data = vehicles.splits(("car", "truck"), train=4, val=1, test=4, seed=0)
    digest = hashlib.sha256()
    for x, y in data.values():
        digest.update(x.tobytes())
        digest.update(y.tobytes())
    return digest.hexdigest()[:12]


def car_model_fingerprint() -> str:
    return fingerprint(
        *(Path(CAR_MODEL_PRESET) / n for n in ("model.weights.h5", "task.weights.h5"))
    )


def run_one(method: str, n: int, seed: int, recipe: Recipe, car_model) -> dict:
    """Train one model and return its test accuracy and timing."""
    keras.backend.clear_session()
    seed_everything(seed)
    data = target_data(n, seed=seed, val=0, test=TEST_PER_CLASS)
    start = time.perf_counter()
    seed_everything(seed)
    if method == "fine-tuned":
        model, _ = fine_tune_car_model(car_model, data["train"], recipe=recipe, verbose=0)
    elif method == "feature extraction":
        model, _ = feature_extraction(car_model, data["train"], recipe=recipe, verbose=0)
    else:
        model, _ = train_from_scratch(data["train"], recipe=recipe, seed=seed, verbose=0)
    seconds = time.perf_counter() - start
    return {"test_accuracy": accuracy_on(model, data["test"]), "train_seconds": round(seconds, 2)}


def load_cache(path: Path, key: dict) -> dict:
    """Cached results of this configuration: (method, n, seed) -> record."""
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by an interrupted run
            if record.get("key") == key:
                done[(record["method"], record["n"], record["seed"])] = record
    return done


def summarize(done: dict, sizes, seeds) -> dict:
    """method -> list of (n, accuracies over seeds) for the sizes fully measured."""
    table = {}
    for method in METHODS:
        rows = []
        for n in sizes:
            values = [
                done[(method, n, s)]["test_accuracy"] for s in seeds if (method, n, s) in done
            ]
            if values:
                rows.append((n, values))
        table[method] = rows
    return table


def goals(table: dict) -> list[str]:
    """Check the course's claims against the measurements (whatever they say)."""
    means = {m: {n: float(np.mean(v)) for n, v in rows} for m, rows in table.items()}
    ft, scratch = means["fine-tuned"], means["from scratch"]
    lines = []
    if 20 not in ft or 20 not in scratch:
        return ["(N = 20 not measured: no verdict on the goals)"]
    ok = "met" if ft[20] >= 0.90 else "MISSED"
    lines.append(f"- Fine-tuned at N = 20 reaches >= 0.90 test accuracy: {ft[20]:.3f} ({ok}).")
    gap = ft[20] - scratch[20]
    ok = "met" if gap >= 0.15 else "MISSED"
    lines.append(
        f"- Fine-tuned beats from scratch at N = 20 by >= 15 points: {100 * gap:+.1f} "
        f"points ({ok})."
    )
    matched = [n for n in sorted(scratch) if scratch[n] >= ft[20]]
    if matched:
        ratio = matched[0] / 20
        ok = "met" if ratio >= 10 else "MISSED"
        lines.append(
            f"- From scratch needs >= 10x the data to match fine-tuned at N = 20: it first "
            f"matches at N = {matched[0]} ({ratio:g}x) ({ok})."
        )
    else:
        verdict = "met" if max(scratch) >= 200 else "not determined: measure larger N"
        best = max(scratch, key=scratch.get)
        lines.append(
            f"- From scratch needs >= 10x the data to match fine-tuned at N = 20: it never "
            f"reaches {ft[20]:.3f} up to N = {max(scratch)}; its best is {scratch[best]:.3f} "
            f"at N = {best} ({best // 20}x the data) ({verdict})."
        )
    return lines


def write_results(done: dict, sizes, seeds, out: Path, meta: dict) -> None:
    from ftlab.evaluation import DataSizeCurve, plot_data_size_curves

    table = summarize(done, sizes, seeds)
    header = "| N trucks (+ N cars) | " + " | ".join(METHODS) + " |"
    lines = [
        "# Sample efficiency: car to truck",
        "",
        "Test accuracy (car vs truck, 500 + 500 held-out pictures per seed) against the "
        "number of training trucks N (and as many cars). Each cell: mean over seeds "
        "± standard deviation [min, max].",
        "",
        header,
        "| " + " | ".join(["---"] * (len(METHODS) + 1)) + " |",
    ]
    for n in sizes:
        cells = []
        for method in METHODS:
            values = dict(table[method]).get(n)
            if not values:
                cells.append("—")
                continue
            v = np.asarray(values)
            cells.append(
                f"{v.mean():.3f} ± {v.std():.3f} [{v.min():.3f}, {v.max():.3f}] (n={len(v)})"
            )
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += ["", "## The course's goals, checked", "", *goals(table), ""]
    lines += [
        "## How it was measured",
        "",
        f"- Command: `{meta['command']}`",
        f"- Seeds: {list(seeds)}; test pictures per class: {TEST_PER_CLASS}; no validation "
        "split and no early stopping: every model trains for its whole budget.",
        f"- Recipe (`ftlab.car_to_truck.Recipe`): {json.dumps(meta['recipe'])}.",
        "- Fine-tuned: head for `head_epochs` at `lr`, then the top block (`unfreeze`) at "
        "`fine_tune_lr`, BatchNormalization frozen. Feature extraction: head only, "
        "`head_epochs + epochs` epochs. From scratch: the car model's architecture, random "
        "initial weights, `scratch_epochs` epochs at `scratch_lr`.",
        f"- Car model weights: {meta['car_model']}.",
        f"- Total training time of the measured runs: {meta['train_seconds'] / 60:.1f} min "
        f"on {os.cpu_count()} CPU cores ({platform.platform()}).",
        f"- Versions: {meta['versions']}.",
        "",
    ]
    (out / f"{meta['name']}.md").write_text("\n".join(lines))

    curves = {}
    for method in METHODS:
        rows = [(n, v) for n, v in table[method] if len(v) == len(seeds)]
        if rows:
            curves[method] = DataSizeCurve(
                tuple(n for n, _ in rows), tuple(seeds), np.array([v for _, v in rows])
            )
    if curves:
        fig = plot_data_size_curves(curves)
        ax = fig.axes[0]
        ax.set_xlabel("training trucks N (and as many cars)")
        ax.set_title("Car to truck: test accuracy against data (mean ± std over seeds)")
        ax.axhline(0.9, color="gray", linestyle=":", linewidth=1)
        fig.savefig(out / f"{meta['name']}.png", bbox_inches="tight", dpi=100)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N in {5, 20}, 1 seed, short runs")
    parser.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=None)
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3)")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    args = parser.parse_args(argv)

    sizes = tuple(args.sizes or ((5, 20) if args.quick else SIZES))
    seeds = tuple(range(args.seeds or (1 if args.quick else len(SEEDS))))
    recipe = replace(Recipe(), **QUICK_RECIPE) if args.quick else Recipe()
    name = "sample_efficiency_quick" if args.quick else "sample_efficiency"
    out = args.out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    cache = out / f"{name}.jsonl"
    key = {
        "recipe": asdict(recipe),
        "car_model": car_model_fingerprint(),
        "renderer": renderer_fingerprint(),
        "test_per_class": TEST_PER_CLASS,
        "keras": keras.__version__,
    }
    done = load_cache(cache, key)
    car_model = load_car_model()
    todo = [(m, n, s) for n in sizes for s in seeds for m in METHODS if (m, n, s) not in done]
    print(f"{len(done)} results cached in {cache}, {len(todo)} to run.", flush=True)
    for i, (method, n, seed) in enumerate(todo, start=1):
        result = run_one(method, n, seed, recipe, car_model)
        record = {"method": method, "n": n, "seed": seed, **result, "key": key}
        with cache.open("a") as f:
            f.write(json.dumps(record) + "\n")
        done[(method, n, seed)] = record
        print(
            f"[{i}/{len(todo)}] {method:18s} N={n:4d} seed={seed}: "
            f"test accuracy {result['test_accuracy']:.4f} ({result['train_seconds']:.0f} s)",
            flush=True,
        )
    import keras_hub
    import tensorflow as tf

    measured = [r for r in done.values() if r["n"] in sizes and r["seed"] in seeds]
    meta = {
        "name": name,
        "command": "python benchmarks/sample_efficiency.py" + (" --quick" if args.quick else ""),
        "recipe": asdict(recipe),
        "car_model": key["car_model"],
        "train_seconds": sum(r["train_seconds"] for r in measured),
        "versions": f"keras {keras.__version__}, keras-hub {keras_hub.__version__}, "
        f"tensorflow {tf.__version__}, python {sys.version.split()[0]}",
    }
    write_results(done, sizes, seeds, out, meta)
    print((out / f"{name}.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
