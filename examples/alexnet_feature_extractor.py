"""AlexNet as a frozen feature extractor: digits 0-4 (source task) -> digits 5-9 (target task).

The experiment:

1. Train an AlexNet from scratch on MNIST digits 0-4 (the source task) and save its backbone.
2. Build a new classifier for digits 5-9 on that backbone, freeze the backbone and train only
   the new head (``FeatureExtraction``). A frozen backbone without augmentation lets the
   Trainer compute the features once and train the head on them (``feature_cache="auto"``).
3. Evaluate the *transfer* model, the one just trained, on the test digits 5-9.

Run::

    python examples/alexnet_feature_extractor.py            # full data, a few minutes on a CPU
    python examples/alexnet_feature_extractor.py --short    # CI-sized: a few seconds of training

MNIST is read from ``$TRANSFERLAB_MNIST_DIR`` (or the Keras cache, or the official mirrors).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

SOURCE_DIGITS = [0, 1, 2, 3, 4]
TARGET_DIGITS = [5, 6, 7, 8, 9]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--short",
        action="store_true",
        help="CI-sized run: a few hundred images, a narrow AlexNet, 1 source epoch",
    )
    parser.add_argument(
        "--run-dir", default=None, help="folder for the run folders (default: a new temporary folder)"
    )
    args = parser.parse_args(argv)

    import numpy as np

    import transferlab as tl

    mnist = tl.load_mnist()
    source_train = tl.select_classes(mnist.train, SOURCE_DIGITS)  # labels 0-4
    target_train = tl.select_classes(mnist.train, TARGET_DIGITS)  # digits 5-9 -> labels 0-4
    target_test = tl.select_classes(mnist.test, TARGET_DIGITS)
    if args.short:
        source_train = tl.sample_per_class(source_train, 80, seed=0)
        target_train = tl.sample_per_class(target_train, 40, seed=0)
        target_test = tl.sample_per_class(target_test, 40, seed=0)
    # The head trains on cached features: its epochs cost little.
    width, source_epochs, head_epochs = (0.25, 1, 5) if args.short else (1.0, 3, 10)
    run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="transferlab-example-"))
    verbose = 0 if args.short else 2

    # 1. The source task: every layer trains from random weights (BatchNorm too).
    source = tl.Trainer(
        lambda: tl.build_classifier("alexnet", len(SOURCE_DIGITS), width=width),
        strategy=tl.Scratch(source_epochs, learning_rate=1e-3),
        run_dir=run_dir,
        run_name="source-digits-0-4",
        batch_size=64,
        seed=0,
        verbose=verbose,
    )
    pretrained = source.fit(source_train).model
    backbone_file = tl.save_backbone(pretrained, run_dir / "alexnet-digits-0-4.weights.h5")
    print(f"source task (digits 0-4) trained; backbone saved to {backbone_file}")

    # 2. The target task: a new head on the pretrained, frozen backbone.
    transfer = tl.Trainer(
        lambda: tl.build_classifier("alexnet", len(TARGET_DIGITS), width=width, weights=str(backbone_file)),
        strategy=tl.FeatureExtraction(head_epochs, learning_rate=1e-3),
        run_dir=run_dir,
        run_name="transfer-digits-5-9",
        batch_size=64,
        seed=0,
        verbose=verbose,
    )
    result = transfer.fit(target_train)
    model = result.model

    # The backbone really stayed frozen: its weights equal the pretrained ones.
    unchanged = all(
        np.array_equal(a, b) for a, b in zip(pretrained.backbone.get_weights(), model.backbone.get_weights())
    )
    print(f"backbone weights unchanged by feature extraction: {unchanged}")
    print(f"feature cache: {result.feature_cache}")

    # 3. Evaluate the transfer model (the seed article evaluated another model here).
    report = tl.ClassificationReport.evaluate(model, target_test)
    print(report.to_text())
    print(f"transfer test accuracy (digits 5-9, {len(target_test)} images): {report.accuracy:.4f}")
    print(f"run folders: {run_dir}")
    return 0 if unchanged else 1


if __name__ == "__main__":
    raise SystemExit(main())
