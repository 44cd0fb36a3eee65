"""CoinGecko v3: the market ranking, global totals and daily history, and the sources on top.

Keyless CoinGecko allows roughly 25-30 calls a minute per address; every call from one
`CoinGeckoClient` goes through one pacer, so sources that share the client share the budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic

import aiohttp
import pandas as pd

from signals.altbtc import (
    INDEX_METRIC,
    MACD_METRIC,
    RSI_METRIC,
    altbtc_index,
    altbtc_samples,
    universe_weights,
)
from signals.asi import (
    BITCOIN,
    MIN_HISTORY,
    TOLERANCE_DAYS,
    UNIVERSE_SIZE,
    Exclusions,
    altcoin_season,
    asi_history,
    closes_frame,
    describe_universe,
    is_pegged,
    load_exclusions,
    publish,
    rank_candidates,
    reference_closes,
    reference_day,
)
from signals.history import MarketHistory
from signals.http import DEFAULT_TIMEOUT, FeedClient, HttpRefused
from signals.market import MarketCoin, MarketTotals
from signals.payload import Payload, SkipLog, is_number
from signals.types import BadPayload, FetchResult, RateLimited, Sample, SourceError, Stale
from signals.universe import PEGGED, AsiUniverse, ExcludedCoin
from signals.volume import METRIC as VOLUME_METRIC
from signals.volume import SERIES as VOLUME_SERIES
from signals.volume import seed_volumes, universe_volume, volume_ratio, window
from timing import IntervalPacer, MonotonicClock, Sleep

log = logging.getLogger(__name__)

PROVIDER = "coingecko"
DEFAULT_URL = "https://api.coingecko.com/api/v3"
KEY_HEADER = "x-cg-demo-api-key"
KEYLESS_CALLS_PER_MINUTE = 25.0
DEMO_KEY_CALLS_PER_MINUTE = 30.0
PAGE_SIZE = 250
# The keyless API serves at most a year of daily history; a year also feeds later daily indicators.
BACKFILL_DAYS = 365
# Days of stored closes behind the alt/BTC index: MACD's 34-day warm-up with its EMAs settled.
ALTBTC_DAYS = 200
# Daily points are stamped 00:00 UTC: a price seen before 01:00 UTC still stands for the close
# of the day before (a late stamp, a cached ranking); a later one is intraday, never a close.
_CLOSE_WINDOW_END = time(1, 0)
# Daily readings re-sent on every refresh, so one whose storing failed goes out again.
_RESEND_DAYS = 5
# A 429 without Retry-After holds every call this long: CoinGecko counts calls per minute.
RATE_LIMIT_HOLD = 60.0
# Coins named in one summary line; the rest are counted.
_NAMED = 5
# A back-fill reports its progress every this many coins (about 12 s at the keyless rate).
_PROGRESS_EVERY = 5


@dataclass(frozen=True, slots=True)
class DailyHistory:
    """A coin's daily closes and daily 24 h volumes (USD), by the day they close."""

    closes: Mapping[date, float]
    volumes: Mapping[date, float]


class CoinGeckoClient:
    """Typed calls to CoinGecko's public v3 API, paced to its rate limit."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        clock: MonotonicClock = monotonic,
        sleep: Sleep = asyncio.sleep,
        calls_per_minute: float | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        rate = calls_per_minute or (
            DEMO_KEY_CALLS_PER_MINUTE if api_key else KEYLESS_CALLS_PER_MINUTE
        )
        self.pacer = IntervalPacer.per_minute(rate, clock, sleep)
        self._clock = clock
        # After a 429 no call goes out before this (clock) time, whichever source asks.
        self._held_until = float("-inf")
        headers = {KEY_HEADER: api_key} if api_key else {}
        # Paced here, not in the feed, so a call that waited for its slot still meets the hold.
        self._feed = FeedClient(session, PROVIDER, base_url, headers=headers, timeout=timeout)
        self._skips = SkipLog(log)

    async def _get(self, path: str, params: dict[str, str | int] | None = None) -> Payload:
        self._check_hold()
        await self.pacer.wait()
        self._check_hold()
        try:
            body = Payload(PROVIDER, await self._feed.get_json(path, params))
            _raise_status_error(body)
        except RateLimited as exc:
            # Honour Retry-After for every source sharing this client, not only the one refused.
            wait = RATE_LIMIT_HOLD if exc.retry_after is None else exc.retry_after
            self._held_until = max(self._held_until, self._clock() + wait)
            raise RateLimited(PROVIDER, wait) from None
        return body

    def _check_hold(self) -> None:
        """Raise `RateLimited` without a call while a 429's Retry-After has not passed."""
        wait = self._held_until - self._clock()
        if wait > 0:
            raise RateLimited(PROVIDER, wait)

    async def global_totals(self) -> MarketTotals:
        """Return the market's total cap and BTC and ETH shares from `/global`."""
        data = (await self._get("/global"))["data"]
        shares = data["market_cap_percentage"]
        return MarketTotals(
            provider=PROVIDER,
            at=datetime.fromtimestamp(data["updated_at"].integer(), UTC),
            total_usd=data["total_market_cap"]["usd"].positive(),
            btc_percent=shares["btc"].percent(),
            eth_percent=shares["eth"].percent(),
        )

    async def markets(self, per_page: int = PAGE_SIZE) -> tuple[MarketCoin, ...]:
        """Return the top `per_page` coins by market cap from `/coins/markets`, one call.

        A coin without a rank, a positive price or a positive market cap is skipped (logged once).
        """
        body = await self._get("/coins/markets", _markets_params(per_page))
        if body.length() == 0:
            raise body.fail("empty ranking")
        coins = []
        skipped: list[str] = []
        for entry in body.items():
            coin = self._market_coin(entry, skipped)
            if coin is not None:
                coins.append(coin)
        if skipped:
            # One line for the lot: a degraded ranking can lack prices for dozens of coins.
            log.warning(
                "coingecko: skipped %s in /coins/markets (no rank, or no positive price or cap): %s",
                _coins(len(skipped)),
                _named(skipped),
            )
        return tuple(coins)

    async def category_names(self) -> dict[str, str]:
        """Return every CoinGecko category id with its name from `/coins/categories/list`."""
        body = await self._get("/coins/categories/list")
        if body.length() == 0:
            # Read as "every category is gone", it would let every stablecoin into the ASI.
            raise body.fail("empty category list")
        return {entry["category_id"].text(): entry["name"].text() for entry in body.items()}

    async def category_members(self, category: str, per_page: int = PAGE_SIZE) -> frozenset[str]:
        """Return the ids of the largest `per_page` coins in a CoinGecko category, one call."""
        params = _markets_params(per_page)
        params["category"] = category
        body = await self._get("/coins/markets", params)
        return frozenset(entry["id"].text() for entry in body.items())

    async def daily_history(self, coin_id: str, days: int = BACKFILL_DAYS) -> DailyHistory:
        """Return a coin's daily closes and volumes over the last `days` days, in one call.

        Both come from `/coins/{id}/market_chart` (`prices` and `total_volumes`). A point stamped
        at (or just after) 00:00 UTC on day D is the close of D - 1, and its volume the 24 h
        volume of D - 1; the point for the current instant is neither and is dropped, as are null
        or non-positive prices and null or negative volumes.
        """
        path = f"/coins/{coin_id}/market_chart"
        body = await self._get(path, {"vs_currency": "usd", "days": days, "interval": "daily"})
        closes: dict[date, float] = {}
        for day, price in _daily_points(body, "prices"):
            if not is_number(price) or price <= 0:
                self._skips.skip(
                    f"{coin_id}@{day + timedelta(days=1):%Y-%m-%d}",
                    "coingecko: skipped %s close at %s: %r",
                    coin_id,
                    day + timedelta(days=1),
                    price,
                )
                continue
            closes[day] = float(price)
        return DailyHistory(closes, self._daily_volumes(coin_id, body))

    def _daily_volumes(self, coin_id: str, body: Payload) -> dict[date, float]:
        # The volumes only feed `alt_volume_ratio`: a bad array must not cost the coin its closes.
        if body.get("total_volumes") is None:
            log.warning("coingecko: %s market_chart has no total_volumes", coin_id)
            return {}
        try:
            points = _daily_points(body, "total_volumes")
        except BadPayload as exc:
            log.warning("coingecko: ignored %s volumes: %s", coin_id, exc.message)
            return {}
        # A day without volume is common for thin coins and not worth a log line each.
        return {day: float(v) for day, v in points if is_number(v) and v >= 0}

    def _market_coin(self, entry: Payload, skipped: list[str]) -> MarketCoin | None:
        coin_id = entry["id"].text()
        rank, price, cap = (
            entry.get("market_cap_rank"),
            entry.get("current_price"),
            entry.get("market_cap"),
        )
        if rank is None or price is None or cap is None or price.number() <= 0 or cap.number() <= 0:
            if self._skips.first(f"markets:{coin_id}"):
                shown = (None if p is None else p.value for p in (rank, price, cap))
                skipped.append("{} (rank {!r}, price {!r}, cap {!r})".format(coin_id, *shown))
            return None
        volume = entry.get("total_volume")
        return MarketCoin(
            id=coin_id,
            symbol=entry["symbol"].text(),
            name=entry["name"].text(),
            rank=rank.integer(),
            price=price.number(),
            market_cap=cap.number(),
            volume_24h=None if volume is None else volume.number(),
        )


def _daily_points(body: Payload, key: str) -> list[tuple[date, object]]:
    """Return `body[key]`'s daily points as (day closed, raw value), dropping intraday points."""
    points: list[tuple[date, object]] = []
    # A year of points per coin: plain checks here, a Payload only to name a bad field.
    for index, point in enumerate(body[key].array()):
        if not isinstance(point, list) or len(point) != 2 or not is_number(point[0]):
            raise BadPayload(PROVIDER, f"{key}[{index}]", "expected [timestamp_ms, value]")
        at = datetime.fromtimestamp(point[0] / 1000, UTC)
        if at.time() < _CLOSE_WINDOW_END:
            points.append((at.date() - timedelta(days=1), point[1]))
    return points


def _markets_params(per_page: int) -> dict[str, str | int]:
    return {
        "vs_currency": "usd",
        "order": "market_cap_desc",
        "per_page": per_page,
        "page": 1,
        "sparkline": "false",
    }


def _raise_status_error(body: Payload) -> None:
    # CoinGecko reports some refusals in the body: {"status": {"error_code": 429, ...}}.
    if not isinstance(body.value, dict) or not isinstance(body.value.get("status"), dict):
        return
    status = body["status"]
    code = status.get("error_code")
    if code is None:
        return
    message = status.get("error_message")
    text = str(message.value) if message is not None else "no message"
    if code.value == 429:
        raise RateLimited(PROVIDER, None)
    raise BadPayload(PROVIDER, "status.error_code", f"{code.value}: {text}")


class CoinGeckoMarkets:
    """The `asi`, `altbtc_macd`, `altbtc_rsi`, `altbtc_index` and `alt_volume_ratio` source.

    One `/coins/markets` call per warm refresh, history only for newcomers. Each refresh ranks
    the market (one call) and needs every universe coin's reference close (see `signals.asi`).
    Those are read from the `MarketHistory` once per reference day and kept; a coin whose
    reference close is not stored is back-filled from `/coins/{id}/market_chart`: every coin on
    a cold start (paced by the client, progress logged), afterwards a coin new to the top 50.
    Category membership costs one call per excluded category plus one for CoinGecko's list of
    categories (whose names label the excluded coins), once a day. Between 00:00 and
    01:00 UTC the first refresh stores every ranked coin's price as the previous day's close, so
    stored history keeps growing without history calls.

    The universe is the 50 largest coins left once Bitcoin, the excluded categories' members and
    the listed coins are out, and then every coin whose stored daily closes over the 90 days
    never left +-2 % of one price (`signals.asi.is_pegged`); a pegged coin makes room for the
    next one, back-filled like any newcomer. `asi_universe()` returns the last refresh's
    universe, each coin's change and each exclusion's reason, for `/status asi`.

    The other metrics cost no call of their own. `altbtc_macd`, `altbtc_rsi` and
    `altbtc_index` read the
    universe's and Bitcoin's stored closes (`signals.altbtc`) once per day and universe; the
    first time each is published, its earlier days go out as `FetchResult.history`, later
    refreshes re-send the newest few days. `alt_volume_ratio` sums the universe's volumes from
    the same ranking and keeps one sum per day (`signals.volume`); a back-fill's volumes seed
    the past days. A failure in one of them marks it stale and leaves `asi` alone.
    """

    def __init__(
        self,
        client: CoinGeckoClient,
        history: MarketHistory,
        *,
        name: str = PROVIDER,
        exclusions: Exclusions | None = None,
        universe_size: int = UNIVERSE_SIZE,
        min_history: int = MIN_HISTORY,
        backfill_days: int = BACKFILL_DAYS,
        category_ttl: timedelta = timedelta(days=1),
        category_retry: timedelta = timedelta(hours=1),
        altbtc_days: int = ALTBTC_DAYS,
    ) -> None:
        self.name = name
        self._client = client
        self._history = history
        self._exclusions = exclusions or load_exclusions()
        self._universe_size = universe_size
        self._min_history = min_history
        self._backfill_days = backfill_days
        self._category_ttl = category_ttl
        self._category_retry = category_retry
        self._categories: dict[str, str] | None = None
        self._categories_due: datetime | None = None
        self._snapshot_day: date | None = None
        self._refs_day: date | None = None
        self._refs: dict[str, float | None] = {}
        # Per reference day, like the references: whether a coin's 90 days of closes were flat.
        self._pegged: dict[str, bool] = {}
        self._attempted: dict[str, date] = {}
        self._first_close: dict[str, date] = {}
        self._universe: tuple[MarketCoin, ...] = ()
        self._described: AsiUniverse | None = None
        self._altbtc_days = altbtc_days
        self._altbtc_day: date | None = None
        # Per universe, so a coin swapping places with the 50th and back costs no second read.
        self._altbtc: dict[frozenset[str], dict[str, tuple[Sample, ...] | Stale]] = {}
        self._published: set[str] = set()
        self._volume_day: date | None = None
        self._past_volumes: dict[date, float] = {}
        # Volumes from back-fills not yet turned into daily sums: kept across a cut-short one.
        self._fetched_volumes: dict[str, dict[date, float]] = {}
        self._failing: set[str] = set()
        self._warming: str | None = None
        self._asi_history_done = False
        # Told how a back-fill gets on (`ReportsProgress`): `python -m bot status` prints it.
        self.on_progress: Callable[[str], None] | None = None

    def warming(self) -> str | None:
        """Return the back-fill's progress while one runs, else None."""
        return self._warming

    def alt_symbols(self) -> tuple[str, ...]:
        """Return the current ASI universe's symbols, upper-case, largest market cap first."""
        return tuple(coin.symbol.upper() for coin in self._universe)

    def asi_universe(self) -> AsiUniverse | None:
        """Return the universe of the last refresh that ranked the market, or None before one."""
        return self._described

    async def fetch(self, now: datetime) -> FetchResult:
        """Refresh the ranking and publish every metric, or mark each stale with the reason."""
        members = await self._category_members(now)
        coins = await self._client.markets()
        by_id = {coin.id: coin for coin in coins}
        if BITCOIN not in by_id:
            raise BadPayload(PROVIDER, "bitcoin.current_price", "bitcoin missing or unpriced")
        await self._save_midnight_closes(coins, now)
        candidates, excluded = rank_candidates(coins, self._exclusions, members)
        self._universe, pegged = await self._select(candidates, now)
        universe = [coin.id for coin in self._universe]
        references = pd.Series(
            {coin: self._refs[coin] for coin in (BITCOIN, *universe)}, dtype="float64"
        )
        prices = {coin: by_id[coin].price for coin in (BITCOIN, *universe)}
        reading = altcoin_season(prices, references, universe, self._min_history)
        outcome = publish(reading, now, PROVIDER, {coin.id: coin.symbol for coin in coins})
        self._described = describe_universe(
            reading, self._universe, (*excluded, *pegged), outcome, now
        )
        asi = FetchResult(samples=(outcome,)) if isinstance(outcome, Sample) else _stale(outcome)
        past: tuple[Sample, ...] = ()
        if isinstance(outcome, Sample) and not self._asi_history_done:
            past = await self._guarded_history(universe, now)
        caps = universe_weights(self._universe)
        altbtc = await self._guarded(
            (MACD_METRIC, RSI_METRIC, INDEX_METRIC), self._altbtc_readings(caps, now)
        )
        volume = await self._guarded((VOLUME_METRIC,), self._volume_ratio(caps, now))
        return FetchResult(
            samples=asi.samples + altbtc.samples + volume.samples,
            stale=asi.stale + altbtc.stale + volume.stale,
            history=tuple(sorted(altbtc.history + past, key=lambda sample: sample.at)),
        )

    async def _guarded_history(self, universe: Sequence[str], now: datetime) -> tuple[Sample, ...]:
        """Return the ASI's daily history from the stored closes, once per process.

        Computed over today's universe, so it carries survivorship bias (the README says so).
        A failure costs only the history: the live index goes out regardless, and the next
        process tries again.
        """
        self._asi_history_done = True
        last = now.astimezone(UTC).date() - timedelta(days=1)
        first = last - timedelta(days=self._backfill_days)
        try:
            closes = {
                coin: await self._history.closes(coin, first) for coin in (BITCOIN, *universe)
            }
            return asi_history(closes, universe, first, last, PROVIDER, self._min_history)
        except Exception:
            log.warning("coingecko: the ASI's daily history could not be computed", exc_info=True)
            return ()

    async def _guarded(self, metrics: Sequence[str], step: Awaitable[FetchResult]) -> FetchResult:
        """Await one derived metric's step; a failure marks its metrics stale, sparing `asi`."""
        key = metrics[0]
        try:
            result = await step
        except Exception as exc:
            # Logged in full once; while it keeps failing (the store is down) the stale says why.
            if key not in self._failing:
                log.warning("coingecko: %s failed", ", ".join(metrics), exc_info=exc)
            self._failing.add(key)
            reason = f"failed: {type(exc).__name__}: {exc}"
            return FetchResult(stale=tuple(Stale(metric, reason) for metric in metrics))
        self._failing.discard(key)
        return result

    async def _altbtc_readings(self, caps: Mapping[str, float], now: datetime) -> FetchResult:
        last_day = now.astimezone(UTC).date() - timedelta(days=1)
        if last_day != self._altbtc_day:
            self._altbtc_day, self._altbtc = last_day, {}
        universe = frozenset(caps)
        readings = self._altbtc.get(universe)
        if readings is None:
            since = last_day - timedelta(days=self._altbtc_days - 1)
            closes: dict[str, dict[date, float]] = {}
            for coin in (BITCOIN, *caps):
                stored = await self._history.closes(coin, since)
                # Completed closes only: a still-forming day must never become an index day.
                closes[coin] = {day: close for day, close in stored.items() if day <= last_day}
            readings = altbtc_samples(altbtc_index(closes, caps), PROVIDER)
            self._altbtc[universe] = readings
        return self._emit(readings)

    def _emit(self, readings: Mapping[str, tuple[Sample, ...] | Stale]) -> FetchResult:
        samples: list[Sample] = []
        stale: list[Stale] = []
        history: list[Sample] = []
        for metric, outcome in readings.items():
            if isinstance(outcome, Stale):
                stale.append(outcome)
            elif metric in self._published:
                samples.extend(outcome[-_RESEND_DAYS:])
            else:
                history.extend(outcome[:-1])
                samples.append(outcome[-1])
                self._published.add(metric)
        return FetchResult(tuple(samples), tuple(stale), tuple(history))

    async def _volume_ratio(self, caps: Mapping[str, float], now: datetime) -> FetchResult:
        today = now.astimezone(UTC).date()
        if self._volume_day != today:
            stored = await self._history.daily_values(VOLUME_SERIES, window(today)[0])
            self._past_volumes = {day: value for day, value in stored.items() if day < today}
            self._volume_day = today
        if self._fetched_volumes:
            await self._seed_volumes(caps, today)
        reading = universe_volume(self._universe)
        if not reading.usable:
            reason = f"24 h volume known for only {reading.coverage:.0%} of the alts' market cap"
            return _stale(Stale(VOLUME_METRIC, reason))
        await self._history.save_daily_values(VOLUME_SERIES, {today: reading.total})
        outcome = volume_ratio(reading.total, self._past_volumes, now, PROVIDER)
        return FetchResult(samples=(outcome,)) if isinstance(outcome, Sample) else _stale(outcome)

    async def _seed_volumes(self, caps: Mapping[str, float], today: date) -> None:
        sums = seed_volumes(self._fetched_volumes, caps, window(today))
        # A day already stored keeps its reading: a live last reading beats a reconstruction.
        fresh = {day: total for day, total in sums.items() if day not in self._past_volumes}
        if fresh:
            await self._history.save_daily_values(VOLUME_SERIES, fresh)
            self._past_volumes.update(fresh)
            log.info("alt volume: stored %d past days of sums from fetched history", len(fresh))
        self._fetched_volumes = {}

    async def _select(
        self, candidates: Sequence[MarketCoin], now: datetime
    ) -> tuple[tuple[MarketCoin, ...], tuple[ExcludedCoin, ...]]:
        """Return the universe, largest first, and the candidates above its end found pegged.

        Closes are loaded (and back-filled) for as many candidates as places are left, so a
        pegged coin costs one more candidate's history, not the whole ranking's.
        """
        kept: list[MarketCoin] = []
        pegged: list[ExcludedCoin] = []
        queue = list(candidates)
        wanted = [BITCOIN]
        while queue and len(kept) < self._universe_size:
            batch, queue = (
                queue[: self._universe_size - len(kept)],
                queue[self._universe_size - len(kept) :],
            )
            await self._load([*wanted, *(coin.id for coin in batch)], now)
            wanted = []
            for coin in batch:
                if self._pegged.get(coin.id, False):
                    pegged.append(ExcludedCoin(coin.id, coin.symbol, coin.name, coin.rank, PEGGED))
                else:
                    kept.append(coin)
        if wanted:
            await self._load(wanted, now)  # no candidate at all: Bitcoin's reference still counts
        return tuple(kept), tuple(pegged)

    async def _load(self, coins: Sequence[str], now: datetime) -> None:
        """Know each coin's reference close and whether it is pegged, back-filling if need be."""
        ref_day = reference_day(now)
        if ref_day != self._refs_day:
            self._refs_day, self._refs, self._pegged = ref_day, {}, {}
        since = ref_day - timedelta(days=TOLERANCE_DAYS)
        unknown = [coin for coin in coins if coin not in self._refs]
        stored = {coin: await self._history.closes(coin, since) for coin in unknown}
        found = _references_in(stored, ref_day)
        lacking = [coin for coin in unknown if found[coin] is None]
        today = now.astimezone(UTC).date()
        fetched = await self._backfill(self._worth_fetching(lacking, ref_day, today), today)
        found.update(_references_in(fetched, ref_day))
        windows = {**stored, **fetched}
        for coin in unknown:
            # Judged only over a full window: a younger coin has no change to inflate the index.
            closes = [c for day, c in windows[coin].items() if since <= day < today]
            self._pegged[coin] = found[coin] is not None and is_pegged(closes)
        # Kept only once the back-fill is through: one cut short must be resumed, not forgotten.
        self._refs.update(found)

    def _worth_fetching(self, lacking: Sequence[str], ref_day: date, today: date) -> list[str]:
        worth = []
        for coin in lacking:
            if self._attempted.get(coin) == today:
                continue  # tried today already: a gap upstream will not fill within the day
            first = self._first_close.get(coin)
            if first is not None and first > ref_day:
                continue  # younger than 90 days: the provider has nothing older to give
            worth.append(coin)
        return worth

    async def _backfill(self, coins: Sequence[str], today: date) -> dict[str, dict[date, float]]:
        if not coins:
            return {}
        pacer = self._client.pacer
        log.info(
            "asi back-fill: fetching %d days of closes for %d coins (~%.0f s at %.0f calls/min)",
            self._backfill_days,
            len(coins),
            len(coins) * pacer.interval,
            60 / pacer.interval,
        )
        fetched: dict[str, dict[date, float]] = {}
        oldest_volume = window(today)[0]
        missing: list[str] = []
        self._progress(
            f"ASI back-fill: fetching {self._backfill_days} days of closes for "
            f"{_coins(len(coins))} from CoinGecko, {_about(len(coins) * pacer.interval)} at "
            f"{60 / pacer.interval:.0f} calls/min"
        )
        try:
            for done, coin in enumerate(coins, start=1):
                self._warming = f"back-fill {done - 1} of {len(coins)} coins"
                await self._backfill_one(coin, today, oldest_volume, fetched, missing)
                if done % 10 == 0 or done == len(coins):
                    log.info("asi back-fill: %d/%d coins done", done, len(coins))
                if done % _PROGRESS_EVERY == 0 or done == len(coins):
                    left = (len(coins) - done) * pacer.interval
                    rest = f", {_about(left)} left" if done < len(coins) else ""
                    self._progress(f"ASI back-fill: {done}/{len(coins)} coins{rest}")
        finally:
            self._warming = None
            if len(missing) > 1:
                # The episode's end: the coins after the first were counted, not logged one by one.
                log.warning(
                    "asi back-fill: no history for %s of %d: %s",
                    _coins(len(missing)),
                    len(coins),
                    _named(missing),
                )
        return fetched

    def _progress(self, line: str) -> None:
        if self.on_progress is not None:
            self.on_progress(line)

    async def _backfill_one(
        self,
        coin: str,
        today: date,
        oldest_volume: date,
        fetched: dict[str, dict[date, float]],
        missing: list[str],
    ) -> None:
        try:
            daily = await self._client.daily_history(coin, self._backfill_days)
        except (BadPayload, HttpRefused) as exc:
            # One coin the provider cannot serve costs the index one coin, not the refresh.
            if not missing:
                log.warning("asi back-fill: no history for %s: %s", coin, exc.message)
            missing.append(coin)
            self._attempted[coin] = today
            return
        self._attempted[coin] = today
        closes = dict(daily.closes)
        # Saved at once, so a back-fill cut short by an error resumes where it stopped.
        await self._history.save_closes(coin, closes)
        self._fetched_volumes[coin] = {
            day: volume for day, volume in daily.volumes.items() if day >= oldest_volume
        }
        self._first_close[coin] = min(closes, default=today)
        fetched[coin] = closes

    async def _category_members(self, now: datetime) -> Mapping[str, str]:
        """Return each excluded category's members mapped to the category's name, daily."""
        due = self._categories_due
        if self._categories is not None and due is not None and now < due:
            return self._categories
        members: dict[str, str] = {}
        try:
            listed = await self._client.category_names()
            gone = [c for c in self._exclusions.categories if c not in listed]
            if gone:
                # A renamed id would exclude nothing from then on: say so, and spare the call.
                log.warning(
                    "asi: CoinGecko no longer lists the excluded categories %s; skipped",
                    ", ".join(gone),
                )
            for category, fallback in self._exclusions.categories.items():
                if category in gone:
                    continue
                name = listed.get(category) or fallback
                for coin in await self._client.category_members(category):
                    # The first category listed in the exclusions names a coin in several.
                    members.setdefault(coin, name)
        except SourceError as exc:
            if self._categories is None:
                raise
            log.warning(
                "asi: category refresh failed (%s); keeping the list from before", exc.message
            )
            self._categories_due = now + self._category_retry
            return self._categories
        self._categories = members
        self._categories_due = now + self._category_ttl
        return self._categories

    async def _save_midnight_closes(self, coins: Sequence[MarketCoin], now: datetime) -> None:
        utc = now.astimezone(UTC)
        today = utc.date()
        if self._snapshot_day == today or utc.time() >= _CLOSE_WINDOW_END:
            return
        yesterday = today - timedelta(days=1)
        for coin in coins:
            await self._history.save_closes(coin.id, {yesterday: coin.price})
        self._snapshot_day = today


def _references_in(
    closes: Mapping[str, Mapping[date, float]], ref_day: date
) -> dict[str, float | None]:
    found = reference_closes(closes_frame(closes), ref_day)
    result: dict[str, float | None] = {}
    for coin in closes:
        value = found.get(coin)
        result[coin] = None if value is None or pd.isna(value) else float(value)
    return result


def _about(seconds: float) -> str:
    """Return a rough duration: `about 40 s`, `about 2 min`."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    return f"about {round(seconds / 60)} min"


def _coins(count: int) -> str:
    return f"{count} coin" if count == 1 else f"{count} coins"


def _named(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_NAMED])
    return shown if len(items) <= _NAMED else f"{shown} and {len(items) - _NAMED} more"


def _stale(notice: Stale) -> FetchResult:
    return FetchResult(stale=(notice,))
