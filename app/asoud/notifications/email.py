"""E-mail over SMTP (STARTTLS and login when configured), with aiosmtplib."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib


class MailError(Exception):
    """The SMTP server did not take the message (retry later)."""


@dataclass
class SmtpMail:
    host: str
    port: int
    username: str
    password: str
    starttls: bool
    sender: str

    async def send(self, to: str, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(text)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                start_tls=self.starttls,
                username=self.username or None,
                password=self.password or None,
                timeout=15,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailError(f"smtp: {type(exc).__name__}") from None
