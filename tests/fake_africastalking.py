"""A local HTTP server that speaks Africa's Talking's SMS API, for the real SDK to talk to.

`POST /version1/messaging` (form: username, to, message, from, bulkSMSMode; header apiKey), as
AT answers it: `201` with `application/json`, one entry per recipient in
`SMSMessageData.Recipients` (statusCode 101 "Success", cost, messageId), a `401` with a text body
for a wrong key, and the faults a test programs: a per-recipient status (403 InvalidPhoneNumber,
406 UserInBlacklist, 500 InternalServerError...), whole-request HTTP errors (500, 502, 503) and
answers slower than the client's timeout. Every request that reached it is recorded, faulty or
not, so a test can check exactly what was sent.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

USERNAME = "gateway-test"
API_KEY = "atsk_test_0123456789abcdef"
SENDER = "2026"
COST = "USD 0.0200"


@dataclass
class Request:
    username: str
    to: list[str]
    message: str
    sender: str | None
    api_key: str
    answered: int  # the HTTP status the fake answered with
    statuses: dict[str, int] = field(default_factory=dict)  # per recipient, when answered 201


@dataclass
class FakeAfricasTalking:
    requests: list[Request] = field(default_factory=list)
    # number -> [(statusCode, status), ...]: consumed one per request to that number, then 101.
    recipient_faults: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    http_faults: list[int] = field(default_factory=list)  # next requests answered with these
    delays: list[float] = field(default_factory=list)  # next requests answered after these
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def start(self) -> FakeAfricasTalking:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                fake.answer(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def sent_to(self, number: str) -> list[str]:
        """Messages that reached the fake for `number` (including failed attempts)."""
        with self.lock:
            return [r.message for r in self.requests if number in r.to]

    def accepted_for(self, number: str) -> list[str]:
        """Messages the fake accepted (HTTP 201, recipient status 100-102) for `number`."""
        with self.lock:
            return [r.message for r in self.requests
                    if r.answered == 201 and r.statuses.get(number) in (100, 101, 102)]

    def all_messages(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(n, r.message) for r in self.requests for n in r.to]

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        api_key = handler.headers.get("apiKey", "")
        with self.lock:
            delay = self.delays.pop(0) if self.delays else 0.0
            fault = self.http_faults.pop(0) if self.http_faults else None
            to = [n for n in form.get("to", "").split(",") if n]
            statuses = {}
            for number in to:
                queue = self.recipient_faults.get(number) or []
                statuses[number] = queue.pop(0) if queue else (101, "Success")
            if handler.path != "/version1/messaging":
                code = 404
            elif api_key != API_KEY or form.get("username") != USERNAME:
                code = 401
            else:
                code = fault or 201
            self.requests.append(Request(
                form.get("username", ""), to, form.get("message", ""), form.get("from"), api_key,
                code, {n: statuses[n][0] for n in to} if code == 201 else {}))
        if delay:
            time.sleep(delay)
        if code != 201:
            body = {401: b"The supplied authentication is invalid",
                    404: b"Not found"}.get(code, b"Internal Server Error")
            self._send(handler, code, "text/plain", body)
            return
        recipients = []
        for number in to:
            status_code, status = statuses[number]
            ok = status_code in (100, 101, 102)
            recipients.append({
                "statusCode": status_code, "number": number, "status": status,
                "cost": COST if ok else "0", "messageId": f"ATXid_{uuid.uuid4().hex}" if ok
                else "None"})
        sent = sum(1 for r in recipients if r["statusCode"] in (100, 101, 102))
        payload = {"SMSMessageData": {
            "Message": f"Sent to {sent}/{len(to)} Total Cost: {COST}",
            "Recipients": recipients}}
        self._send(handler, 201, "application/json", json.dumps(payload).encode())

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, code: int, content_type: str, body: bytes) -> None:
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)
