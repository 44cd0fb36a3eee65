"""Build the live feeds from `Settings`, as each source's declaration in `signals.specs` says."""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp

from bot.settings import Settings, SettingsError
from bot.storage import Store
from signals.catalog import BadSettings, BuildContext, CatalogueError
from signals.metrics import CATALOGUE
from signals.types import Source


def build_sources(
    settings: Settings, session: aiohttp.ClientSession, store: Store
) -> Sequence[Source]:
    """Return every network source, each after the sources whose inputs it needs.

    One shared session; sources that share a client (both CoinGecko sources) share its rate
    budget. The sources the bot builds itself (the regime) are not among them.
    """
    missing = [
        f"source {spec.name} reads setting {name!r}, which Settings does not have"
        for spec in CATALOGUE.sources
        for name in spec.settings
        if name not in Settings.model_fields
    ]
    if missing:
        raise CatalogueError(missing)
    context = BuildContext(session, store)
    built = []
    for spec in CATALOGUE.build_order():
        if spec.build is None:
            continue
        try:
            built.append(spec.build(settings, context))
        except BadSettings as exc:
            raise SettingsError(str(exc)) from None
    return tuple(built)
