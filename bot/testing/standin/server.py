"""The stand-in's server core: `BotApiStandin`, its lifecycle, HTTP handling and fault injection, the
recorded calls (`calls`, `wait_for`, listeners, `forget`).

The Bot API methods, update delivery and incoming updates come from the mixins in `methods`,
`delivery` and `updates`; their state is in `state`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable

from aiohttp import web

from bot.testing.standin.delivery import UpdateDelivery
from bot.testing.standin.faults import (
    BAD_GATEWAY_PAGE,
    SEND_METHODS,
    UNPROCESSED,
    Fault,
    FaultPlan,
    FaultRule,
    injected_error,
)
from bot.testing.standin.methods import BotApiMethods
from bot.testing.standin.protocol import DEFAULT_TOKEN, JSON, ApiError, Call, Handler, bad_request
from bot.testing.standin.updates import IncomingUpdates
from bot.testing.standin.wire import json_response, read_params

_PATH = re.compile(r"/bot([^/]+)/([A-Za-z]+)")
_FILE_PATH = re.compile(r"/file/bot([^/]+)/(.+)")
DOWNLOAD = "download"
"""How a file download (``GET /file/bot<token>/<file_path>``) is recorded among the calls."""


class BotApiStandin(IncomingUpdates, BotApiMethods, UpdateDelivery):
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
        super().__init__(
            token,
            username=username,
            first_name=first_name,
            bot_id=bot_id,
            can_read_all_group_messages=can_read_all_group_messages,
            supports_inline_queries=supports_inline_queries,
            last_update_id=last_update_id,
        )
        self._requested_port = port
        self._calls: list[Call] = []
        self._faults = FaultPlan()
        self._release = asyncio.Event()  # set (and replaced) by release(): pending slow answers go now
        self._listeners: list[Callable[[Call], None]] = []
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._handlers: dict[str, Handler] = self._api_methods() | self._delivery_methods()
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

    # Recorded calls

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls, optionally of one method, oldest first."""
        return [c for c in self._calls if method is None or c.method == method]

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
        """Stop calling a listener added with `add_listener`."""
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

    # Fault injection (the kinds: see `faults`)

    def fail_next(self, method: str, kind: Fault, count: int = 1, *, retry_after: int = 1, delay: float = 1.0) -> None:
        """Answer the next `count` calls of `method` with a fault."""
        self._faults.fail_next(method, kind, count, retry_after=retry_after, delay=delay)

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
        self._faults.set_rate(rate, kinds, seed, methods=methods, retry_after=retry_after, delay=delay)

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

    # HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if (file := _FILE_PATH.fullmatch(request.path)) is not None:
            return self._download(file[1], file[2])
        path = _PATH.fullmatch(request.path)
        if path is None:
            return json_response(404, ApiError(404, "Not Found").body())
        method = self._canonical.get(path[2].lower(), path[2])
        body_error = None
        try:
            params = await read_params(request)
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
            rule = self._faults.pick(method)
            call.fault = rule.kind if rule else None
            if rule is not None and rule.kind == "stall":  # nothing done; no answer, then a closed connection
                await self._wait(rule.delay)
                return self._drop(call, request)
            if rule is not None and rule.kind in UNPROCESSED:
                return self._fault_response(rule, call, request)
            status, body = 200, {"ok": True, "result": await self._result(method, params)}
        except ApiError as error:
            status, body = error.status, error.body()
        call.status, call.response = status, body
        self._settled(call)
        if rule is not None and rule.kind == "drop_after":  # the call took effect; its answer never comes
            return self._drop(call, request, settled=True)
        if rule is not None and rule.kind == "slow":  # the call took effect; its answer comes late
            await self._wait(rule.delay)
        return json_response(status, body)

    def _download(self, token: str, file_path: str) -> web.Response:
        """A file's bytes, once getFile gave its path (recorded as a call of ``DOWNLOAD``)."""
        call = Call(DOWNLOAD, {"file_path": file_path}, time.monotonic())
        self._calls.append(call)
        data = self._downloads.get(file_path) if token == self.token else None
        call.status = 200 if data is not None else 401 if token != self.token else 404
        self._settled(call)
        if data is None:
            error = ApiError(401, "Unauthorized") if token != self.token else ApiError(404, "Not Found")
            return json_response(error.status, error.body())
        return web.Response(body=data, content_type="application/octet-stream")

    async def _result(self, method: str, params: JSON) -> object:
        """Process a call: the method's result, or ApiError."""
        return await self._get_updates(params) if method == "getUpdates" else self._handlers[method](params)

    def _drop(self, call: Call, request: web.Request, *, settled: bool = False) -> web.Response:
        """Close the connection without an answer."""
        if not settled:
            self._settled(call)
        assert request.transport is not None
        request.transport.close()
        return web.Response()  # never written: the connection is gone

    def _fault_response(self, rule: FaultRule, call: Call, request: web.Request) -> web.Response:
        """Answer a faulted call without processing it: close the connection, or an error status."""
        if rule.kind == "drop":
            return self._drop(call, request)
        if rule.kind == 502:
            call.status = 502
            self._settled(call)
            return web.Response(status=502, text=BAD_GATEWAY_PAGE, content_type="text/html")
        error = injected_error(rule)
        call.status, call.response = error.status, error.body()
        self._settled(call)
        return json_response(error.status, error.body())
