"""Telegram's text formatting: UTF-16 lengths, detected entities and the strict HTML parse mode."""

from __future__ import annotations

import html
import re

from bot.testing.standin.protocol import JSON, ApiError, bad_request

_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION = re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{5,32}")
_CHAR_REF = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_END_TAG = re.compile(r"</([a-zA-Z][\w-]*)\s*>")
_ATTRS = r"""(?:\s+[a-zA-Z][\w-]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>]+))?)*"""
_START_TAG = re.compile(rf"<([a-zA-Z][\w-]*)({_ATTRS})\s*/?>")
_ATTR = re.compile(r"""([a-zA-Z][\w-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>]+)))?""")
_TAG_NAME = re.compile(r"</?([^\s>/]*)")  # always matches, if only the empty name
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# fmt: off
_TAG_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
# fmt: on


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def text_entities(text: str) -> list[JSON]:
    """Detect bot_command and mention entities the way Telegram clients do (UTF-16 offsets)."""
    found = [("bot_command", m) for m in _COMMAND.finditer(text)]
    found += [("mention", m) for m in _MENTION.finditer(text)]
    return [
        {"type": kind, "offset": utf16_len(text[: m.start()]), "length": utf16_len(m[0])}
        for kind, m in sorted(found, key=lambda item: item[1].start())
    ]


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


def _tag_name(source: str, i: int) -> str:
    """The (lower-case) name after "<" or "</" at `i`, as far as it goes."""
    found = _TAG_NAME.match(source, i)
    assert found is not None
    return found[1].lower()


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
            name = opening[1].lower() if opening else _tag_name(source, i)
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


def formatted(text: object, parse_mode: object, limit: int) -> tuple[str, list[JSON]]:
    """Validate a message text like Telegram; return the plain text and its entities.

    MarkdownV2 and Markdown are accepted unparsed.
    """
    mode = str(parse_mode or "").lower()
    if mode not in ("", "html", "markdown", "markdownv2"):
        raise bad_request("unsupported parse_mode")
    source = "" if text is None else str(text)
    plain, entities = parse_html(source) if mode == "html" else (source, [])
    if not plain.strip():
        raise bad_request("message text is empty")
    if len(plain) > limit:
        raise bad_request("message is too long")
    return plain, entities
