"""Serving: saving and exporting trained models, reading images, predicting."""

from transferlab.serving.export_saved_model import export_saved_model
from transferlab.serving.load_trained_model import load_trained_model
from transferlab.serving.predict import predict
from transferlab.serving.predictions import Predictions
from transferlab.serving.read_images import read_images

__all__ = [
    "Predictions",
    "export_saved_model",
    "load_trained_model",
    "predict",
    "read_images",
]
