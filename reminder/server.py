"""The web servers: gunicorn for production, Werkzeug's for development.

Production runs gunicorn's ``gthread`` workers: each worker process serves several connections on
threads and keeps them alive, so a phone's second request does not pay for a new connection. The
app is built once in the master (``preload``) so a bad config fails before any worker starts;
workers then open their own database connections per request, so forking is safe.
"""

from __future__ import annotations

import signal
from collections.abc import Callable


def serve_production(app: Callable, host: str, port: int, workers: int, threads: int, proxy_hops: int = 0) -> None:
    """Serve ``app`` on ``host:port`` until SIGTERM or Ctrl-C (gunicorn's own handlers), then exit.

    Behind ``proxy_hops`` trusted proxies the client's address and scheme come from their
    X-Forwarded-For and X-Forwarded-Proto; with none, those headers are ignored (anyone could
    send them)."""
    from gunicorn.app.base import BaseApplication
    from werkzeug.middleware.proxy_fix import ProxyFix

    if proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxy_hops, x_proto=proxy_hops)

    class Server(BaseApplication):
        def load_config(self):
            options = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "preload_app": True,
                "accesslog": None,  # the app logs requests itself, without the tokens in phone links
                "graceful_timeout": 10,
            }
            if "control_socket_disable" in self.cfg.settings:  # gunicorn 25+: one fixed socket path per user
                options["control_socket_disable"] = True  # that several servers on one machine would share
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return app

    Server().run()


def serve_dev(app: Callable, host: str, port: int) -> None:
    """Werkzeug's threaded server, until Ctrl-C or SIGTERM (both end it the same way)."""
    from werkzeug.serving import make_server

    from .devserver import BannerlessRequestHandler  # no Werkzeug/Python version banner

    server = make_server(host, port, app, threaded=True, request_handler=BannerlessRequestHandler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt
