"""Wire-level fakes of the Slack Web API, Slack incoming webhooks and Twilio's Messages API on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass
class Request:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Reply:
    """A scripted answer."""

    status: int
    body: bytes | str | dict = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a reply slower than the client's timeout)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict):
            return json.dumps(self.body).encode(), "application/json; charset=utf-8"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return self.body, "application/octet-stream"


class FakeServer:
    """A threaded HTTP server; `answer(request)` decides each reply, `script` overrides the next ones."""

    def __init__(self, answer: Callable[[Request], Reply]) -> None:
        self.requests: list[Request] = []
        self.script: list[Reply] = []  # popped first-in first-out before `answer` is asked
        self.down = False  # answer 503 to everything
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                req = Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                              self.rfile.read(length))
                fake.requests.append(req)
                if fake.down:
                    reply = Reply(503, "upstream unavailable")
                elif fake.script:
                    reply = fake.script.pop(0)
                else:
                    reply = answer(req)
                body, ctype = reply.encoded()
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def slack_api(token: str) -> Callable[[Request], Reply]:
    """Slack Web API: chat.postMessage with a Bearer token, answering as Slack documents."""
    counter = iter(range(1, 1_000_000))

    def answer(req: Request) -> Reply:
        if not req.path.startswith("/api/chat.postMessage"):
            return Reply(404, {"ok": False, "error": "unknown_method"})
        if req.headers.get("authorization") != f"Bearer {token}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        body = req.json()
        if not body.get("channel"):
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        if not body.get("text") and not body.get("blocks"):
            return Reply(200, {"ok": False, "error": "no_text"})
        return Reply(200, {"ok": True, "channel": body["channel"], "ts": f"1700000000.{next(counter):06d}"})

    return answer


def slack_webhook(path: str) -> Callable[[Request], Reply]:
    """Slack incoming webhooks: 'ok' for the right path, 'no_service' (404) otherwise."""

    def answer(req: Request) -> Reply:
        if req.path != path:
            return Reply(404, "no_service")
        try:
            body = req.json()
        except ValueError:
            return Reply(400, "invalid_payload")
        return Reply(200, "ok") if body.get("text") or body.get("blocks") else Reply(400, "no_text")

    return answer


def twilio_messages(account_sid: str, auth_token: str) -> Callable[[Request], Reply]:
    """Twilio's POST /2010-04-01/Accounts/{sid}/Messages.json with basic auth and form fields."""
    counter = iter(range(1, 1_000_000))

    def error(status: int, code: int, message: str) -> Reply:
        return Reply(status, {"code": code, "message": message, "status": status,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}"})

    def answer(req: Request) -> Reply:
        if urlparse(req.path).path != f"/2010-04-01/Accounts/{account_sid}/Messages.json":
            return error(404, 20404, "The requested resource was not found")
        expected = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        if req.headers.get("authorization") != f"Basic {expected}":
            return error(401, 20003, "Authenticate")
        form = req.form()
        to = form.get("To", "")
        if not to.startswith("+") or not to[1:].isdigit():
            return error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return error(400, 21603, "The 'From' phone number is required.")
        sid = f"SM{next(counter):032d}"
        return Reply(201, {"sid": sid, "account_sid": account_sid, "to": to, "from": form.get("From"),
                           "messaging_service_sid": form.get("MessagingServiceSid"), "body": form.get("Body"),
                           "status": "queued", "num_segments": "1"})

    return answer


def pagerduty_events(routing_key: str, accepted: list[dict]) -> Callable[[Request], Reply]:
    """PagerDuty Events API v2 (POST /v2/enqueue): validates an event as PagerDuty does, 202 when accepted."""

    def invalid(*errors: str) -> Reply:
        return Reply(400, {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)})

    def answer(req: Request) -> Reply:
        if req.path != "/v2/enqueue":
            return Reply(404, {"status": "not found"})
        try:
            event = req.json()
        except ValueError:
            return invalid("body is not JSON")
        if event.get("routing_key") != routing_key:
            return invalid("'routing_key' is invalid")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            return invalid("'event_action' is missing or blank")
        if action != "trigger" and not event.get("dedup_key"):
            return invalid("'dedup_key' is required for acknowledge and resolve")
        if action == "trigger":
            payload = event.get("payload") or {}
            missing = [k for k in ("summary", "source", "severity") if not payload.get(k)]
            if missing:
                return invalid(*(f"'payload.{k}' is missing or blank" for k in missing))
            if payload["severity"] not in ("critical", "error", "warning", "info"):
                return invalid("'payload.severity' is invalid")
        accepted.append(event)
        return Reply(202, {"status": "success", "message": "Event processed", "dedup_key": event.get("dedup_key")})

    return answer


def signed_webhook(secret: str, accepted: list[dict]) -> Callable[[Request], Reply]:
    """A receiver that checks X-Driftline-Signature (HMAC-SHA256 of the raw body) before accepting."""
    import hashlib
    import hmac

    def answer(req: Request) -> Reply:
        expected = "sha256=" + hmac.new(secret.encode(), req.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(req.headers.get("x-driftline-signature", ""), expected):
            return Reply(401, "bad signature")
        accepted.append({**req.json(), "_idempotency_key": req.headers.get("idempotency-key")})
        return Reply(204)

    return answer


# Malformed replies seen in the fault audit (issue 15): each must stay the channel's problem.
def slack_negative_retry_after() -> Reply:
    """Slack's 429 with `Retry-After: -1` (the SDK slept for -1 s and raised ValueError)."""
    return Reply(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "-1"})


def twilio_html_created() -> Reply:
    """Twilio 201 Created with an HTML body (a proxy's page): accepted, but not JSON."""
    return Reply(201, b"<html><body>Created</body></html>")


def slow(reply: Reply, seconds: float) -> Reply:
    """The same reply, after `seconds` (longer than the client's timeout: the vendor accepted, the client gave up)."""
    return Reply(reply.status, reply.body, reply.headers, delay=seconds)
