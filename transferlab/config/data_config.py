"""The ``[data]`` section of a run config."""

from __future__ import annotations

import dataclasses
import math

from transferlab.config_section import ConfigSection, field
from transferlab.data.augmentation import AUGMENTATION_PRESETS
from transferlab.data.dataset_splits import DatasetSplits
from transferlab.data.image_folder_source import COLOR_MODES, DEFAULT_COLOR_MODE
from transferlab.data.labeled_images import LabeledImages
from transferlab.data.load_dataset import DATASETS, DEFAULT_RESIZE, RESIZE_MODES, load_dataset
from transferlab.data.source import IndexedSource
from transferlab.errors import ConfigError, describe
from transferlab.evaluation.tta_probabilities import DEFAULT_TTA_PRESET

__all__ = ["AUTO_AUGMENT", "AUTO_AUGMENT_KINDS", "DataConfig"]

#: What ``data.augment = "auto"`` gives the strategies of :data:`AUTO_AUGMENT_KINDS` on few labels.
AUTO_AUGMENT = "standard"

#: The strategies ``data.augment = "auto"`` augments when trained on a few labels per class.
AUTO_AUGMENT_KINDS: tuple[str, ...] = ("lp_ft",)


@dataclasses.dataclass(frozen=True)
class DataConfig(ConfigSection):
    """Which data the run trains and evaluates on.

    ``validation`` holds out that fraction of the training examples, per class
    and seeded by ``training.seed`` (0, the default, holds out none, like
    Keras' ``validation_split``). With ``labels_per_class`` it is a fraction of
    the labelled examples: a few-shot run never uses more labels than it says,
    so ``labels_per_class=10, validation=0.2`` trains on 8 and validates on 2
    labelled examples of each class (:meth:`validation_per_class`). A split
    that leaves a class no training example is refused.

    ``dataset = "folder"`` and ``"tfrecord"`` are read lazily, file by file
    (nothing is loaded into memory): from ``path/train`` and ``path/test``,
    or from ``path`` and ``test_path``. ``image_size``, ``color_mode`` and
    ``resize`` say how a folder's images are read (see
    :class:`~transferlab.data.ImageFolderSource`); TFRecords hold them as
    they were written. :meth:`load_dataset` loads what the section names.

    Example:
        >>> data = DataConfig(classes=(5, 6, 7, 8, 9), labels_per_class=10, validation=0.2)
        >>> data.labels_per_class, data.validation_per_class()
        (10, 2)
        >>> DataConfig(labels_per_class=1, validation=0.2)
        Traceback (most recent call last):
        ...
        transferlab.errors.ConfigError: `data.validation` leaves no labelled training example per class. Received: data.labels_per_class=1, data.validation=0.2 (1 of the 1 labelled examples per class held out). Fix: pass more labels per class, or validation=0 (--validation 0) for no validation split.
    """

    SECTION = "data"

    dataset: str = field(
        "mnist",
        "Data set: mnist, idx (an IDX folder), folder (images, read lazily) or tfrecord "
        "(written by `transferlab data --to-tfrecords`, read lazily).",
        choices=DATASETS,
    )
    path: str = field(
        "",
        "Folder with the files (folder, tfrecord: with train/ and test/ inside, or the training split "
        "with test_path); empty for mnist: $TRANSFERLAB_MNIST_DIR, cache, mirrors.",
    )
    test_path: str = field("", "Folder of the test split (folder, tfrecord); empty: path/test.")
    image_size: tuple[int, ...] = field(
        (), "Height and width every image of a folder is resized to; empty: as stored (one size)."
    )
    color_mode: str = field(
        DEFAULT_COLOR_MODE, "Channels a folder's images are read with.", choices=tuple(COLOR_MODES)
    )
    resize: str = field(
        DEFAULT_RESIZE,
        "How a folder's images fit image_size: stretch, or pad (aspect ratio kept, black borders).",
        choices=RESIZE_MODES,
    )
    classes: tuple[int, ...] = field((), "Classes to keep, re-indexed in this order; empty: all.")
    labels_per_class: int = field(0, "Labelled training examples per class; 0: all of them.")
    max_train: int = field(0, "Use at most this many training examples (stratified, seeded); 0: all.")
    validation: float = field(
        0.0,
        "Fraction of the training examples held out for validation, per class and seeded "
        "(with labels_per_class: of the labelled examples); 0: none.",
    )
    augment: str = field(
        "auto",
        f"Augmentation preset for training batches; auto: {AUTO_AUGMENT!r} where it was measured to help "
        f"(strategy {', '.join(AUTO_AUGMENT_KINDS)} with labels_per_class set), else none.",
        choices=("auto", *AUGMENTATION_PRESETS),
    )
    augment_strength: float = field(1.0, "Scales the augmentation preset's magnitudes.")
    tta: int = field(
        0,
        "Test-time augmentation: average each test image's predicted probabilities over it and this "
        f"many augmented copies (preset: the training one, or {DEFAULT_TTA_PRESET!r} when that is none; "
        "seed: training.seed); 0: off.",
    )

    def validate(self) -> None:
        if self.image_size and (len(self.image_size) != 2 or min(self.image_size) < 1):
            raise ConfigError(
                describe(
                    "`data.image_size` must be two positive sizes, height and width, or empty",
                    received=f"data.image_size={list(self.image_size)}",
                    fix="pass e.g. image_size = [224, 224] (--image-size 224 224), or [] to keep the "
                    "size the images have",
                )
            )
        if self.labels_per_class < 0:
            raise ConfigError(
                describe(
                    "`data.labels_per_class` must be >= 0",
                    received=f"data.labels_per_class={self.labels_per_class}",
                    fix="use 0 for all examples",
                )
            )
        if self.max_train < 0:
            raise ConfigError(
                describe(
                    "`data.max_train` must be >= 0",
                    received=f"data.max_train={self.max_train}",
                    fix="use 0 for all examples",
                )
            )
        if not 0 <= self.validation < 1:
            raise ConfigError(
                describe("`data.validation` must be in [0, 1)", received=f"data.validation={self.validation}")
            )
        held_out = self.validation_per_class()
        if self.labels_per_class and held_out >= self.labels_per_class:
            raise ConfigError(
                describe(
                    "`data.validation` leaves no labelled training example per class",
                    received=f"data.labels_per_class={self.labels_per_class}, "
                    f"data.validation={self.validation} ({held_out} of the {self.labels_per_class} "
                    "labelled examples per class held out)",
                    fix="pass more labels per class, or validation=0 (--validation 0) for no validation split",
                )
            )
        if self.tta < 0:
            raise ConfigError(
                describe(
                    "`data.tta` must be >= 0",
                    received=f"data.tta={self.tta}",
                    fix="use 0 for no test-time augmentation, or e.g. 4 (--tta 4) for each test image "
                    "and 4 augmented copies",
                )
            )
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError(
                describe("`data.classes` lists a class twice", received=f"data.classes={list(self.classes)}")
            )

    def load_dataset(self, *, download: bool = True) -> DatasetSplits[LabeledImages | IndexedSource]:
        """The train and test splits the section names (see :func:`transferlab.data.load_dataset.load_dataset`).

        Args:
            download: Whether MNIST may be downloaded.

        Example:
            >>> DataConfig(dataset="folder").load_dataset()
            Traceback (most recent call last):
            ...
            transferlab.errors.ConfigError: dataset='folder' needs a folder. Fix: pass --path DIR (in a config file: data.path).
        """
        return load_dataset(
            self.dataset,
            self.path or None,
            test_path=self.test_path or None,
            image_size=self.image_size or None,
            color_mode=self.color_mode,
            resize=self.resize,
            download=download,
        )

    def validation_per_class(self) -> int:
        """Labelled examples per class held out for validation (with ``labels_per_class``; else 0).

        ``validation * labels_per_class`` rounded half up, at least 1 when
        ``validation`` is above 0.

        Example:
            >>> DataConfig(labels_per_class=5, validation=0.1).validation_per_class()
            1
            >>> DataConfig(validation=0.1).validation_per_class()  # a fraction of all examples
            0
        """
        if not self.labels_per_class or not self.validation:
            return 0
        return max(1, math.floor(self.validation * self.labels_per_class + 0.5))
