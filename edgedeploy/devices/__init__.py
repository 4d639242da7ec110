"""Boards: their profiles (memory, core, toolchain), and later the links to drive them.

`list_profiles` and `get_profile` describe the boards edgedeploy targets; see
`edgedeploy.devices.profiles`.
"""

from edgedeploy.devices.profiles import (
    BARE_METAL,
    LINUX,
    DeviceProfile,
    get_profile,
    list_profiles,
)

__all__ = ["BARE_METAL", "LINUX", "DeviceProfile", "get_profile", "list_profiles"]
