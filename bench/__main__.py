"""``python -m bench``: generate, time, serve and load, report (``make bench`` runs it).

Environment: ``DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/checkout_bench; its
name must contain "bench", since every run empties it), ``BENCH_SESSIONS`` (1000000),
``BENCH_WRK_SECONDS`` (10), ``BENCH_REPEAT`` (30), ``BENCH_RESULTS_DIR`` (bench).
``python -m bench createdb`` only creates the database when it is missing.

``python -m bench soak`` (``make soak``, bench/soak.py): two app servers and one worker on one
database, customers paying through both. Environment: ``DATABASE_URL`` (default
postgres://postgres@127.0.0.1:5432/checkout_soak; its name must contain "soak", since every run
drops and recreates it), ``SOAK_CUSTOMERS`` (50), ``SOAK_DOUBLE_SUBMITS`` (10),
``SOAK_DRAIN_SECONDS`` (120: how long the worker may take, once the customers are done, to
deliver every callback and receipt).
"""

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from bench import BENCH_DATABASE_URL, SOAK_DATABASE_URL

ROOT = Path(__file__).resolve().parent.parent


def database_url(*, command: str = "bench", default: str = BENCH_DATABASE_URL) -> str:
    """DATABASE_URL (else ``default``), refused unless PostgreSQL and named for ``command``:
    the run empties it."""
    url = os.environ.get("DATABASE_URL") or default
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.scheme not in {"postgres", "postgresql"}:
        sys.exit(f"make {command} needs PostgreSQL; DATABASE_URL is {parts.scheme}://…")
    if command not in name or name.startswith("test_"):
        sys.exit(
            f"make {command} empties its database; refusing {name!r}. Use a database whose "
            f"name contains '{command}' (default {default})."
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


def recreate_database(url: str) -> None:
    """Drop the database (ending its connections) and create it empty."""
    parts = urlsplit(url)
    name = sql.Identifier(parts.path.lstrip("/"))
    server = parts._replace(path="/postgres").geturl()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def soak_main() -> None:
    url = database_url(command="soak", default=SOAK_DATABASE_URL)
    recreate_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.core.management import call_command

    from bench.soak import soak

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    report = soak(
        customers=int(os.environ.get("SOAK_CUSTOMERS", "50")),
        double_submits=int(os.environ.get("SOAK_DOUBLE_SUBMITS", "10")),
        database_url=url,
        drain_seconds=float(os.environ.get("SOAK_DRAIN_SECONDS", "120")),
    )
    print("\n".join(report.lines()))
    sys.exit(0 if report.ok else 1)


def main() -> None:
    if sys.argv[1:] == ["soak"]:
        soak_main()
        return
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
