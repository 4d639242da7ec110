"""TensorFlow and tf-keras, imported once with a clear message when they are missing.

Training and conversion need TensorFlow, the rest of edgedeploy does not (a
Raspberry Pi runs models with LiteRT alone). Importing this module is where a
missing ``train`` extra becomes a `DependencyError` instead of an ImportError
traceback. tf-keras (Keras 2) rather than Keras 3 is used because
tensorflow-model-optimization's quantization-aware training only wraps tf-keras
models.
"""

from __future__ import annotations

from edgedeploy.errors import DependencyError

try:
    import tensorflow as tf
    import tf_keras
except ImportError as exc:
    raise DependencyError(
        f"training and conversion need TensorFlow and tf-keras ({exc.name} is missing): "
        "pip install 'edgedeploy[train]'"
    ) from exc

__all__ = ["tf", "tf_keras"]
