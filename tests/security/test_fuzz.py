"""Fuzzing every command that reads a model with 2,000 seeded mutations.

The cases come from `tests.security.mutations` with a fixed seed, built from
the shared reference models and the project's own small int8 model. Every case
goes through ``info``; every case that loads also through ``run`` (LiteRT and
TensorFlow Lite Micro), every third of those through both exporters, ``bench``
and ``fit``, and every tenth case, refused or not, through all seven commands (a refused one must be
refused by each, the same way). Each command must end
in success or one `EdgeDeployError` with a meaningful one-line message, within
ten seconds, and this process must survive. A sample of exported C programs is
compiled, and a sample of cases runs through the real ``edgedeploy`` CLI in a
subprocess. ``bench/fuzz_long.py`` runs the same harness on 100,000 cases.
"""

from __future__ import annotations

import collections
import os
import subprocess
from pathlib import Path

import pytest

from tests.paths import SHARED_MODELS
from tests.security.harness import (
    COMMANDS,
    command_argv,
    line_problem,
    run_case,
    run_cli_process,
)
from tests.security.mutations import Mutator
from tests.security.seeds import shared_seeds, small_int8_model
from tests.toolhelpers import require_module, require_tool

#: Cases per run (the issue asks for at least 2,000).
FUZZ_CASES = 2000
FUZZ_SEED = 20261124
#: Every this many cases that load go through both exporters, bench and fit too
#: (an export costs as much as the first three commands together).
EXPORT_EVERY = 3
#: Exported C programs compiled with -Werror, out of those that exported.
COMPILED_SAMPLE = 3
#: Cases run through the real CLI in a subprocess.
SUBPROCESS_SAMPLE = 30


@pytest.fixture(scope="module")
def fuzz_seeds() -> dict[str, bytes]:
    require_module("tflite_micro")
    seeds = shared_seeds(SHARED_MODELS)
    assert seeds, f"no reference models under {SHARED_MODELS}"
    return {**seeds, "small_int8": small_int8_model()}


@pytest.fixture(scope="module")
def fuzz_run(fuzz_seeds: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run every case once for the module; what the tests below check."""
    work = tmp_path_factory.mktemp("fuzz")
    outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
    findings: list[str] = []
    exported_c: list[Path] = []
    loaded = 0
    for case in Mutator(fuzz_seeds, FUZZ_SEED).cases(FUZZ_CASES):
        if case.number % 10 == 0:  # refused or not, through every command
            results = run_case(case.data, work / "case", skip_after_load_error=False)
        else:
            results = run_case(case.data, work / "case", commands=COMMANDS[:3])
            if len(results) > 1:
                loaded += 1
                if loaded % EXPORT_EVERY == 0:
                    results += run_case(case.data, work / "case", commands=COMMANDS[3:])
        for o in results:
            outcomes[(o.command, o.status)] += 1
            if o.finding:
                findings.append(f"{case.label} {o.command}: {o.message}")
        c_ok = any(o.command == "export-c" and o.status == "ok" for o in results)
        if c_ok and len(exported_c) < COMPILED_SAMPLE:
            kept = work / f"c_export_{case.number}"
            os.replace(work / "case" / "c", kept)
            exported_c.append(kept)
    return {"outcomes": outcomes, "findings": findings, "exported_c": exported_c}


def test_every_case_ends_in_success_or_one_clear_error(fuzz_run: dict) -> None:
    outcomes = fuzz_run["outcomes"]
    summary = "\n".join(f"{c:<12} {s:<24} {n}" for (c, s), n in sorted(outcomes.items()))
    print(f"\n{FUZZ_CASES} cases:\n{summary}")
    assert not fuzz_run["findings"], "\n\n".join(fuzz_run["findings"][:10])
    assert sum(n for (c, _), n in outcomes.items() if c == "info") == FUZZ_CASES


def test_the_cases_reach_every_command_and_both_outcomes(fuzz_run: dict) -> None:
    """A fuzzer whose cases all fail in the parser would test only the parser."""
    outcomes = fuzz_run["outcomes"]
    for command in COMMANDS:
        ok = outcomes[(command, "ok")]
        refused = sum(n for (c, s), n in outcomes.items() if c == command and s != "ok")
        assert ok >= 20 and refused >= 20, (command, ok, refused)


def test_a_sample_of_exported_c_compiles_warning_free(fuzz_run: dict) -> None:
    require_tool("gcc")
    require_tool("make")
    assert fuzz_run["exported_c"], "no fuzz case exported to C"
    for out in fuzz_run["exported_c"]:
        proc = subprocess.run(
            ["make", "-s", "-C", str(out), "host"], capture_output=True, timeout=300, check=False
        )
        assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_a_sample_through_the_real_cli_prints_one_line(
    fuzz_seeds: dict[str, bytes], tmp_path: Path
) -> None:
    """The process boundary: exit status, one ``edgedeploy: error:`` line, no traceback."""
    statuses = collections.Counter()
    for case in Mutator(fuzz_seeds, FUZZ_SEED + 1).cases(SUBPROCESS_SAMPLE):
        command = COMMANDS[case.number % len(COMMANDS)]
        work = tmp_path / str(case.number)
        run_case(case.data, work, commands=())
        argv = command_argv(command, work / "model.tflite", work / "x.npy", work)
        proc = run_cli_process(argv)
        lines = proc.stderr.splitlines()
        where = f"{case.label} {command}: {proc.stderr}"
        assert "Traceback" not in proc.stderr, where
        statuses[proc.returncode] += 1
        if proc.returncode != 0:
            assert len(lines) == 1 and lines[0].startswith("edgedeploy: error: "), where
            assert line_problem(lines[0]) is None, where
    assert statuses[0] and sum(n for code, n in statuses.items() if code), statuses
