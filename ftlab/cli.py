"""The ``ftlab`` command: the course's experiments from a shell.

    ftlab car-to-truck [--trucks N] [--seed S] [--out DIR] [--real]
    ftlab grade SUBMISSIONS --assignment NAME_OR_ZIP [--out DIR] [--workers N] [--timeout S]

runs `ftlab.car_to_truck.run_car_to_truck`: it teaches the bundled car model trucks
from N truck pictures (and N cars), prints Keras progress bars, and writes
``DIR/report.json`` and pictures. ``python -m ftlab ...`` does the same.

Each experiment is a *subcommand* (``car-to-truck``; more can join it, e.g. ``grade``).
Mistakes are reported as one line, ``ftlab: error: ...``, with exit status 2, never as
a traceback: they are the user's to fix, not bugs.

Example:
    >>> import contextlib, io
    >>> from ftlab.cli import main
    >>> stderr = io.StringIO()
    >>> with contextlib.redirect_stderr(stderr):
    ...     status = main(["car-to-truck", "--trucks", "0"])
    >>> status
    2
    >>> print(stderr.getvalue().strip())  # doctest: +ELLIPSIS
    ftlab: error: --trucks must be at least 1 (the number of truck pictures ...); got 0.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ftlab.grading import add_grade_parser

PROG = "ftlab"


class UsageError(Exception):
    """A mistake in how the command was called (reported as one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become `UsageError` (one line, no usage dump)."""

    def error(self, message):
        raise UsageError(message)


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ftlab`` command, one subparser per subcommand."""
    parser = _Parser(
        prog=PROG,
        description="ftlab: learn to fine-tune pre-trained Keras models.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    c2t = commands.add_parser(
        "car-to-truck",
        help="teach the pre-trained car model to recognize trucks, end to end",
        description=(
            "Swap the car model's head for a car/truck head, train the head, fine-tune the "
            "top of the body, test it, measure forgetting and compare with training from "
            "scratch. Writes report.json and pictures to --out."
        ),
    )
    c2t.add_argument(
        "--trucks",
        type=_whole_number,
        default=20,
        metavar="N",
        help="truck pictures to train on, and as many cars (default 20)",
    )
    c2t.add_argument(
        "--seed",
        type=_whole_number,
        default=0,
        metavar="S",
        help="seed of everything: same seed, same numbers (default 0)",
    )
    c2t.add_argument(
        "--out",
        default="car-to-truck",
        metavar="DIR",
        help="folder for report.json and the pictures (default ./car-to-truck)",
    )
    c2t.add_argument(
        "--real",
        action="store_true",
        help="CIFAR-10 photos instead of the synthetic world (downloads 160 MB once)",
    )
    c2t.add_argument("--quiet", action="store_true", help="no progress bars")
    # For tests and quick looks: smaller runs. Hidden from --help.
    for flag in ("--head-epochs", "--epochs", "--scratch-epochs"):
        c2t.add_argument(flag, type=_whole_number, default=None, help=argparse.SUPPRESS)
    c2t.add_argument("--val", type=_whole_number, default=20, help=argparse.SUPPRESS)
    c2t.add_argument("--test-per-class", type=_whole_number, default=300, help=argparse.SUPPRESS)
    c2t.add_argument(
        "--source-test-per-class", type=_whole_number, default=100, help=argparse.SUPPRESS
    )
    c2t.set_defaults(handler=_car_to_truck)
    add_grade_parser(commands)  # ftlab grade: see ftlab.grading
    return parser


def _car_to_truck(args) -> int:
    if args.seed < 0:
        raise UsageError(f"--seed must be a whole number >= 0, got {args.seed}.")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from ftlab.car_to_truck import check_trucks, run_car_to_truck, summary

    try:
        check_trucks(args.trucks, val=args.val, real=args.real, name="--trucks")
    except ValueError as err:
        raise UsageError(str(err)) from None
    changes = {
        name: getattr(args, name)
        for name in ("head_epochs", "epochs", "scratch_epochs")
        if getattr(args, name) is not None
    }
    try:
        report = run_car_to_truck(
            trucks=args.trucks,
            seed=args.seed,
            out=args.out,
            real=args.real,
            val=args.val,
            test=args.test_per_class,
            source_test=args.source_test_per_class,
            verbose=0 if args.quiet else 1,
            **changes,
        )
    except ConnectionError as err:
        if args.real:
            raise UsageError(
                f"--real needs CIFAR-10, which could not be downloaded ({_first_sentence(err)}). "
                "Run without --real to use the offline synthetic vehicle pictures."
            ) from None
        raise UsageError(str(err)) from None
    except ValueError as err:
        raise UsageError(str(err)) from None
    print(summary(report))
    print(f"report: {os.path.join(args.out, 'report.json')}")
    return 0


def _first_sentence(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.split(": ", 1)[-1].split(". ")[0].rstrip(".")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ftlab`` command with `argv` (default: the shell's arguments).

    Returns the exit status: 0 when it worked, 2 for a usage error (printed as one
    ``ftlab: error: ...`` line on stderr).

    Example:
        >>> import contextlib, io
        >>> from ftlab.cli import main
        >>> with contextlib.redirect_stderr(io.StringIO()) as stderr:
        ...     status = main(["fly-to-the-moon"])
        >>> status, stderr.getvalue()  # doctest: +ELLIPSIS
        (2, "ftlab: error: argument COMMAND: invalid choice: 'fly-to-the-moon' ...")
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return args.handler(args)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
