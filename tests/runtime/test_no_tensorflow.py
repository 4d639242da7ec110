"""The runtime, exporters and devices work where TensorFlow cannot be imported (a Raspberry Pi)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.paths import KWS_INT8, ROOT

_BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"tensorflow", "tf_keras", "keras",
                                      "tensorflow_model_optimization"}:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, NoTensorFlow())
    """
)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _BLOCKER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def test_runtime_runs_without_tensorflow():
    proc = _run(
        f"""
        try:
            import tensorflow
        except ImportError:
            pass
        else:
            raise SystemExit("tensorflow imported despite the block")
        import numpy as np
        from edgedeploy.runtime import Model
        m = Model({str(KWS_INT8)!r})
        out = m.predict(np.zeros((1, 49, 10, 1), np.float32))[0]
        assert out.shape == (1, 12), out.shape
        import edgedeploy.firmware_export, edgedeploy.devices, edgedeploy.cli
        assert not any(k.split(".")[0] in ("tensorflow", "tf_keras") for k in sys.modules)
        print("ok", m.backend, float(out.sum()))
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ok ai_edge_litert")
