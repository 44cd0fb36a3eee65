"""The `risk_on` source: scores the regime from the store's latest values, never the network."""

from __future__ import annotations

from datetime import datetime

from bot.model.regime import (
    DOMINANCE,
    FALLING_OVER,
    HISTORY_WINDOW,
    METRIC,
    SOURCE,
    assess,
    to_detail,
)
from bot.storage import Store, StoreUnavailable
from signals.types import FetchResult, Sample, SourceUnavailable, Stale


async def dominance_reference(store: Store, now: datetime) -> tuple[datetime, float] | None:
    """Return the value to call dominance falling against: a week old, else the oldest there is.

    The newest sample between eight and seven days old wins, so a week is compared with a week;
    without one, the oldest sample of the past week stands in (`assess` wants it a day old).
    Two one-row queries: the regime polls every minute and must not read a week of samples.
    """
    week_old = await store.edge_sample(
        DOMINANCE, now - HISTORY_WINDOW, now - FALLING_OVER, newest=True
    )
    if week_old is not None:
        return week_old
    return await store.edge_sample(DOMINANCE, now - FALLING_OVER, now, newest=False)


class RegimeSource:
    """The `risk_on` source: reads the store, never the network."""

    def __init__(self, store: Store, *, name: str = "regime") -> None:
        self.name = name
        self._store = store

    async def fetch(self, now: datetime) -> FetchResult:
        """Score the regime from the latest stored values."""
        try:
            latest = await self._store.latest_values()
            reference = await dominance_reference(self._store, now)
        except StoreUnavailable as exc:
            raise SourceUnavailable(self.name, f"cannot read the store: {exc}") from exc
        regime = assess(latest, reference, now)
        if regime.known == 0:
            return FetchResult(stale=(Stale(METRIC, "no component has a fresh value yet"),))
        unknown = len(regime.readings) - regime.known
        sample = Sample(
            METRIC,
            float(regime.score),
            now,
            SOURCE,
            to_detail(regime),
            # Every unknown component might agree: the score is at least this, at most that.
            bounds=(float(regime.score), float(regime.score + unknown)),
        )
        return FetchResult(samples=(sample,))
