"""transferlab: correct, fast and reproducible transfer learning on TensorFlow/Keras 3."""

from transferlab._version import __version__
from transferlab import errors

__all__ = ["__version__", "errors"]
