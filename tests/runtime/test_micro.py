"""TFLite Micro on the host: the reference for what a microcontroller computes."""

from __future__ import annotations

import numpy as np
import pytest

from edgedeploy.errors import ArenaTooSmallError, InputDataError
from edgedeploy.modelfile import load_model
from edgedeploy.runtime import MicroModel, Model, measure_arena
from edgedeploy.runtime.compare import compare_models, extract_op_model
from tests.paths import AD01_INT8, KWS_INT8
from tests.toolhelpers import require_module


@pytest.fixture(autouse=True)
def _needs_micro():
    require_module("tflite_micro")


def test_arena_matches_the_published_figures():
    kws = measure_arena(KWS_INT8)
    assert (kws.total, kws.head) == (24272, 16000)
    assert kws.minimum >= kws.total
    ad = measure_arena(AD01_INT8)
    assert ad.head == 768 and 3900 < ad.total <= 3984 < ad.minimum


def test_too_small_arena_is_one_clear_error():
    with pytest.raises(ArenaTooSmallError, match="bytes"):
        MicroModel(KWS_INT8, arena_size=2000)


def test_micro_matches_reference_tflite_on_kws():
    micro, ref = MicroModel(KWS_INT8), Model(KWS_INT8, reference_kernels=True)
    rng = np.random.default_rng(7)
    for _ in range(5):
        x = rng.integers(-128, 128, size=(1, 49, 10, 1), dtype=np.int8)
        assert np.array_equal(micro.run_raw([x])[0], ref.run_raw([x])[0])


def test_wrong_input_is_refused():
    with pytest.raises(InputDataError, match="expects int8"):
        MicroModel(AD01_INT8).run_raw([np.zeros((1, 640), np.float32)])


def test_ad01_difference_is_localized_to_fully_connected_rounding():
    result = compare_models(AD01_INT8, samples=5, seed=0)
    assert result.max_abs_diff >= 1
    culprits = {o.op for o in result.ops if o.max_abs_diff}
    assert culprits == {"FULLY_CONNECTED"}
    # Alone on identical inputs no op is off by more than one step.
    assert max(o.max_abs_diff for o in result.ops) == 1


def test_single_op_extraction_runs_alone():
    model = load_model(KWS_INT8)
    sub = load_model(extract_op_model(model, 0))
    assert [o.op for o in sub.operators] == ["CONV_2D"]
    assert sub.input_tensors[0].shape == (1, 49, 10, 1)
