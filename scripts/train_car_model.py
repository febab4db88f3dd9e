"""Re-create the bundled car model: python scripts/train_car_model.py [--out DIR].

Trains the car model on the synthetic street world (every class but "truck"),
deterministically, and writes the keras-hub preset, card.json and MODEL_CARD.md to
ftlab/assets/car_model/ (or --out). Same as `python -m ftlab.car_model --train`.
See ftlab/car_model.py for the recipe; it takes about 5 minutes on 2 CPU cores.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from ftlab.car_model import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["--train", *sys.argv[1:]]))
