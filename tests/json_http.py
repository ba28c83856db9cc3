"""A quiet JSON request handler for the tests' stand-in HTTP servers (TF Serving's REST API)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler


class JsonHandler(BaseHTTPRequestHandler):
    """A handler that answers JSON and logs nothing; subclasses define ``do_GET``/``do_POST``."""

    def send_json(self, code: int, payload) -> None:
        """Answer ``payload`` as JSON with status ``code``."""
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        """Keep the test output quiet."""
