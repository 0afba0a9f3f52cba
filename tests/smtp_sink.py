"""A real SMTP server on 127.0.0.1 (aiosmtpd) for tests and the soak: keeps every message it
accepts, and answers recipients as scripted (a 4xx "try again later", a 5xx refusal)."""

import email
import email.policy
import socket
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SmtpSink:
    """Accepts mail on ``port`` (a free one unless given); each RCPT gets the next reply of
    ``recipient_replies`` (e.g. ``"451 4.3.0 Try again later"``), then ``250 OK``."""

    port: int = 0
    recipient_replies: list[str] = field(default_factory=list)
    messages: list[EmailMessage] = field(default_factory=list)

    @property
    def url(self) -> str:
        """``EMAIL_URL`` for this sink."""
        return f"smtp://127.0.0.1:{self.port}"

    def recipients(self) -> list[str]:
        return [address for message in self.messages for address in message.envelope_to]

    def __enter__(self) -> "SmtpSink":
        self.port = self.port or free_port()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.controller.stop()


class _Handler:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.sink.recipient_replies:
            return self.sink.recipient_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message.envelope_to = list(envelope.rcpt_tos)
        self.sink.messages.append(message)
        return "250 Message accepted for delivery"
