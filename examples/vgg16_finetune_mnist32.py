"""VGG16 fine-tuned on MNIST: 28x28x1 digits go straight in, the model adapts them to 32x32x3.

What makes it work (and what the seed article got wrong):

- VGG16 needs at least 32x32 RGB input. Nothing is resized by hand: ``build_classifier``
  puts an ``InputAdapter`` inside the model that resizes 28x28 to 32x32, repeats the grey
  channel three times and applies VGG16's own ("caffe") preprocessing, so the saved model
  takes raw digits at inference too.
- Fine-tuning is two phases: a warm-up with the backbone frozen (the new head stops sending
  large random gradients into the pretrained weights), then only the top groups
  (``block4``, ``block5``) unfrozen at a ten times lower rate, lower still further down
  (``lr_decay``). BatchNorm layers, where a backbone has them, stay frozen
  (``batchnorm="frozen"``; VGG16 has none).

ImageNet weights cannot be downloaded on an offline machine, so the default here is random
weights (``--weights none``); online, pass ``--weights imagenet`` for real transfer.

Run::

    python examples/vgg16_finetune_mnist32.py --weights imagenet   # online, all digits
    python examples/vgg16_finetune_mnist32.py --short              # CI-sized run
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--short", action="store_true", help="CI-sized run: a few hundred images, 1 epoch per phase"
    )
    parser.add_argument(
        "--weights",
        default="none",
        help="'none' (random, works offline), 'imagenet' (downloads once) or a saved backbone file",
    )
    parser.add_argument(
        "--run-dir", default=None, help="folder for the run folder (default: a new temporary folder)"
    )
    args = parser.parse_args(argv)

    import transferlab as tl

    mnist = tl.load_mnist()
    train, test = mnist.train, mnist.test
    if args.short:
        train = tl.sample_per_class(train, 30, seed=0)  # 300 images
        test = tl.sample_per_class(test, 20, seed=0)
    warmup_epochs, finetune_epochs = (1, 1) if args.short else (1, 2)
    weights = None if args.weights == "none" else args.weights
    run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="transferlab-example-"))

    def build() -> tl.Classifier:
        model = tl.build_classifier(
            "vgg16", train.num_classes, input_shape=(28, 28, 1), weights=weights, dropout=0.2
        )
        return model

    strategy = tl.FineTune(
        finetune_epochs,
        top=2,  # block4 and block5 only
        warmup_epochs=warmup_epochs,  # head only, backbone frozen
        learning_rate=1e-3,  # the warm-up's (head) rate
        finetune_learning_rate=1e-4,  # the head's rate once block4-5 train; block5 at 1e-4 * 0.5
        lr_decay=0.5,  # and block4 at 1e-4 * 0.25
        batchnorm="frozen",
    )
    trainer = tl.Trainer(
        build,
        strategy=strategy,
        run_dir=run_dir,
        run_name="vgg16-mnist",
        batch_size=32,
        seed=0,
        verbose=0 if args.short else 2,
    )
    result = trainer.fit(train)
    model = result.model
    adapter = model.adapter
    print(
        f"input adapter: {model.input_shape[1:]} raw pixels -> {adapter.size} x "
        f"{adapter.channels} channels, {adapter.preprocessing!r} preprocessing"
    )
    for phase in strategy.phases(model.backbone_info):
        print(
            f"phase {phase.name}: trains {list(phase.trainable_groups) or 'the head only'} "
            f"at {phase.learning_rate:g}"
        )
    report = tl.ClassificationReport.evaluate(model, test)
    print(f"VGG16 test accuracy ({len(test)} images, weights={args.weights}): {report.accuracy:.4f}")
    if weights is None:
        print("(random backbone weights: pass --weights imagenet on a machine online for transfer)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
