"""Cutting replies to Discord's limits: nothing oversize goes out, nothing written is lost."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.discord.layout import (
    EMBED_FIELDS,
    EMBED_TOTAL,
    EmbedSpec,
    Field,
    Reply,
    pack,
    split_embed,
    split_text,
)
from tests.fakes.discord_api import embed_size, message_problem

AT = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def visible(text: str) -> str:
    return re.sub(r"\s", "", text)


def as_payload(spec: EmbedSpec) -> dict[str, object]:
    """Return the JSON Discord would get for `spec`, for the fake's validator."""
    data: dict[str, object] = {
        "fields": [{"name": f.name, "value": f.value, "inline": f.inline} for f in spec.fields]
    }
    if spec.title:
        data["title"] = spec.title
    if spec.description:
        data["description"] = spec.description
    if spec.footer:
        data["footer"] = {"text": spec.footer}
    return data


texts = st.text(st.characters(codec="utf-8"), max_size=3000)
lines = st.lists(st.text(max_size=300), max_size=40).map("\n".join)
fields = st.builds(Field, name=st.text(max_size=300), value=texts | lines, inline=st.booleans())
specs = st.builds(
    EmbedSpec,
    title=st.text(max_size=400),
    description=texts | lines | st.just("x" * 9000),
    fields=st.lists(fields, max_size=60).map(tuple),
    footer=st.text(max_size=300),
)


@given(text=texts | lines, limit=st.integers(1, 2000))
def test_split_text_keeps_every_visible_character(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert all(0 < len(c) <= limit and c.strip() for c in chunks)
    assert visible("".join(chunks)) == visible(text)


def test_split_text_prefers_line_breaks() -> None:
    text = "\n".join(f"line {i:03}" for i in range(400))
    chunks = split_text(text, 2000)
    assert all(c.startswith("line ") and c.endswith(tuple("0123456789")) for c in chunks)
    assert "\n".join(chunks) == text


@settings(max_examples=150)
@given(spec=specs)
def test_split_embed_fits_every_limit_and_loses_nothing(spec: EmbedSpec) -> None:
    pages = split_embed(spec)
    for page in pages:
        payload = as_payload(page)
        assert message_problem({"embeds": [payload]}) is None, payload
        assert embed_size(payload) == page.size <= EMBED_TOTAL
    values = "".join(f.value for p in pages for f in p.fields)
    # A blank value is sent as a dash: Discord rejects blank fields.
    expected = "".join(f.value if f.value.strip() else "—" for f in spec.fields)
    assert visible(values) == visible(expected)
    description = "".join(p.description for p in pages)
    assert visible(description) == visible(spec.description)
    if pages:
        assert all(p.footer == "" for p in pages[:-1])


def test_more_than_25_fields_continue_in_a_second_embed() -> None:
    spec = EmbedSpec(
        title="Status",
        fields=tuple(Field(f"metric {i}", f"value {i}") for i in range(30)),
        timestamp=AT,
        footer="radar",
    )
    first, second = split_embed(spec)
    assert len(first.fields) == EMBED_FIELDS
    assert [f.name for f in second.fields] == [f"metric {i}" for i in range(25, 30)]
    assert (first.title, second.title) == ("Status", "")
    assert (first.timestamp, second.timestamp) == (None, AT)
    assert (first.footer, second.footer) == ("", "radar")


def test_embeds_over_6000_characters_are_split() -> None:
    spec = EmbedSpec(title="Big", fields=tuple(Field(f"f{i}", "v" * 1000) for i in range(10)))
    pages = split_embed(spec)
    assert [len(p.fields) for p in pages] == [5, 5]
    assert all(p.size <= EMBED_TOTAL for p in pages)


def test_a_long_field_value_continues_in_a_second_field() -> None:
    [page] = split_embed(EmbedSpec(fields=(Field("Notes", "word " * 400),)))
    assert [f.name for f in page.fields] == ["Notes", "Notes (cont.)"]
    assert all(len(f.value) <= 1024 for f in page.fields)


def test_blank_names_and_values_are_filled() -> None:
    [page] = split_embed(EmbedSpec(fields=(Field(" ", ""),)))
    assert page.fields == (Field("—", "—"),)


@settings(max_examples=100)
@given(text=texts, embeds=st.lists(specs, max_size=4).map(tuple))
def test_pack_makes_messages_discord_accepts(text: str, embeds: tuple[EmbedSpec, ...]) -> None:
    messages = pack(Reply(text, embeds))
    for message in messages:
        payload = {
            "content": message.content,
            "embeds": [as_payload(e) for e in message.embeds],
        }
        assert message_problem(payload) is None
    assert visible("".join(m.content for m in messages)) == visible(text)
    sent = [e for m in messages for e in m.embeds]
    assert sent == [page for spec in embeds for page in split_embed(spec)]


def test_pack_rides_the_first_embeds_on_the_last_text_chunk() -> None:
    messages = pack(
        Reply("a" * 2500, tuple(EmbedSpec(title=f"e{i}", description="d" * 900) for i in range(12)))
    )
    assert [len(m.content) for m in messages] == [2000, 500, 0]
    # 6,000 embed characters at most per message: six 902-character embeds, then the rest.
    assert [len(m.embeds) for m in messages] == [0, 6, 6]
