"""``python -m ftlab ...``: the same as the ``ftlab`` command (see `ftlab.cli`)."""

from ftlab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
