"""Step 4: ``results.md`` (tables, machine, EXPLAIN plans) and ``results.json`` (the numbers)."""

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from django.db import connection

from bench.load import LoadResult
from bench.timings import Timing

# Targets the issue sets (measured against, never tuned for).
P95_TARGET_MS = 50.0
RATIO_TARGETS = {"page": 0.25, "create": 0.10}
KEYED_TO_UNKEYED_TARGET = 0.66


def machine() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0]
    try:
        memory = subprocess.run(
            ["free", "-g"],  # noqa: S607 - procps' free, wherever PATH has it
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        memory = "(free -g unavailable)"
    return {"cores": str(os.cpu_count()), "memory": memory, "postgresql": version}


def ratios(loads: list[LoadResult]) -> dict[str, float | None]:
    rps = {load.name: load.requests_per_second for load in loads}
    bare = rps.get("bare")

    def ratio(name: str) -> float | None:
        return round(rps[name] / bare, 3) if bare and name in rps else None

    return {
        "checkout_get_ratio": ratio("page"),
        "api_create_ratio": ratio("create"),
        "api_create_keyed_ratio": ratio("create_keyed"),
        "pay_flow_ratio": ratio("pay_flow"),
        "bare_rps": round(bare, 1) if bare else None,
    }


def results_json(
    *, sessions: int, generate_seconds: float, timings: list[Timing], loads: list[LoadResult]
) -> dict:
    return {
        "sessions": sessions,
        "generate_seconds": round(generate_seconds, 1),
        "dashboard_p95_ms": {timing.name: round(timing.p95_ms, 2) for timing in timings},
        "dashboard_queries": {timing.name: timing.queries for timing in timings},
        **ratios(loads),
    }


def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def results_markdown(
    *,
    sessions: int,
    generate_seconds: float,
    timings: list[Timing],
    loads: list[LoadResult],
    seconds: int,
    notes: list[str],
) -> str:
    info = machine()
    summary = ratios(loads)
    lines = [
        "# make bench results",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {sessions:,} sessions "
        f"(generated in {generate_seconds:.1f} s). Regenerate with `make bench`.",
        "",
        "## Machine",
        "",
        f"- cores (nproc): {info['cores']}",
        f"- PostgreSQL: {info['postgresql']}",
        "- memory (free -g):",
        "",
        "```",
        info["memory"],
        "```",
        "",
        *notes,
        "",
        "## Reads through Django (step 2)",
        "",
        f"30 timed runs each after 2 warm-ups; target p95 ≤ {P95_TARGET_MS:.0f} ms. "
        "Query counts are of one captured run. Plans of each row's slowest query are below.",
        "",
        "| timing | what | p50 ms | p95 ms | queries | p95 target |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for timing in timings:
        lines.append(
            f"| `{timing.name}` | {timing.what.replace('|', '/')} | {timing.p50_ms:.1f} | "
            f"{timing.p95_ms:.1f} | {timing.queries} | "
            f"{_verdict(timing.p95_ms <= P95_TARGET_MS)} |"
        )
    bare = summary["bare_rps"]
    lines += [
        "",
        "## Served by gunicorn, loaded with wrk (step 3)",
        "",
        f"gunicorn `config.wsgi` with `bench.settings` (DEBUG=false, tasks on the database "
        f"backend, CONN_MAX_AGE={os.environ.get('CONN_MAX_AGE', '0 (settings default)')}), "
        f"2 sync workers; wrk -t2 -c8 -d{seconds}s with `bench/wrk/checkout.lua`. The pay flow "
        "is a Python driver (8 threads, a new connection per request, as wrk does against sync "
        "workers) running create → page → details → pay; its rate counts all 4 requests.",
        "",
        "| run | requests/s | ratio to bare | latency | target |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    keyed_vs_unkeyed = None
    rps = {load.name: load.requests_per_second for load in loads}
    if rps.get("create"):
        keyed_vs_unkeyed = rps.get("create_keyed", 0) / rps["create"]
    for load in loads:
        ratio = load.requests_per_second / bare if bare else None
        target = ""
        if load.name in RATIO_TARGETS:
            wanted = RATIO_TARGETS[load.name]
            target = f"≥ {wanted:.0%} of bare: {_verdict(ratio is not None and ratio >= wanted)}"
        if load.name == "create_keyed" and keyed_vs_unkeyed is not None:
            target = (
                f"≥ {KEYED_TO_UNKEYED_TARGET}× unkeyed ({keyed_vs_unkeyed:.2f}×): "
                f"{_verdict(keyed_vs_unkeyed >= KEYED_TO_UNKEYED_TARGET)}"
            )
        lines.append(
            f"| {load.what} | {load.requests_per_second:.1f} | "
            f"{'' if ratio is None else f'{ratio:.1%}'} | {load.latency} | {target} |"
        )
    if not loads:
        lines.append("| (not run) | | | | |")
    lines += ["", "## EXPLAIN (ANALYZE, BUFFERS)", ""]
    for timing in timings:
        for sql, plan in timing.explains:
            lines += [
                f"<details><summary><code>{timing.name}</code></summary>",
                "",
                "```sql",
                sql,
                "```",
                "",
                "```",
                plan,
                "```",
                "",
                "</details>",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def write_results(directory: Path, *, markdown: str, numbers: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.md").write_text(markdown)
    (directory / "results.json").write_text(json.dumps(numbers, indent=2) + "\n")
