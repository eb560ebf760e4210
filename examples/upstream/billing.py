#!/usr/bin/env python3
"""A tiny HTTP API with an OpenAPI 3 document, to try `[[upstreams]]`:

    python3 examples/upstream/billing.py 8080 &
    toolhost list --config examples/upstream/toolhost.toml

GET /invoices/{id} answers an invoice; GET /flaky answers 429 (Retry-After: 1),
then 503, then 200, to show the executor's retries."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DOCUMENT = {
    "openapi": "3.0.3",
    "info": {"title": "billing", "version": "1"},
    "paths": {
        "/invoices/{id}": {"get": {
            "operationId": "getInvoice",
            "summary": "One invoice by id",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the invoice", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Invoice"}}}}},
        }},
        "/flaky": {"get": {"operationId": "flaky", "summary": "Busy twice, then fine",
                           "responses": {"200": {"description": "ok"}}}},
    },
    "components": {"schemas": {"Invoice": {"type": "object", "properties": {
        "id": {"type": "string"}, "total": {"type": "number"}}}}},
}
FLAKY = {"n": 0}


class Api(BaseHTTPRequestHandler):
    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/openapi.json":
            return self.reply(200, DOCUMENT)
        if self.path.startswith("/invoices/"):
            return self.reply(200, {"id": self.path.rsplit("/", 1)[1], "total": 42.5,
                                    "request_id": self.headers.get("x-request-id")})
        if self.path == "/flaky":
            FLAKY["n"] += 1
            if FLAKY["n"] == 1:
                return self.reply(429, {"error": "slow down"}, [("retry-after", "1")])
            if FLAKY["n"] == 2:
                return self.reply(503, {"error": "busy"})
            return self.reply(200, {"attempt": FLAKY["n"]})
        self.reply(404, {"error": "no such route"})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    ThreadingHTTPServer(("127.0.0.1", port), Api).serve_forever()
