"""Data: loading (MNIST, IDX, image folders), splits, pipelines, augmentation, adaptation."""

from transferlab.data.augmentation import make_augmentation
from transferlab.data.dataset_splits import DatasetSplits
from transferlab.data.fetch_file import fetch_file
from transferlab.data.idx import read_idx, write_idx
from transferlab.data.idx_dataset import load_idx_dataset
from transferlab.data.image_folder import load_image_folder
from transferlab.data.image_folder_source import ImageFolderSource
from transferlab.data.input_adapter import InputAdapter
from transferlab.data.labeled_images import LabeledImages
from transferlab.data.mnist import load_mnist
from transferlab.data.normalize import normalize
from transferlab.data.pipeline import make_pipeline
from transferlab.data.sample_per_class import sample_per_class
from transferlab.data.select_classes import select_classes
from transferlab.data.source import ArraySource, ImageSource, IndexedSource, StreamSource, as_source
from transferlab.data.tfrecords import TFRecordSource, write_tfrecords
from transferlab.data.train_val_split import train_val_split

__all__ = [
    "ArraySource",
    "DatasetSplits",
    "ImageFolderSource",
    "ImageSource",
    "IndexedSource",
    "InputAdapter",
    "LabeledImages",
    "StreamSource",
    "TFRecordSource",
    "as_source",
    "fetch_file",
    "load_idx_dataset",
    "load_image_folder",
    "load_mnist",
    "make_augmentation",
    "make_pipeline",
    "normalize",
    "read_idx",
    "sample_per_class",
    "select_classes",
    "train_val_split",
    "write_idx",
    "write_tfrecords",
]
