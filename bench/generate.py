"""Step 1: a realistic dataset written by PostgreSQL itself (``INSERT … SELECT`` over
``generate_series``), one statement per table in one transaction.

Every random choice is drawn once into a temporary plan (one row per session, ids in creation
order like real traffic), so the orders, items, sessions and events written from it agree:
``is_paid`` ⇔ the order is paid, totals are the sum of the items, order numbers run 1…n per org.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string

from checkout.management.commands.seed_demo import COUNTRIES, USER_AGENTS
from checkout.models import RollupWatermark
from checkout.processors.test import CUSTOMER_MESSAGES
from checkout.rollup import rebuild_rollup
from orgs.models import Membership, Mode, Organization, PaymentLink
from orgs.services import create_api_key

ORG_COUNT = 20
BIG_ORG_SLUG = "bench-big"
BENCH_USERNAME = "bench"
DAYS = 90
# The outcome mix asked for: succeeded, failed, expired, open (cumulative bounds below).
MIX = {"succeeded": 0.45, "failed": 0.10, "expired": 0.35, "open": 0.10}
LIVE_SHARE = 0.03
PAYMENT_LINK_SHARE = 0.3
CURRENCIES = ["USD", "EUR", "GBP", "USD", "JPY"]
PRODUCTS = [
    ("Espresso beans, 1 kg", 2400),
    ("Pour-over kit", 5900),
    ("Barista course", 14900),
    ("Matcha tin", 1500),
    ("Custom widget", 2500),
    ("Gift card", 5000),
    ("Coffee subscription (3 months)", 6600),
    ("Ceramic mug", 1800),
]
CARDS = [("visa", "4242"), ("mastercard", "4444"), ("visa", "1881"), ("amex", "8431")]
DECLINES = [
    ("card_declined", "generic_decline"),
    ("card_declined", "insufficient_funds"),
    ("expired_card", ""),
    ("incorrect_cvc", ""),
    ("processing_error", ""),
    ("card_declined", "lost_card"),
    ("card_declined", "stolen_card"),
    ("card_declined", "card_velocity_exceeded"),
]
# Tables the bench owns in its database, emptied before each run (children first).
TABLES = [
    "checkout_callbackdelivery",
    "checkout_timelineevent",
    "checkout_orderitem",
    "checkout_checkoutsession",
    "checkout_order",
    "checkout_ordercounter",
    "checkout_sessionrollup",
    "checkout_declinerollup",
    "checkout_rollupwatermark",
    "checkout_idempotencyrecord",
    "django_tasks_database_dbtaskresult",
    "orgs_apikey",
    "orgs_paymentlink",
    "orgs_membership",
    "orgs_organization",
]


@dataclass(frozen=True)
class Dataset:
    """What the timing and load steps need from the generated data."""

    sessions: int
    seconds: float
    org: Organization
    user: object
    api_key: str


def _sql_array(values) -> str:
    quoted = ("'" + str(value).replace("'", "''") + "'" for value in values)
    return f"ARRAY[{', '.join(quoted)}]"


def _pick(values, index_sql: str) -> str:
    """SQL choosing ``values[index % len]`` (a text array literal, 1-based)."""
    return f"({_sql_array(values)})[1 + (({index_sql}) %% {len(values)})]"


def _random_id(salt: str, key_sql: str) -> str:
    """32 characters of [A-Za-z0-9], unique per key: base64 of a SHA-256, '+' and '/' mapped."""
    return (
        f"translate(substr(encode(sha256(convert_to('{salt}' || ({key_sql})::text, 'UTF8')), "
        f"'base64'), 1, 32), '+/', 'xQ')"
    )


def _iso(column: str) -> str:
    """A timestamp as Python's ``isoformat()`` writes it in the services' event data."""
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00'"


def _item_name(k: str) -> str:
    return _pick([name for name, _ in PRODUCTS], f"p.id * 7 + {k} * 3")


def _item_price(k: str) -> str:
    return f"(ARRAY[{', '.join(str(price) for _, price in PRODUCTS)}])[1 + ((p.id * 7 + {k} * 3) %% {len(PRODUCTS)})]"  # noqa: E501


def _item_quantity(k: str) -> str:
    return f"(1 + ((p.id + {k}) %% 3))"


PLAN_SQL = f"""
CREATE TEMPORARY TABLE bench_plan ON COMMIT DROP AS
WITH draws AS (
    SELECT g AS n, random() AS r_org, random() AS r_mode, random() AS r_status,
           random() AS r_time, random() AS r_expiry, random() AS r_attempts,
           random() AS r_details, random() AS r_email, random() AS r_link, random() AS r_items,
           random() AS r_device
    FROM generate_series(1, %(sessions)s) AS g
), shaped AS (
    SELECT d.*,
        CASE WHEN r_org < 0.5 THEN %(big_org)s
             ELSE (%(other_orgs)s::bigint[])[1 + floor((r_org - 0.5) * 2 * %(other_count)s)::int]
        END AS org_id,
        CASE WHEN r_mode < {LIVE_SHARE} THEN 'live' ELSE 'test' END AS mode,
        CASE WHEN r_status < {MIX["succeeded"]} THEN 'succeeded'
             WHEN r_status < {MIX["succeeded"] + MIX["failed"]} THEN 'failed'
             WHEN r_status < {1 - MIX["open"]} THEN 'expired'
             ELSE 'open' END AS status
    FROM draws d
), timed AS (
    SELECT s.*,
        -- Open sessions were created in the last 12 hours with a day to pay; the rest over
        -- the last {DAYS} days (expiresInMinutes 60 mostly, some 30 or 1440): expired ones
        -- finished, paid and declined ones up to 10 minutes ago, so the newest of those are
        -- still inside their window (unfinished, as in real traffic).
        CASE WHEN status = 'open' THEN interval '1440 minutes'
             WHEN r_expiry < 0.8 THEN interval '60 minutes'
             WHEN r_expiry < 0.9 THEN interval '30 minutes'
             ELSE interval '1440 minutes' END AS lifetime
    FROM shaped s
), dated AS (
    SELECT t.*,
        CASE WHEN status = 'open'
             THEN %(now)s - interval '5 minutes' - r_time * interval '12 hours'
             WHEN status = 'expired'
             THEN %(now)s - interval '{DAYS} days'
                  + r_time * (interval '{DAYS} days' - lifetime - interval '1 minute')
             ELSE %(now)s - interval '{DAYS} days'
                  + r_time * (interval '{DAYS} days' - interval '10 minutes')
        END AS created_at
    FROM timed t
), numbered AS (
    SELECT x.*,
        row_number() OVER (ORDER BY created_at, n) AS id,
        row_number() OVER (PARTITION BY org_id ORDER BY created_at, n) AS number
    FROM dated x
), planned AS (
SELECT
    p.id, p.org_id, p.mode, p.status, p.number, p.created_at,
    p.created_at + p.lifetime AS expires_at,
    CASE WHEN status = 'failed' THEN 1 + floor(r_attempts * 3)::int
         WHEN status = 'succeeded' AND r_attempts < 0.75 THEN 0
         WHEN status = 'succeeded' AND r_attempts < 0.93 THEN 1
         WHEN status = 'succeeded' THEN 2
         ELSE 0 END AS failed_attempts,
    (status IN ('succeeded', 'failed') OR r_details < 0.5) AS has_details,
    p.created_at + (20 + p.id %% 160) * interval '1 second' AS details_at,
    CASE WHEN status IN ('succeeded', 'failed') OR r_details < 0.5 OR r_email < 0.3
         THEN 'user' || (1 + floor(r_email * 300000))::int || '@'
              || {_pick(["example.com", "example.org", "example.net"], "p.id")}
         ELSE '' END AS email,
    l.id AS link_id, l.unit_price * l.quantity AS link_amount,
    CASE WHEN l.id IS NULL THEN 1 + floor(r_items * 3)::int ELSE 1 END AS n_items,
    COALESCE(NULLIF(l.currency, ''), o.currency) AS currency,
    CASE WHEN r_device < 0.55 THEN 'desktop' WHEN r_device < 0.93 THEN 'mobile'
         ELSE 'tablet' END AS device_type
FROM numbered p
JOIN orgs_organization o ON o.id = p.org_id
LEFT JOIN orgs_paymentlink l
    ON l.org_id = p.org_id AND l.mode = p.mode AND p.r_link < {PAYMENT_LINK_SHARE}
)
-- Totals (the items' sum), payment times and the card, derived from the draws above.
SELECT p.*,
    CASE WHEN p.link_id IS NULL
        THEN {_item_quantity("1")} * {_item_price("1")}
             + CASE WHEN p.n_items >= 2 THEN {_item_quantity("2")} * {_item_price("2")} ELSE 0 END
             + CASE WHEN p.n_items >= 3 THEN {_item_quantity("3")} * {_item_price("3")} ELSE 0 END
        ELSE p.link_amount END AS amount_total,
    CASE WHEN p.status = 'succeeded'
        THEN p.details_at + (p.failed_attempts + 1) * interval '60 seconds'
             + (p.id %% 50) * interval '1 second' END AS paid_at,
    p.id %% {len(CARDS)} AS card
FROM planned p
"""


def _orders_sql(salt: str) -> str:
    return f"""
INSERT INTO checkout_order (
    id, public_id, org_id, mode, number, currency, amount_total, payment_status, paid_at,
    customer_email, payment_reference, payment_method_brand, payment_method_last4, created_at)
SELECT p.id, 'ord_' || {_random_id(salt + "o", "p.id")}, p.org_id, p.mode, p.number, p.currency,
    p.amount_total,
    CASE WHEN p.status = 'succeeded' THEN 'paid' ELSE 'unpaid' END,
    p.paid_at,
    CASE WHEN p.status = 'succeeded' THEN p.email ELSE '' END,
    CASE WHEN p.status = 'succeeded'
         THEN 'ch_test_' || substr(md5('{salt}' || p.id), 1, 24) ELSE '' END,
    CASE WHEN p.status = 'succeeded' THEN {_pick([b for b, _ in CARDS], "p.card")} ELSE '' END,
    CASE WHEN p.status = 'succeeded' THEN {_pick([d for _, d in CARDS], "p.card")} ELSE '' END,
    p.created_at
FROM bench_plan p
"""


ITEMS_SQL = f"""
INSERT INTO checkout_orderitem (order_id, name, quantity, unit_price, position)
SELECT p.id,
    COALESCE(l.name, {_item_name("k")}),
    CASE WHEN l.id IS NULL THEN {_item_quantity("k")} ELSE l.quantity END,
    COALESCE(l.unit_price, {_item_price("k")}),
    k - 1
FROM bench_plan p
CROSS JOIN LATERAL generate_series(1, p.n_items) AS k
LEFT JOIN orgs_paymentlink l ON l.id = p.link_id
"""


def _sessions_sql(salt: str) -> str:
    last_card = "p.card + p.failed_attempts"  # the card of the last declined attempt
    details = "p.has_details"
    return f"""
INSERT INTO checkout_checkoutsession (
    id, public_id, org_id, mode, order_id, payment_link_id, source, recovered_from_id,
    created_at, expires_at, failed_attempts, payment_blocked, is_paid, customer_email_fixed,
    require_phone, require_location, require_shipping_address,
    success_url, callback_url, metadata,
    customer_email, customer_phone, customer_country, customer_postal_code,
    shipping_name, shipping_line1, shipping_line2, shipping_city, shipping_state,
    shipping_postal_code, shipping_country, details_provided_at,
    ip_address, device_type, user_agent, payment_method_brand, payment_method_last4)
SELECT p.id, 'cs_' || p.mode || '_' || {_random_id(salt + "s", "p.id")}, p.org_id, p.mode, p.id,
    p.link_id, CASE WHEN p.link_id IS NULL THEN 'api' ELSE 'payment_link' END, NULL,
    p.created_at, p.expires_at, p.failed_attempts, '', p.status = 'succeeded',
    p.link_id IS NULL AND p.email <> '',
    false, false, false,
    '', '', '{{}}'::jsonb,
    p.email, '',
    CASE WHEN {details} THEN {_pick([c for c, _ in COUNTRIES], "p.id")} ELSE '' END,
    CASE WHEN {details} THEN {_pick([z for _, z in COUNTRIES], "p.id")} ELSE '' END,
    '', '', '', '', '', '', '',
    CASE WHEN {details} THEN p.details_at END,
    CASE WHEN {details}
         THEN ({_pick(["203.0.113.", "198.51.100.", "192.0.2."], "p.id")}
               || (1 + p.id %% 254))::inet END,
    CASE WHEN {details} THEN p.device_type ELSE '' END,
    CASE WHEN {details} THEN
        CASE p.device_type WHEN 'desktop' THEN '{USER_AGENTS["desktop"]}'
             WHEN 'mobile' THEN '{USER_AGENTS["mobile"]}' ELSE '{USER_AGENTS["tablet"]}' END
         ELSE '' END,
    CASE WHEN p.status = 'succeeded' THEN {_pick([b for b, _ in CARDS], "p.card")}
         WHEN p.failed_attempts > 0 THEN {_pick([b for b, _ in CARDS], last_card)}
         ELSE '' END,
    CASE WHEN p.status = 'succeeded' THEN {_pick([d for _, d in CARDS], "p.card")}
         WHEN p.failed_attempts > 0 THEN {_pick([d for _, d in CARDS], last_card)}
         ELSE '' END
FROM bench_plan p
"""


def _events_sql() -> str:
    decline = "p.id + k"
    codes = [code for code, _ in DECLINES]
    decline_codes = [decline_code for _, decline_code in DECLINES]
    messages = [CUSTOMER_MESSAGES[decline_code or code] for code, decline_code in DECLINES]
    columns = "kind, created_at, actor_kind, actor_label, actor_user_id, session_id, data"
    return f"""
INSERT INTO checkout_timelineevent ({columns})
SELECT 'session_created', p.created_at,
    CASE WHEN p.link_id IS NULL THEN 'api' ELSE 'customer' END,
    CASE WHEN p.link_id IS NULL THEN 'sk_' || p.mode || '_bnch…' || lpad(p.org_id::text, 4, '0')
         ELSE 'customer' END,
    NULL::integer, p.id,
    jsonb_build_object(
        'source', CASE WHEN p.link_id IS NULL THEN 'api' ELSE 'payment_link' END,
        'payment_link', l.public_id, 'recovered_from', NULL::text,
        'amount_total', p.amount_total, 'currency', p.currency,
        'expires_at', {_iso("p.expires_at")})
FROM bench_plan p LEFT JOIN orgs_paymentlink l ON l.id = p.link_id
UNION ALL
SELECT 'details_provided', p.details_at, 'customer', 'customer', NULL, p.id,
    '{{"fields": ["email", "location"]}}'::jsonb
FROM bench_plan p WHERE p.has_details
UNION ALL
SELECT 'payment_failed', p.details_at + k * interval '60 seconds', 'customer', 'customer', NULL,
    p.id,
    jsonb_build_object(
        'code', {_pick(codes, decline)}, 'decline_code', {_pick(decline_codes, decline)},
        'message', {_pick(messages, decline)},
        'brand', {_pick([b for b, _ in CARDS], "p.card + k")},
        'last4', {_pick([d for _, d in CARDS], "p.card + k")}, 'attempt', k)
FROM bench_plan p CROSS JOIN LATERAL generate_series(1, p.failed_attempts) AS k
UNION ALL
SELECT 'payment_succeeded', o.paid_at, 'customer', 'customer', NULL, p.id,
    jsonb_build_object(
        'reference', o.payment_reference, 'brand', o.payment_method_brand,
        'last4', o.payment_method_last4, 'amount', o.amount_total, 'currency', o.currency)
FROM bench_plan p JOIN checkout_order o ON o.id = p.id WHERE p.status = 'succeeded'
UNION ALL
SELECT 'receipt_sent', p.paid_at + interval '2 seconds', 'system', 'system', NULL, p.id,
    jsonb_build_object('to', p.email)
FROM bench_plan p WHERE p.status = 'succeeded'
"""


COUNTERS_SQL = """
INSERT INTO checkout_ordercounter (org_id, last_number)
SELECT o.id, COALESCE(max(p.number), 0)
FROM orgs_organization o LEFT JOIN bench_plan p ON p.org_id = o.id
GROUP BY o.id
"""

IDENTITY_TABLES = ["checkout_order", "checkout_checkoutsession"]
# Loaded faster without their secondary indexes and unique constraints, rebuilt afterwards.
BULK_TABLES = [
    "checkout_order",
    "checkout_orderitem",
    "checkout_checkoutsession",
    "checkout_timelineevent",
]


def _drop_secondary_indexes(cursor, tables: list[str]) -> list[str]:
    """Drop the tables' unique constraints and plain indexes (primary keys stay, foreign keys
    point at them); return the statements that put them back exactly as they were."""
    restore = []
    for table in tables:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'u'",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
            restore.append(definition)
    return restore


def _organizations() -> tuple[Organization, list[Organization]]:
    orgs = Organization.objects.bulk_create(
        [
            Organization(
                slug=BIG_ORG_SLUG if index == 0 else f"bench-org-{index + 1:02d}",
                name="Big Coffee Co." if index == 0 else f"Bench Shop {index + 1:02d}",
                currency="USD" if index == 0 else CURRENCIES[index % len(CURRENCIES)],
                terms_url="https://shop.example.com/terms",
                privacy_url="https://shop.example.com/privacy",
                support_email="support@shop.example.com",
            )
            for index in range(ORG_COUNT)
        ]
    )
    # One active payment link per org and mode; a share of each org's sessions come from it.
    PaymentLink.objects.bulk_create(
        PaymentLink(org=org, mode=mode, name="Espresso beans, 1 kg", unit_price=2400, quantity=1)
        for org in orgs
        for mode in (Mode.TEST, Mode.LIVE)
    )
    return orgs[0], orgs[1:]


def generate(
    sessions: int, *, now: datetime | None = None, log: Callable[[str], None] = print
) -> Dataset:
    """Replace the database's checkout data with ``sessions`` generated sessions."""
    now = now or timezone.now()
    salt = get_random_string(8)
    started = time.monotonic()

    def step(label: str, sql: str, params: dict | None = None) -> None:
        # Always with parameters, so "%%" in the SQL means "%" everywhere.
        began = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute(sql, params or {})
            rows = cursor.rowcount
        rows_text = f"{rows:>10,} rows" if rows >= 0 else " " * 15
        log(
            f"  {label:<28}{rows_text}  {time.monotonic() - began:6.1f} s"
            f"  (total {time.monotonic() - started:5.1f} s)"
        )

    log(f"Generating {sessions:,} sessions over {DAYS} days across {ORG_COUNT} orgs")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
            # Bulk load: the rows are consistent by construction, so skip the per-row foreign
            # key triggers (superuser-only; the bench owns this database) and give sorts memory.
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            restore_indexes = _drop_secondary_indexes(cursor, BULK_TABLES)
        big, others = _organizations()
        user, _ = get_user_model().objects.get_or_create(
            username=BENCH_USERNAME, defaults={"email": "bench@example.com"}
        )
        Membership.objects.create(org=big, user=user, role=Membership.Role.MEMBER)
        _key, plain_key = create_api_key(org=big, mode=Mode.TEST, name="make bench")
        params = {
            "sessions": sessions,
            "now": now,
            "big_org": big.pk,
            "other_orgs": [org.pk for org in others],
            "other_count": len(others),
        }
        step("plan (temporary table)", PLAN_SQL, params)
        step("checkout_order", _orders_sql(salt))
        step("checkout_orderitem", ITEMS_SQL)
        step("checkout_checkoutsession", _sessions_sql(salt))
        step("checkout_timelineevent", _events_sql())
        step("checkout_ordercounter", COUNTERS_SQL)
        step(f"{len(restore_indexes)} indexes rebuilt", ";\n".join(restore_indexes))
        for table in IDENTITY_TABLES:
            step(
                f"{table} id sequence",
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(max(id), 0) + 1 FROM {table}), false)",
            )
    began = time.monotonic()
    # Every session finished by the watermark goes to the rollup (sessions were backdated).
    RollupWatermark.objects.update_or_create(
        pk=1,
        defaults={
            "finished_before": timezone.now()
            - timedelta(seconds=settings.ROLLUP_SAFETY_MARGIN_SECONDS)
        },
    )
    rebuild_rollup()
    log(f"  {'rollup rebuilt':<43}  {time.monotonic() - began:6.1f} s")
    step("VACUUM ANALYZE", "VACUUM ANALYZE")
    # Write the load's dirty pages out now, not during the timings.
    step("CHECKPOINT", "CHECKPOINT")
    seconds = time.monotonic() - started
    log(f"Generated in {seconds:.1f} s")
    return Dataset(sessions=sessions, seconds=seconds, org=big, user=user, api_key=plain_key)
