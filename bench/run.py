"""The four steps in order; ``load=False`` skips gunicorn + wrk (the test suite's small run)."""

from collections.abc import Callable
from pathlib import Path

from bench.generate import generate
from bench.load import serve_and_load
from bench.report import results_json, results_markdown, write_results
from bench.timings import time_reads

NOTES = [
    "## Data",
    "",
    "20 orgs, one holding half the sessions; 97 % test mode; over 90 days: ~45 % succeeded, "
    "10 % failed, 35 % expired, 10 % open (created in the last 12 hours with a day to pay). "
    "1–3 items per order, ~3 timeline events per session. Timings below are of the big org in "
    "test mode.",
]


def run(
    *,
    sessions: int,
    repeat: int,
    wrk_seconds: int,
    results_dir: Path,
    load: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Generate, time, (serve and load), write ``results.md`` and ``results.json``."""
    log("== 1. generate")
    dataset = generate(sessions, log=log)
    log("== 2. reads through Django")
    timings = time_reads(dataset, repeat=repeat, log=log)
    loads = []
    if load:
        log("== 3. gunicorn + wrk")
        loads = serve_and_load(dataset, seconds=wrk_seconds, log=log)
    numbers = results_json(
        sessions=sessions, generate_seconds=dataset.seconds, timings=timings, loads=loads
    )
    markdown = results_markdown(
        sessions=sessions,
        generate_seconds=dataset.seconds,
        timings=timings,
        loads=loads,
        seconds=wrk_seconds,
        notes=NOTES,
    )
    write_results(results_dir, markdown=markdown, numbers=numbers)
    log(f"== 4. wrote {results_dir / 'results.md'} and results.json")
    return numbers
