"""The tests' fake Twilio Messages API (``tests/fakes.py``) in its own process, for bench.py.

Run by bench.py's SMS section, so the fake's request handling does not share a GIL with the
worker it measures (Twilio is not in the worker's process either). Prints one JSON line
``{"url": ...}`` when it listens, then obeys one command per line on stdin, answering each with
one JSON line on stdout:

    reset        forget every request and counter       -> {"ok": true}
    delay S      answer each request after S seconds    -> {"ok": true}
    dump         what arrived since the last reset      -> {"arrivals": [monotonic seconds, ...],
                                                            "to": [numbers], "connections": n,
                                                            "peak_in_flight": n}
    quit         stop                                   -> (exits)

Arrival times are ``time.monotonic()`` (CLOCK_MONOTONIC, shared by every process on Linux).
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes import FakeTwilio  # noqa: E402


def main() -> None:
    fake = FakeTwilio()
    url = fake.start()
    server = fake.server
    lock = threading.Lock()
    stats = {"connections": 0, "in_flight": 0, "peak_in_flight": 0}

    base = server.RequestHandlerClass

    class Counting(base):
        # Keep-alive, as api.twilio.com does (BaseHTTPRequestHandler's HTTP/1.0 closes every
        # connection); the fake's answers carry Content-Length, so HTTP/1.1 framing holds.
        protocol_version = "HTTP/1.1"
        # The handler writes headers and body in two send()s; without TCP_NODELAY, Nagle holds
        # the body back until the client's delayed ACK (~40 ms) on a kept-alive connection.
        disable_nagle_algorithm = True

        def do_POST(self):
            with lock:
                stats["in_flight"] += 1
                stats["peak_in_flight"] = max(stats["peak_in_flight"], stats["in_flight"])
            try:
                super().do_POST()
            finally:
                with lock:
                    stats["in_flight"] -= 1

    server.RequestHandlerClass = Counting
    accept = server.process_request

    def counting_accept(request, client_address):
        with lock:
            stats["connections"] += 1
        return accept(request, client_address)

    server.process_request = counting_accept
    # socketserver listens with a backlog of 5; when many new connections arrive at once (a client
    # whose connection pool is smaller than its threads opens one per send) the kernel resets some.
    # A real API front end queues far more, so listen again with a deep backlog.
    server.socket.listen(1024)

    print(json.dumps({"url": url}), flush=True)
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "reset":
            with fake.lock, lock:
                fake.sent.clear()
                stats.update(connections=0, peak_in_flight=0)
            print(json.dumps({"ok": True}), flush=True)
        elif command == "delay":
            fake.delay = float(arg)
            print(json.dumps({"ok": True}), flush=True)
        elif command == "dump":
            with fake.lock, lock:
                sent = list(fake.sent)
                answer = {
                    "arrivals": [s.at for s in sent],
                    "to": [s.params.get("To") for s in sent],
                    "connections": stats["connections"],
                    "peak_in_flight": stats["peak_in_flight"],
                }
            print(json.dumps(answer), flush=True)
        elif command == "quit":
            break
    fake.stop()


if __name__ == "__main__":
    main()
