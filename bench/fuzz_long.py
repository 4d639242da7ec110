"""The long fuzz run, outside CI: at least 100,000 mutated models through the CLI.

Run from the repository root::

    nice -n 5 python -m bench.fuzz_long --cases 100000 --workers 2

Each worker is a child process that draws cases from `tests.security.mutations`
(its own seed) and runs them with `tests.security.harness`: every case goes
through ``info`` and, when it loads, ``run`` on LiteRT and on TensorFlow Lite
Micro; every ``--export-every``-th case that loads also goes through both
exporters (the CI fuzz test exports every case, but exports are twenty times
slower than the rest). This parent watches the workers: a worker that dies is
a crash of the Python process on the case it announced last, one silent for
`WATCHDOG_SECONDS` a hang; both are findings, and the worker is restarted.

Prints a table and writes ``bench/results/fuzz_long.json``: case count, time,
rate, outcomes per command and error type, and every finding with the case's
seed model, mutation and (under ``bench/results/fuzz_findings/``) bytes.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = ROOT.parent / "shared" / "models"
RESULTS = ROOT / "bench" / "results"
#: Seconds without a word from a worker before it is declared hanging.
WATCHDOG_SECONDS = 60.0


def _seeds() -> dict[str, bytes]:
    from tests.security.seeds import shared_seeds, small_int8_model

    return {**shared_seeds(SHARED_MODELS), "small_int8": small_int8_model()}


def _worker(seed: int, count: int, export_every: int, findings_dir: Path) -> None:
    """Run ``count`` cases; JSON lines on the original stdout (fd 1 goes to /dev/null)."""
    from tests.security.harness import COMMANDS, run_case
    from tests.security.mutations import Mutator

    report = os.fdopen(os.dup(1), "w", buffering=1)
    findings_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(tempfile.gettempdir()) / f"fuzz_long_worker{seed}.log"
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    mutator = Mutator(_seeds(), seed)
    loaded = 0
    with tempfile.TemporaryDirectory(prefix="fuzz_long.") as tmp:
        work = Path(tmp)
        for case in mutator.cases(count):
            _current(findings_dir, seed).write_bytes(case.data)
            report.write(json.dumps({"begin": case.number, "label": case.label}) + "\n")
            outcomes = run_case(case.data, work, commands=("info", "run-litert", "run-micro"))
            if len(outcomes) > 1:
                loaded += 1
                if loaded % export_every == 0:
                    outcomes += run_case(case.data, work, commands=COMMANDS[3:])
            findings = [o for o in outcomes if o.finding]
            if findings:
                path = findings_dir / f"seed{seed}_case{case.number}.tflite"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(case.data)
            report.write(
                json.dumps(
                    {
                        "case": case.number,
                        "label": case.label,
                        "mutation": case.mutation,
                        "outcomes": [[o.command, o.status, round(o.seconds, 4)] for o in outcomes],
                        "findings": [[o.command, o.message] for o in findings],
                    }
                )
                + "\n"
            )
    _current(findings_dir, seed).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        findings_dir.rmdir()  # only when empty: no finding was kept


def _current(findings_dir: Path, seed: int) -> Path:
    """Where a worker keeps the case it is running, kept as a finding if the worker dies."""
    return findings_dir / f"current{seed}.tflite"


class _Run:
    """One worker process and what is known of its progress."""

    def __init__(self, seed: int, count: int, args: argparse.Namespace) -> None:
        self.seed, self.left, self.args = seed, count, args
        self.current: dict[str, Any] | None = None
        self.proc = self._spawn()
        self.last = time.monotonic()

    def _spawn(self) -> subprocess.Popen[str]:
        cmd = [
            sys.executable,
            "-m",
            "bench.fuzz_long",
            "--worker",
            "--seed",
            str(self.seed),
            "--cases",
            str(self.left),
            "--export-every",
            str(self.args.export_every),
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)


def _table(summary: dict[str, Any]) -> str:
    lines = [
        f"cases      {summary['cases']}  in {summary['seconds']:.0f} s  "
        f"({summary['cases_per_second']:.1f} cases/s, {summary['workers']} workers)",
        f"findings   {len(summary['findings'])}",
        "",
        f"{'command':<12} {'outcome':<24} {'count':>8}",
    ]
    for key, count in sorted(summary["outcomes"].items()):
        command, status = key.split(" ", 1)
        lines.append(f"{command:<12} {status:<24} {count:>8}")
    lines += ["", f"{'mutation':<20} {'cases':>8}"]
    for name, count in sorted(summary["mutations"].items()):
        lines.append(f"{name:<20} {count:>8}")
    for f in summary["findings"][:20]:
        lines.append(f"FINDING {f['label']} {f['command']}: {f['message'][:200]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--export-every", type=int, default=10)
    parser.add_argument("--out", default=str(RESULTS / "fuzz_long.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    findings_dir = RESULTS / "fuzz_findings"
    if args.worker:
        _worker(args.seed, args.cases, args.export_every, findings_dir)
        return 0
    start = time.monotonic()
    share = [
        args.cases // args.workers + (i < args.cases % args.workers) for i in range(args.workers)
    ]
    runs = [_Run(args.seed * 1000 + i, n, args) for i, n in enumerate(share) if n]
    outcomes: collections.Counter[str] = collections.Counter()
    mutations: collections.Counter[str] = collections.Counter()
    findings: list[dict[str, Any]] = []
    done = restarts = 0
    sel = selectors.DefaultSelector()
    for run in runs:
        sel.register(run.proc.stdout, selectors.EVENT_READ, run)  # type: ignore[arg-type]
    next_note = time.monotonic() + 30
    while sel.get_map():
        for key, _ in sel.select(timeout=5):
            run = key.data
            line = run.proc.stdout.readline()
            run.last = time.monotonic()
            if line:
                msg = json.loads(line)
                if "begin" in msg:
                    run.current = msg
                    continue
                done += 1
                run.left -= 1
                run.current = None
                mutations[msg["mutation"]] += 1
                for command, status, _seconds in msg["outcomes"]:
                    outcomes[f"{command} {status}"] += 1
                for command, message in msg["findings"]:
                    findings.append({"label": msg["label"], "command": command, "message": message})
                    print(f"FINDING {findings[-1]}", flush=True)
                continue
            sel.unregister(run.proc.stdout)
            code = run.proc.wait()
            if run.left > 0 and run.current is not None:
                findings.append(
                    {
                        "label": run.current["label"],
                        "command": "process",
                        "message": f"the Python process died (exit {code})",
                    }
                )
                print(f"FINDING {findings[-1]}", flush=True)
                kept = findings_dir / f"died_seed{run.seed}_case{run.current['begin']}.tflite"
                os.replace(_current(findings_dir, run.seed), kept)
                done += 1
                run.left -= 1
            if run.left > 0:
                restarts += 1
                run.seed += 100
                run.proc = run._spawn()
                sel.register(run.proc.stdout, selectors.EVENT_READ, run)  # type: ignore[arg-type]
        for run in runs:
            if run.proc.poll() is None and time.monotonic() - run.last > WATCHDOG_SECONDS:
                label = run.current["label"] if run.current else "between cases"
                findings.append(
                    {"label": label, "command": "process", "message": "no progress for 60 s"}
                )
                if run.current is not None:
                    run.current, run.left, done = None, run.left - 1, done + 1
                run.proc.kill()
        if time.monotonic() > next_note:
            rate = done / (time.monotonic() - start)
            print(f"{done} cases, {rate:.1f}/s, {len(findings)} findings", flush=True)
            next_note = time.monotonic() + 60
    seconds = time.monotonic() - start
    summary = {
        "cases": done,
        "seconds": round(seconds, 1),
        "cases_per_second": round(done / seconds, 2),
        "workers": args.workers,
        "seed": args.seed,
        "export_every": args.export_every,
        "worker_restarts": restarts,
        "outcomes": dict(sorted(outcomes.items())),
        "mutations": dict(sorted(mutations.items())),
        "findings": findings,
    }
    print(_table(summary))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
