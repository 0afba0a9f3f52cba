"""``python -m bench``: generate, time, serve and load, report (``make bench`` runs it).

Environment: ``DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/checkout_bench; its
name must contain "bench", since every run empties it), ``BENCH_SESSIONS`` (1000000),
``BENCH_WRK_SECONDS`` (10), ``BENCH_REPEAT`` (30), ``BENCH_RESULTS_DIR`` (bench).
``python -m bench createdb`` only creates the database when it is missing.
"""

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from bench.settings import BENCH_DATABASE_URL

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    url = os.environ.get("DATABASE_URL") or BENCH_DATABASE_URL
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.scheme not in {"postgres", "postgresql"}:
        sys.exit(f"make bench needs PostgreSQL; DATABASE_URL is {parts.scheme}://…")
    if "bench" not in name or name.startswith("test_"):
        sys.exit(
            f"make bench empties its database; refusing {name!r}. Use a database whose name "
            f"contains 'bench' (default {BENCH_DATABASE_URL})."
        )
    return url


def create_database(url: str) -> None:
    """Create the bench database on its server if it does not exist yet."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    server = parts._replace(path="/postgres").geturl()
    with psycopg.connect(server, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"Created database {name}")


def main() -> None:
    url = database_url()
    if sys.argv[1:] == ["createdb"]:
        create_database(url)
        return
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from bench.run import run

    # DEBUG=false serves hashed static names from the manifest collectstatic writes.
    call_command("collectstatic", interactive=False, verbosity=0)
    started = time.monotonic()
    run(
        sessions=int(os.environ.get("BENCH_SESSIONS", "1000000")),
        repeat=int(os.environ.get("BENCH_REPEAT", "30")),
        wrk_seconds=int(os.environ.get("BENCH_WRK_SECONDS", "10")),
        results_dir=ROOT / os.environ.get("BENCH_RESULTS_DIR", "bench"),
    )
    print(f"make bench done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
