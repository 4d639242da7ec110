"""Session fixtures shared across test packages: models trained and converted once per session.

Training and conversion take seconds even for the smallest model, so every test
that needs a trained digits classifier or its int8 conversion uses these.
Packages add their own fixtures in ``tests/<package>/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.toolhelpers import require_module

#: Epochs for the session's small_cnn: enough for the float ≥ 0.95 target on digits
#: (early stopping on seed 0 keeps the best epoch), few enough to stay near 10 s.
SMALL_CNN_EPOCHS = 10


@pytest.fixture(scope="session")
def trained_small_cnn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training output directory: small_cnn on digits at 32×32×1, default options, seed 0."""
    require_module("tf_keras")
    from edgedeploy.training import TrainConfig, train

    out = tmp_path_factory.mktemp("trained") / "small_cnn_digits"
    train(TrainConfig(model="small_cnn", dataset="digits", out=out, epochs=SMALL_CNN_EPOCHS))
    return out


@pytest.fixture(scope="session")
def converted_small_cnn(trained_small_cnn: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`trained_small_cnn` converted to full-integer int8 with int8 I/O; its ConversionReport.

    The .tflite is at ``Path(report.out)``, the JSON report at ``Path(report.report_path)``.
    """
    from edgedeploy.converter import ConvertConfig, convert

    out = tmp_path_factory.mktemp("converted")
    return convert(
        ConvertConfig(
            source=trained_small_cnn,
            out=out / "small_cnn_int8.tflite",
            report=out / "small_cnn_int8.json",
            bench_runs=5,
        )
    )
