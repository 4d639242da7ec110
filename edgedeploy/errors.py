"""The exceptions edgedeploy raises for problems a user can act on.

Library code raises these with a message that names the offending file, value or
op; only `edgedeploy.cli.main` turns them into one line on stderr and an exit
status. Anything else escaping the library is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "ArenaTooSmallError",
    "BuildError",
    "ConversionError",
    "DatasetError",
    "DependencyError",
    "DeviceError",
    "DeviceTimeoutError",
    "EdgeDeployError",
    "InputDataError",
    "InputFileError",
    "ModelFormatError",
    "OutputExistsError",
    "OutputPathError",
    "TrainingError",
    "TransportClosedError",
    "UnknownNameError",
    "UnsupportedModelError",
]


class EdgeDeployError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""

    exit_code = 1


class InputFileError(EdgeDeployError):
    """An input file is missing, unreadable or of the wrong kind."""

    exit_code = 2


class ModelFormatError(InputFileError):
    """A file that should be a .tflite flatbuffer is not one, or is malformed."""


class InputDataError(EdgeDeployError):
    """Tensor data given to a model has the wrong shape, dtype or size."""

    exit_code = 2


class UnknownNameError(EdgeDeployError):
    """An unknown model, dataset, device or mode name was asked for."""

    exit_code = 2


class OutputExistsError(EdgeDeployError):
    """The output path exists and --force was not given."""

    exit_code = 3


class OutputPathError(EdgeDeployError):
    """The output path cannot be used (a symlink, the model's own directory, disk full)."""

    exit_code = 3


class UnsupportedModelError(EdgeDeployError):
    """The model uses an op or dtype the chosen target cannot run."""

    exit_code = 4


class DatasetError(EdgeDeployError):
    """A dataset cannot be loaded or does not fit the model."""

    exit_code = 2


class TrainingError(EdgeDeployError):
    """Training failed for a reason the user can fix (bad hyper-parameters, data)."""


class ConversionError(EdgeDeployError):
    """The TFLite converter or quantizer refused the model."""

    exit_code = 4


class DependencyError(EdgeDeployError):
    """An optional dependency (TensorFlow, tflite-micro, a compiler) is not installed."""

    exit_code = 5


class BuildError(EdgeDeployError):
    """Compiling generated C failed."""

    exit_code = 6


class ArenaTooSmallError(EdgeDeployError):
    """The tensor arena given to an interpreter cannot hold the model."""


class DeviceError(EdgeDeployError):
    """A device could not be found, opened or driven."""

    exit_code = 7


class DeviceTimeoutError(DeviceError):
    """A device did not answer within its timeout."""


class TransportClosedError(DeviceError):
    """The link to a device closed while a command was under way."""
