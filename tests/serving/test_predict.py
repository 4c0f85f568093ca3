"""predict and Predictions: same as calling the model, layouts, batching, logits, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from tiny_folders import damage, write_class_folder

from transferlab.data.image_folder import load_image_folder
from transferlab.data.image_folder_source import ImageFolderSource
from transferlab.data.labeled_images import LabeledImages
from transferlab.errors import ConfigError, DataError, DataFileError
from transferlab.serving import Predictions, predict

from .conftest import make_tiny_classifier


def test_predict_equals_calling_the_model_in_any_layout_and_batching(tiny_model, digits):
    expected = np.asarray(tiny_model(digits[..., None], training=False))
    for images, batch_size in ((digits, 256), (digits[..., None], 5), (digits.astype("float32"), 1)):
        p = predict(tiny_model, images, batch_size=batch_size)
        assert p.probabilities.dtype == np.float32 and p.probabilities.shape == (12, 3)
        np.testing.assert_allclose(p.probabilities, expected, atol=1e-5)
        np.testing.assert_array_equal(p.classes, expected.argmax(1))
    assert p.class_names == ("0", "1", "2") and len(p) == 12


def test_class_names_labels_confidence_and_top_k(tiny_model, digits):
    p = predict(tiny_model, digits[:4], class_names=["five", "six", "seven"])
    assert p.labels == [("five", "six", "seven")[c] for c in p.classes]
    np.testing.assert_array_equal(p.confidence, p.probabilities.max(axis=1))
    indices, probs = p.top_k(3)
    assert (indices[:, 0] == p.classes).all() and (np.diff(probs, axis=1) <= 0).all()
    with pytest.raises(
        ConfigError,
        match=r"`k` must be between 1 and the number of classes\. "
        r"Received: k=4\. Accepted: 1 to 3",
    ):
        p.top_k(4)


def test_logits_model_gets_a_softmax(digits):
    model = make_tiny_classifier(activation=None)
    logits = np.asarray(model(digits[..., None], training=False))
    probs = predict(model, digits).probabilities
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs, shifted / shifted.sum(1, keepdims=True), atol=1e-6)


def test_rgb_model_gets_grayscale_repeated(digits):
    model = make_tiny_classifier(input_shape=(28, 28, 3))
    rgb = np.repeat(digits[..., None], 3, axis=-1)
    np.testing.assert_allclose(
        predict(model, digits).probabilities, np.asarray(model(rgb, training=False)), atol=1e-5
    )


def test_empty_batch(tiny_model):
    p = predict(tiny_model, np.zeros((0, 28, 28), np.uint8))
    assert p.probabilities.shape == (0, 3) and p.labels == []


def test_bad_batch_size(tiny_model, digits):
    with pytest.raises(
        ConfigError, match=r"`batch_size` must be a positive integer\. Received: batch_size=0"
    ):
        predict(tiny_model, digits, batch_size=0)


def test_wrong_number_of_class_names(tiny_model, digits):
    with pytest.raises(
        ConfigError,
        match=r"`class_names` must have one name per model output\. "
        r"Received: 2 names \['a', 'b'\] for 3 outputs",
    ):
        predict(tiny_model, digits, class_names=["a", "b"])


def test_wrong_rank(tiny_model):
    with pytest.raises(
        DataError,
        match=r"`images` must have shape \(N, height, width\) or \(N, height, "
        r"width, channels\) with 1 or 3 channels\. Received: "
        r"images\.shape=\(28, 28\)",
    ):
        predict(tiny_model, np.zeros((28, 28), np.uint8))


def test_wrong_size(tiny_model):
    with pytest.raises(
        DataError,
        match=r"The images' size differs from the model's input size\. "
        r"Received: images 32x32, model input 28x28x1\. Fix: resize "
        r"them, e\.g\. read_images\(paths, size=\(28, 28\)\)",
    ):
        predict(tiny_model, np.zeros((1, 32, 32), np.uint8))


def test_wrong_channels(tiny_model):
    with pytest.raises(
        DataError,
        match=r"The images' channels differ from the model's input\. "
        r"Received: 3 channels, model input 28x28x1\. Fix: convert "
        r"them, e\.g\. read_images\(paths, channels=1\)",
    ):
        predict(tiny_model, np.zeros((1, 28, 28, 3), np.uint8))


def test_normalised_images_are_refused(tiny_model):
    with pytest.raises(
        DataError,
        match=r"`images` must hold raw pixel values in \[0, 255\] \(the model "
        r"scales them itself\)\. Received: values in \[-1\.0, 1\.0\]",
    ):
        predict(tiny_model, np.linspace(-1, 1, 28 * 28).reshape(1, 28, 28))
    with pytest.raises(DataError, match=r"`images` must hold numbers\. Received: images\.dtype=<U1"):
        predict(tiny_model, np.full((1, 28, 28), "a"))


def test_model_with_two_inputs(digits):
    a, b = keras.Input((28, 28, 1)), keras.Input((28, 28, 1))
    model = keras.Model([a, b], keras.layers.Add()([a, b]))
    with pytest.raises(
        ConfigError, match=r"`predict` takes a model with one image input\. Received: 2 inputs"
    ):
        predict(model, digits)


def test_predictions_from_probabilities_checks_names():
    with pytest.raises(
        ConfigError,
        match=r"Received: 1 names \['x'\] for 2 outputs\. Fix: pass 2 class "
        r"names, or class_names=None for '0'\.\.'1'",
    ):
        Predictions.from_probabilities(np.array([[0.5, 0.5]]), ["x"])


# Sources: read in batches ----------------------------------------------------------------


def test_a_folder_source_predicts_as_its_arrays(tiny_model, tmp_path):
    root = write_class_folder(tmp_path / "f", [3, 4], size=(28, 28))
    eager = predict(tiny_model, load_image_folder(root).images)
    for data in (ImageFolderSource(root), load_image_folder(root)):
        lazy = predict(tiny_model, data, batch_size=3, class_names=["a", "b", "c"])
        assert len(lazy) == 7 and lazy.class_names == ("a", "b", "c")
        np.testing.assert_allclose(lazy.probabilities, eager.probabilities, rtol=1e-5, atol=1e-6)
    rgb_model = make_tiny_classifier(input_shape=(28, 28, 3))
    np.testing.assert_allclose(
        predict(rgb_model, ImageFolderSource(root)).probabilities,
        predict(rgb_model, load_image_folder(root).images).probabilities,
        rtol=1e-5,
        atol=1e-6,
    )


def test_a_dataset_of_pairs_and_a_declared_pixel_range(tiny_model, digits):
    eager = predict(tiny_model, digits).probabilities
    pairs = tf.data.Dataset.from_tensor_slices((digits, np.zeros(len(digits), "int64"))).batch(5)
    np.testing.assert_allclose(predict(tiny_model, pairs).probabilities, eager, rtol=1e-5, atol=1e-6)
    scaled = LabeledImages(digits.astype("float32") / 255, np.zeros(len(digits), "int64"), ("x", "y"), (0, 1))
    np.testing.assert_allclose(predict(tiny_model, scaled).probabilities, eager, rtol=1e-4, atol=1e-5)


def test_a_source_of_another_size_and_a_damaged_file(tiny_model, tmp_path):
    root = write_class_folder(tmp_path / "f", [2, 2], size=(16, 16))
    with pytest.raises(
        DataError,
        match=r"The images' size differs from the model's input size\. Received: images 16x16, model input "
        r"28x28x1\. Fix: read them at the model's size, e\.g\. ImageFolderSource\(folder, image_size=\(28, 28\)\)",
    ):
        predict(tiny_model, ImageFolderSource(root))
    bad = damage(root / "c0" / "001.png")
    with pytest.raises(DataFileError, match=rf"Cannot decode the image {bad}"):
        predict(tiny_model, ImageFolderSource(root, image_size=(28, 28)))
