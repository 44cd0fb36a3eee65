"""Fan one alert out to many Telegram chats and print how close delivery gets to the flood limits.

Run: .venv/bin/python bench/fanout_telegram.py [--chats 2000] [--groups 200] [--time-scale 1]
`--charts` sends each alert as a photo of a real chart (drawn once per alert through
bot.charts.alerts.AlertCharts over a synthetic 90 days, uploaded once, the rest by file_id).
The issue's full scenario is `--chats 10000 --groups 200`: about six minutes per sender at scale 1,
half that at `--time-scale 2`.

The fake Bot API (tests/fakes/telegram_api.py) runs on 127.0.0.1 in its own process and enforces
Telegram's limits -- 30 messages/s overall, 1/s per chat, 20/min per group -- answering 429 with
retry_after when one is broken. `--time-scale N` makes every window N times shorter (and every
limit N times faster) so a run takes less time; rates are printed back at Telegram's scale. Scaling
shrinks the pacer's 3 % margin (30 ms a second at scale 1) along with the windows, while requests
on a busy two-core machine still vary by 10-20 ms in flight; past scale 2 that jitter, which a real
deployment pays at scale 1, starts to cost 429s. Telegram's retry_after is a whole number of
seconds, so under scaling every 429 also costs N times more than it would for real.

Two senders deliver the same messages, side by side:
  radar   TelegramNotifier + Pacer, driven like bot.dispatcher: W workers, each destination's rows
          in order, a TransientDeliveryError retried after its retry_after.
  ptb     a plain python-telegram-bot loop: asyncio.gather over send_message with PTB's
          AIORateLimiter (max_retries=3), the usual recipe for broadcasts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import multiprocessing
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, ExtBot

from bot.app import settle_memory
from bot.charts import ChartSpec, Point
from bot.charts.alerts import AlertCharts
from bot.model.alerts import AlertMessage
from bot.model.delivery import DeliveryError, TransientDeliveryError
from bot.model.destinations import Destination
from bot.model.rules import Rule
from handlers.telegram.notifier import TelegramNotifier
from handlers.telegram.pacing import FloodLimits, Pacer
from tests.fakes.telegram_api import FakeLimits, SentMessage, TelegramApiFake

LIMIT = 30.0
MAX_ATTEMPTS = 12
# Each alert names a rule of its own, so what arrived can be matched to what was sent.
_EVENT = re.compile(r"\bbench-(\d+)\b")


@dataclass(frozen=True, slots=True)
class Figures:
    """What one sender achieved."""

    name: str
    expected: int
    delivered: int
    seconds: float
    rejected_429: int
    lost: int
    duplicated: int
    out_of_order: int

    def rate(self, scale: float) -> float:
        """Return messages per second, expressed at Telegram's (unscaled) speed."""
        return (self.delivered - 1) / self.seconds / scale if self.seconds > 0 else 0.0


class FakeProcess:
    """The fake Bot API in its own process, so the senders' work cannot delay its clock."""

    def __init__(self, limits: FakeLimits) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, limits), daemon=True)
        self._process.start()
        self.api_url, self.token = self._conn.recv()

    def finish(self) -> tuple[list[SentMessage], int]:
        """Stop the fake; return the messages it accepted and how many 429s it answered."""
        self._conn.send("stop")
        sent, rejected = self._conn.recv()
        self._process.join()
        return sent, rejected


def _serve(conn: Connection, limits: FakeLimits) -> None:
    # The fake keeps every message; a full collection over them stalls it for tens of ms, and the
    # requests that queue meanwhile are then stamped together: a burst the sender never sent.
    gc.disable()

    async def serve() -> None:
        async with TelegramApiFake(limits=limits) as fake:
            conn.send((fake.api_url, fake.token))
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            conn.send((list(fake.sent), fake.too_many_requests_count()))

    asyncio.run(serve())


def chats(private: int, groups: int) -> list[int]:
    return [*range(1, private + 1), *(-1_000_000_000_000 - g for g in range(1, groups + 1))]


def alert(event_id: int) -> AlertMessage:
    return AlertMessage(
        event_id=event_id,
        rule_id=f"bench-{event_id}",
        rule_description="Altcoin season: ASI at or above 75",
        state="firing",
        metric="asi",
        value=76.0,
        threshold=75.0,
        previous=70.0,
        source="coingecko",
        at=datetime(2026, 1, 5, 12, tzinfo=UTC),
        op=">=",
        direction="rise",
    )


def figures(
    name: str, plan: dict[int, list[int]], sent: list[SentMessage], rejected: int
) -> Figures:
    """Compare what arrived with what was meant to, per chat and in order."""
    arrived: dict[int, list[int]] = {}
    for message in sent:
        arrived.setdefault(message.chat_id, []).extend(
            int(m) for m in _EVENT.findall(message.plain)
        )
    expected = sum(len(ids) for ids in plan.values())
    lost = duplicated = out_of_order = 0
    for chat, ids in plan.items():
        got = arrived.get(chat, [])
        counts = Counter(got)
        lost += sum(1 for i in ids if counts[i] == 0)
        duplicated += sum(n - 1 for n in counts.values() if n > 1)
        firsts = list(dict.fromkeys(got))
        out_of_order += int(firsts != [i for i in ids if i in counts])
    stamps = sorted(m.at for m in sent)
    seconds = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    return Figures(name, expected, len(sent), seconds, rejected, lost, duplicated, out_of_order)


async def _synthetic_spec(
    _store: Any, metric: str, _rules: Sequence[Rule], start: datetime, end: datetime
) -> ChartSpec:
    """Ninety days of an ASI-like series: what an alert's chart reads from the store."""
    days = (end - start).days
    points = tuple(
        Point(start + timedelta(days=d), 50.0 + 25.0 * ((d % 30) / 30.0)) for d in range(days)
    )
    return ChartSpec(metric, "ASI · 76", "bench", start, end, points, "coingecko")


def alert_charts() -> AlertCharts:
    async def no_rules() -> Sequence[Rule]:
        return ()

    return AlertCharts(None, no_rules, spec_reader=_synthetic_spec)  # type: ignore[arg-type]


async def run_radar(
    api_url: str,
    token: str,
    plan: dict[int, list[int]],
    limits: FloodLimits,
    workers: int,
    charts: bool = False,
) -> None:
    """Deliver `plan` the way bot.dispatcher does, through TelegramNotifier."""
    settle_memory()  # as the bot does once started
    bot: ExtBot[int] = ExtBot(token, base_url=f"{api_url}/bot", rate_limiter=Pacer(limits))
    notifier = TelegramNotifier(bot, alert_charts() if charts else None)
    async with bot:
        notifier.set_online(True)
        pending: asyncio.Queue[int] = asyncio.Queue()
        for chat in plan:
            pending.put_nowait(chat)

        async def deliver(chat: int) -> None:
            for event_id in plan[chat]:
                for _attempt in range(MAX_ATTEMPTS):
                    try:
                        await notifier.send(Destination("telegram", str(chat)), alert(event_id))
                        break
                    except TransientDeliveryError as exc:
                        await asyncio.sleep(exc.retry_after or 1.0)
                    except DeliveryError:
                        return

        async def worker() -> None:
            while not pending.empty():
                await deliver(pending.get_nowait())

        await asyncio.gather(*(worker() for _ in range(workers)))


async def run_ptb(api_url: str, token: str, plan: dict[int, list[int]], scale: float) -> None:
    """Deliver `plan` with a plain PTB broadcast loop and AIORateLimiter."""
    limiter = AIORateLimiter(
        overall_max_rate=LIMIT,
        overall_time_period=1 / scale,
        group_max_rate=20,
        group_time_period=60 / scale,
        max_retries=3,
    )
    bot: ExtBot[int] = ExtBot(token, base_url=f"{api_url}/bot", rate_limiter=limiter)
    async with bot:
        rounds = max(len(ids) for ids in plan.values())
        for index in range(rounds):

            async def send(chat: int, event_id: int) -> None:
                # A message that still fails is counted as lost when the figures are compared.
                with contextlib.suppress(TelegramError):
                    await bot.send_message(chat, f"alert bench-{event_id}")

            await asyncio.gather(
                *(send(chat, ids[index]) for chat, ids in plan.items() if index < len(ids))
            )


def measure(
    name: str,
    plan: dict[int, list[int]],
    scale: float,
    sender: Callable[[str, str], Coroutine[Any, Any, None]],
) -> Figures:
    """Run one sender against a fresh fake and collect its figures."""
    server = FakeProcess(FakeLimits().scaled(scale))
    # Long-lived bench data need not be traced by every collection; a full collection over it
    # delays whatever request is on its way, and the ones behind it then arrive bunched.
    gc.collect()
    gc.freeze()
    started = time.monotonic()
    try:
        asyncio.run(sender(server.api_url, server.token))
    finally:
        sent, rejected = server.finish()
    print(f"  {name}: done in {time.monotonic() - started:.1f} s", flush=True)
    return figures(name, plan, sent, rejected)


def print_table(results: list[Figures], scale: float) -> None:
    rows: list[tuple[str, Callable[[Figures], str]]] = [
        ("messages expected", lambda f: f"{f.expected}"),
        ("messages accepted by the fake", lambda f: f"{f.delivered}"),
        ("first to last accepted (s, real)", lambda f: f"{f.seconds:.1f}"),
        ("messages/s at Telegram scale", lambda f: f"{f.rate(scale):.2f}"),
        ("fraction of the 30/s limit", lambda f: f"{f.rate(scale) / LIMIT:.3f}"),
        ("429 answers received", lambda f: f"{f.rejected_429}"),
        ("lost", lambda f: f"{f.lost}"),
        ("duplicated", lambda f: f"{f.duplicated}"),
        ("chats out of order", lambda f: f"{f.out_of_order}"),
    ]
    print(f"{'':34}" + "".join(f"{f.name:>24}" for f in results))
    for label, cell in rows:
        print(f"{label:34}" + "".join(f"{cell(f):>24}" for f in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=2_000, help="private chats")
    parser.add_argument("--groups", type=int, default=200, help="group chats")
    parser.add_argument("--alerts", type=int, default=1, help="alerts each chat receives")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="run the limits N times faster"
    )
    parser.add_argument("--workers", type=int, default=16, help="dispatcher workers (radar)")
    parser.add_argument("--only", choices=("radar", "ptb"), help="run one sender")
    parser.add_argument(
        "--charts", action="store_true", help="radar sends each alert as a photo of its chart"
    )
    args = parser.parse_args()
    # Each 429 is counted in the table; the libraries' own per-429 log lines would drown it.
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)

    scale = args.time_scale
    plan = {chat: list(range(1, args.alerts + 1)) for chat in chats(args.chats, args.groups)}
    limits = FloodLimits().scaled(scale)
    print(
        f"Fan-out of {args.alerts} alert(s) to {args.chats} private chats + {args.groups} groups; "
        f"limits 30/s overall, 1/s per chat, 20/min per group, time scale x{scale:g}; "
        f"radar uses {args.workers} workers{', charts on' if args.charts else ''}",
        flush=True,
    )
    results = []
    if args.only in (None, "radar"):
        results.append(
            measure(
                "radar notifier",
                plan,
                scale,
                lambda url, token: run_radar(url, token, plan, limits, args.workers, args.charts),
            )
        )
    if args.only in (None, "ptb"):
        results.append(
            measure(
                "PTB + AIORateLimiter",
                plan,
                scale,
                lambda url, token: run_ptb(url, token, plan, scale),
            )
        )
    print_table(results, scale)


if __name__ == "__main__":
    main()
