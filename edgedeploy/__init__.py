"""edgedeploy: from Keras training to int8 on microcontrollers, Raspberry Pi and phones.

The stages are subpackages (training, converter, runtime, firmware_export, devices);
each has a small Python API and the `edgedeploy` command is a thin layer over them.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
