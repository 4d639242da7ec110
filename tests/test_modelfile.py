"""The .tflite reader: real models parse; anything else is one clear ModelFormatError."""

from __future__ import annotations

import flatbuffers
import numpy as np
import pytest

from edgedeploy.errors import InputFileError, ModelFormatError
from edgedeploy.modelfile import MAX_TENSOR_ELEMENTS, load_model, schema
from tests.paths import AD01_INT8, KWS_FLOAT, KWS_INT8


def _repack(data: bytes, edit) -> bytes:
    tree = schema().ModelT.InitFromPackedBuf(data, 0)
    edit(tree)
    builder = flatbuffers.Builder(1024)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_reads_the_keyword_spotting_model():
    m = load_model(KWS_INT8)
    assert m.op_counts == {
        "CONV_2D": 5,
        "DEPTHWISE_CONV_2D": 4,
        "AVERAGE_POOL_2D": 1,
        "RESHAPE": 1,
        "FULLY_CONNECTED": 1,
        "SOFTMAX": 1,
    }
    (inp,) = m.input_tensors
    assert inp.shape == (1, 49, 10, 1) and inp.dtype == "int8"
    assert inp.quant.zero_points == (83,)
    assert m.sha256 == "aeea436800704fce17b17292e4412630ad856e9d777c044c64ef748a880bd0ae"
    conv = m.operators[0]
    assert conv.options["strideW"] == 2 and conv.options["padding"] == 0
    weights = m.constant(conv.inputs[1])
    assert weights.dtype == np.int8 and weights.shape == m.tensors[conv.inputs[1]].shape
    assert m.tensors[conv.inputs[1]].quant.per_channel
    assert m.tflm_unsupported_ops() == []


def test_float_model_has_no_quantization():
    m = load_model(KWS_FLOAT)
    assert m.input_tensors[0].dtype == "float32" and m.input_tensors[0].quant is None


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        load_model(tmp_path / "nope.tflite")


def test_not_a_tflite(tmp_path):
    p = tmp_path / "x.tflite"
    p.write_text("hello, I am a text file pretending to be a model")
    with pytest.raises(ModelFormatError, match=r"not a \.tflite"):
        load_model(p)


@pytest.mark.parametrize("keep", [64, 1000, 20000])
def test_truncated_model_is_refused(keep):
    data = AD01_INT8.read_bytes()[:keep]
    with pytest.raises(ModelFormatError):
        load_model(data)


def test_huge_tensor_refused_before_allocation():
    def grow(tree):
        tree.subgraphs[0].tensors[0].shape = np.array([1, 1 << 16, 1 << 15, 1], dtype=np.int32)

    with pytest.raises(ModelFormatError, match="elements"):
        load_model(_repack(AD01_INT8.read_bytes(), grow))
    assert MAX_TENSOR_ELEMENTS < (1 << 31)


def test_out_of_range_indices_refused():
    def bad_opcode(tree):
        tree.subgraphs[0].operators[0].opcodeIndex = 99

    def bad_tensor(tree):
        op = tree.subgraphs[0].operators[0]
        op.inputs = np.array([4000, *op.inputs[1:]], dtype=np.int32)

    def bad_buffer(tree):
        tree.subgraphs[0].tensors[0].buffer = 10_000

    data = AD01_INT8.read_bytes()
    with pytest.raises(ModelFormatError, match="opcode"):
        load_model(_repack(data, bad_opcode))
    with pytest.raises(ModelFormatError, match="tensor 4000"):
        load_model(_repack(data, bad_tensor))
    with pytest.raises(ModelFormatError, match="buffer"):
        load_model(_repack(data, bad_buffer))
