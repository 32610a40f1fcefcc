"""Run every test alone, each in a fresh `pytest path::name` process, and report the failures.

A test that passes in the suite but fails alone leans on another test's leftovers (a fixture it
never asked for, a file, a row in Redis, a module imported by someone else). This finds them:

    python -m tests.alone                       # every test (an hour or more on two cores)
    python -m tests.alone -m "not integration"  # the unit tests only
    python -m tests.alone tests/unit/gateway    # one folder
    python -m tests.alone -m integration --by module  # each integration file alone
    python -m tests.alone --resume --jobs 2     # go on where a run stopped, two at a time
    make test-alone

Results are appended to a JSON-lines file (`--results`, one line per test: id, outcome, seconds)
as they come, so a long run can be stopped and resumed: `--resume` skips the tests the file
already records as passed. The exit status is 1 when any test failed alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTEST_ALONE = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]


def collect(selection: Sequence[str], marker: str | None) -> list[str]:
    """The ids pytest collects for `selection` (and `-m marker`), in file order."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly"]
    if marker:
        command += ["-m", marker]
    result = subprocess.run(
        [*command, *selection], cwd=REPO, capture_output=True, text=True, check=False
    )
    if result.returncode not in (0, 5):
        raise SystemExit(f"collection failed:\n{result.stdout}\n{result.stderr}")
    # The ids come first, one per line (a parametrized one may hold spaces), then a blank line.
    ids = []
    for line in result.stdout.splitlines():
        if not line.strip():
            break
        if "::" in line:
            ids.append(line)
    return ids


def run_alone(test_id: str, timeout: float) -> tuple[str, float, str]:
    """(outcome, seconds, the tail of the output) of `pytest test_id` in a process of its own."""
    start = time.monotonic()
    try:
        result = subprocess.run(
            [*PYTEST_ALONE, test_id],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start, ""
    seconds = time.monotonic() - start
    # 0: passed (or skipped: the skip reason is in the tail); anything else failed.
    outcome = "passed" if result.returncode == 0 else "failed"
    return outcome, seconds, (result.stdout + result.stderr)[-3000:]


def passed_before(results: Path) -> set[str]:
    """The ids `results` already records as passed."""
    if not results.is_file():
        return set()
    rows = (json.loads(line) for line in results.read_text().splitlines() if line.strip())
    return {row["id"] for row in rows if row["outcome"] == "passed"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("selection", nargs="*", default=["tests"], help="paths or ids")
    parser.add_argument("-m", dest="marker", help="a pytest marker expression")
    parser.add_argument("--results", type=Path, default=REPO / ".pytest_alone.jsonl")
    parser.add_argument("--resume", action="store_true", help="skip tests already passed")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per test")
    parser.add_argument(
        "--by",
        choices=("test", "module"),
        default="test",
        help="test: each test alone (default); module: each test file alone, a quicker check "
        "where a file's tests share an expensive stack (the integration tests)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="processes at a time (default 1)")
    args = parser.parse_args(argv)

    ids = collect(args.selection, args.marker)
    if args.by == "module":
        ids = list(dict.fromkeys(test_id.split("::")[0] for test_id in ids))
    done = passed_before(args.results) if args.resume else set()
    todo = [test_id for test_id in ids if test_id not in done]
    if not args.resume:
        args.results.unlink(missing_ok=True)
    unit = "files" if args.by == "module" else "tests"
    print(f"{len(ids)} {unit} collected, {len(todo)} to run alone", flush=True)
    failed: list[str] = []
    started = time.monotonic()
    # With --jobs above 1 the tests still run one per process, several processes at a time.
    with args.results.open("a") as out, ThreadPoolExecutor(max_workers=args.jobs) as pool:
        runs = pool.map(lambda test_id: (test_id, run_alone(test_id, args.timeout)), todo)
        for number, (test_id, (outcome, seconds, tail)) in enumerate(runs, start=1):
            row = {"id": test_id, "outcome": outcome, "seconds": round(seconds, 1)}
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(f"[{number}/{len(todo)}] {outcome:7} {seconds:6.1f}s {test_id}", flush=True)
            if outcome != "passed":
                failed.append(test_id)
                print(tail, flush=True)
    minutes = (time.monotonic() - started) / 60
    print(f"{len(todo) - len(failed)} passed alone, {len(failed)} failed, {minutes:.1f} min")
    for test_id in failed:
        print(f"FAILED ALONE {test_id}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
