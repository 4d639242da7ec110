"""Writing TFLite model metadata (the ``TFLITE_METADATA`` flatbuffer) without tflite-support.

Phone apps find a model's labels and input normalization in its metadata, a
flatbuffer of the TFLite metadata schema (``metadata_schema.fbs`` of
tensorflow/tflite-support, file identifier ``M001``) stored in one of the
model's buffers and named by a ``Model.metadata`` entry ``TFLITE_METADATA``.
Associated files such as the labels are appended to the model as a ZIP archive
(ZipFile "append" mode), which the interpreter ignores.

tflite-support, the reference writer, pins ``protobuf<4`` and would break
TensorFlow in the same environment, so this module builds the few tables an
app needs with the flatbuffers ``Builder`` directly; each field is written at
the slot the schema gives it (named constants below, in schema order; a union
takes two slots, its type then its value). The tests read every file written
here back with tflite-support's ``MetadataDisplayer`` in a separate virtual
environment, so a slot written wrong fails there.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

import flatbuffers
import numpy as np

from edgedeploy.errors import InputDataError, ModelFormatError, UnsupportedModelError
from edgedeploy.modelfile import TFLITE_IDENTIFIER, load_model, schema

__all__ = [
    "METADATA_FIELD_NAME",
    "METADATA_IDENTIFIER",
    "MIN_PARSER_VERSION",
    "AssociatedFile",
    "AssociatedFileType",
    "ColorSpace",
    "ModelMetadata",
    "TensorMetadata",
    "attach_metadata",
    "build_metadata",
    "metadata_buffer",
]

#: Name of the ``Model.metadata`` entry whose buffer holds the metadata flatbuffer.
METADATA_FIELD_NAME = "TFLITE_METADATA"
#: File identifier of a metadata flatbuffer (``file_identifier`` in metadata_schema.fbs).
METADATA_IDENTIFIER = b"M001"
#: Oldest metadata parser that understands every field written here: all of them
#: (names, descriptions, content properties, NormalizationOptions, stats and
#: associated files on tensors and the model) exist since schema version 1.0.0.
MIN_PARSER_VERSION = "1.0.0"
#: Alignment the TFLite converter gives buffer data (``force_align: 16`` in the
#: model schema); kept when the model is rewritten so SIMD kernels see the same layout.
BUFFER_ALIGNMENT = 16


class AssociatedFileType:
    """``AssociatedFileType`` enum of the metadata schema."""

    UNKNOWN = 0
    DESCRIPTIONS = 1
    TENSOR_AXIS_LABELS = 2
    TENSOR_VALUE_LABELS = 3


class ColorSpace:
    """``ColorSpaceType`` enum of the metadata schema."""

    UNKNOWN = 0
    RGB = 1
    GRAYSCALE = 2


# ContentProperties union members and ProcessUnitOptions union members (type codes).
_CONTENT_FEATURE = 1
_CONTENT_IMAGE = 2
_PROCESS_NORMALIZATION = 1

# Field slots, in schema order. A union field takes two slots: its type, then its value.
_ASSOCIATED_FILE = {"name": 0, "description": 1, "type": 2, "locale": 3, "version": 4}
_IMAGE_SIZE = {"width": 0, "height": 1}
_IMAGE_PROPERTIES = {"color_space": 0, "default_size": 1}
_CONTENT = {"content_properties_type": 0, "content_properties": 1, "range": 2}
_NORMALIZATION = {"mean": 0, "std": 1}
_PROCESS_UNIT = {"options_type": 0, "options": 1}
_STATS = {"max": 0, "min": 1}
_TENSOR = {
    "name": 0,
    "description": 1,
    "dimension_names": 2,
    "content": 3,
    "process_units": 4,
    "stats": 5,
    "associated_files": 6,
}
_SUBGRAPH = {
    "name": 0,
    "description": 1,
    "input_tensor_metadata": 2,
    "output_tensor_metadata": 3,
    "associated_files": 4,
}
_SUBGRAPH_FIELDS = 10
_MODEL = {
    "name": 0,
    "description": 1,
    "version": 2,
    "subgraph_metadata": 3,
    "author": 4,
    "license": 5,
    "associated_files": 6,
    "min_parser_version": 7,
}


@dataclass(frozen=True)
class AssociatedFile:
    """A file packed with the model (labels, a description) and named in its metadata."""

    name: str
    description: str = ""
    type: int = AssociatedFileType.TENSOR_AXIS_LABELS


@dataclass(frozen=True)
class TensorMetadata:
    """What an app needs to know about one input or output tensor.

    ``mean``/``std`` (one value, or one per channel) say how raw values become
    the model's real input: ``(raw - mean) / std``. ``image`` marks the tensor
    as an image of the given colour space (`ColorSpace`); otherwise it is
    described as a plain feature tensor.
    """

    name: str
    description: str = ""
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    image: int | None = None
    image_size: tuple[int, int] | None = None
    stats_min: tuple[float, ...] = ()
    stats_max: tuple[float, ...] = ()
    associated_files: tuple[AssociatedFile, ...] = ()


@dataclass(frozen=True)
class ModelMetadata:
    """The model-level metadata table: one subgraph, as TFLite supports."""

    name: str
    description: str = ""
    version: str = ""
    author: str = ""
    license: str = ""
    inputs: tuple[TensorMetadata, ...] = ()
    outputs: tuple[TensorMetadata, ...] = ()
    associated_files: tuple[AssociatedFile, ...] = ()


class _Writer:
    """Serializes the metadata dataclasses bottom-up, as a flatbuffer must be built."""

    def __init__(self) -> None:
        self.b = flatbuffers.Builder(1024)

    def _string(self, text: str) -> int | None:
        return self.b.CreateString(text) if text else None

    def _offsets(self, offsets: Sequence[int]) -> int:
        self.b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            self.b.PrependUOffsetTRelative(off)
        return self.b.EndVector()

    def _floats(self, values: Sequence[float]) -> int:
        return self.b.CreateNumpyVector(np.asarray(values, dtype="<f4"))

    def _table(self, slots: int, fields: dict[int, tuple[str, Any]]) -> int:
        """End a table whose children are already built; ``fields`` maps slot -> (kind, value)."""
        b = self.b
        b.StartObject(slots)
        for slot, (kind, value) in sorted(fields.items()):
            if value is None:
                continue
            if kind == "offset":
                b.PrependUOffsetTRelativeSlot(slot, value, 0)
            elif kind == "int8":
                b.PrependInt8Slot(slot, value, 0)
            elif kind == "uint8":
                b.PrependUint8Slot(slot, value, 0)
            elif kind == "uint32":
                b.PrependUint32Slot(slot, value, 0)
            else:
                raise AssertionError(f"unknown field kind {kind}")
        return b.EndObject()

    def associated_file(self, f: AssociatedFile) -> int:
        name, desc = self._string(f.name), self._string(f.description)
        return self._table(
            len(_ASSOCIATED_FILE),
            {
                _ASSOCIATED_FILE["name"]: ("offset", name),
                _ASSOCIATED_FILE["description"]: ("offset", desc),
                _ASSOCIATED_FILE["type"]: ("int8", f.type),
            },
        )

    def _files(self, files: Sequence[AssociatedFile]) -> int | None:
        if not files:
            return None
        return self._offsets([self.associated_file(f) for f in files])

    def _content(self, t: TensorMetadata) -> int:
        if t.image is None:
            props = self._table(0, {})
            kind = _CONTENT_FEATURE
        else:
            size = None
            if t.image_size is not None:
                size = self._table(
                    len(_IMAGE_SIZE),
                    {
                        _IMAGE_SIZE["width"]: ("uint32", t.image_size[0]),
                        _IMAGE_SIZE["height"]: ("uint32", t.image_size[1]),
                    },
                )
            props = self._table(
                len(_IMAGE_PROPERTIES),
                {
                    _IMAGE_PROPERTIES["color_space"]: ("int8", t.image),
                    _IMAGE_PROPERTIES["default_size"]: ("offset", size),
                },
            )
            kind = _CONTENT_IMAGE
        return self._table(
            len(_CONTENT),
            {
                _CONTENT["content_properties_type"]: ("uint8", kind),
                _CONTENT["content_properties"]: ("offset", props),
            },
        )

    def tensor(self, t: TensorMetadata) -> int:
        name, desc = self._string(t.name), self._string(t.description)
        content = self._content(t)
        units = None
        if t.mean or t.std:
            mean, std = self._floats(t.mean), self._floats(t.std)
            norm = self._table(
                len(_NORMALIZATION),
                {_NORMALIZATION["mean"]: ("offset", mean), _NORMALIZATION["std"]: ("offset", std)},
            )
            unit = self._table(
                len(_PROCESS_UNIT),
                {
                    _PROCESS_UNIT["options_type"]: ("uint8", _PROCESS_NORMALIZATION),
                    _PROCESS_UNIT["options"]: ("offset", norm),
                },
            )
            units = self._offsets([unit])
        stats = None
        if t.stats_min or t.stats_max:
            smax = self._floats(t.stats_max) if t.stats_max else None
            smin = self._floats(t.stats_min) if t.stats_min else None
            stats = self._table(
                len(_STATS), {_STATS["max"]: ("offset", smax), _STATS["min"]: ("offset", smin)}
            )
        files = self._files(t.associated_files)
        return self._table(
            len(_TENSOR),
            {
                _TENSOR["name"]: ("offset", name),
                _TENSOR["description"]: ("offset", desc),
                _TENSOR["content"]: ("offset", content),
                _TENSOR["process_units"]: ("offset", units),
                _TENSOR["stats"]: ("offset", stats),
                _TENSOR["associated_files"]: ("offset", files),
            },
        )

    def model(self, m: ModelMetadata) -> bytes:
        inputs = self._offsets([self.tensor(t) for t in m.inputs])
        outputs = self._offsets([self.tensor(t) for t in m.outputs])
        subgraph = self._table(
            _SUBGRAPH_FIELDS,
            {
                _SUBGRAPH["input_tensor_metadata"]: ("offset", inputs),
                _SUBGRAPH["output_tensor_metadata"]: ("offset", outputs),
            },
        )
        subgraphs = self._offsets([subgraph])
        strings = {
            key: self._string(getattr(m, key))
            for key in ("name", "description", "version", "author", "license")
        }
        files = self._files(m.associated_files)
        parser = self._string(MIN_PARSER_VERSION)
        root = self._table(
            len(_MODEL),
            {
                **{_MODEL[key]: ("offset", off) for key, off in strings.items()},
                _MODEL["subgraph_metadata"]: ("offset", subgraphs),
                _MODEL["associated_files"]: ("offset", files),
                _MODEL["min_parser_version"]: ("offset", parser),
            },
        )
        self.b.Finish(root, file_identifier=METADATA_IDENTIFIER)
        return bytes(self.b.Output())


def build_metadata(meta: ModelMetadata) -> bytes:
    """Serialize ``meta`` as a metadata flatbuffer (identifier ``M001``).

    Raises `InputDataError` for a normalization that cannot be applied.
    """
    for t in (*meta.inputs, *meta.outputs):
        if len(t.mean) != len(t.std):
            raise InputDataError(
                f"tensor {t.name!r}: {len(t.mean)} mean value(s), {len(t.std)} std"
            )
        if any(s == 0 for s in t.std):
            raise InputDataError(f"tensor {t.name!r}: a normalization std of 0 divides by zero")
    return _Writer().model(meta)


@cache
def _aligned_buffer_class(s: ModuleType) -> type:
    """A ``BufferT`` that packs its data 16-byte aligned, as the TFLite converter does."""

    class AlignedBufferT(s.BufferT):  # type: ignore[name-defined,misc]
        def Pack(self, builder: flatbuffers.Builder) -> int:
            data_off = None
            if self.data is not None and len(self.data) > 0:
                payload = np.asarray(self.data, dtype=np.uint8).tobytes()
                builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
                builder.head -= len(payload)
                builder.Bytes[builder.head : builder.head + len(payload)] = payload
                data_off = builder.EndVector()
            s.BufferStart(builder)
            if data_off is not None:
                s.BufferAddData(builder, data_off)
            if self.offset:
                s.BufferAddOffset(builder, self.offset)
            if self.size:
                s.BufferAddSize(builder, self.size)
            return s.BufferEnd(builder)

    return AlignedBufferT


def _zip_files(files: dict[str, bytes]) -> bytes:
    """The associated files as a ZIP archive, stored uncompressed so apps can map them."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def attach_metadata(model: bytes, metadata: bytes, files: dict[str, bytes] | None = None) -> bytes:
    """Return ``model`` with ``metadata`` stored under ``TFLITE_METADATA`` and ``files`` appended.

    An existing ``TFLITE_METADATA`` entry is replaced, other metadata entries
    (``min_runtime_version``, conversion metadata) are kept, and any archive
    already appended to ``model`` is dropped, so exporting twice gives the
    same file. Models whose weights live outside the flatbuffer (over 2 GB)
    are refused.
    """
    if metadata[4:8] != METADATA_IDENTIFIER:
        raise InputDataError("metadata does not carry the M001 file identifier")
    load_model(model)
    s = schema()
    obj = s.ModelT.InitFromPackedBuf(model, 0)
    buffers = list(obj.buffers or [])
    if any(int(getattr(b, "offset", 0) or 0) > 1 for b in buffers):
        raise UnsupportedModelError(
            "the model keeps its weights outside the flatbuffer (a model over 2 GB); "
            "metadata cannot be attached to it"
        )
    aligned = _aligned_buffer_class(s)
    new_buffers = []
    for b in buffers:
        nb = aligned()
        nb.data, nb.offset, nb.size = b.data, b.offset, b.size
        new_buffers.append(nb)
    meta_buffer = aligned()
    meta_buffer.data = np.frombuffer(metadata, dtype=np.uint8)
    entries = list(obj.metadata or [])
    existing = [m for m in entries if _name(m.name) == METADATA_FIELD_NAME]
    if existing:
        new_buffers[existing[0].buffer] = meta_buffer
        entries = [m for m in entries if m is existing[0] or _name(m.name) != METADATA_FIELD_NAME]
    else:
        new_buffers.append(meta_buffer)
        entry = s.MetadataT()
        entry.name = METADATA_FIELD_NAME
        entry.buffer = len(new_buffers) - 1
        entries.append(entry)
    obj.buffers = new_buffers
    obj.metadata = entries
    builder = flatbuffers.Builder(len(model) + len(metadata) + 1024)
    builder.Finish(obj.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    packed = bytes(builder.Output())
    return packed + (_zip_files(files) if files else b"")


def metadata_buffer(model: bytes) -> bytes | None:
    """The ``TFLITE_METADATA`` flatbuffer stored in ``model``, or None when it has none."""
    s = schema()
    try:
        root = s.Model.GetRootAs(model, 0)
        for i in range(root.MetadataLength()):
            entry = root.Metadata(i)
            if _name(entry.Name()) == METADATA_FIELD_NAME:
                return root.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    except (IndexError, ValueError, TypeError) as exc:
        raise ModelFormatError(f"cannot read the model's metadata table ({exc})") from exc
    return None


def _name(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")
