"""The request handler of ``reminder run``'s Werkzeug server: no version banner.

Python's ``http.server`` sends ``Server: Werkzeug/x Python/y`` before the app's own headers,
telling a scanner which versions to try; the app sends ``Server: reminder`` on every response
(``web.security_headers``) and this handler sends nothing of its own.
"""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler


class BannerlessRequestHandler(WSGIRequestHandler):
    def send_response(self, code: int, message: str | None = None) -> None:
        """``BaseHTTPRequestHandler.send_response`` without its ``Server`` header."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())
