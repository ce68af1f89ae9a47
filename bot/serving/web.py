"""The bot's HTTP server (tornado): Telegram's webhook, ``GET /healthz`` and ``GET /metrics``.

PTB's ``run_webhook`` serves the webhook route and nothing else, so the bot runs its own server, as
PTB documents for custom webhook servers: a POST with the right secret header is parsed into an
``Update`` and put on ``application.update_queue``; the application handles it from there. In polling
mode the same server, without the webhook route, serves the health check and the metrics.

=================  ======  ===============================================================================
route              method  answer
=================  ======  ===============================================================================
``/<path>``        POST    200 (queued); 403 without the right ``X-Telegram-Bot-Api-Secret-Token`` or not
                           ``application/json``; 400 when the body is not an update
``/healthz``       GET     200 ``{"status": "ok", "articles": N, "sentences": M, ...}``; 503 until the index
                   (HEAD)  is loaded and the bot is running, and while updates keep failing (``"failing"``);
                           HEAD answers the same without the body
``/metrics``       GET     the Prometheus text format (``bot.metrics``)
=================  ======  ===============================================================================
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import socket
import time
from http import HTTPStatus
from typing import Any

import tornado.web
from telegram import Update
from telegram.ext import Application
from tornado.httpserver import HTTPServer

from bot.serving.metrics import CONTENT_TYPE, Metrics

__all__ = ["SECRET_HEADER", "WebServer"]

_logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_BODY_BYTES = 1 << 20
"""Telegram's updates are a few kilobytes; anything larger is refused before it is read."""
IDLE_SECONDS = 30.0
"""Keep-alive connections idle this long are closed; also the time allowed for a request's headers."""
BODY_SECONDS = 10.0
"""Time allowed for a request's body (Telegram sends a few kilobytes at once; a trickle is an attack)."""

FAILING_AFTER = 3
"""Updates failing in a row (none answered between them) after which /healthz says the bot is failing."""

App = Application[Any, Any, Any, Any, Any, Any]


class _Handler(tornado.web.RequestHandler):
    """Plain-text errors, and no tornado tracebacks in the log (the body may hold users' messages)."""

    closing = False
    """Set when a request is refused before its body was read: the connection cannot be reused."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        if self.closing:  # tell the client, or it sends its next request on a connection about to close
            self.set_header("Connection", "close")
        self.finish(f"{status_code} {self._reason}\n")

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, tornado.web.HTTPError):
            _logger.debug("%s %s: %s", self.request.method, self.request.path, value)
        else:
            _logger.error("error while answering %s %s", self.request.method, self.request.path, exc_info=value)


@tornado.web.stream_request_body
class _WebhookHandler(_Handler):
    """Telegram's POSTed updates, checked and put on the application's update queue.

    The body is streamed, so the secret and the content type are checked as soon as the headers arrive:
    a request without the secret is refused before a byte of its body is read.
    """

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, app: App, secret: bytes) -> None:
        self.bot_app = app
        self.secret = secret
        self._body: list[bytes] = []

    def prepare(self) -> None:
        self.closing = True  # until the checks pass: a refusal here leaves the body unread
        given = self.request.headers.get(SECRET_HEADER, "").encode("latin-1")  # tornado read them as latin-1
        if not hmac.compare_digest(given, self.secret):
            raise tornado.web.HTTPError(HTTPStatus.FORBIDDEN, reason="wrong or missing secret token")
        media_type = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type != "application/json":  # as PTB's own webhook server and Telegram do
            raise tornado.web.HTTPError(HTTPStatus.FORBIDDEN, reason="not application/json")
        self.closing = False

    def data_received(self, chunk: bytes) -> None:
        self._body.append(chunk)

    async def post(self) -> None:
        bot = self.bot_app.bot
        try:
            data = json.loads(b"".join(self._body))
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            update = Update.de_json(data, bot)
        except Exception as exc:  # malformed JSON, or JSON that is not an update
            raise tornado.web.HTTPError(HTTPStatus.BAD_REQUEST, reason="not a Telegram update") from exc
        bot.insert_callback_data(update)
        await self.bot_app.update_queue.put(update)
        self.set_status(HTTPStatus.OK)


class _HealthHandler(_Handler):
    """Whether the bot can answer: its index loaded and the application running."""

    def initialize(self, app: App, metrics: Metrics) -> None:
        self.bot_app = app
        self.metrics = metrics

    def head(self) -> None:
        """As ``GET`` without the body (load balancers and uptime checkers often probe with HEAD)."""
        self.get()

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        uptime = round(time.monotonic() - self.metrics.started)
        try:
            index = self.metrics.library.index
        except RuntimeError:
            self.set_status(HTTPStatus.SERVICE_UNAVAILABLE)
            self.finish(json.dumps({"status": "loading", "uptime_seconds": uptime}))
            return
        failing = self.metrics.failing_in_a_row >= FAILING_AFTER
        body = {
            "status": "stopped" if not self.bot_app.running else "failing" if failing else "ok",
            "articles": len(index.articles),
            "sentences": len(index),
            "index_built_at": index.manifest.get("built_at"),
            "uptime_seconds": uptime,
        }
        up = self.metrics.library.shards_up()
        if up is not None:
            # Still answering from the others while a shard has no replica up: reported, not unhealthy.
            body["shards"] = {"count": len(up), "replicas_up": up, "complete": all(up)}
        if body["status"] != "ok":
            self.set_status(HTTPStatus.SERVICE_UNAVAILABLE)
        self.finish(json.dumps(body))


class _MetricsHandler(_Handler):
    """The Prometheus scrape endpoint."""

    def initialize(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(self.metrics.exposition())


def _log_request(handler: tornado.web.RequestHandler) -> None:
    """Requests at DEBUG (health checks come every few seconds), refusals at INFO."""
    status = handler.get_status()
    level = logging.INFO if status >= HTTPStatus.BAD_REQUEST else logging.DEBUG
    request = handler.request
    _logger.log(level, "%d %s %s from %s", status, request.method, request.path, request.remote_ip)


class WebServer:
    """Serves ``/healthz`` and ``/metrics``, and Telegram's webhook at ``webhook_path`` when given.

    ``port`` 0 picks a free port; ``port`` then says which.
    """

    def __init__(
        self,
        application: App,
        metrics: Metrics,
        *,
        listen: str = "127.0.0.1",
        port: int = 8443,
        webhook_path: str | None = None,
        secret: str | None = None,
    ) -> None:
        if webhook_path is not None and not secret:
            raise ValueError("a webhook needs a secret token")
        routes: list[Any] = [
            (r"/healthz", _HealthHandler, {"app": application, "metrics": metrics}),
            (r"/metrics", _MetricsHandler, {"metrics": metrics}),
        ]
        if webhook_path is not None:
            path = "/" + webhook_path.strip("/")
            webhook = {"app": application, "secret": (secret or "").encode("latin-1")}
            routes.insert(0, (re.escape(path.rstrip("/")) + "/?", _WebhookHandler, webhook))
        self.listen = listen
        self.port = port
        self.webhook_path = webhook_path
        self._app = tornado.web.Application(routes, log_function=_log_request)
        self._server: HTTPServer | None = None

    async def start(self) -> None:
        """Listen on ``listen``:``port``; raises ``OSError`` when the address is taken or unknown.

        (Not tornado's ``bind_sockets``: it leaves its socket open when the port is taken.)
        """
        [(family, *_), *_] = socket.getaddrinfo(
            self.listen or None, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        anywhere = family == socket.AF_INET6 and self.listen in ("", "::") and socket.has_dualstack_ipv6()
        listener = socket.create_server((self.listen, self.port), family=family, dualstack_ipv6=anywhere)
        listener.setblocking(False)
        self._server = HTTPServer(
            self._app, max_body_size=MAX_BODY_BYTES, idle_connection_timeout=IDLE_SECONDS, body_timeout=BODY_SECONDS
        )
        self._server.add_sockets([listener])
        self.port = int(listener.getsockname()[1])
        routes = "the webhook, /healthz and /metrics" if self.webhook_path is not None else "/healthz and /metrics"
        _logger.info("serving %s on %s:%d", routes, self.listen or "*", self.port)

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._server is None:
            return
        self._server.stop()
        await self._server.close_all_connections()
        self._server = None
