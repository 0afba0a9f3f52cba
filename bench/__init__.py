"""``make bench``: generate a large dataset in PostgreSQL, time the merchant reads through
Django's request cycle, load the served app with wrk, and write ``bench/results.*``.
``make soak``: two app servers and one worker, customers paying through both (bench/soak.py)."""

# Each command's own database, emptied on every run (so its name must contain the command's).
BENCH_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/checkout_bench"
SOAK_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/checkout_soak"
