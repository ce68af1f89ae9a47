"""A Telegram Bot API stand-in for tests: an aiohttp server on 127.0.0.1 reached over real HTTP.

    async with BotApiStandin() as api:
        app = ApplicationBuilder().token(api.token).base_url(api.base_url).build()

It is strict like Telegram (HTML entities, 4096 characters, "message is not modified", 64-byte
callback data, 409 for getUpdates while a webhook is set), records every call (`calls`, `wait_for`),
builds and injects realistic updates, and injects faults (`fail_next`, `set_fault_rate`).

Faults: 400 (a refusal, "Bad Request: injected fault"), 429 (with retry_after), 500, 502 (nginx's HTML
page) and "drop" (the connection closed before the call is processed) leave nothing behind; "slow"
processes the call and answers after `delay` (past the client's timeout: the message WAS sent);
"drop_after" processes the call and closes the connection without an answer; "stall" answers nothing
for `delay`, then closes the connection without processing the call. `release()` ends every pending
"slow" or "stall" wait at once. Long runs call `forget()` between rounds to drop what was recorded,
and `add_listener` to see each call as it settles.

Setup a test needs: run the stand-in and the application on the same event loop; bypass proxies for
loopback (`monkeypatch.setenv` each item of `no_proxy_env()` before building the application); set
PTB_TIMEDELTA=1 when warnings are errors and a test injects 429s (PTB 22.x warns while building every
RetryAfter otherwise); stop the application before the stand-in (stopping wakes pending long polls).
Injected updates are queued for getUpdates while no webhook is set; in webhook mode, deliver them with
`post_to_webhook`. PTB sends form-urlencoded bodies with JSON-encoded values (multipart with files);
JSON bodies are accepted too. MarkdownV2 text is not validated.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import json
import os
import random
import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from aiohttp import ClientSession, web

JSON = dict[str, Any]
Fault = Literal[400, 429, 500, 502, "slow", "drop", "drop_after", "stall"]

DEFAULT_TOKEN = "123456789:AAStandin-token_for_tests_0123456789"
USER_ID = 1001
FIRST_NAME = "Sara"
GROUP_ID = -1001234567890
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_INLINE_RESULTS = 50
SEND_METHODS = frozenset(
    {"sendMessage", "editMessageText", "sendDocument", "sendChatAction", "answerCallbackQuery", "answerInlineQuery"}
)
# Form values that are plain strings; every other form value is JSON-encoded by PTB.
# fmt: off
_STRING_PARAMS = frozenset({
    "text", "caption", "query", "url", "secret_token", "callback_query_id", "inline_query_id",
    "inline_message_id", "parse_mode", "language_code", "action", "next_offset", "ip_address",
})
_CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
})
# fmt: on
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)


class ApiError(Exception):
    """An error answer: HTTP status, Telegram's description and optional response parameters."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


def bad_request(description: str) -> ApiError:
    """A 400 answer with Telegram's "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {description}")


class UploadedFile(NamedTuple):
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


class Injected(NamedTuple):
    """An injected update and its id."""

    update: JSON
    update_id: int


@dataclass
class Call:
    """One recorded request; `status` stays None while pending and when never answered."""

    method: str
    params: JSON
    received: float  # time.monotonic()
    fault: Fault | None = None
    status: int | None = None
    response: JSON | None = None  # the answered JSON body (None for a dropped call or the 502 HTML page)


@dataclass
class SentMessage:
    """A message the bot sent, kept to validate later edits and to build replies and callbacks."""

    chat_id: int
    message_id: int
    text: str  # as sent: HTML source when parse_mode is HTML; the caption for documents
    parse_mode: str | None
    reply_markup: JSON | None
    reply_to_message_id: int | None
    message: JSON  # the Message JSON, updated in place by edits


@dataclass(frozen=True)
class _FaultRule:
    kind: Fault
    retry_after: int
    delay: float


@dataclass(frozen=True)
class _FaultRate:
    rate: float
    kinds: tuple[Fault, ...]
    methods: frozenset[str]
    retry_after: int
    delay: float
    random: random.Random


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION = re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{5,32}")


def text_entities(text: str) -> list[JSON]:
    """Detect bot_command and mention entities the way Telegram clients do (UTF-16 offsets)."""
    found = [("bot_command", m) for m in _COMMAND.finditer(text)]
    found += [("mention", m) for m in _MENTION.finditer(text)]
    return [
        {"type": kind, "offset": utf16_len(text[: m.start()]), "length": utf16_len(m[0])}
        for kind, m in sorted(found, key=lambda item: item[1].start())
    ]


_CHAR_REF = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_END_TAG = re.compile(r"</([a-zA-Z][\w-]*)\s*>")
_ATTRS = r"""(?:\s+[a-zA-Z][\w-]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>]+))?)*"""
_START_TAG = re.compile(rf"<([a-zA-Z][\w-]*)({_ATTRS})\s*/?>")
_ATTR = re.compile(r"""([a-zA-Z][\w-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>]+)))?""")
_TAG_NAME = re.compile(r"</?([^\s>/]*)")
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# fmt: off
_TAG_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
# fmt: on


def _tag_entity(name: str, attrs: dict[str, str], inside_pre: JSON | None) -> JSON | None:
    """The entity a start tag opens (None for <code class="language-x"> inside <pre>)."""
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise ValueError('Tag "span" must have class "tg-spoiler"')
    if name == "a":
        return {"type": "text_link", "url": attrs["href"]} if attrs.get("href") else {"type": "url"}
    if name == "tg-emoji":
        if not attrs.get("emoji-id"):
            raise ValueError('Tag "tg-emoji" must have attribute "emoji-id"')
        return {"type": "custom_emoji", "custom_emoji_id": attrs["emoji-id"]}
    if name == "code" and inside_pre is not None and attrs.get("class", "").startswith("language-"):
        inside_pre["language"] = attrs["class"].removeprefix("language-")
        return None
    if name == "blockquote" and "expandable" in attrs:
        return {"type": "expandable_blockquote"}
    return {"type": _TAG_TYPES[name]}


def parse_html(source: str) -> tuple[str, list[JSON]]:
    """Parse Telegram HTML into plain text and entities; raise ApiError like Telegram on bad markup."""
    out: list[str] = []
    entities: list[JSON] = []
    stack: list[tuple[str, JSON | None, int]] = []  # tag name, entity, UTF-16 start
    offset = 0  # UTF-16 length of the text so far
    i = 0

    def fail(message: str) -> ApiError:
        return bad_request(f"can't parse entities: {message} at byte offset {len(source[:i].encode())}")

    while i < len(source):
        char, end = source[i], i + 1
        if char == "&":
            ref = _CHAR_REF.match(source, i)
            code = int(ref[2] or ref[3], 10 if ref[2] else 16) if ref and not ref[1] else 0
            if ref is None or code > 0x10FFFF:
                raise fail("Character entity expected")
            char, end = _NAMED_REFS[ref[1]] if ref[1] else chr(code), ref.end()
        elif char == "<":
            if closing := _END_TAG.match(source, i):
                name = closing[1].lower()
                if not stack:
                    raise fail(f'Unexpected end tag "</{name}>"')
                if stack[-1][0] != name:
                    raise fail(f'Unmatched end tag, expected "</{stack[-1][0]}>", found "</{name}>"')
                _, entity, start = stack.pop()
                if entity is not None and offset > start:
                    entities.append({**entity, "offset": start, "length": offset - start})
                i = closing.end()
                continue
            opening = _START_TAG.match(source, i)
            name = (opening[1] if opening else _TAG_NAME.match(source, i)[1]).lower()  # type: ignore[index]
            if name not in _TAG_TYPES:
                raise fail(f'Unsupported start tag "{name}"')
            if not opening:
                raise fail("Unclosed start tag")
            attrs = {a.lower(): html.unescape(v1 or v2 or v3) for a, v1, v2, v3 in _ATTR.findall(opening[2])}
            pre = next((e for n, e, _ in reversed(stack) if n == "pre"), None)
            try:
                stack.append((name, _tag_entity(name, attrs, pre), offset))
            except ValueError as error:
                raise fail(str(error)) from None
            i = opening.end()
            continue
        out.append(char)
        offset += utf16_len(char)
        i = end
    if stack:
        raise bad_request(f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1][0]}\"")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _formatted(text: Any, parse_mode: Any, limit: int, *, caption: bool = False) -> tuple[str, list[JSON]]:
    """Validate a text or caption like Telegram; return the plain text and its entities."""
    mode = str(parse_mode or "").lower()
    if mode not in ("", "html", "markdown", "markdownv2"):
        raise bad_request("unsupported parse_mode")
    source = "" if text is None else str(text)
    plain, entities = parse_html(source) if mode == "html" else (source, [])
    if not plain.strip() and not caption:
        raise bad_request("message text is empty")
    if len(plain) > limit:
        raise bad_request("message caption is too long" if caption else "message is too long")
    return plain, entities


def _check_markup(markup: Any) -> JSON | None:
    """Validate reply_markup; callback_data must be 1-64 bytes."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
    return markup


def _decode_form_value(name: str, value: str) -> Any:
    """Undo PTB's JSON encoding of a form value; plain-string parameters stay as they are."""
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def _read_params(request: web.Request) -> JSON:
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


def _error_body(status: int, description: str, parameters: JSON | None = None) -> JSON:
    body: JSON = {"ok": False, "error_code": status, "description": description}
    return body | {"parameters": parameters} if parameters else body


def _json_response(status: int, body: JSON) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False), content_type="application/json")


class BotApiStandin:
    """A local Bot API server for one bot token; use as `async with BotApiStandin() as api:`."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        username: str = "pasokh_test_bot",
        first_name: str = "Pasokh",
        bot_id: int | None = None,
        can_read_all_group_messages: bool = False,
        supports_inline_queries: bool = True,
        port: int = 0,
        last_update_id: int = 100_000,
    ) -> None:
        self.token = token
        self._requested_port = port
        self.bot_user: JSON = {
            "id": bot_id if bot_id is not None else int(token.split(":", maxsplit=1)[0]),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self.me: JSON = self.bot_user | {
            "can_join_groups": True,
            "can_read_all_group_messages": can_read_all_group_messages,
            "supports_inline_queries": supports_inline_queries,
        }
        self.webhook: JSON | None = None  # the parameters of the active setWebhook
        self._calls: list[Call] = []
        self._updates: list[JSON] = []
        self._update_id = last_update_id  # a restarted Bot API continues the numbering
        self._allowed_updates: set[str] = set()
        self._poll_generation = 0
        self._chats: dict[int, JSON] = {}
        self._messages: dict[tuple[int, int], JSON] = {}  # every message, by (chat id, message id)
        self._sent: dict[tuple[int, int], SentMessage] = {}  # the bot's messages
        self._last_message_id: dict[int, int] = {}
        self._open_queries: set[str] = set()  # callback and inline query ids not answered yet
        self._serial = 0
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._fault_queue: dict[str, list[_FaultRule]] = {}
        self._fault_rate: _FaultRate | None = None
        self._tick = asyncio.Event()  # set and replaced whenever calls or updates change
        self._closed = asyncio.Event()
        self._release = asyncio.Event()  # set (and replaced) by release(): pending slow answers go now
        self._listeners: list[Callable[[Call], None]] = []
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._handlers: dict[str, Callable[[JSON], Any]] = {
            "getMe": lambda _: self.me,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "sendDocument": self._send_document,
            "sendChatAction": self._send_chat_action,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": lambda p: self.commands(p.get("scope"), p.get("language_code") or ""),
            "deleteMyCommands": self._delete_my_commands,
        }
        self._canonical = {name.lower(): name for name in [*self._handlers, "getUpdates"]}

    # Lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1: on the port given to the constructor, else on a free one."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self._requested_port).start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Answer pending long polls and slow calls at once, then close the server."""
        self._closed.set()
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiStandin:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if not self._port:
            raise RuntimeError("the stand-in is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The value for ApplicationBuilder.base_url (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}/bot"

    # Recorded calls and state

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls, optionally of one method, oldest first."""
        return [c for c in self._calls if method is None or c.method == method]

    def sent_messages(self, chat_id: int | None = None) -> list[SentMessage]:
        """The bot's messages in sending order (current state, after edits), optionally of one chat."""
        return [s for s in self._sent.values() if chat_id is None or s.chat_id == chat_id]

    def commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """The commands setMyCommands stored for a scope (default scope when None) and language."""
        return self._commands.get(self._commands_key(scope, language_code), [])

    async def wait_for(
        self,
        what: str | Callable[[Call], bool],
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 (the failure message lists the recorded calls)
    ) -> list[Call]:
        """Wait until `count` calls match a method name or predicate; return all matching calls."""
        match = (lambda c: c.method == what) if isinstance(what, str) else what

        async def matching() -> list[Call]:
            while len(found := [c for c in self._calls if match(c)]) < count:
                await self._tick.wait()
            return found

        try:
            return await asyncio.wait_for(matching(), timeout)
        except TimeoutError:
            recorded = "\n".join(
                f"  {c.method} status={c.status} fault={c.fault} params={str(c.params)[:200]}" for c in self._calls
            )
            raise AssertionError(
                f"timed out after {timeout}s waiting for {count} call(s) matching {what!r}; "
                f"recorded calls:\n{recorded or '  (none)'}"
            ) from None

    def add_listener(self, listener: Callable[[Call], None]) -> None:
        """Call `listener(call)` as each call settles: processed, faulted or dropped (not pending polls)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Call], None]) -> None:
        self._listeners.remove(listener)

    def forget(self) -> None:
        """Drop recorded calls, stored messages and sent messages (chats and queued updates stay).

        For long runs between rounds, while no call is in flight: a forgotten message cannot be
        replied to, edited or pressed any more.
        """
        self._calls.clear()
        self._messages.clear()
        self._sent.clear()
        self._open_queries.clear()

    def _settled(self, call: Call) -> None:
        self._notify()
        for listener in list(self._listeners):
            listener(call)

    # Fault injection

    def release(self) -> None:
        """Let every pending "slow" or "stall" call finish now."""
        self._release.set()
        self._release = asyncio.Event()

    async def _wait(self, delay: float) -> None:
        """Wait `delay` seconds, or less when the stand-in stops or `release()` is called."""
        waits = [asyncio.ensure_future(self._closed.wait()), asyncio.ensure_future(self._release.wait())]
        try:
            await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    def fail_next(self, method: str, kind: Fault, count: int = 1, *, retry_after: int = 1, delay: float = 1.0) -> None:
        """Answer the next `count` calls of `method` with a fault (see the module's docstring)."""
        self._fault_queue.setdefault(method, []).extend([_FaultRule(kind, retry_after, delay)] * count)

    def set_fault_rate(
        self,
        rate: float,
        kinds: Iterable[Fault] = (429, 500, 502),
        seed: int | None = None,
        *,
        methods: Iterable[str] = SEND_METHODS,
        retry_after: int = 1,
        delay: float = 1.0,
    ) -> None:
        """Fault a random share `rate` of calls to `methods` with one of `kinds` (0 switches off)."""
        args = (rate, tuple(kinds), frozenset(methods), retry_after, delay, random.Random(seed))
        self._fault_rate = _FaultRate(*args) if rate > 0 else None

    def _pick_fault(self, method: str) -> _FaultRule | None:
        """The queued fault for this call, else a random one when a fault rate applies."""
        if queue := self._fault_queue.get(method):
            return queue.pop(0)
        if (faults := self._fault_rate) and method in faults.methods and faults.random.random() < faults.rate:
            return _FaultRule(faults.random.choice(faults.kinds), faults.retry_after, faults.delay)
        return None

    # HTTP

    def _notify(self) -> None:
        self._tick.set()
        self._tick = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", request.path)
        if path is None:
            return _json_response(404, _error_body(404, "Not Found"))
        method = self._canonical.get(path[2].lower(), path[2])
        body_error = None
        try:
            params = await _read_params(request)
        except ApiError as error:
            params, body_error = {}, error
        except ValueError as error:
            params, body_error = {}, bad_request(f"can't parse request body: {error}")
        call = Call(method, params, time.monotonic())
        self._calls.append(call)
        rule = None
        try:
            if path[1] != self.token:
                raise ApiError(401, "Unauthorized")
            if method not in self._canonical.values():
                raise ApiError(404, "Not Found: method not found")
            if body_error is not None:
                raise body_error
            rule = self._pick_fault(method)
            call.fault = rule.kind if rule else None
            if rule is not None and rule.kind == "stall":  # nothing done; no answer, then a closed connection
                await self._wait(rule.delay)
                return self._drop(call, request)
            if rule is not None and rule.kind in ("drop", 400, 429, 500, 502):
                return self._fault_response(rule, call, request)
            result = await self._get_updates(params) if method == "getUpdates" else self._handlers[method](params)
            call.status, call.response = 200, {"ok": True, "result": result}
        except ApiError as error:
            call.status = error.status
            call.response = _error_body(error.status, error.description, error.parameters)
        self._settled(call)
        if rule is not None and rule.kind == "drop_after":  # the call took effect; its answer never comes
            return self._drop(call, request, settled=True)
        if rule is not None and rule.kind == "slow":  # the call took effect; its answer comes late
            await self._wait(rule.delay)
        return _json_response(call.status, call.response)

    def _drop(self, call: Call, request: web.Request, *, settled: bool = False) -> web.Response:
        """Close the connection without an answer."""
        if not settled:
            self._settled(call)
        assert request.transport is not None
        request.transport.close()
        return web.Response()  # never written: the connection is gone

    def _fault_response(self, rule: _FaultRule, call: Call, request: web.Request) -> web.Response:
        """Answer a faulted call without processing it: close the connection, or an error status."""
        if rule.kind == "drop":
            return self._drop(call, request)
        if rule.kind == 502:  # nginx's page, not JSON, as Telegram's front end sends it
            call.status = 502
            self._settled(call)
            return web.Response(status=502, text=_BAD_GATEWAY_PAGE, content_type="text/html")
        if rule.kind == 429:
            retry = rule.retry_after
            error = ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        elif rule.kind == 400:
            error = bad_request("injected fault")
        else:
            error = ApiError(500, "Internal Server Error")
        call.status, call.response = error.status, _error_body(error.status, error.description, error.parameters)
        self._settled(call)
        return _json_response(call.status, call.response)

    async def post_to_webhook(
        self,
        url: str,
        update: JSON,
        secret_token: str | None = None,
        content_type: str = "application/json",
    ) -> int:
        """POST an update to the bot's webhook server like Telegram; return the HTTP status."""
        headers = {"Content-Type": content_type} | ({SECRET_HEADER: secret_token} if secret_token is not None else {})
        async with ClientSession() as session, session.post(url, data=json.dumps(update), headers=headers) as response:
            return response.status

    # Updates: polling and webhook

    async def _get_updates(self, params: JSON) -> list[JSON]:
        """Long poll: confirm updates below `offset`, then wait up to `timeout` for new ones."""
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._notify()  # the pending long poll is visible to wait_for
        offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 100)
        if params.get("allowed_updates") is not None:
            self._allowed_updates = set(params["allowed_updates"])
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        deadline = asyncio.get_running_loop().time() + float(params.get("timeout") or 0)
        while True:
            ready = [u for u in self._updates if self._wanted(u)][: max(1, min(limit, 100))]
            remaining = deadline - asyncio.get_running_loop().time()
            if ready or remaining <= 0 or self._closed.is_set():
                return ready
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tick.wait(), remaining)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )

    def _wanted(self, update: JSON) -> bool:
        kind = next(k for k in update if k != "update_id")
        return not self._allowed_updates or kind in self._allowed_updates

    def _set_webhook(self, params: JSON) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return self._delete_webhook(params)
        if not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = params
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = None
        return True

    def _webhook_info(self, _: JSON) -> JSON:
        hook = self.webhook or {}
        info: JSON = {
            "url": hook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
            "max_connections": hook.get("max_connections", 40),
        }
        return info | ({"allowed_updates": hook["allowed_updates"]} if hook.get("allowed_updates") else {})

    # Messages

    def _chat(self, chat_id: Any) -> JSON:
        """A known chat by id or @username, or a plausible one for an unknown numeric id."""
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            found = next((c for c in self._chats.values() if f"@{c.get('username')}" == chat_id), None)
            if found is None:
                raise bad_request("chat not found")
            return found
        try:
            number = int(chat_id)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        if number not in self._chats:
            kind = "private" if number > 0 else "supergroup" if str(number).startswith("-100") else "group"
            self._chats[number] = {"id": number, "type": kind} | (
                {"first_name": "User"} if kind == "private" else {"title": "Chat"}
            )
        return self._chats[number]

    def _new_message(self, chat: JSON, sender: JSON, **content: Any) -> JSON:
        """Store a message with the chat's next id; None or empty content fields are left out."""
        message_id = self._last_message_id[chat["id"]] = self._last_message_id.get(chat["id"], 0) + 1
        message = {"message_id": message_id, "from": sender, "chat": chat, "date": int(time.time())}
        message |= {k: v for k, v in content.items() if v not in (None, [], "")}
        self._messages[chat["id"], message_id] = message
        return message

    def _reply_target(self, chat_id: int, params: JSON) -> JSON | None:
        """The stored message a send replies to; 400 when it is missing and that is not allowed."""
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id", params.get("reply_to_message_id"))
        if message_id is None:
            return None
        target_chat = self._chat(reply["chat_id"])["id"] if reply.get("chat_id") is not None else chat_id
        target = self._messages.get((target_chat, int(message_id)))
        if target is None and not reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply")):
            raise bad_request("message to be replied not found")
        return None if target is None else {k: v for k, v in target.items() if k != "reply_to_message"}

    def _store_sent(self, params: JSON, text: str, message: JSON) -> JSON:
        reply = message.get("reply_to_message")
        self._sent[message["chat"]["id"], message["message_id"]] = SentMessage(
            chat_id=message["chat"]["id"],
            message_id=message["message_id"],
            text=text,
            parse_mode=params.get("parse_mode"),
            reply_markup=params.get("reply_markup"),
            reply_to_message_id=reply["message_id"] if reply else None,
            message=message,
        )
        return message

    @staticmethod
    def _shown_markup(markup: JSON | None) -> JSON | None:
        """Telegram shows only inline keyboards in the returned Message."""
        return markup if markup and "inline_keyboard" in markup else None

    def _send_message(self, params: JSON) -> JSON:
        chat = self._chat(params.get("chat_id"))
        plain, entities = _formatted(params.get("text"), params.get("parse_mode"), MAX_TEXT)
        markup = _check_markup(params.get("reply_markup"))
        message = self._new_message(
            chat,
            self.bot_user,
            reply_to_message=self._reply_target(chat["id"], params),
            text=plain,
            entities=entities,
            reply_markup=self._shown_markup(markup),
        )
        return self._store_sent(params, str(params["text"]), message)

    def _send_document(self, params: JSON) -> JSON:
        chat = self._chat(params.get("chat_id"))
        document = params.get("document")
        if isinstance(document, UploadedFile):
            file: JSON = {
                "file_name": document.filename,
                "mime_type": document.content_type,
                "file_size": len(document.data),
            }
        elif isinstance(document, str) and document:
            file = {}
        else:
            raise bad_request("there is no document in the request")
        caption, entities = _formatted(params.get("caption"), params.get("parse_mode"), MAX_CAPTION, caption=True)
        markup = _check_markup(params.get("reply_markup"))
        self._serial += 1
        message = self._new_message(
            chat,
            self.bot_user,
            reply_to_message=self._reply_target(chat["id"], params),
            document=file | {"file_id": f"standin-document-{self._serial}", "file_unique_id": f"doc{self._serial}"},
            caption=caption,
            caption_entities=entities,
            reply_markup=self._shown_markup(markup),
        )
        return self._store_sent(params, str(params.get("caption") or ""), message)

    def _edit_message_text(self, params: JSON) -> JSON | bool:
        plain, entities = _formatted(params.get("text"), params.get("parse_mode"), MAX_TEXT)
        markup = _check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        key = (self._chat(params.get("chat_id"))["id"], int(params.get("message_id") or 0))
        sent = self._sent.get(key)
        if sent is None:
            raise bad_request("message can't be edited" if key in self._messages else "message to edit not found")
        message = sent.message
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        if (plain, entities, markup) == (message["text"], message.get("entities", []), sent.reply_markup):
            raise bad_request(_NOT_MODIFIED)
        message |= {"text": plain, "entities": entities, "edit_date": int(time.time())}
        if not entities:
            del message["entities"]
        message.pop("reply_markup", None)
        if shown := self._shown_markup(markup):
            message["reply_markup"] = shown
        sent.text, sent.parse_mode, sent.reply_markup = str(params["text"]), params.get("parse_mode"), markup
        return message

    def _send_chat_action(self, params: JSON) -> bool:
        self._chat(params.get("chat_id"))
        if params.get("action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _answer_query(self, query_id: Any) -> None:
        if query_id not in self._open_queries:
            raise bad_request(_QUERY_INVALID)
        self._open_queries.discard(query_id)

    def _answer_callback_query(self, params: JSON) -> bool:
        if len(str(params.get("text") or "")) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self._answer_query(params.get("callback_query_id"))
        return True

    def _answer_inline_query(self, params: JSON) -> bool:
        results = params.get("results") or []
        if len(results) > MAX_INLINE_RESULTS:
            raise bad_request("RESULTS_TOO_MUCH")
        ids = [r.get("id") for r in results]
        if len(set(ids)) != len(ids):
            raise bad_request("RESULT_ID_DUPLICATE")
        self._answer_query(params.get("inline_query_id"))
        return True

    @staticmethod
    def _commands_key(scope: JSON | None, language_code: str) -> tuple[str, str]:
        return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code

    def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands") or []
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[self._commands_key(params.get("scope"), params.get("language_code") or "")] = commands
        return True

    def _delete_my_commands(self, params: JSON) -> bool:
        self._commands.pop(self._commands_key(params.get("scope"), params.get("language_code") or ""), None)
        return True

    # Building and injecting updates

    def _inject(self, kind: str, payload: JSON) -> Injected:
        """Number an update; queue it for getUpdates unless a webhook is set."""
        self._update_id += 1
        update = {"update_id": self._update_id, kind: copy.deepcopy(payload)}
        if self.webhook is None:
            self._updates.append(update)
        self._notify()
        return Injected(update, self._update_id)

    def _user(self, user_id: int, first_name: str) -> JSON:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "username": f"user{user_id}",
            "language_code": "fa",
        }

    def _user_chat(self, chat_id: int | None, user: JSON, title: str) -> JSON:
        """The private chat with `user` when chat_id is None, else the group (supergroup for -100...)."""
        if chat_id is None:
            chat = {"id": user["id"], "type": "private", "first_name": user["first_name"], "username": user["username"]}
        elif chat_id < 0:
            chat = {"id": chat_id, "type": "supergroup" if str(chat_id).startswith("-100") else "group", "title": title}
        else:
            raise ValueError("a group chat id is negative; leave chat_id None for a private chat")
        self._chats[chat["id"]] = chat
        return chat

    def _stored(self, chat_id: int, message_id: int) -> JSON:
        if (chat_id, message_id) not in self._messages:
            raise KeyError(f"no stored message {message_id} in chat {chat_id}")
        return self._messages[chat_id, message_id]

    def _text_message(
        self,
        text: str,
        chat_id: int | None,
        user_id: int,
        first_name: str,
        title: str,
        entities: list[JSON] | None,
        reply_to: JSON | None = None,
    ) -> Injected:
        user = self._user(user_id, first_name)
        message = self._new_message(
            self._user_chat(chat_id, user, title),
            user,
            reply_to_message=reply_to,
            text=text,
            entities=text_entities(text) if entities is None else entities,
        )
        return self._inject("message", message)

    def private_message(
        self, text: str, *, user_id: int = USER_ID, first_name: str = FIRST_NAME, entities: list[JSON] | None = None
    ) -> Injected:
        """A text message in the user's private chat (entities detected when None)."""
        return self._text_message(text, None, user_id, first_name, "", entities)

    def group_message(
        self,
        text: str,
        *,
        chat_id: int = GROUP_ID,
        title: str = "Test group",
        user_id: int = USER_ID,
        first_name: str = FIRST_NAME,
        entities: list[JSON] | None = None,
    ) -> Injected:
        """A text message in a group (supergroup for ids starting -100); detects /cmd@bot and @mentions."""
        return self._text_message(text, chat_id, user_id, first_name, title, entities)

    def reply(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        user_id: int = USER_ID,
        first_name: str = FIRST_NAME,
        entities: list[JSON] | None = None,
    ) -> Injected:
        """A user's text reply to a stored message (e.g. the bot's), with reply_to_message filled."""
        target = self._stored(chat_id, message_id)
        reply_to = {k: v for k, v in target.items() if k != "reply_to_message"}
        group = None if target["chat"]["type"] == "private" else chat_id
        return self._text_message(text, group, user_id, first_name, target["chat"].get("title", ""), entities, reply_to)

    def edited_message(
        self, chat_id: int, message_id: int, text: str, *, entities: list[JSON] | None = None
    ) -> Injected:
        """The user's edit of a stored message they sent."""
        message = self._stored(chat_id, message_id)
        message |= {"text": text, "edit_date": int(time.time())}
        message.pop("entities", None)
        if found := text_entities(text) if entities is None else entities:
            message["entities"] = found
        return self._inject("edited_message", dict(message))

    def callback_query(
        self, chat_id: int, message_id: int, data: str, *, user_id: int = USER_ID, first_name: str = FIRST_NAME
    ) -> Injected:
        """A press of an inline button with `data` under a stored bot message."""
        message = self._stored(chat_id, message_id)
        self._serial += 1
        query_id = f"{self._serial}{user_id}"
        self._open_queries.add(query_id)
        payload = {
            "id": query_id,
            "from": self._user(user_id, first_name),
            "message": dict(message),
            "chat_instance": str(abs(chat_id) * 7 + 3),
            "data": data,
        }
        return self._inject("callback_query", payload)

    def inline_query(
        self,
        query: str,
        *,
        user_id: int = USER_ID,
        first_name: str = FIRST_NAME,
        offset: str = "",
        chat_type: str = "sender",
    ) -> Injected:
        """An inline query "@bot query" typed by a user."""
        self._serial += 1
        query_id = f"{self._serial}{user_id}"
        self._open_queries.add(query_id)
        user = self._user(user_id, first_name)
        payload = {"id": query_id, "from": user, "query": query, "offset": offset, "chat_type": chat_type}
        return self._inject("inline_query", payload)

    def sticker_message(
        self, *, chat_id: int | None = None, user_id: int = USER_ID, first_name: str = FIRST_NAME, emoji: str = "👍"
    ) -> Injected:
        """A sticker in the private chat (chat_id None) or a group."""
        self._serial += 1
        sticker = {
            "file_id": f"standin-sticker-{self._serial}",
            "file_unique_id": f"stk{self._serial}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        user = self._user(user_id, first_name)
        return self._inject(
            "message", self._new_message(self._user_chat(chat_id, user, "Test group"), user, sticker=sticker)
        )

    def photo_message(
        self,
        *,
        caption: str | None = None,
        chat_id: int | None = None,
        user_id: int = USER_ID,
        first_name: str = FIRST_NAME,
    ) -> Injected:
        """A photo (two sizes, optional caption) in the private chat (chat_id None) or a group."""
        self._serial += 1
        sizes = [
            {
                "file_id": f"standin-photo-{self._serial}-{w}",
                "file_unique_id": f"ph{self._serial}{w}",
                "width": w,
                "height": w * 3 // 4,
                "file_size": w * 40,
            }
            for w in (90, 800)
        ]
        user = self._user(user_id, first_name)
        chat = self._user_chat(chat_id, user, "Test group")
        return self._inject("message", self._new_message(chat, user, photo=sizes, caption=caption))


_BAD_GATEWAY_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
)
