"""ftlab: learn to fine-tune pre-trained Keras models.

The package behind the course's notebooks. Start with:

    >>> import ftlab
    >>> ftlab.freeze, ftlab.unfreeze, ftlab.swap_head  # doctest: +ELLIPSIS
    (<function freeze at ...>, <function unfreeze at ...>, <function swap_head at ...>)
"""

from ftlab.car_model import CAR_MODEL_CLASSES, CAR_MODEL_PRESET, car_model_card, load_car_model
from ftlab.car_to_truck import run_car_to_truck
from ftlab.data_checks import check_dataset
from ftlab.evaluation import (
    Evaluation,
    accuracy_vs_data_size,
    evaluate,
    forgetting,
    plot_data_size_curves,
    plot_learning_curves,
)
from ftlab.features import attach_head, cache_features, train_head_on_features
from ftlab.freezing import (
    ParamCount,
    TrainableReport,
    count_params,
    freeze,
    trainable_report,
    unfreeze,
)
from ftlab.heads import add_head, copy_model, remove_head, swap_head
from ftlab.layers import leaf_layers
from ftlab.lr_finder import lr_find
from ftlab.reproducibility import seed_everything
from ftlab.training import (
    FineTuneHistory,
    GradualUnfreezing,
    discriminative_optimizer,
    fine_tune,
    group_learning_rates,
    warmup_cosine,
)

__version__ = "0.1.0"

__all__ = [
    "add_head",
    "CAR_MODEL_CLASSES",
    "CAR_MODEL_PRESET",
    "car_model_card",
    "load_car_model",
    "run_car_to_truck",
    "FineTuneHistory",
    "GradualUnfreezing",
    "discriminative_optimizer",
    "fine_tune",
    "group_learning_rates",
    "warmup_cosine",
    "check_dataset",
    "Evaluation",
    "accuracy_vs_data_size",
    "evaluate",
    "forgetting",
    "plot_data_size_curves",
    "plot_learning_curves",
    "attach_head",
    "cache_features",
    "train_head_on_features",
    "lr_find",
    "seed_everything",
    "ParamCount",
    "TrainableReport",
    "copy_model",
    "count_params",
    "freeze",
    "leaf_layers",
    "remove_head",
    "swap_head",
    "trainable_report",
    "unfreeze",
]
