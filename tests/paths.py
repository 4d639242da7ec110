"""Where tests find the project and the shared reference models."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: MLPerf Tiny reference models, kept beside the project and never copied into it.
SHARED_MODELS = ROOT.parent / "shared" / "models"
KWS_INT8 = SHARED_MODELS / "kws_ref_int8.tflite"
KWS_FLOAT = SHARED_MODELS / "kws_ref_float32.tflite"
AD01_INT8 = SHARED_MODELS / "ad01_int8.tflite"
AD01_FLOAT = SHARED_MODELS / "ad01_float32.tflite"
