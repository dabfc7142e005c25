"""Email through SMTP (``smtplib``): multipart text and HTML.

An SMTP 4xx is transient and retried; a 5xx (the server refused the sender, the recipient or
the message) is permanent. Bounces that arrive later as emails are not read.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from .base import OutgoingMessage, TransportError


class SmtpTransport:
    def __init__(self, settings: dict):
        self.host = settings["email.host"]
        self.port = settings["email.port"]
        self.security = settings["email.security"]
        self.username = settings["email.username"]
        self.password = settings["email.password"]
        self.sender = settings["email.from_address"]
        self.timeout = settings["email.timeout_seconds"]

    def send(self, message: OutgoingMessage) -> str:
        email = self.compose(message)
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(email, to_addrs=[message.recipient])
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            raise _by_code(code, text) from error
        except smtplib.SMTPResponseException as error:
            raise _by_code(error.smtp_code, error.smtp_error) from error
        except (smtplib.SMTPException, OSError) as error:  # refused, reset, timed out
            raise TransportError(f"SMTP server unreachable: {type(error).__name__}: {error}") from error
        return email["Message-ID"]

    def compose(self, message: OutgoingMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(idstring=f"m{message.id}", domain=self.sender.rpartition("@")[2] or None)
        email.set_content(message.body)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        return email

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ssl.create_default_context())
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        except BaseException:
            smtp.close()
            raise
        return smtp


# Our own login refused: a configuration problem to fix, not this patient's address.
CONFIGURATION_CODES = {530, 534, 535, 538}


def _by_code(code: int, text) -> TransportError:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    permanent = 500 <= code < 600 and code not in CONFIGURATION_CODES
    return TransportError(f"SMTP {code}: {text}", permanent=permanent, code=str(code))
