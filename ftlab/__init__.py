"""ftlab: learn to fine-tune pre-trained Keras models.

The package behind the course's notebooks. Start with:

    >>> import ftlab
    >>> ftlab.freeze, ftlab.unfreeze, ftlab.swap_head  # doctest: +ELLIPSIS
    (<function freeze at ...>, <function unfreeze at ...>, <function swap_head at ...>)
"""

from ftlab.freezing import (
    ParamCount,
    TrainableReport,
    count_params,
    freeze,
    trainable_report,
    unfreeze,
)
from ftlab.heads import copy_model, remove_head, swap_head
from ftlab.layers import leaf_layers

__version__ = "0.1.0"

__all__ = [
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
