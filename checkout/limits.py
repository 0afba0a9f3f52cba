"""What every abuse limit shares: whose requests count together (a client's IP address, IPv6
cut to its /64) and one short critical section per counted key, so that counting and recording
are one step on every app server at once.

The counts live in PostgreSQL, the one engine every app server shares (app servers are
stateless). Not Django's cache: its database backend's ``incr`` is a read then a write (two
concurrent requests both read 4 and both write 5), which is why django-ratelimit's own system
check refuses it ("does not support atomic increment"), and the local-memory cache is per
process. See README, "Limits".
"""

import hashlib
import ipaddress

from django.db import connection

# IPv6 subscribers get a whole /64 (often far more): counting single addresses would give one
# client 2**64 fresh identities.
IPV6_CLIENT_PREFIX = 64
# The first key of PostgreSQL's two-key advisory locks, so that ours never meet another
# library's (the one-key and two-key spaces do not overlap either).
ADVISORY_LOCK_NAMESPACE = 1_810_018


def client_key(ip_address: str | None) -> str:
    """Whose requests count together: an IPv4 address as is, an IPv6 address as its /64
    network; "" when unknown (no per-client limit applies then)."""
    if not ip_address:
        return ""
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return ""
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(address)


def serialize_on(*parts: object) -> None:
    """Hold a lock named by ``parts`` until the current transaction ends (call inside one).

    Requests counting the same key then count and record one after the other, on every app
    server: no two of them can both see "one below the limit". PostgreSQL: a transaction-level
    advisory lock. SQLite serializes every writing transaction already (``BEGIN IMMEDIATE``).
    """
    if connection.vendor != "postgresql":
        return
    name = "\x1f".join(str(part) for part in parts).encode()
    key = int.from_bytes(hashlib.blake2b(name, digest_size=4).digest(), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, key])
