"""The plain-C runtime on every model of the project's zoo: bit-exact with TFLite Micro.

The zoo models (small_cnn, mobilenet_v1 alpha 0.25 at 96×96×3, ds_cnn, resnet8,
autoencoder) are built by the project's own model builders and converter, so
this is the C compiler on real converter output it was not tuned to. Each
export is compiled and run through ``model_host`` on 50 random inputs and
compared byte for byte with the tflite-micro interpreter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.zoo import ZOO, zoo_models
from tests.firmware_export.c_runtime_helpers import (
    Built,
    build_all,
    compare_with_micro,
    require_c_toolchain,
)
from tests.toolhelpers import require_module

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zoo_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    require_c_toolchain()
    require_module("tflite_micro")
    require_module("tensorflow")
    work = tmp_path_factory.mktemp("c_zoo")
    models = zoo_models(work)
    built = build_all([(m, work / f"{m.stem}_c") for m in models])
    return {b.name.removesuffix("_int8"): b for b in built}


@pytest.mark.parametrize("name", [name for name, _, _ in ZOO])
def test_zoo_model_bit_exact_on_50_inputs(zoo_builds: dict[str, Built], name: str) -> None:
    assert compare_with_micro(zoo_builds[name], runs=50, seed=11) == 0


@pytest.mark.parametrize("name", [name for name, _, _ in ZOO])
def test_zoo_model_arena_is_the_lower_bound(zoo_builds: dict[str, Built], name: str) -> None:
    result = zoo_builds[name].result
    assert result.arena_bytes == result.lower_bound_bytes
    assert Path(zoo_builds[name].binary).exists()
