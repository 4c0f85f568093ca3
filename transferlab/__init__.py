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
from typing import TYPE_CHECKING, Any

from transferlab._version import __version__

# Names are imported on first use (PEP 562), so `import transferlab` stays cheap and the
# command line can start TensorFlow quietly; type checkers see the imports below.
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
    "compile_phase": "transferlab.strategies",
    "create_backbone": "transferlab.backbones",
    "DatasetSplits": "transferlab.data",
    "errors": "transferlab.errors",
    "ExperimentResult": "transferlab.experiments",
    "export_saved_model": "transferlab.serving",
    "FeatureExtraction": "transferlab.strategies",
    "find_learning_rate": "transferlab.training",
    "FineTune": "transferlab.strategies",
    "freeze": "transferlab.strategies",
    "get_backbone_info": "transferlab.backbones",
    "GradualUnfreeze": "transferlab.strategies",
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
    "Predictions": "transferlab.serving",
    "read_idx": "transferlab.data",
    "read_images": "transferlab.serving",
    "register_backbone": "transferlab.backbones",
    "resolve_distribution": "transferlab.training",
    "run_experiment": "transferlab.experiments",
    "RunConfig": "transferlab.config",
    "sample_per_class": "transferlab.data",
    "save_backbone": "transferlab.backbones",
    "select_classes": "transferlab.data",
    "set_trainable_groups": "transferlab.strategies",
    "Strategy": "transferlab.strategies",
    "train_val_split": "transferlab.data",
    "Trainer": "transferlab.training",
    "TrainResult": "transferlab.training",
    "unfreeze": "transferlab.strategies",
}

if TYPE_CHECKING:  # pragma: no cover
    from transferlab import errors
    from transferlab.backbones import (
        BackboneInfo,
        Classifier,
        LayerGroup,
        build_classifier,
        create_backbone,
        get_backbone_info,
        list_backbones,
        register_backbone,
        save_backbone,
    )
    from transferlab.config import (
        RunConfig,
    )
    from transferlab.data import (
        DatasetSplits,
        InputAdapter,
        LabeledImages,
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
        BatchNormPolicy,
        Chain,
        FeatureExtraction,
        FineTune,
        GradualUnfreeze,
        Phase,
        Strategy,
        apply_phase,
        build_optimizer,
        check_trainable_state,
        compile_phase,
        freeze,
        set_trainable_groups,
        unfreeze,
    )
    from transferlab.training import (
        OneCycle,
        Trainer,
        TrainResult,
        find_learning_rate,
        launch_local,
        resolve_distribution,
    )

__all__ = [
    "BackboneInfo",
    "BatchNormPolicy",
    "Chain",
    "ClassificationReport",
    "Classifier",
    "DatasetSplits",
    "ExperimentResult",
    "FeatureExtraction",
    "FineTune",
    "GradualUnfreeze",
    "InputAdapter",
    "LabeledImages",
    "LayerGroup",
    "OneCycle",
    "Phase",
    "Predictions",
    "RunConfig",
    "Strategy",
    "TrainResult",
    "Trainer",
    "__version__",
    "apply_phase",
    "build_classifier",
    "build_optimizer",
    "check_trainable_state",
    "compile_phase",
    "create_backbone",
    "errors",
    "export_saved_model",
    "find_learning_rate",
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
    "train_val_split",
    "unfreeze",
]


def __getattr__(name: str) -> Any:
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
