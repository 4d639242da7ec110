"""The ``edgedeploy`` command: a thin layer over the stage APIs.

Each subcommand parses its arguments, makes one library call and prints what it
returns. `main` is the only place where an `EdgeDeployError` becomes one line on
stderr and an exit status; ``--traceback`` re-raises for debugging. Stage
packages are imported inside the handlers so that ``info``, ``run`` and
``export`` work on a machine without TensorFlow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgedeploy import __version__
from edgedeploy.errors import EdgeDeployError, InputDataError, InputFileError, UnknownNameError

__all__ = ["VALIDATION_FAILED_EXIT", "build_parser", "main"]

#: Exit status of `validate` when the board computed different bytes than TFLite Micro.
VALIDATION_FAILED_EXIT = 9


def _say(line: str = "") -> None:
    print(line, flush=True)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- train / convert -------------------------------------------------------


def _cmd_train(args: argparse.Namespace) -> int:
    from edgedeploy.training import TrainConfig, parse_augmentation, train

    options: dict[str, Any] = {}
    for key in ("alpha", "conv_layers", "dense_layers"):
        value = getattr(args, key)
        if value is not None:
            options[key] = value
    config = TrainConfig(
        model=args.model,
        dataset=args.dataset,
        out=Path(args.out),
        input_size=args.input_size,
        channels=args.channels,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        patience=args.patience,
        learning_rate=args.learning_rate,
        force=args.force,
        model_options=options,
        augmentation=parse_augmentation(args.augment) if args.augment is not None else None,
    )
    result = train(config, log=_progress)
    summary = {k: v for k, v in result.to_dict().items() if k != "history"}
    _say(json.dumps(summary, indent=2, default=str))
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from edgedeploy.converter import ConvertConfig, convert, format_report

    config = ConvertConfig(
        source=Path(args.source),
        out=Path(args.out),
        quantize=args.quantize,
        report=Path(args.report) if args.report else None,
        dataset=args.dataset,
        input_size=args.input_size,
        channels=args.channels,
        io_dtype=args.io_dtype,
        per_channel=not args.per_tensor,
        calibration_samples=args.calibration_samples,
        force=args.force,
        bench_runs=args.bench_runs,
        calibration=args.calibration,
        qat=args.qat,
        keep_float=_names(args.keep_float),
        **_given(
            qat_epochs=args.qat_epochs,
            qat_learning_rate=args.qat_lr,
            analysis_samples=args.analysis_samples,
        ),
    )
    report = convert(config, log=_progress)
    _say(format_report(report))
    return 0


def _given(**options: Any) -> dict[str, Any]:
    """The options given on the command line; the library's defaults stand for the others."""
    return {k: v for k, v in options.items() if v is not None}


def _names(text: str | None) -> tuple[str, ...]:
    """A comma-separated option as a tuple of its non-empty names."""
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def _cmd_analyze(args: argparse.Namespace) -> int:
    from edgedeploy.converter import analyze, format_analysis

    analysis = analyze(
        Path(args.model),
        Path(args.float),
        dataset=args.dataset,
        input_size=args.input_size,
        channels=args.channels,
        **_given(samples=args.samples),
        out=Path(args.out) if args.out else None,
        force=args.force,
    )
    _say(format_analysis(analysis, top=None if args.all else args.top))
    return 0


# --- export ----------------------------------------------------------------


def _cmd_export(args: argparse.Namespace) -> int:
    model, out = Path(args.model), Path(args.out)
    labels = _read_labels(Path(args.labels)) if args.labels else None
    if args.target in ("rpi", "android", "ios"):
        from edgedeploy.firmware_export.bundles import export_mobile, export_rpi, format_bundle

        if args.target == "rpi":
            bundle = export_rpi(model, out, force=args.force, labels=labels)
        else:
            bundle = export_mobile(
                model,
                out,
                platform=args.target,
                force=args.force,
                labels=labels,
                mean=args.mean if args.mean is not None else 0.0,
                std=args.std if args.std is not None else 1.0,
                name=args.name,
                description=args.description,
                image=args.image,
            )
        _say(format_bundle(bundle))
        return 0
    if args.device is not None:
        if args.runtime != "c":
            raise UnknownNameError(
                "--device builds board firmware on the plain-C runtime: add --runtime c"
            )
        from edgedeploy.firmware_export.firmware import export_firmware
        from edgedeploy.firmware_export.firmware import format_export as fmt_fw

        _say(fmt_fw(export_firmware(model, out, device=args.device, force=args.force)))
        return 0
    if args.runtime == "tflm":
        from edgedeploy.firmware_export import export_tflm
        from edgedeploy.firmware_export import format_export as fmt_tflm

        result: Any = export_tflm(model, out, force=args.force, labels=labels)
        text: Any = fmt_tflm(result)
    else:
        from edgedeploy.firmware_export.c_runtime import export_c
        from edgedeploy.firmware_export.c_runtime import format_export as fmt_c

        result = export_c(model, out, force=args.force)
        text = fmt_c(result)
    _say(text if isinstance(text, str) else "\n".join(text))
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from edgedeploy.devices.fit import DOES_NOT_FIT_EXIT, fit, format_fit

    report = fit(Path(args.model), args.device)
    _say(json.dumps(report.to_dict(), indent=2) if args.json else format_fit(report))
    return 0 if report.fits else DOES_NOT_FIT_EXIT


def _read_labels(path: Path) -> list[str]:
    from edgedeploy.fsutil import read_input_file

    raw = read_input_file(path, "labels file").decode("utf-8", "replace")
    if path.suffix == ".json":
        try:
            labels = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"labels file {path} is not valid JSON: {exc.msg}") from exc
        if not isinstance(labels, list):
            raise InputFileError(f"labels file {path} must hold a JSON list of strings")
        return [str(v) for v in labels]
    return [line.strip() for line in raw.splitlines() if line.strip()]


# --- run / bench / info ----------------------------------------------------


def _load_npy(path: Path) -> np.ndarray:
    from edgedeploy.fsutil import read_input_file

    read_input_file(path, "input file")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputFileError(f"input file {path} is not a readable .npy array ({exc})") from exc


def _first_input(model: Any) -> Any:
    """The spec of the input ``run`` feeds; a model without one cannot be run from a file."""
    if not model.inputs:
        raise InputDataError(f"{model.file.name} has no input tensor to feed")
    return model.inputs[0]


def _cmd_run(args: argparse.Namespace) -> int:
    from edgedeploy.runtime import MicroModel, Model, dequantize

    x = _load_npy(Path(args.input))
    if args.backend == "micro":
        micro = MicroModel(Path(args.model))
        spec_model = Model(Path(args.model))
        spec = _first_input(spec_model)
        if x.dtype.name != spec.dtype:
            raise InputDataError(
                f"input {args.input} has dtype {x.dtype.name}; the micro backend takes the model's "
                f"own dtype {spec.dtype}"
            )
        raw = micro.run_raw([x.reshape(spec.shape) if x.size == np.prod(spec.shape) else x])
        outputs = [
            dequantize(r, s) if s.quantized else r
            for r, s in zip(raw, spec_model.outputs, strict=True)
        ]
    else:
        model = Model(Path(args.model), num_threads=args.threads)
        spec = _first_input(model)
        if (
            x.ndim == len(spec.shape)
            and x.shape[1:] == spec.shape[1:]
            and x.shape[0] != spec.shape[0]
        ):
            outputs = [model.predict_batch(x)]
        else:
            outputs = model.predict(x)
    np.set_printoptions(precision=6, suppress=True, linewidth=120)
    for i, out in enumerate(outputs):
        _say(f"output {i} {list(out.shape)}:")
        _say(np.array2string(out))
    if args.output:
        import io

        from edgedeploy.fsutil import write_bytes

        buffer = io.BytesIO()
        np.save(buffer, outputs[0])
        write_bytes(
            Path(args.output),
            buffer.getvalue(),
            force=args.force,
            protect=(Path(args.model), Path(args.input)),
        )
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.device is not None:
        from edgedeploy.devices.bench import bench, format_bench

        _verbose_wire(args.verbose)
        dev = bench(
            Path(args.model),
            args.device,
            port=args.port,
            runs=args.runs,
            warmup=args.warmup,
            timeout=args.timeout,
            verbose=args.verbose,
        )
        _say(json.dumps(dev.to_dict(), indent=2) if args.json else format_bench(dev))
        return 0
    from edgedeploy.runtime import Model

    model = Model(Path(args.model), num_threads=args.threads)
    result = model.benchmark(runs=args.runs, warmup=args.warmup)
    if args.json:
        _say(json.dumps(result.to_dict(), indent=2))
        return 0
    _say(f"model     {model.file.name} ({len(model.file.data)} bytes)")
    _say(f"backend   {result.backend}, threads {result.threads or 'default'}")
    _say(f"runs      {result.runs} after {result.warmup} warm-up")
    _say(f"median    {result.median_ms:.3f} ms")
    _say(f"p90       {result.p90_ms:.3f} ms")
    _say(f"min       {result.min_ms:.3f} ms")
    return 0


def _verbose_wire(verbose: bool) -> None:
    """--verbose: hex-dump every byte exchanged with a board to stderr."""
    if verbose:
        import logging

        logging.basicConfig(stream=sys.stderr, format="%(name)s: %(message)s")
        logging.getLogger("edgedeploy.devices.wire").setLevel(logging.DEBUG)


def _cmd_validate(args: argparse.Namespace) -> int:
    from edgedeploy.devices.validate import format_validate, validate

    _verbose_wire(args.verbose)
    inputs: int | Path = int(args.inputs) if args.inputs.isdigit() else Path(args.inputs)
    result = validate(
        Path(args.model),
        args.device,
        inputs=inputs,
        port=args.port,
        seed=args.seed,
        timeout=args.timeout,
        verbose=args.verbose,
    )
    _say(json.dumps(result.to_dict(), indent=2) if args.json else format_validate(result))
    return 0 if result.passed else VALIDATION_FAILED_EXIT


def _cmd_flash(args: argparse.Namespace) -> int:
    from edgedeploy.devices.flash import flash, format_flash, stop

    if args.stop:
        stopped = stop(Path(args.fwdir) if args.fwdir else None)
        _say("stopped the board" if stopped else "no board was running for this project")
        return 0
    if not args.fwdir:
        raise InputFileError("flash needs a firmware project directory (or --stop)")
    _say(format_flash(flash(Path(args.fwdir), device=args.device, port=args.port)))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from edgedeploy.modelfile import load_model

    model = load_model(Path(args.model))
    _say(f"model       {model.name}")
    _say(f"size        {len(model.data)} bytes, sha256 {model.sha256}")
    _say(f"parameters  {model.parameter_bytes} bytes")

    def describe(kind: str, index: int) -> str:
        t = model.tensors[index]
        q = t.quant
        if q is None:
            qtext = "not quantized"
        elif q.per_channel:
            qtext = f"per-channel ({len(q.scales)} scales, axis {q.quantized_dimension})"
        else:
            qtext = f"scale {q.scales[0]:.6g}, zero point {q.zero_points[0]}"
        return f"{kind:<7} {t.name!r} {t.dtype}{list(t.shape)} {qtext}"

    for i in model.inputs:
        _say(describe("input", i))
    for i in model.outputs:
        _say(describe("output", i))
    _say("ops:")
    for name, count in model.op_counts.items():
        _say(f"  {name:<24} x{count}")
    missing = model.tflm_unsupported_ops()
    if missing:
        _say(f"TFLite Micro: cannot run {', '.join(missing)}")
    else:
        _say("TFLite Micro: every op is supported")
    if args.arena:
        from edgedeploy.runtime import measure_arena

        arena = measure_arena(model.data)
        _say(
            f"TFLite Micro arena: {arena.total} bytes after allocation "
            f"({arena.head} activations, {arena.tail} persistent), {arena.minimum} bytes to allocate"
        )
    return 0


def _cmd_devices(args: argparse.Namespace) -> int:
    from edgedeploy.devices import list_profiles

    _say(f"{'name':<20} {'core':<22} {'MHz':>5} {'flash':>10} {'RAM':>10}  description")
    for p in list_profiles():
        _say(
            f"{p.name:<20} {p.core:<22} {p.clock_mhz:>5} {p.flash_bytes:>10} {p.ram_bytes:>10}  "
            f"{p.description}"
        )
    return 0


# --- parser ----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgedeploy",
        description="From Keras training to int8 on microcontrollers, Raspberry Pi and phones.",
    )
    parser.add_argument("--version", action="version", version=f"edgedeploy {__version__}")
    parser.add_argument(
        "--traceback", action="store_true", help="show the full traceback on errors"
    )
    parser.add_argument(
        "--verbose-native",
        action="store_true",
        help="show the C/C++ log lines of TensorFlow, LiteRT and TFLite Micro (hidden by default)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(handler=handler)
        return p

    p = add("train", _cmd_train, "train a model of the zoo on a dataset")
    p.add_argument(
        "--model", required=True, help="small_cnn, mobilenet_v1, mobilenet_v2, ds_cnn, ..."
    )
    p.add_argument(
        "--dataset", required=True, help="digits, shapes, an image folder or an .npz file"
    )
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--channels", type=int, default=None)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--patience", type=int, default=5, help="early-stopping patience in epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alpha", type=float, default=None, help="width multiplier (MobileNets)")
    p.add_argument("--conv-layers", type=int, default=None, help="conv blocks (small_cnn)")
    p.add_argument("--dense-layers", type=int, default=None, help="hidden dense layers (small_cnn)")
    p.add_argument(
        "--augment",
        nargs="?",
        const="default",
        default=None,
        metavar="SPEC",
        help="random shifts, zooms and rotations of the training images; alone: "
        "shift=0.1,zoom=0.1,rotate=15 (add 'flip' to mirror); convert --qat repeats it",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--force", action="store_true", help="replace an existing output")

    p = add("convert", _cmd_convert, "convert a trained model to .tflite and report accuracy")
    p.add_argument("source", help="training output directory, .keras/.h5 file or SavedModel")
    p.add_argument(
        "--quantize",
        default="int8",
        choices=["float32", "float16", "dynamic", "int8", "int16x8"],
        help="int16x8: int16 activations, int8 weights",
    )
    p.add_argument("--out", required=True, help="the .tflite to write")
    p.add_argument("--report", default=None, help="JSON report to write")
    p.add_argument("--dataset", default=None, help="dataset (needed with a bare model file)")
    p.add_argument("--input-size", type=int, default=None)
    p.add_argument("--channels", type=int, default=None)
    p.add_argument(
        "--io-dtype",
        default="int8",
        choices=["int8", "uint8", "int16", "float32"],
        help="I/O of a quantized model (int8 means int16 for int16x8)",
    )
    p.add_argument(
        "--per-tensor", action="store_true", help="per-tensor instead of per-channel weights"
    )
    p.add_argument(
        "--calibration",
        default="minmax",
        help="int8 activation ranges: minmax, percentile[:P] (P default 99.99) or mse",
    )
    p.add_argument("--calibration-samples", type=int, default=200)
    p.add_argument(
        "--qat", action="store_true", help="also fine-tune with fake quantization; write that model"
    )
    p.add_argument("--qat-epochs", type=int, default=None, help="at most (default 5)")
    p.add_argument("--qat-lr", type=float, default=None, help="QAT learning rate (default 1e-4)")
    p.add_argument(
        "--keep-float",
        default=None,
        metavar="NAME,...",
        help="layers int8 leaves in float (host and phone targets only)",
    )
    p.add_argument(
        "--analysis-samples",
        type=int,
        default=None,
        help="validation samples of the per-layer error report (default 100; 0 skips it)",
    )
    p.add_argument("--bench-runs", type=int, default=50)
    p.add_argument("--force", action="store_true")

    p = add(
        "analyze", _cmd_analyze, "rank a quantized model's tensors by their error against float"
    )
    p.add_argument("model", help="the quantized .tflite")
    p.add_argument(
        "--float",
        required=True,
        help="what it was converted from: training directory, Keras file or float .tflite",
    )
    p.add_argument("--dataset", default=None, help="dataset (needed with a bare model file)")
    p.add_argument("--input-size", type=int, default=None)
    p.add_argument("--channels", type=int, default=None)
    p.add_argument("--samples", type=int, default=None, help="validation samples (default 100)")
    p.add_argument("--top", type=int, default=10, help="rows of the table")
    p.add_argument("--all", action="store_true", help="print every tensor")
    p.add_argument(
        "--out", default=None, help="directory to write (layers.json and the chart layers.png)"
    )
    p.add_argument("--force", action="store_true")

    p = add("export", _cmd_export, "export a .tflite as firmware source")
    p.add_argument("model", help="the .tflite model")
    p.add_argument(
        "--runtime", default="tflm", choices=["tflm", "c"], help="microcontroller runtime"
    )
    p.add_argument(
        "--target",
        default="mcu",
        choices=["mcu", "rpi", "android", "ios"],
        help="mcu (firmware source, see --runtime), or a Raspberry Pi / phone bundle",
    )
    p.add_argument("--labels", default=None, help="labels file (.json list or one per line)")
    p.add_argument("--mean", type=float, nargs="+", default=None, help="phone: input mean")
    p.add_argument("--std", type=float, nargs="+", default=None, help="phone: input std")
    p.add_argument("--name", default=None, help="phone: model name in the metadata")
    p.add_argument("--description", default=None, help="phone: description in the metadata")
    p.add_argument("--image", action="store_true", help="phone: the input is an image")
    p.add_argument(
        "--device", default=None, help="with --runtime c: a firmware project for a board"
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--force", action="store_true")

    p = add("fit", _cmd_fit, "check a model's flash and RAM against a board's budget")
    p.add_argument("model")
    p.add_argument("--device", required=True, help="a profile name (see edgedeploy devices)")
    p.add_argument("--json", action="store_true")

    p = add("run", _cmd_run, "run a .tflite on an input .npy and print the outputs")
    p.add_argument("model")
    p.add_argument("--input", required=True, help=".npy with one sample or a batch")
    p.add_argument("--backend", default="litert", choices=["litert", "micro"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output", default=None, help="also save the first output as .npy")
    p.add_argument("--force", action="store_true")

    p = add("bench", _cmd_bench, "measure host latency of a .tflite")
    p.add_argument("model")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--device", default=None, help="benchmark on a board (e.g. qemu-m4)")
    p.add_argument("--port", default=None, help="pyserial URL of a flashed board")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per board exchange")
    p.add_argument("--verbose", action="store_true", help="hex-dump the serial traffic")

    p = add("validate", _cmd_validate, "compare a board's outputs with TFLite Micro, byte by byte")
    p.add_argument("model")
    p.add_argument("--device", required=True)
    p.add_argument("--port", default=None, help="pyserial URL of a flashed board")
    p.add_argument("--inputs", default="20", help="a count of random inputs, or a .npy of samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per board exchange")
    p.add_argument("--json", action="store_true")
    p.add_argument("--verbose", action="store_true", help="hex-dump the serial traffic")

    p = add("flash", _cmd_flash, "put a firmware project on a board (or start the emulator)")
    p.add_argument(
        "fwdir", nargs="?", help="a directory written by export --runtime c --device NAME"
    )
    p.add_argument("--device", default=None, help="defaults to the project's own device")
    p.add_argument("--port", default=None, help="serial port of a real board")
    p.add_argument(
        "--stop",
        action="store_true",
        help="stop the emulated board of FWDIR (of every project without FWDIR)",
    )

    p = add("info", _cmd_info, "show a model's inputs, outputs, ops and TFLite Micro support")
    p.add_argument("model")
    p.add_argument(
        "--arena", action="store_true", help="measure TFLite Micro's arena (tflite-micro)"
    )

    add("devices", _cmd_devices, "list the device profiles")
    return parser


@contextlib.contextmanager
def _native_stderr_to(sink_path: str | None) -> Iterator[None]:
    """Send what C/C++ code writes to fd 2 elsewhere, keeping Python's sys.stderr on the terminal.

    TensorFlow and the TFLite converter log dozens of lines (CUDA probes, oneDNN
    notes, MLIR passes) straight to file descriptor 2, LiteRT announces its
    XNNPACK delegate there, and TFLite Micro prints its errors there. Our own progress and the
    one-line error message are written through ``sys.stderr``, which keeps a
    duplicate of the real descriptor, so the user sees only those.
    """
    try:
        on_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        on_fd2 = False
    if sink_path is None or not on_fd2:
        yield
        return
    sys.stderr.flush()
    real = os.dup(2)
    with open(sink_path, "ab") as sink:
        os.dup2(sink.fileno(), 2)
    saved_stderr = sys.stderr
    sys.stderr = os.fdopen(
        real, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False
    )
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr = saved_stderr
        os.dup2(real, 2)
        os.close(real)


def _one_line(message: str) -> str:
    """``message`` with its control characters escaped, so it stays one line.

    Messages quote text from the model (a tensor or op name); a newline or a
    terminal escape in it must not split the error line or drive the terminal.
    """
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 2 usage or input, see errors.py)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet = not args.verbose_native
    try:
        # A hostile model's scales overflow float32 arithmetic; the checks that follow
        # refuse it in one line, so numpy's overflow warnings would only add lines.
        with _native_stderr_to(os.devnull if quiet else None), np.errstate(all="ignore"):
            return int(args.handler(args))
    except EdgeDeployError as exc:
        if args.traceback:
            raise
        print(f"edgedeploy: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgedeploy: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
