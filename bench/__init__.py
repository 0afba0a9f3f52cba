"""``make bench``: generate a large dataset in PostgreSQL, time the merchant reads through
Django's request cycle, load the served app with wrk, and write ``bench/results.*``."""
