"""Which mail failures may pass (``checkout.mail_retries.may_pass``), and so are tried again for
receipts and recovery emails: the mail server out of reach or answering 4xx, "try again later";
never a 5xx refusal, a message the mail library refuses, or a bug."""

import smtplib

import pytest

from checkout.mail_retries import may_pass


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        smtplib.SMTPDataError(451, b"4.3.0 Try again later"),
        smtplib.SMTPSenderRefused(421, b"4.7.0 Too many connections", "shop@example.com"),
        smtplib.SMTPRecipientsRefused({"alice@example.com": (450, b"4.2.1 Mailbox busy")}),
    ],
    ids=repr,
)
def test_a_failure_that_may_pass_is_tried_again(error):
    assert may_pass(error)


@pytest.mark.parametrize(
    "error",
    [
        smtplib.SMTPDataError(554, b"5.7.1 Message rejected"),
        smtplib.SMTPSenderRefused(550, b"5.7.1 Sender refused", "shop@example.com"),
        smtplib.SMTPRecipientsRefused({"alice@example.com": (550, b"5.1.1 No such user")}),
        # One recipient refused for good: waiting cannot deliver the message as a whole.
        smtplib.SMTPRecipientsRefused(
            {"alice@example.com": (450, b"busy"), "bob@example.com": (550, b"no such user")}
        ),
        ValueError("Header values may not contain linefeed or carriage return characters"),
        KeyError("a bug"),
    ],
    ids=repr,
)
def test_a_failure_that_waiting_cannot_fix_is_final(error):
    assert not may_pass(error)
