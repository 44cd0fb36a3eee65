"""Bitcoin dominance, TOTAL2 and TOTAL3 from one global-market call, CoinGecko first.

Arithmetic (documented because providers only publish shares): with T the total market cap in
USD and b, e Bitcoin's and Ether's shares in percent,
    btc_dominance = b
    total2 = T - T*b/100          (market cap without Bitcoin)
    total3 = T - T*(b + e)/100    (market cap without Bitcoin and Ether)
CoinGecko's `/global` gives T, b and e in one call. CoinPaprika's `/v1/global` gives T and b;
Ether's cap then comes from its ticker (a second call), e = 100 * cap / T.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from signals.market import MarketTotals
from signals.sources.coingecko import CoinGeckoClient
from signals.sources.coinpaprika import ETHEREUM, CoinPaprikaClient
from signals.specs.global_market import GlobalMetric
from signals.types import (
    BadPayload,
    FetchResult,
    RateLimited,
    Sample,
    SourceError,
    SourceUnavailable,
    Stale,
)

log = logging.getLogger(__name__)


def dominance_result(totals: MarketTotals, no_eth_reason: str | None = None) -> FetchResult:
    """Return `btc_dominance`, `total2` and `total3` samples, or raise on impossible shares.

    Without Ether's share, `total3` is marked stale with `no_eth_reason`.
    """
    btc, eth = totals.btc_percent, totals.eth_percent
    if not 0 < btc < 100:
        raise BadPayload(totals.provider, "btc share", f"{btc:g}% is not in (0, 100)")
    if eth is not None and not (eth >= 0 and btc + eth < 100):
        raise BadPayload(
            totals.provider, "eth share", f"{eth:g}% with Bitcoin's {btc:g}% leaves nothing"
        )
    total = totals.total_usd
    samples = [
        Sample(GlobalMetric.BTC_DOMINANCE, btc, totals.at, totals.provider),
        Sample(GlobalMetric.TOTAL2, total * (1 - btc / 100), totals.at, totals.provider),
    ]
    if eth is None:
        reason = no_eth_reason or f"{totals.provider} gave no Ether share"
        return FetchResult(samples=tuple(samples), stale=(Stale(GlobalMetric.TOTAL3, reason),))
    samples.append(
        Sample(GlobalMetric.TOTAL3, total * (1 - (btc + eth) / 100), totals.at, totals.provider)
    )
    return FetchResult(samples=tuple(samples))


class GlobalMarket:
    """The `btc_dominance`, `total2` and `total3` source: CoinGecko, else CoinPaprika.

    While CoinGecko fails, CoinPaprika is asked at most once per `fallback_interval` (its free
    tier allows few calls a month, and it updates every few minutes anyway); refreshes between
    return nothing new, so the last values stand.
    """

    def __init__(
        self,
        coingecko: CoinGeckoClient,
        coinpaprika: CoinPaprikaClient,
        *,
        name: str = "global_market",
        fallback_interval: timedelta = timedelta(minutes=5),
    ) -> None:
        self.name = name
        self._coingecko = coingecko
        self._coinpaprika = coinpaprika
        self._fallback_interval = fallback_interval
        self._last_fallback: datetime | None = None
        self._on_fallback = False

    async def fetch(self, now: datetime) -> FetchResult:
        """Refresh the three metrics from the first provider that answers sensibly."""
        try:
            result = dominance_result(await self._coingecko.global_totals())
        except SourceError as primary:
            # Said only once CoinPaprika has answered: when it fails too, the error raised names
            # both, and the poller reports that.
            fallback = await self._fallback(primary, now)
            if not self._on_fallback:
                log.warning(
                    "global market: coingecko failed (%s); using coinpaprika's figures instead",
                    primary.message,
                )
                self._on_fallback = True
            return fallback
        if self._on_fallback:
            log.info("global market: coingecko answers again")
            self._on_fallback = False
            self._last_fallback = None
        return result

    async def _fallback(self, primary: SourceError, now: datetime) -> FetchResult:
        last = self._last_fallback
        if last is not None and now - last < self._fallback_interval:
            return FetchResult()
        try:
            totals = await self._coinpaprika.global_totals()
        except SourceError as fallback:
            raise self._both_failed(primary, fallback) from fallback
        no_eth_reason = None
        try:
            eth_cap = await self._coinpaprika.market_cap(ETHEREUM)
        except SourceError as exc:
            no_eth_reason = f"coinpaprika gave no Ether market cap: {exc.message}"
        else:
            totals = replace(totals, eth_percent=100 * eth_cap / totals.total_usd)
        try:
            result = dominance_result(totals, no_eth_reason)
        except BadPayload as fallback:
            raise self._both_failed(primary, fallback) from fallback
        self._last_fallback = now
        return result

    def _both_failed(self, primary: SourceError, fallback: SourceError) -> SourceError:
        if isinstance(primary, RateLimited) and isinstance(fallback, RateLimited):
            waits = [w for w in (primary.retry_after, fallback.retry_after) if w is not None]
            return RateLimited(self.name, min(waits) if waits else None)
        return SourceUnavailable(
            self.name, f"coingecko: {primary.message}; coinpaprika: {fallback.message}"
        )
