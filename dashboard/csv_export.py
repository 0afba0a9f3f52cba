"""Checkout sessions as CSV: every matching row, read in keyset chunks while the response
streams, each cell safe to open in a spreadsheet."""

import csv
from collections.abc import Iterator
from datetime import datetime

from checkout.money import to_major_units
from checkout.queries import CheckoutSessionQuerySet, Cursor
from dashboard.templatetags.dashboard_display import product_name

CHUNK_SIZE = 500
HEADER = [
    "id",
    "status",
    "customer_email",
    "product",
    "amount",
    "currency",
    "failed_attempts",
    "source",
    "payment_link",
    "order_number",
    "created_at",
    "expires_at",
]
# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP
# "CSV injection"): a leading single quote makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class _Line:
    """csv.writer's file: hands each written line back instead of storing it."""

    def write(self, line: str) -> str:
        return line


def session_csv_lines(sessions: CheckoutSessionQuerySet, now: datetime) -> Iterator[str]:
    """The header, then one line per session, newest first; ``CHUNK_SIZE`` rows per query."""
    writer = csv.writer(_Line())
    yield writer.writerow(HEADER)
    sessions = (
        sessions.with_status(now)
        .select_related("order", "payment_link")
        .prefetch_related("order__items")
    )
    cursor: Cursor | None = None
    while True:
        page = sessions.page(limit=CHUNK_SIZE, after=cursor)
        for session in page.rows:
            order = session.order
            row = [
                session.public_id,
                session.status,
                session.customer_email,
                product_name(session),
                to_major_units(order.amount_total, order.currency),
                order.currency,
                session.failed_attempts,
                session.source,
                session.payment_link.public_id if session.payment_link else "",
                order.number,
                session.created_at.isoformat(),
                session.expires_at.isoformat(),
            ]
            yield writer.writerow([spreadsheet_safe(cell) for cell in row])
        if not page.has_older:
            return
        cursor = Cursor.of(page.rows[-1])
