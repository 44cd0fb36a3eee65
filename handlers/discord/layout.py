"""Cut replies into Discord messages and embeds that stay inside Discord's documented limits."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

CONTENT_LIMIT = 2000
EMBEDS_PER_MESSAGE = 10
EMBED_TOTAL = 6000
EMBED_FIELDS = 25
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
# Discord allows 2,048 for a footer; ours stay short so every embed keeps room for its fields.
FOOTER_LIMIT = 256

_ELLIPSIS = "…"
# Discord rejects a field whose name or value is blank.
_BLANK = "—"


@dataclass(frozen=True, slots=True)
class Field:
    """One embed field."""

    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class EmbedSpec:
    """An embed before it is cut to size and handed to discord.py."""

    title: str = ""
    description: str = ""
    fields: tuple[Field, ...] = ()
    colour: int | None = None
    timestamp: datetime | None = None
    footer: str = ""
    # An image shown in the embed: `attachment://<name>` for a file sent with the message.
    image: str = ""

    @property
    def size(self) -> int:
        """Return the characters Discord counts toward an embed's 6,000."""
        named = sum(len(f.name) + len(f.value) for f in self.fields)
        return len(self.title) + len(self.description) + len(self.footer) + named

    @property
    def empty(self) -> bool:
        return not (self.title or self.description or self.fields)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message; an embed shows it as `attachment://<filename>`."""

    filename: str
    data: bytes

    @property
    def url(self) -> str:
        return f"attachment://{self.filename}"


@dataclass(frozen=True, slots=True)
class Reply:
    """What a command answers: text, embeds, files, and whether only the caller sees it."""

    text: str = ""
    embeds: tuple[EmbedSpec, ...] = ()
    ephemeral: bool = False
    files: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One Discord message: content, embeds and files that fit together."""

    content: str = ""
    embeds: tuple[EmbedSpec, ...] = ()
    files: tuple[Attachment, ...] = ()


def truncate(text: str, limit: int) -> str:
    """Return `text` cut to `limit` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + _ELLIPSIS


def split_text(text: str, limit: int) -> tuple[str, ...]:
    """Split `text` into non-blank chunks of at most `limit`, preferring line breaks."""
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            chunks.append(rest[:limit])
            rest = rest[limit:]
        else:
            chunks.append(rest[:cut])
            rest = rest[cut + 1 :]
    chunks.append(rest)
    return tuple(c for c in chunks if c.strip())


def _fitted_fields(fields: tuple[Field, ...]) -> list[Field]:
    fitted: list[Field] = []
    for item in fields:
        name = truncate(item.name.strip() or _BLANK, FIELD_NAME_LIMIT)
        pieces = split_text(item.value, FIELD_VALUE_LIMIT) or (_BLANK,)
        for index, piece in enumerate(pieces):
            shown = name if index == 0 else truncate(f"{name} (cont.)", FIELD_NAME_LIMIT)
            fitted.append(Field(shown, piece, item.inline))
    return fitted


def split_embed(spec: EmbedSpec) -> tuple[EmbedSpec, ...]:
    """Cut `spec` into embeds within Discord's limits, keeping every field and line.

    The first embed carries the title; a long description and any fields past 25 (or past the
    6,000-character total) continue in further embeds, and the last one carries footer and time.
    """
    title = truncate(spec.title, TITLE_LIMIT)
    footer = truncate(spec.footer, FOOTER_LIMIT)
    budget = EMBED_TOTAL - len(footer)
    pages: list[EmbedSpec] = []
    # The image goes with the title, on the first page.
    page = EmbedSpec(title=title, colour=spec.colour, image=spec.image)

    def turn() -> EmbedSpec:
        pages.append(page)
        return EmbedSpec(colour=spec.colour)

    for chunk in split_text(spec.description, DESCRIPTION_LIMIT):
        if page.description or page.fields:
            page = turn()
        page = replace(page, description=chunk)
    for item in _fitted_fields(spec.fields):
        cost = len(item.name) + len(item.value)
        if len(page.fields) == EMBED_FIELDS or page.size + cost > budget:
            page = turn()
        page = replace(page, fields=(*page.fields, item))
    if not page.empty:
        pages.append(page)
    if not pages:
        return ()
    pages[-1] = replace(pages[-1], footer=footer, timestamp=spec.timestamp)
    return tuple(pages)


def pack(reply: Reply) -> tuple[Outgoing, ...]:
    """Lay `reply` out as messages: text in 2,000-character chunks, then embeds in batches.

    A batch holds at most 10 embeds and 6,000 embed characters; the first batch rides on the last
    text chunk.
    """
    texts = list(split_text(reply.text, CONTENT_LIMIT))
    batches: list[list[EmbedSpec]] = []
    used = 0
    for spec in reply.embeds:
        for page in split_embed(spec):
            full = batches and len(batches[-1]) == EMBEDS_PER_MESSAGE
            if not batches or full or used + page.size > EMBED_TOTAL:
                batches.append([])
                used = 0
            batches[-1].append(page)
            used += page.size
    messages = [Outgoing(content=t) for t in texts]
    for batch in batches:
        if messages and not messages[-1].embeds:
            messages[-1] = replace(messages[-1], embeds=tuple(batch))
        else:
            messages.append(Outgoing(embeds=tuple(batch)))
    if reply.files:
        # Files ride with the first embeds (the ones that show them), else the first message.
        index = next((i for i, m in enumerate(messages) if m.embeds), 0)
        if not messages:
            messages.append(Outgoing())
        messages[index] = replace(messages[index], files=reply.files)
    return tuple(messages)
