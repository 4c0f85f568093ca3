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

from transferlab import errors
from transferlab._version import __version__
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
from transferlab.config import RunConfig
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
from transferlab.evaluation import ClassificationReport
from transferlab.experiments import ExperimentResult, run_experiment
from transferlab.serving import Predictions, export_saved_model, load_trained_model, predict, read_images
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
