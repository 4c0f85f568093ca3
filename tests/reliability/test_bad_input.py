"""Bad input of every kind: a named transferlab error that says what is wrong and how to fix it.

One table, one row per kind of mistake. Each row names a ``make(tmp)`` that prepares what
the mistake needs inside ``tmp`` and returns the call that makes it, the transferlab error
class expected, the built-in exception it must also be, and a regex the message must match
(the problem and the fix or the accepted values). For every row the test also checks that
the message holds no traceback and no TensorFlow-internal text, and that the folders
involved hold exactly what they held before the call (no partial or temporary file).

Rows whose ``make`` returns a list are command lines: the command's ``run`` must raise the
error, and ``transferlab.cli.main.main(argv)`` must print it as exactly one line on stderr
and return a non-zero exit code.
"""

from __future__ import annotations

import gzip
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from transferlab import errors as E

HERE = Path(__file__).resolve().parent
_TF_INTERNAL = re.compile(
    r"Traceback|File \"|tensorflow/core|tensorflow\.python|keras/src|keras\.src|_pywrap|"
    r"InvalidArgumentError|OpKernel|\[\[\{\{node|Graph execution error"
)


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[Path], Any]
    error: type[E.TransferlabError]
    builtin: type[BaseException]
    match: str


# Helpers ------------------------------------------------------------------------------------
def _images(n: int = 6, shape: tuple[int, ...] = (8, 8), classes: int = 3) -> Any:
    from transferlab.data import LabeledImages

    rng = np.random.default_rng(0)
    return LabeledImages(
        rng.integers(0, 256, (n, *shape), dtype=np.uint8),
        np.arange(n) % classes,
        tuple("abcdefghij"[:classes]),
    )


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _idx_file(tmp: Path, raw: bytes, name: str = "x-idx3-ubyte") -> Path:
    path = tmp / name
    path.write_bytes(raw)
    return path


def _read_idx(path: Path, **kw: Any) -> Callable[[], Any]:
    from transferlab.data import read_idx

    return lambda: read_idx(path, **kw)


def _read_images(path: Path) -> Callable[[], Any]:
    from transferlab.serving import read_images

    return lambda: read_images(path)


def _idx_folder(tmp: Path, n_images: int, n_labels: int) -> Callable[[], Any]:
    from transferlab.data import load_idx_dataset

    root = tmp / "digits"
    root.mkdir()
    for split in ("train", "t10k"):
        (root / f"{split}-images-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((n_images, 4, 4))))
        (root / f"{split}-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros((n_labels,))))
    return lambda: load_idx_dataset(root)


def _labeled(images: Any, labels: Any, names: tuple[str, ...] = ("a", "b")) -> Callable[[], Any]:
    from transferlab.data import LabeledImages

    return lambda: LabeledImages(images, labels, names)


def _png_folder(tmp: Path) -> Callable[[], Any]:
    from transferlab.data import load_image_folder

    (tmp / "imgs" / "cat").mkdir(parents=True)
    (tmp / "imgs" / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n-not-really-a-png")
    return lambda: load_image_folder(tmp / "imgs")


def _weights_of_another_shape(tmp: Path) -> Callable[[], Any]:
    from transferlab.backbones import create_backbone, save_backbone

    path = save_backbone(
        create_backbone("alexnet", input_shape=(28, 28, 1), width=0.125), tmp / "small.weights.h5"
    )
    return lambda: create_backbone("alexnet", input_shape=(28, 28, 1), width=0.25, weights=str(path))


def _http_mirror() -> Any:
    """tests/helpers/http_mirror.py (on sys.path through the root conftest)."""
    import http_mirror

    return http_mirror


def _fetch_corrupt(tmp: Path) -> Callable[[], Any]:
    import hashlib

    from transferlab.data import fetch_file

    HttpMirror = _http_mirror().HttpMirror

    body = bytes(range(256)) * 64
    digest = hashlib.sha256(body).hexdigest()
    (tmp / "cache").mkdir()

    def call() -> Any:
        with HttpMirror({"f.bin": body}, mode="corrupt") as mirror:
            return fetch_file(
                "f.bin",
                sha256=digest,
                mirrors=[mirror.url],
                cache_dir=tmp / "cache",
                retries=0,
                progress=False,
                timeout=5,
            )

    return call


def _config(text: str) -> Callable[[Path], Callable[[], Any]]:
    def make(tmp: Path) -> Callable[[], Any]:
        from transferlab.config import RunConfig

        (tmp / "run.toml").write_text(text)
        return lambda: RunConfig.load(tmp / "run.toml")

    return make


def _tf_config(monkeypatch: pytest.MonkeyPatch, text: str) -> Callable[[], Any]:
    from transferlab.training import resolve_distribution

    monkeypatch.setenv("TF_CONFIG", text)
    return lambda: resolve_distribution("multi_worker", timeout=1.0)


def _worker_never_joins(tmp: Path) -> Callable[[], Any]:
    import json

    from transferlab.training import TFConfig, wait_for_workers

    refused_url = _http_mirror().refused_url

    own, peer = (refused_url().rstrip("/").rsplit("/", 1)[-1] for _ in range(2))
    config = TFConfig.parse(
        json.dumps({"cluster": {"worker": [own, peer]}, "task": {"type": "worker", "index": 0}})
    )
    return lambda: wait_for_workers(config, timeout=0.5, poll=0.05)


def _vgg_info() -> Any:
    from transferlab.backbones import get_backbone_info

    return get_backbone_info("vgg16")


def _tiny_classifier() -> Any:
    from transferlab.backbones import build_classifier

    return build_classifier("alexnet", 3, input_shape=(28, 28, 1), width=0.125)


def _evaluate_with_bad_run_config(tmp: Path) -> list[str]:
    (tmp / "run").mkdir()
    (tmp / "run" / "config.toml").write_text('[data]\ndataset = "mnist"\nclases = [1, 2]\n')
    return ["evaluate", str(tmp / "run"), "--no-download"]


# Round two (issue 14): storage, divergence, degenerate tasks, images, damaged models -------------
def _full_disk(code: int = 28) -> Any:
    """A context in which every atomic write fails at its rename with ``code`` (ENOSPC ...)."""
    import os
    from unittest import mock

    import transferlab._atomic as atomic

    def replace(src: str, dst: str) -> None:
        raise OSError(code, os.strerror(code))

    return mock.patch.object(atomic, "_replace", replace)


def _under(context: Callable[[], Any], call: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with context():
            return call()

    return run


def _write(kind: str, code: int = 28) -> Callable[[Path], Callable[[], Any]]:
    def make(tmp: Path) -> Callable[[], Any]:
        from transferlab import _atomic as atomic

        call = {
            "json": lambda: atomic.atomic_write_json(tmp / "config.json", {"a": 1}),
            "text": lambda: atomic.atomic_write_text(tmp / "summary.md", "text"),
            "bytes": lambda: atomic.atomic_write_bytes(tmp / "state.npz", b"x"),
        }[kind]
        return _under(lambda: _full_disk(code), call)

    return make


def _small_model() -> Any:
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="dense")])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _save_on_a_full_disk(kind: str) -> Callable[[Path], Callable[[], Any]]:
    def make(tmp: Path) -> Callable[[], Any]:
        import shutil
        from collections import namedtuple
        from unittest import mock

        from transferlab.training.run_record import save_model, save_weights

        usage = namedtuple("usage", "total used free")(10**6, 10**6 - 1000, 1000)
        save, name = (save_weights, "last.weights.h5") if kind == "weights" else (save_model, "model.keras")
        model = _small_model()
        return _under(
            lambda: mock.patch.object(shutil, "disk_usage", lambda p: usage), lambda: save(model, tmp / name)
        )

    return make


def _save_non_finite(kind: str) -> Callable[[Path], Callable[[], Any]]:
    def make(tmp: Path) -> Callable[[], Any]:
        from transferlab.training.run_record import save_model, save_weights

        model = _small_model()
        model.get_layer("dense").bias.assign(np.array([np.nan], "float32"))
        save, name = (save_weights, "best.weights.h5") if kind == "weights" else (save_model, "model.keras")
        return lambda: save(model, tmp / name)

    return make


def _diverging_fit(rate: float, optimizer: str) -> Callable[[Path], Callable[[], Any]]:
    def make(tmp: Path) -> Callable[[], Any]:
        import keras

        from transferlab.training.divergence import DivergenceGuard

        model = _small_model()
        model.compile(
            optimizer=keras.optimizers.get({"class_name": optimizer, "config": {"learning_rate": rate}}),
            loss="mse",
        )
        x = np.full((8, 2), 1e10 if optimizer == "SGD" else 1.0, "float32")
        return lambda: model.fit(
            x, x[:, :1], epochs=2, batch_size=4, verbose=0, callbacks=[DivergenceGuard("head")]
        )

    return make


def _claim(tmp: Path, root: Path) -> Callable[[], Any]:
    from transferlab.training.identity import RunIdentity
    from transferlab.training.run_folder import RunFolder

    def call() -> Any:
        with RunFolder(root, "r") as run:
            return run.claim(RunIdentity.from_components({"seed": 0}))

    return call


def _read_only_run_folder(tmp: Path) -> Callable[[], Any]:
    import errno
    from unittest import mock

    _claim(tmp, tmp / "runs")()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp / "runs" / "r"))

    return _under(
        lambda: mock.patch("transferlab.training.run_folder.tempfile.mkstemp", refuse),
        _claim(tmp, tmp / "runs"),
    )


def _runs_dir_is_a_file(tmp: Path) -> Callable[[], Any]:
    (tmp / "runs").write_text("a file, not a folder")
    return _claim(tmp, tmp / "runs")


def _task(labels: list[int], names: tuple[str, ...], **kw: Any) -> Callable[[Path], Callable[[], Any]]:
    def make(tmp: Path) -> Callable[[], Any]:
        from transferlab.data import LabeledImages
        from transferlab.data.task_checks import check_task

        data = LabeledImages(np.zeros((len(labels), 4, 4), np.uint8), np.asarray(labels), names)
        return lambda: check_task(data, **kw)

    return make


def _image_file(name: str, content: Callable[[], bytes]) -> Callable[[Path], Callable[[], Any]]:
    def make(tmp: Path) -> Callable[[], Any]:
        (tmp / name).write_bytes(content())
        return _read_images(tmp / name)

    return make


def _png_bytes() -> bytes:
    import tensorflow as tf

    return bytes(tf.io.encode_png(np.zeros((8, 8, 1), np.uint8)).numpy())


def _jpeg_bytes() -> bytes:
    import tensorflow as tf

    return bytes(tf.io.encode_jpeg(np.zeros((8, 8, 3), np.uint8)).numpy())


def _folder_with(name: str, content: bytes) -> Callable[[Path], Callable[[], Any]]:
    def make(tmp: Path) -> Callable[[], Any]:
        from transferlab.data import load_image_folder

        for cls in ("a", "b"):
            (tmp / "imgs" / cls).mkdir(parents=True)
            (tmp / "imgs" / cls / "ok.png").write_bytes(_png_bytes())
        (tmp / "imgs" / "b" / name).write_bytes(content)
        return lambda: load_image_folder(tmp / "imgs")

    return make


def _damaged_keras(damage: Callable[[bytes], bytes]) -> Callable[[Path], Callable[[], Any]]:
    def make(tmp: Path) -> Callable[[], Any]:
        path = tmp / "m.keras"
        _small_model().save(path)
        path.write_bytes(damage(path.read_bytes()))
        return lambda: __import__("transferlab").load_trained_model(path)

    return make


def _damaged_saved_model(tmp: Path) -> Callable[[], Any]:
    import json

    from transferlab.serving.export_saved_model import METADATA_FILE

    folder = tmp / "exported"
    (folder / METADATA_FILE).parent.mkdir(parents=True)
    (folder / METADATA_FILE).write_text(json.dumps({"input_shape": [8, 8, 1]}))
    (folder / "saved_model.pb").write_bytes(b"\x00" * 64)
    return lambda: __import__("transferlab").load_trained_model(folder)


def _cli_predict_damaged_model(tmp: Path) -> list[str]:
    (tmp / "m.keras").write_bytes(bytes(100))
    np.save(tmp / "x.npy", np.zeros((1, 8, 8), np.uint8))
    return ["predict", str(tmp / "m.keras"), str(tmp / "x.npy")]


def _cli_predict_unknown_image(tmp: Path) -> list[str]:
    import keras

    keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2)]).save(
        tmp / "m.keras"
    )
    (tmp / "a.png").write_bytes(b"just text, not an image")
    return ["predict", str(tmp / "m.keras"), str(tmp / "a.png")]


# The table ----------------------------------------------------------------------------------
CASES = [
    # Data files
    Case(
        "idx-empty",
        lambda t: _read_idx(_idx_file(t, b"")),
        E.DataFileError,
        OSError,
        r"empty \(0 bytes\).*Fix: .*download",
    ),
    Case(
        "idx-truncated-data",
        lambda t: _read_idx(_idx_file(t, _idx_bytes(np.zeros((3, 4, 4)))[:-5])),
        E.DataFileError,
        OSError,
        r"truncated: it holds fewer bytes than its dimensions say.*Fix: ",
    ),
    Case(
        "idx-truncated-header",
        lambda t: _read_idx(_idx_file(t, bytes([0, 0, 8, 3, 0, 0]))),
        E.DataFileError,
        OSError,
        r"truncated inside its header.*Fix: ",
    ),
    Case(
        "idx-wrong-magic",
        lambda t: _read_idx(_idx_file(t, b"PK\x03\x04" + bytes(40))),
        E.DataFileError,
        ValueError,
        r"not an IDX file: wrong magic number.*(Accepted|Fix): ",
    ),
    Case(
        "idx-bad-gzip",
        lambda t: _read_idx(
            _idx_file(t, gzip.compress(_idx_bytes(np.zeros((2, 4, 4))))[:20], "x-idx3-ubyte.gz")
        ),
        E.DataFileError,
        OSError,
        r"cannot be decompressed \(truncated or corrupt\).*Fix: ",
    ),
    Case(
        "idx-wrong-checksum",
        lambda t: _read_idx(_idx_file(t, _idx_bytes(np.zeros((2, 4, 4)))), sha256="0" * 64),
        E.ChecksumError,
        OSError,
        r"corrupt or not the published file: its sha256 differs.*Fix: ",
    ),
    Case(
        "idx-image-label-count-mismatch",
        lambda t: _idx_folder(t, 5, 4),
        E.DataFileError,
        ValueError,
        r"do not match.*5.*4.*Fix: ",
    ),
    Case(
        "image-folder-undecodable",
        _png_folder,
        E.DataFileError,
        OSError,
        r"Cannot decode the image .*broken\.png.*Fix: ",
    ),
    Case(
        "download-corrupt-not-cached",
        _fetch_corrupt,
        E.DownloadError,
        OSError,
        r"Could not download f\.bin from any of the 1 mirrors.*sha256 mismatch.*Fix: ",
    ),
    # Arrays
    Case(
        "array-wrong-rank",
        lambda t: _labeled(np.zeros((4, 8), np.uint8), [0, 1, 0, 1]),
        E.DataError,
        ValueError,
        r"`images` must have shape \(N, height, width\) or \(N, height, width, channels\)",
    ),
    Case(
        "array-two-channels",
        lambda t: _labeled(np.zeros((2, 8, 8, 2), np.uint8), [0, 1]),
        E.DataError,
        ValueError,
        r"must have 1 or 3 channels.*Received: .*2",
    ),
    Case(
        "array-wrong-dtype",
        lambda t: _labeled(np.zeros((2, 8, 8), np.bool_), [0, 1]),
        E.DataError,
        ValueError,
        r"`images` must be uint8 or floating point.*Received: .*bool",
    ),
    Case(
        "array-nan",
        lambda t: _labeled(np.full((2, 8, 8), np.nan, np.float32), [0, 1]),
        E.DataError,
        ValueError,
        r"contains NaN or infinite values.*Fix: ",
    ),
    Case(
        "array-inf",
        lambda t: _labeled(np.full((2, 8, 8), np.inf, np.float32), [0, 1]),
        E.DataError,
        ValueError,
        r"contains NaN or infinite values.*Fix: ",
    ),
    Case(
        "labels-out-of-range",
        lambda t: _labeled(np.zeros((2, 8, 8), np.uint8), [0, 2]),
        E.DataError,
        ValueError,
        r"`labels` must lie in \[0, 2\) for 2 classes.*Received: .*2",
    ),
    Case(
        "labels-not-integers",
        lambda t: _labeled(np.zeros((2, 8, 8), np.uint8), [0.5, 1.0]),
        E.DataError,
        ValueError,
        r"`labels` must be a 1-D integer array.*Received: .*float",
    ),
    Case(
        "images-labels-length-mismatch",
        lambda t: _labeled(np.zeros((3, 8, 8), np.uint8), [0, 1]),
        E.DataError,
        ValueError,
        r"same length.*Received: .*3.*2",
    ),
    Case(
        "fewer-examples-than-replicas",
        lambda t: lambda: __import__("transferlab").make_pipeline(_images(1), batch_size=2, num_replicas=2),
        E.DataError,
        ValueError,
        r"Fewer examples than replicas.*Fix: ",
    ),
    Case(
        "fewer-than-k-per-class",
        lambda t: lambda: __import__("transferlab").sample_per_class(_images(6), 3, seed=0),
        E.DataError,
        ValueError,
        r"Not enough examples to draw k=3 per class.*Fix: ",
    ),
    # Backbones
    Case(
        "backbone-unknown-name",
        lambda t: lambda: __import__("transferlab").create_backbone("vgg61"),
        E.UnknownBackboneError,
        ValueError,
        r"Unknown backbone.*vgg61.*(Accepted|Fix): .*vgg16",
    ),
    Case(
        "backbone-input-below-minimum",
        lambda t: lambda: __import__("transferlab").create_backbone("vgg16", input_shape=(16, 16, 3)),
        E.InputShapeError,
        ValueError,
        r"needs inputs of at least 32x32.*Received: .*16.*Fix: ",
    ),
    Case(
        "imagenet-weights-one-channel",
        lambda t: (
            lambda: __import__("transferlab").create_backbone(
                "vgg16", weights="imagenet", input_shape=(32, 32, 1)
            )
        ),
        E.WeightsError,
        ValueError,
        r"ImageNet weights need 3 input channels.*Fix: ",
    ),
    Case(
        "weights-file-of-another-shape",
        _weights_of_another_shape,
        E.WeightsError,
        ValueError,
        r"do not fit backbone 'alexnet'.*Fix: ",
    ),
    Case(
        "weights-file-missing",
        lambda t: (
            lambda: __import__("transferlab").create_backbone("alexnet", weights=str(t / "no.weights.h5"))
        ),
        E.WeightsNotFoundError,
        FileNotFoundError,
        r"Weights file not found.*Fix: ",
    ),
    # Configs
    Case(
        "config-unknown-key",
        _config("[training]\nbatchsize = 32\n"),
        E.ConfigError,
        ValueError,
        r"Unknown config key `training\.batchsize`.*batch_size",
    ),
    Case(
        "config-unknown-section",
        _config("[trainig]\nseed = 1\n"),
        E.ConfigError,
        ValueError,
        r"Unknown config section `\[trainig\]`.*Accepted: .*\[training\]",
    ),
    Case(
        "config-wrong-type",
        _config('[training]\nbatch_size = "big"\n'),
        E.ConfigError,
        ValueError,
        r"Wrong type for config key `training\.batch_size`.*big.*int",
    ),
    Case(
        "config-contradictory",
        _config('[strategy]\ntop = 2\nfrom_group = "block3"\n'),
        E.ConfigError,
        ValueError,
        r"`strategy\.top` and `strategy\.from_group` contradict each other.*Fix: ",
    ),
    Case(
        "config-not-toml",
        _config("[training\nseed = 1\n"),
        E.ConfigError,
        ValueError,
        r"is not valid TOML.*Fix: check the line",
    ),
    # Command line (argv): the command raises it, main() prints one line and exits non-zero
    Case(
        "cli-run-config-unknown-key",
        _evaluate_with_bad_run_config,
        E.ConfigError,
        ValueError,
        r"Unknown config key `data\.clases`.*classes",
    ),
    Case(
        "cli-dataset-without-path",
        lambda t: ["data", "--dataset", "idx"],
        E.ConfigError,
        ValueError,
        r"dataset='idx' needs a folder.*Fix: pass --path DIR",
    ),
    Case(
        "cli-bad-output-suffix",
        lambda t: ["predict", str(t / "m.keras"), str(t / "a.png"), "--output", str(t / "out.txt")],
        E.ConfigError,
        ValueError,
        r"`--output` must name a \.csv or \.json file.*Accepted: out\.csv, out\.json",
    ),
    Case(
        "cli-top-k-zero",
        lambda t: ["predict", str(t / "m.keras"), str(t / "a.png"), "--top-k", "0"],
        E.ConfigError,
        ValueError,
        r"`--top-k` must be at least 1.*--top-k 0",
    ),
    # Distribution
    Case(
        "distribution-unknown-spec",
        lambda t: lambda: __import__("transferlab").resolve_distribution("tpu_pod"),
        E.ConfigError,
        ValueError,
        r"unknown distribution `spec`.*tpu_pod.*Accepted: 'auto', 'one_device'",
    ),
    Case(
        "tf-config-not-json",
        "tf_config:{cluster: [",
        E.DistributionError,
        RuntimeError,
        r"TF_CONFIG is malformed: not valid JSON.*Fix: set one JSON object per process",
    ),
    Case(
        "tf-config-index-out-of-range",
        'tf_config:{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 2}}',
        E.DistributionError,
        RuntimeError,
        r"task index out of range.*0\.\.1.*Fix: ",
    ),
    Case(
        "worker-never-joins",
        _worker_never_joins,
        E.WorkerTimeoutError,
        TimeoutError,
        r"1 of 1 peer worker\(s\) did not join within 0\.5 s.*Fix: start every worker",
    ),
    # Strategies
    Case(
        "strategy-unknown-group",
        lambda t: lambda: __import__("transferlab").set_trainable_groups(_tiny_classifier(), ["block9"]),
        E.StrategyError,
        ValueError,
        r"no layer group 'block9'.*Accepted: 'stem', 'block1'.*Fix: did you mean 'block4'",
    ),
    Case(
        "strategy-top-too-large",
        lambda t: lambda: __import__("transferlab").FineTune(2, top=9).phases(_vgg_info()),
        E.StrategyError,
        ValueError,
        r"FineTune\(top=9\) asks for more groups than backbone 'vgg16' has.*5",
    ),
    Case(
        "strategy-top-and-from-group",
        lambda t: lambda: __import__("transferlab").FineTune(2, top=1, from_group="block4"),
        E.StrategyError,
        ValueError,
        r"FineTune takes `top` or `from_group`, not both.*Fix: ",
    ),
    Case(
        "strategy-unknown-batchnorm-policy",
        lambda t: lambda: __import__("transferlab").FineTune(2, top=1, batchnorm="sometimes"),
        E.StrategyError,
        ValueError,
        r"Unknown BatchNorm policy.*sometimes.*Accepted: ",
    ),
    # Pipeline options
    Case(
        "pipeline-batch-size-zero",
        lambda t: lambda: __import__("transferlab").make_pipeline(_images(), batch_size=0),
        E.ConfigError,
        ValueError,
        r"`batch_size` must be an integer >= 1.*batch_size=0",
    ),
    Case(
        "pipeline-bad-shard",
        lambda t: lambda: __import__("transferlab").make_pipeline(_images(), batch_size=2, shard=(2, 2)),
        E.ConfigError,
        ValueError,
        r"`shard` must be \(num_workers, index\) with 0 <= index < num_workers.*\(2, 2\)",
    ),
    Case(
        "pipeline-batch-not-multiple-of-replicas",
        lambda t: lambda: __import__("transferlab").make_pipeline(_images(), batch_size=3, num_replicas=2),
        E.ConfigError,
        ValueError,
        r"`batch_size` must be a multiple of `num_replicas`.*Fix: ",
    ),
    Case(
        "pipeline-skips-whole-epoch",
        lambda t: lambda: __import__("transferlab").make_pipeline(_images(6), batch_size=2, skip_batches=3),
        E.ConfigError,
        ValueError,
        r"`skip_batches` skips the whole epoch.*3",
    ),
    Case(
        "augmentation-unknown-preset",
        lambda t: lambda: __import__("transferlab").make_augmentation("extreme"),
        E.ConfigError,
        ValueError,
        r"Unknown augmentation `preset`.*extreme.*Accepted: .*standard",
    ),
    # Training
    Case(
        "trainer-unknown-feature-cache",
        lambda t: (
            lambda: __import__("transferlab").Trainer(_tiny_classifier, strategy=None, feature_cache="ram")
        ),
        E.ConfigError,
        ValueError,
        r"(Unknown `feature_cache` mode|Bad value for config key `training\.feature_cache`).*'ram'.*Accepted: 'auto', 'off', 'disk'",
    ),
    Case(
        "trainer-unknown-precision",
        lambda t: lambda: __import__("transferlab").Trainer(_tiny_classifier, strategy=None, precision="fp8"),
        E.ConfigError,
        ValueError,
        r"(Unknown `precision`|Bad value for config key `training\.precision`).*fp8.*Accepted: .*bfloat16",
    ),
    # Serving
    Case(
        "serving-unreadable-image",
        lambda t: _read_images(_idx_file(t, b"\x89PNG\r\n\x1a\ngarbage", "a.png")),
        E.DataFileError,
        OSError,
        r"Cannot decode the image .*a\.png: it is a damaged or unsupported PNG file.*Fix: ",
    ),
    Case(
        "serving-image-missing",
        lambda t: lambda: __import__("transferlab").read_images(t / "none.png"),
        E.DataFileError,
        OSError,
        r"Image file .*none\.png does not exist.*Fix: check the path",
    ),
    Case(
        "serving-model-missing",
        lambda t: lambda: __import__("transferlab").load_trained_model(t / "none.keras"),
        E.DataFileError,
        OSError,
        r"No model at .*none\.keras.*Accepted: ",
    ),
    # Storage (issue 14): one StorageError naming the path and the fix, nothing half-written
    Case(
        "storage-full-disk-json",
        _write("json"),
        E.StorageError,
        OSError,
        r"Cannot write .*config\.json: the disk is full.*ENOSPC.*Fix: free space on the filesystem of",
    ),
    Case(
        "storage-full-disk-text",
        _write("text"),
        E.StorageError,
        OSError,
        r"Cannot write .*summary\.md: the disk is full.*Fix: free space",
    ),
    Case(
        "storage-full-disk-backup-bytes",
        _write("bytes"),
        E.StorageError,
        OSError,
        r"Cannot write .*state\.npz: the disk is full.*Fix: free space",
    ),
    Case(
        "storage-permission-denied",
        _write("json", 13),
        E.StorageError,
        OSError,
        r"Cannot write .*config\.json: permission denied.*EACCES.*Fix: make .* writable",
    ),
    Case(
        "storage-read-only-filesystem",
        _write("text", 30),
        E.StorageError,
        OSError,
        r"Cannot write .*summary\.md: the filesystem is read-only.*EROFS.*Fix: make .* writable",
    ),
    Case(
        "storage-other-os-error",
        _write("bytes", 5),
        E.StorageError,
        OSError,
        r"Cannot write .*state\.npz: the operating system refused.*EIO.*Fix: check that",
    ),
    Case(
        "storage-parent-is-a-file",
        lambda t: (
            (t / "f").write_text("x")
            and (lambda: __import__("transferlab._atomic")._atomic.atomic_write_text(t / "f" / "a.json", "x"))
        ),
        E.StorageError,
        OSError,
        r"Cannot write .*f/a\.json: .*Fix: ",
    ),
    Case(
        "storage-weights-too-big-for-free-space",
        _save_on_a_full_disk("weights"),
        E.StorageError,
        OSError,
        r"Cannot write .*last\.weights\.h5: the disk is full.*needs about .* MB.*are free.*Fix: free space",
    ),
    Case(
        "storage-model-too-big-for-free-space",
        _save_on_a_full_disk("model"),
        E.StorageError,
        OSError,
        r"Cannot write .*model\.keras: the disk is full.*needs about.*Fix: free space",
    ),
    Case(
        "storage-run-folder-read-only",
        _read_only_run_folder,
        E.StorageError,
        OSError,
        r"Cannot write .*runs/r: permission denied.*Fix: make .*runs writable",
    ),
    Case(
        "storage-runs-dir-is-a-file",
        _runs_dir_is_a_file,
        E.StorageError,
        OSError,
        r"Cannot write .*runs/\.locks: a folder on its path is missing or is a file.*Fix: create",
    ),
    # Divergence
    Case(
        "divergence-save-weights-non-finite",
        _save_non_finite("weights"),
        E.DivergenceError,
        RuntimeError,
        r"Refusing to save non-finite weights to .*best\.weights\.h5.*dense/bias.*Fix: lower the learning rate",
    ),
    Case(
        "divergence-save-model-non-finite",
        _save_non_finite("model"),
        E.DivergenceError,
        RuntimeError,
        r"Refusing to save non-finite weights to .*model\.keras.*Fix: lower the learning rate",
    ),
    Case(
        "divergence-non-finite-loss",
        _diverging_fit(1e30, "SGD"),
        E.DivergenceError,
        RuntimeError,
        r"Training diverged in phase 'head', epoch 1, step \d+: non-finite values.*loss=(inf|nan); "
        r"learning rate 1e\+30.*Fix: lower the learning rate",
    ),
    Case(
        "divergence-exploding-loss",
        _diverging_fit(1e5, "Adam"),
        E.DivergenceError,
        RuntimeError,
        r"Training diverged in phase 'head', epoch 1, step \d+: the loss exploded.*Fix: lower the learning rate",
    ),
    # Degenerate tasks
    Case(
        "task-one-class",
        _task([0, 0, 0], ("a",)),
        E.DataError,
        ValueError,
        r"at least two classes.*Fix: add examples of another class",
    ),
    Case(
        "task-one-class-with-examples",
        _task([1, 1], ("a", "b", "c")),
        E.DataError,
        ValueError,
        r"at least two classes.*'b' \(2\) of 3 class name",
    ),
    Case(
        "task-source-in-target",
        _task([0, 1], ("a", "b"), source_classes=[0, 5], target_classes=[5, 6]),
        E.DataError,
        ValueError,
        r"source classes overlap the target classes.*both hold \[5\].*Fix: pretrain",
    ),
    Case(
        "config-pretrain-classes-in-target",
        _config("[model]\npretrain_classes = [4, 5]\n[data]\nclasses = [5, 6]\n"),
        E.ConfigError,
        ValueError,
        r"`model\.pretrain_classes` overlap the target classes.*both hold \[5\].*Fix: pretrain on other",
    ),
    Case(
        "config-pretrain-classes-all-targets",
        _config("[model]\npretrain_classes = [0, 1]\n"),
        E.ConfigError,
        ValueError,
        r"overlap the target classes.*\(all classes\).*Fix: ",
    ),
    # Config values
    Case(
        "config-width-inf",
        _config("[model]\nwidth = inf\n"),
        E.ConfigError,
        ValueError,
        r"`model\.width` must be a finite number.*inf and nan are not accepted",
    ),
    Case(
        "config-learning-rate-nan",
        _config("[strategy]\nlearning_rate = nan\n"),
        E.ConfigError,
        ValueError,
        r"`strategy\.learning_rate` must be a finite number",
    ),
    Case(
        "config-seed-2-to-the-64",
        _config(f"[training]\nseed = {2**64}\n"),
        E.ConfigError,
        ValueError,
        r"`training\.seed` is too large",
    ),
    Case(
        "config-not-utf8",
        lambda t: (
            (t / "run.toml").write_bytes(b"[data]\npath = '\xff'\n")
            and (lambda: __import__("transferlab.config").config.RunConfig.load(t / "run.toml"))
        ),
        E.ConfigError,
        ValueError,
        r"run\.toml is not UTF-8 text.*byte 0xff.*Fix: save the config file as UTF-8",
    ),
    # Images
    Case(
        "image-empty-file",
        _image_file("e.png", lambda: b""),
        E.DataFileError,
        OSError,
        r"Cannot decode the image .*e\.png: the file is empty \(0 bytes\).*Fix: ",
    ),
    Case(
        "image-unknown-format",
        _image_file("t.jpg", lambda: b"plain text"),
        E.DataFileError,
        OSError,
        r"t\.jpg: it is not an image file of a known format.*Accepted: PNG .*GIF, BMP",
    ),
    Case(
        "image-truncated-png",
        _image_file("c.png", lambda: _png_bytes()[:40]),
        E.DataFileError,
        OSError,
        r"c\.png: it is a damaged or unsupported PNG file.*the PNG decoder said",
    ),
    Case(
        "image-damaged-jpeg",
        _image_file("d.jpg", lambda: _jpeg_bytes()[:30]),
        E.DataFileError,
        OSError,
        r"d\.jpg: it is a damaged or unsupported JPEG file.*Fix: delete or re-export",
    ),
    Case(
        "image-damaged-gif",
        _image_file("g.gif", lambda: b"GIF89a" + bytes(7)),
        E.DataFileError,
        OSError,
        r"g\.gif: it is a damaged or unsupported GIF file",
    ),
    Case(
        "image-folder-damaged-jpeg",
        _folder_with("bad.jpg", b"\xff\xd8\xff\xe0" + bytes(40)),
        E.DataFileError,
        OSError,
        r"Cannot decode the image .*b/bad\.jpg: it is a damaged or unsupported JPEG",
    ),
    # Saved models: damaged, not missing
    Case(
        "model-keras-empty",
        _damaged_keras(lambda b: b""),
        E.DataFileError,
        OSError,
        r"The Keras model .*m\.keras is damaged: it is empty \(0 bytes\).*Fix: save the model again",
    ),
    Case(
        "model-keras-truncated",
        _damaged_keras(lambda b: b[: len(b) // 2]),
        E.DataFileError,
        OSError,
        r"The Keras model .*m\.keras is damaged: it is truncated",
    ),
    Case(
        "model-keras-zeroed",
        _damaged_keras(lambda b: bytes(len(b))),
        E.DataFileError,
        OSError,
        r"The Keras model .*m\.keras is damaged: it is zeroed or overwritten",
    ),
    Case(
        "saved-model-damaged",
        _damaged_saved_model,
        E.DataFileError,
        OSError,
        r"The SavedModel .*exported is damaged: it cannot be loaded.*Fix: export the model again",
    ),
    # Command lines of round two
    Case(
        "cli-train-seed-too-large",
        lambda t: ["train", "--seed", str(2**64), "--run-dir", str(t / "runs"), "--run-name", "r"],
        E.ConfigError,
        ValueError,
        r"`training\.seed` is too large",
    ),
    Case(
        "cli-predict-damaged-model",
        _cli_predict_damaged_model,
        E.DataFileError,
        OSError,
        r"The Keras model .*m\.keras is damaged: it is zeroed or overwritten",
    ),
    Case(
        "cli-predict-unknown-image-format",
        _cli_predict_unknown_image,
        E.DataFileError,
        OSError,
        r"a\.png: it is not an image file of a known format",
    ),
]


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _check_message(message: str, case: Case) -> None:
    assert re.search(case.match, message, flags=re.S), f"{case.id}: {message!r} !~ {case.match!r}"
    assert not _TF_INTERNAL.search(message), f"{case.id}: TensorFlow-internal text in {message!r}"


def test_the_table_covers_at_least_80_kinds() -> None:
    assert len(CASES) >= 80, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_named_error_with_the_fix(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert issubclass(case.error, E.TransferlabError) and issubclass(case.error, case.builtin)
    monkeypatch.chdir(tmp_path)  # anything written by mistake lands in the listed folder
    if isinstance(case.make, str):
        trigger: Any = _tf_config(monkeypatch, case.make.removeprefix("tf_config:"))
    else:
        trigger = case.make(tmp_path)
    before = _listing(tmp_path)
    if isinstance(trigger, list):  # a command line
        from transferlab.cli.main import build_parser, main

        args = build_parser().parse_args(trigger)
        with pytest.raises(case.error) as info:
            args.run(args)
        capsys.readouterr()
        assert main(trigger) != 0
        err = capsys.readouterr().err
        assert err.startswith("transferlab: error: ") and err.count("transferlab: error:") == 1, err
        assert "Traceback" not in err
        _check_message(err, case)
    else:
        with pytest.raises(case.error) as info:
            trigger()
    assert isinstance(info.value, E.TransferlabError) and isinstance(info.value, case.builtin)
    _check_message(str(info.value), case)
    assert _listing(tmp_path) == before, "a partial or temporary file was left behind"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["data", "--bogus"], "unrecognized arguments: --bogus"),
        (["predict", "m.keras", "a.png", "--top-k", "two"], "argument --top-k: invalid int value: 'two'"),
        (["evaluate", "run", "--split", "val"], "argument --split: invalid choice: 'val'"),
    ],
    ids=["unknown-flag", "flag-wrong-type", "flag-bad-choice"],
)
def test_bad_flags_are_one_line_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from transferlab.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "--help" in err
    assert not _TF_INTERNAL.search(err)
