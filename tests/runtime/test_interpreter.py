"""The host runtime: LiteRT with the model's own quantization, and clear input errors."""

from __future__ import annotations

import numpy as np
import pytest

from edgedeploy.errors import InputDataError, ModelFormatError
from edgedeploy.runtime import Model, dequantize, quantize
from tests.paths import AD01_FLOAT, AD01_INT8, KWS_INT8


@pytest.fixture(scope="module")
def kws() -> Model:
    return Model(KWS_INT8)


def test_specs_come_from_the_model(kws):
    (inp,) = kws.inputs
    assert inp.shape == (1, 49, 10, 1) and inp.dtype == "int8"
    assert inp.zero_point == 83 and inp.scale == pytest.approx(0.5847029)
    assert kws.outputs[0].shape == (1, 12)


def test_quantize_dequantize_round_trip(kws):
    spec = kws.inputs[0]
    q = np.arange(-128, 128, dtype=np.int8)
    assert np.array_equal(quantize(dequantize(q, spec), spec), q)
    # Values beyond the representable range saturate instead of wrapping.
    big = np.array([1e6, -1e6], dtype=np.float32)
    assert quantize(big, spec).tolist() == [127, -128]


def test_predict_quantizes_with_the_models_own_parameters(kws):
    """predict(float) equals run_raw on the hand-quantized input, dequantized."""
    spec, out_spec = kws.inputs[0], kws.outputs[0]
    x = np.random.default_rng(1).normal(0.0, 20.0, size=spec.shape).astype(np.float32)
    q = np.clip(np.round(x / spec.scale) + spec.zero_point, -128, 127).astype(np.int8)
    raw = kws.run_raw([q])[0]
    got = kws.predict(x)[0]
    assert np.array_equal(got, (raw.astype(np.float32) - out_spec.zero_point) * out_spec.scale)
    assert abs(float(got.sum()) - 1.0) < 0.05


def test_batch_prediction_matches_single():
    m = Model(AD01_INT8)
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(4, 640)).astype(np.float32)
    out = m.predict_batch(batch)
    assert out.shape == (4, 640)
    assert np.array_equal(out[2:3], m.predict(batch[2:3])[0])


def test_float_model_runs_float():
    m = Model(AD01_FLOAT)
    out = m.predict(np.zeros((1, 640), np.float32))[0]
    assert out.shape == (1, 640) and out.dtype == np.float32


def test_wrong_shape_and_dtype(kws):
    with pytest.raises(InputDataError, match=r"shape \[3, 3\].*\[1, 49, 10, 1\]"):
        kws.predict(np.zeros((3, 3), np.float32))
    with pytest.raises(InputDataError, match="dtype int32"):
        kws.run_raw([np.zeros((1, 49, 10, 1), np.int32)])
    with pytest.raises(InputDataError, match="takes 1 input"):
        kws.run_raw([])


def test_benchmark_reports_ordered_statistics(kws):
    r = kws.benchmark(runs=15, warmup=2)
    assert r.runs == 15 and 0 < r.min_ms <= r.median_ms <= r.p90_ms
    with pytest.raises(InputDataError):
        kws.benchmark(runs=0)


def test_reference_kernels_agree_with_optimized_on_kws():
    opt, ref = Model(KWS_INT8), Model(KWS_INT8, reference_kernels=True)
    x = np.random.default_rng(3).integers(-128, 128, size=(1, 49, 10, 1), dtype=np.int8)
    assert np.array_equal(opt.run_raw([x])[0], ref.run_raw([x])[0])


def test_garbage_is_refused():
    with pytest.raises(ModelFormatError):
        Model(b"\x00" * 4 + b"TFL3" + b"\xff" * 64)
