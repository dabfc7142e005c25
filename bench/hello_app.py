"""A bare Flask app for bench.py: the floor a Flask route on Werkzeug's threaded server can reach.

Served exactly as ``reminder serve`` serves the real app: ``werkzeug.serving.make_server(host, port,
app, threaded=True)`` and ``serve_forever()``. Run: ``python bench/hello_app.py --port 8123``.
"""

from __future__ import annotations

import argparse

from flask import Flask, jsonify
from werkzeug.serving import make_server

app = Flask(__name__)


@app.route("/hello", methods=["GET", "POST"])
def hello():
    return jsonify({"hello": "world"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"hello app serving on http://{args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
