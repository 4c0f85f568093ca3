"""transferlab: correct, fast and reproducible transfer learning on TensorFlow / Keras 3.

The public API, module by module (data flows left to right)::

    data -> backbones -> strategies -> training -> experiments / serving -> cli

Example:
    >>> import transferlab as tl
    >>> "alexnet" in tl.list_backbones() and "vgg16" in tl.list_backbones("vgg*")
    True
    >>> model = tl.build_classifier("alexnet", num_classes=5, width=0.125)
    >>> [p.name for p in tl.FineTune(2, top=2, warmup_epochs=1).phases(model.backbone_info)]
    ['warmup', 'finetune']
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from typing import TYPE_CHECKING

from transferlab._version import __version__


def _interrupt_quietly_when_run_as_the_command() -> None:
    """For the ``transferlab`` command only: a Ctrl-C while TensorFlow loads is one line.

    The command's ``main()`` turns Ctrl-C into one line and exit code 130, but the
    package is imported (and TensorFlow started) before ``main()`` runs; this hook
    covers those first seconds. A Python program that imports transferlab keeps its
    own ``sys.excepthook``.
    """
    if os.path.basename(sys.argv[0] if sys.argv else "") != "transferlab":
        return
    from transferlab.errors import INTERRUPTED

    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: types.TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.stderr.write(INTERRUPTED + "\n")  # Python still exits with code 130
        else:
            previous(kind, value, tb)

    sys.excepthook = hook


_interrupt_quietly_when_run_as_the_command()


def _register_saved_model_classes() -> None:
    """Imports the modules whose classes a saved ``.keras`` model may name.

    Keras finds the classes of a saved model (Classifier, InputAdapter,
    FrozenStatsBatchNormalization, the Layerwise<Optimizer> classes,
    ScaledSchedule, OneCycle) only once the modules defining them have run
    their ``register_keras_serializable`` decorators; importing them here lets
    ``keras.saving.load_model`` work after a plain ``import transferlab``.

    It starts TensorFlow, with the C++ start-up lines (oneDNN, CUDA probing,
    CPU features) silenced as the command line does, and nothing else: no
    backbone is built or registered, no Keras or TensorFlow setting changes.
    """
    quiet = "tensorflow" not in sys.modules
    saved = -1
    if quiet:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
        except (OSError, ValueError, AttributeError):  # no file descriptor 2 (e.g. pythonw)
            saved = -1
    try:
        for module in (
            "transferlab.backbones.classifier",
            "transferlab.strategies",
            "transferlab.training.one_cycle",
        ):
            importlib.import_module(module)
        if quiet:
            import tensorflow

            tensorflow.config.list_physical_devices()  # CUDA probing prints here; no runtime start
    finally:
        if saved >= 0:
            os.dup2(saved, 2)
            os.close(saved)


_register_saved_model_classes()

# Names are imported on first use (PEP 562); type checkers see the imports below.
_EXPORTS: dict[str, str] = {
    "apply_phase": "transferlab.strategies",
    "BackboneInfo": "transferlab.backbones",
    "BatchNormPolicy": "transferlab.strategies",
    "build_classifier": "transferlab.backbones",
    "build_optimizer": "transferlab.strategies",
    "Chain": "transferlab.strategies",
    "check_trainable_state": "transferlab.strategies",
    "ClassificationReport": "transferlab.evaluation",
    "Classifier": "transferlab.backbones",
    "class_prototypes": "transferlab.strategies",
    "compile_phase": "transferlab.strategies",
    "CosineClassifier": "transferlab.backbones",
    "create_backbone": "transferlab.backbones",
    "DatasetSplits": "transferlab.data",
    "errors": "transferlab.errors",
    "ExperimentResult": "transferlab.experiments",
    "export_saved_model": "transferlab.serving",
    "FeatureExtraction": "transferlab.strategies",
    "find_learning_rate": "transferlab.training",
    "FineTune": "transferlab.strategies",
    "LinearProbe": "transferlab.strategies",
    "LPFT": "transferlab.strategies",
    "Prototypes": "transferlab.strategies",
    "fit_linear_probe": "transferlab.strategies",
    "freeze": "transferlab.strategies",
    "get_backbone_info": "transferlab.backbones",
    "GradualUnfreeze": "transferlab.strategies",
    "ImageFolderSource": "transferlab.data",
    "StreamSource": "transferlab.data",
    "as_source": "transferlab.data",
    "InputAdapter": "transferlab.data",
    "LabeledImages": "transferlab.data",
    "launch_local": "transferlab.training",
    "LayerGroup": "transferlab.backbones",
    "list_backbones": "transferlab.backbones",
    "load_idx_dataset": "transferlab.data",
    "load_image_folder": "transferlab.data",
    "load_mnist": "transferlab.data",
    "load_trained_model": "transferlab.serving",
    "make_augmentation": "transferlab.data",
    "make_pipeline": "transferlab.data",
    "normalize": "transferlab.data",
    "OneCycle": "transferlab.training",
    "Phase": "transferlab.strategies",
    "predict": "transferlab.serving",
    "ProbeFit": "transferlab.strategies",
    "Predictions": "transferlab.serving",
    "read_idx": "transferlab.data",
    "read_images": "transferlab.serving",
    "register_backbone": "transferlab.backbones",
    "resolve_distribution": "transferlab.training",
    "run_experiment": "transferlab.experiments",
    "RunIdentity": "transferlab.training",
    "Scratch": "transferlab.strategies",
    "TrainingOptions": "transferlab.training",
    "unregister_backbone": "transferlab.backbones",
    "RunConfig": "transferlab.config",
    "sample_per_class": "transferlab.data",
    "save_backbone": "transferlab.backbones",
    "select_classes": "transferlab.data",
    "set_trainable_groups": "transferlab.strategies",
    "Strategy": "transferlab.strategies",
    "strategy_by_name": "transferlab.strategies",
    "TFRecordSource": "transferlab.data",
    "train_val_split": "transferlab.data",
    "Trainer": "transferlab.training",
    "TrainResult": "transferlab.training",
    "unfreeze": "transferlab.strategies",
    "write_tfrecords": "transferlab.data",
}

if TYPE_CHECKING:  # pragma: no cover
    from transferlab import errors
    from transferlab.backbones import (
        BackboneInfo,
        Classifier,
        CosineClassifier,
        LayerGroup,
        build_classifier,
        create_backbone,
        get_backbone_info,
        list_backbones,
        register_backbone,
        save_backbone,
        unregister_backbone,
    )
    from transferlab.config import (
        RunConfig,
    )
    from transferlab.data import (
        DatasetSplits,
        ImageFolderSource,
        InputAdapter,
        LabeledImages,
        StreamSource,
        TFRecordSource,
        as_source,
        load_idx_dataset,
        load_image_folder,
        load_mnist,
        make_augmentation,
        make_pipeline,
        normalize,
        read_idx,
        sample_per_class,
        select_classes,
        train_val_split,
        write_tfrecords,
    )
    from transferlab.evaluation import (
        ClassificationReport,
    )
    from transferlab.experiments import (  # type: ignore[no-redef]  # submodule of the same name
        ExperimentResult,
        run_experiment,
    )
    from transferlab.serving import (  # type: ignore[no-redef]  # submodules of the same names
        Predictions,
        export_saved_model,
        load_trained_model,
        predict,
        read_images,
    )
    from transferlab.strategies import (
        LPFT,
        BatchNormPolicy,
        Chain,
        FeatureExtraction,
        FineTune,
        GradualUnfreeze,
        LinearProbe,
        Phase,
        ProbeFit,
        Prototypes,
        Scratch,
        Strategy,
        apply_phase,
        build_optimizer,
        check_trainable_state,
        class_prototypes,
        compile_phase,
        fit_linear_probe,
        freeze,
        set_trainable_groups,
        strategy_by_name,
        unfreeze,
    )
    from transferlab.training import (
        OneCycle,
        RunIdentity,
        Trainer,
        TrainingOptions,
        TrainResult,
        find_learning_rate,
        launch_local,
        resolve_distribution,
    )

__all__ = [
    "LPFT",
    "BackboneInfo",
    "BatchNormPolicy",
    "Chain",
    "ClassificationReport",
    "Classifier",
    "CosineClassifier",
    "DatasetSplits",
    "ExperimentResult",
    "FeatureExtraction",
    "FineTune",
    "GradualUnfreeze",
    "ImageFolderSource",
    "InputAdapter",
    "LabeledImages",
    "LayerGroup",
    "LinearProbe",
    "OneCycle",
    "Phase",
    "Predictions",
    "ProbeFit",
    "Prototypes",
    "RunConfig",
    "RunIdentity",
    "Scratch",
    "Strategy",
    "StreamSource",
    "TFRecordSource",
    "TrainResult",
    "Trainer",
    "TrainingOptions",
    "__version__",
    "apply_phase",
    "as_source",
    "build_classifier",
    "build_optimizer",
    "check_trainable_state",
    "class_prototypes",
    "compile_phase",
    "create_backbone",
    "errors",
    "export_saved_model",
    "find_learning_rate",
    "fit_linear_probe",
    "freeze",
    "get_backbone_info",
    "launch_local",
    "list_backbones",
    "load_idx_dataset",
    "load_image_folder",
    "load_mnist",
    "load_trained_model",
    "make_augmentation",
    "make_pipeline",
    "normalize",
    "predict",
    "read_idx",
    "read_images",
    "register_backbone",
    "resolve_distribution",
    "run_experiment",
    "sample_per_class",
    "save_backbone",
    "select_classes",
    "set_trainable_groups",
    "strategy_by_name",
    "train_val_split",
    "unfreeze",
    "unregister_backbone",
    "write_tfrecords",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'transferlab' has no attribute {name!r}")
    value = importlib.import_module(module)
    if name != "errors":
        value = getattr(value, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
