"""HTTP plumbing: request parameters as PTB sends them, JSON answers, and loopback helpers for clients.

PTB sends form-urlencoded bodies with JSON-encoded values (multipart when a file goes along); JSON
bodies are accepted too.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from typing import Any, NamedTuple

from aiohttp import web

from bot.testing.standin.protocol import JSON, bad_request

# Form values that are plain strings; every other form value is JSON-encoded by PTB.
# fmt: off
_STRING_PARAMS = frozenset({
    "text", "query", "url", "secret_token", "callback_query_id", "inline_query_id",
    "inline_message_id", "parse_mode", "language_code", "next_offset", "ip_address", "file_id",
})
# fmt: on


class UploadedFile(NamedTuple):
    """A file part of a multipart request (e.g. setWebhook's certificate)."""

    filename: str
    content_type: str
    data: bytes


def _decode_form_value(name: str, value: str) -> Any:
    """Undo PTB's JSON encoding of a form value; plain-string parameters stay as they are."""
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def read_params(request: web.Request) -> JSON:
    """Parameters from the query string and a JSON, form-urlencoded or multipart body."""
    params: JSON = {k: _decode_form_value(k, v) for k, v in request.query.items()}
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else {}
        if not isinstance(body, dict):
            raise bad_request("parameters must be a JSON object")
        return params | body
    for name, value in (await request.post()).items():
        if isinstance(value, web.FileField):
            params[name] = UploadedFile(value.filename, value.content_type, value.file.read())
        else:
            params[name] = _decode_form_value(name, str(value))
    return params


def json_response(status: int, body: JSON) -> web.Response:
    """An answer with a JSON body, non-ASCII text kept readable."""
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False), content_type="application/json")


def no_proxy_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """NO_PROXY/no_proxy values that keep loopback calls away from HTTP_PROXY/ALL_PROXY."""
    hosts = [h for name in ("NO_PROXY", "no_proxy") for h in environ.get(name, "").split(",") if h.strip()]
    value = ",".join(dict.fromkeys([*hosts, "127.0.0.1", "localhost"]))
    return {"NO_PROXY": value, "no_proxy": value}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (e.g. for start_webhook)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
