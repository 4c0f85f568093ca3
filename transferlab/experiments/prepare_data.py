"""The data a run config describes: classes, a few labels per class, validation, test."""

from __future__ import annotations

from transferlab.config.run_config import RunConfig
from transferlab.data.dataset_splits import DatasetSplits
from transferlab.data.labeled_data import LabeledData
from transferlab.data.labeled_images import LabeledImages
from transferlab.data.sample_per_class import sample_per_class
from transferlab.data.select_classes import select_classes
from transferlab.data.source import IndexedSource
from transferlab.data.train_val_split import train_val_split

__all__ = ["limit_examples", "prepare_data"]

#: One split as :func:`prepare_data` returns it: in memory (mnist, idx) or a source (folder, tfrecord).
Split = LabeledImages | IndexedSource


def prepare_data(
    config: RunConfig,
) -> tuple[DatasetSplits[Split], Split, Split | None, Split]:
    """Loads the data set and cuts it as ``[data]`` says.

    Keeps ``data.classes`` (re-indexed in that order) in both splits; at most
    ``data.max_train`` training examples; then ``data.labels_per_class``
    labelled examples per class, of which ``data.validation`` are held out for
    validation (:meth:`~transferlab.config.DataConfig.validation_per_class` of
    each class: a few-shot run uses no more labels than it says); without
    ``labels_per_class``, a stratified ``data.validation`` fraction of the
    training examples is held out. All seeded by ``training.seed``.

    MNIST and IDX folders are in memory (``LabeledImages``); an image folder
    or TFRecords stay sources: the cuts read only their labels, and the
    examples are read when a pipeline needs them.

    Returns:
        ``(splits as loaded, train, validation or None, test)``.
    """
    splits = config.data.load_dataset()
    train, test = splits.train, splits.test
    if config.data.classes:
        train = select_classes(train, list(config.data.classes))
        test = select_classes(test, list(config.data.classes))
    train = limit_examples(train, config)
    validation: Split | None = None
    if config.data.labels_per_class:
        train = sample_per_class(train, config.data.labels_per_class, seed=config.training.seed)
        held_out = config.data.validation_per_class()
        if held_out:
            validation, train = sample_per_class(train, held_out, seed=config.training.seed, return_rest=True)
    elif config.data.validation:
        train, validation = train_val_split(train, config.data.validation, seed=config.training.seed)
    return splits, train, validation, test


def limit_examples(data: LabeledData, config: RunConfig) -> LabeledData:
    """At most ``data.max_train`` examples of ``data``, stratified and seeded."""
    if not config.data.max_train or config.data.max_train >= len(data):
        return data
    _, kept = train_val_split(data, config.data.max_train, seed=config.training.seed)
    return kept
