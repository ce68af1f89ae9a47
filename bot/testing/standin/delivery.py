"""How updates reach the bot: getUpdates long polling, setWebhook and deleteWebhook, and posting to
the bot's webhook server like Telegram.

Injected updates are queued for getUpdates while no webhook is set; in webhook mode, deliver them
with `post_to_webhook`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re

from aiohttp import ClientSession

from bot.testing.standin.protocol import JSON, SECRET_HEADER, ApiError, Handler, bad_request
from bot.testing.standin.state import StandinState

_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
_OTHER_POLL = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"


class UpdateDelivery(StandinState):
    """Long polling and webhooks."""

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

    def _delivery_methods(self) -> dict[str, Handler]:
        """The synchronous methods of this mixin by their Bot API names (getUpdates is awaited apart)."""
        return {"setWebhook": self._set_webhook, "deleteWebhook": self._delete_webhook}

    async def _get_updates(self, params: JSON) -> list[JSON]:
        """Long poll: confirm updates below `offset`, then wait up to `timeout` for new ones."""
        if self.webhook is not None:
            raise ApiError(409, _WEBHOOK_ACTIVE)
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
                raise ApiError(409, _OTHER_POLL)

    def _wanted(self, update: JSON) -> bool:
        """Whether the bot's allowed_updates let this update through."""
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
