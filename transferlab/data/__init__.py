"""Data: loading (MNIST, IDX, image folders), splits, pipelines, augmentation, adaptation."""

from transferlab.data.dataset_splits import DatasetSplits
from transferlab.data.input_adapter import InputAdapter
from transferlab.data.labeled_images import LabeledImages

__all__ = ["DatasetSplits", "InputAdapter", "LabeledImages"]
