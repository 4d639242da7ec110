"""Bundles for Linux boards and phones: the model plus what it takes to run it there.

`export_rpi` writes a folder for a Raspberry Pi (or any Linux host) with the
model, labels and two scripts that need only numpy and LiteRT. `export_mobile`
writes the model with TFLite model metadata (labels and input normalization
inside the file) and a README with the Kotlin or Swift lines that load it.
"""

from edgedeploy.firmware_export.bundles.common import BundleResult, format_bundle
from edgedeploy.firmware_export.bundles.mobile import PLATFORMS, export_mobile
from edgedeploy.firmware_export.bundles.rpi import export_rpi

__all__ = ["PLATFORMS", "BundleResult", "export_mobile", "export_rpi", "format_bundle"]
