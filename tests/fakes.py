"""Real protocol peers on loopback: a fake of Twilio's Messages API, an SMTP server and a push service.

The app talks to them with the real ``twilio`` client, real ``smtplib`` and real ``pywebpush``; nothing inside
any of them is mocked.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token"


def free_port() -> int:
    """A free loopback port (aiosmtpd cannot take port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SentSms:
    at: float  # time.monotonic() when the request arrived
    params: dict
    sid: str
    date_sent: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class FakeTwilio:
    """Twilio's ``POST /2010-04-01/Accounts/{sid}/Messages.json`` on a loopback port.

    Records every request; ``fail(number, code, status)`` makes sends to ``number`` fail with
    Twilio's error JSON, ``fail_next(count, code, status)`` the next ``count`` sends to anyone,
    ``down(code, status)`` every send until ``up()``. ``GET`` of the same path lists what was
    sent, filtered by ``To`` and ``DateSent>`` as Twilio filters it.
    """

    sent: list[SentSms] = field(default_factory=list)
    failures_by_number: dict[str, tuple[int, int]] = field(default_factory=dict)
    failures_next: list[tuple[int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay: float = 0.0
    outage: tuple[int, int] | None = None

    def down(self, code: int = 20500, status: int = 500) -> None:
        self.outage = (code, status)

    def up(self) -> None:
        self.outage = None

    def fail(self, number: str, code: int, status: int = 400) -> None:
        self.failures_by_number[number] = (code, status)

    def fail_next(self, count: int, code: int, status: int) -> None:
        self.failures_next.extend([(code, status)] * count)

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path, _, query = self.path.partition("?")
                if path != f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json":
                    return self._answer(404, {"code": 20404, "message": "not found", "status": 404})
                if fake.outage:
                    code, status = fake.outage
                    return self._answer(status, {"code": code, "message": f"fake error {code}", "status": status})
                filters = dict(urllib.parse.parse_qsl(query))
                since = (
                    datetime.fromisoformat(filters["DateSent>"].replace("Z", "+00:00"))
                    if "DateSent>" in filters
                    else None
                )
                with fake.lock:
                    found = [
                        sent
                        for sent in fake.sent
                        if sent.params.get("To") == filters.get("To", sent.params.get("To"))
                        and (since is None or sent.date_sent >= since)
                    ]
                records = [
                    {
                        "sid": sent.sid,
                        "to": sent.params.get("To"),
                        "from": sent.params.get("From"),
                        "body": sent.params.get("Body"),
                        "status": "sent",
                        "date_sent": format_datetime(sent.date_sent, usegmt=True),
                        "account_sid": ACCOUNT_SID,
                    }
                    for sent in reversed(found)
                ]
                self._answer(
                    200, {"messages": records, "page": 0, "page_size": 50, "next_page_uri": None, "uri": self.path}
                )

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                params = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                expected = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
                if self.path != expected:
                    return self._answer(404, {"code": 20404, "message": "not found", "status": 404})
                if fake.delay:
                    time.sleep(fake.delay)
                with fake.lock:
                    failure = fake.outage or (
                        fake.failures_next.pop(0)
                        if fake.failures_next
                        else fake.failures_by_number.get(params.get("To"))
                    )
                    if failure is None:
                        sid = "SM" + secrets.token_hex(16)
                        fake.sent.append(SentSms(time.monotonic(), params, sid))
                if failure:
                    code, status = failure
                    return self._answer(
                        status,
                        {
                            "code": code,
                            "message": f"fake error {code}",
                            "status": status,
                            "more_info": f"https://www.twilio.com/docs/errors/{code}",
                        },
                    )
                self._answer(
                    201,
                    {
                        "sid": sid,
                        "status": "queued",
                        "to": params.get("To"),
                        "from": params.get("From"),
                        "body": params.get("Body"),
                        "account_sid": ACCOUNT_SID,
                        "num_segments": "1",
                    },
                )

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class SmtpCollector:
    """An aiosmtpd handler that keeps what it receives and can refuse some recipients."""

    def __init__(self):
        self.received = []
        self.refuse: dict[str, str] = {}  # address -> SMTP reply, e.g. "550 5.1.1 no such user"
        self.refuse_all: str | None = None  # a reply to every recipient, e.g. "451 4.3.0 try later"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_all:
            return self.refuse_all
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


class SmtpServer:
    def __init__(self):
        self.handler = SmtpCollector()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self):
        return [message for _, _, message in self.handler.received]


# ---------------------------------------------------------------- web push


class PushBrowser:
    """What a browser holds for one push subscription: an ECDH key pair and an auth secret. It
    decrypts what the push service hands it, with ``http_ece`` as browsers do (aes128gcm)."""

    def __init__(self, endpoint: str):
        import base64

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.endpoint = endpoint
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = secrets.token_bytes(16)
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        encode = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()  # noqa: E731
        self.subscription = {"endpoint": endpoint, "keys": {"p256dh": encode(public), "auth": encode(self.auth)}}

    def decrypt(self, body: bytes) -> dict:
        import http_ece

        return json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"))


@dataclass
class PushDelivery:
    path: str
    headers: dict
    body: bytes


class FakePushService:
    """A push service on loopback: takes encrypted pushes at ``/push/<name>`` and keeps them;
    answers ``gone`` paths 410 (the browser dropped the subscription) and everything 503 while down."""

    def __init__(self):
        self.received: list[PushDelivery] = []
        self.gone: set[str] = set()
        self.status = 201

    def browser(self, name: str) -> PushBrowser:
        return PushBrowser(f"{self.url}/push/{name}")

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.received.append(PushDelivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = 410 if self.path in fake.gone else fake.status
                self.send_response(status)
                self.send_header("Location", f"{fake.url}/message/{len(fake.received)}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
