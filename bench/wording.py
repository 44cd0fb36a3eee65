"""What a user reads: sample alerts and /status through the real renderers, every front-end.

Bitcoin dominance crossing below 59% (firing, resolved), the risk-on regime reaching 4 of 6
(firing, resolved), and a /status, as Telegram HTML, a Discord embed (title, description,
fields, colour), a console line and a webhook's `text`.

    .venv/bin/python bench/wording.py
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Run as a script, this folder comes first on the path, and bench/signals.py would shadow the
# signals package: put the project root ahead of it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.commands import MetricStatus, RegimeStatus, RuleInfo, StatusReport
from bot.delivery.notifiers import console_line, webhook_payload
from bot.model.alerts import AlertMessage, Direction
from bot.model.formatting import format_age
from bot.model.metrics import LatestValue, metric_info
from bot.model.regime import Reading, assess
from bot.model.rules import BUILTIN_RULES, Op
from handlers.discord.layout import EmbedSpec
from handlers.discord.render import alert_embed, status_embed
from handlers.telegram.render import render_alert, render_status

AT = datetime(2026, 3, 14, 14, 5, tzinfo=UTC)


def readings(values: dict[str, float], dominance_week_ago: float) -> tuple[Reading, ...]:
    """Return the regime's components as the bot computes them from these latest values."""
    latest = {
        metric: LatestValue(metric, value, AT - timedelta(minutes=1), "test", (), None, AT)
        for metric, value in values.items()
    }
    return assess(latest, (AT - timedelta(days=7), dominance_week_ago), AT).readings


# Liquidity has no fresh value: the component shows as unknown.
UP = {
    "rut_sessions_since_high": 2.0,
    "asi": 57.0,
    "btc_dominance": 58.71,
    "eth_btc_vs_sma50": 3.12,
    "altbtc_macd": -0.00012,
}
REGIME_UP = readings(UP, 60.50)
REGIME_DOWN = readings({**UP, "btc_dominance": 59.34, "eth_btc_vs_sma50": -0.41}, 60.50)


def msg(
    eid: int,
    rule: str,
    desc: str,
    state: str,
    metric: str,
    value: float,
    threshold: float | None,
    previous: float | None,
    op: Op,
    direction: Direction,
    comps: tuple[Reading, ...] = (),
    at: datetime = AT,
    source: str = "coingecko",
) -> AlertMessage:
    return AlertMessage(  # type: ignore[arg-type]
        event_id=eid,
        rule_id=rule,
        rule_description=desc,
        state=state,
        metric=metric,
        value=value,
        threshold=threshold,
        previous=previous,
        source=source,
        at=at,
        op=op,
        direction=direction,
        components=comps,
    )


ALERTS = {
    "(a) btc-dominance-below-59 firing": msg(
        101,
        "btc-dominance-below-59",
        "Bitcoin dominance falls below 59%",
        "firing",
        "btc_dominance",
        58.71,
        59.0,
        59.12,
        "crosses below",
        "fall",
    ),
    "(a) btc-dominance-below-59 resolved": msg(
        102,
        "btc-dominance-below-59",
        "Bitcoin dominance falls below 59%",
        "resolved",
        "btc_dominance",
        59.31,
        59.0,
        58.94,
        "crosses below",
        "fall",
        at=AT + timedelta(days=2, hours=3),
    ),
    "(b) risk-on-regime firing": msg(
        103,
        "risk-on-regime",
        "Risk-on regime: at least 4 of the 6 rotation signals agree",
        "firing",
        "risk_on",
        4.0,
        4.0,
        2.0,
        ">=",
        "rise",
        REGIME_UP,
        source="radar",
    ),
    "(b) risk-on-regime resolved": msg(
        104,
        "risk-on-regime",
        "Risk-on regime: at least 4 of the 6 rotation signals agree",
        "resolved",
        "risk_on",
        2.0,
        4.0,
        4.0,
        ">=",
        "rise",
        REGIME_DOWN,
        at=AT + timedelta(days=5),
        source="radar",
    ),
}


def row(
    metric: str, value: float, age: timedelta, source: str, max_age: bool = False
) -> MetricStatus:
    info = metric_info(metric)
    # As the command service words it: a value older than its metric's max age is stale.
    reason = f"no update for {format_age(age)}" if max_age else None
    return MetricStatus(
        metric, info.label, value, info.format(value), AT - age, age, source, max_age, reason
    )


def firing(rule_id: str) -> RuleInfo:
    rule = next(r for r in BUILTIN_RULES if r.id == rule_id)
    return RuleInfo(
        rule.id, rule.description, rule.metric, rule.condition, False, "firing", False, rule.lean
    )


REPORT = StatusReport(
    metrics=(
        row("asi", 57.0, timedelta(minutes=3), "coingecko"),
        row("btc_dominance", 58.71, timedelta(minutes=1), "coingecko"),
        row("total2", 1.3216e12, timedelta(minutes=1), "coingecko"),
        row("total3", 9.376e11, timedelta(minutes=1), "coingecko"),
        row("rut", 2291.37, timedelta(hours=31, minutes=45), "yahoo"),
        row("rut_spx_streak", 3.0, timedelta(hours=31, minutes=45), "yahoo"),
        row("btc_usd", 91234.0, timedelta(seconds=40), "binance"),
        row("eth_usd", 3187.42, timedelta(seconds=40), "binance"),
        row("net_liquidity", 5921.3, timedelta(days=3, hours=2), "fred"),
        row("btc_etf_flow", -87.4, timedelta(days=6, hours=1), "farside", max_age=True),
        row("risk_on", 4.0, timedelta(minutes=1), "radar"),
    ),
    firing=(firing("btc-dominance-below-59"), firing("risk-on-regime")),
    generated_at=AT,
    regime=RegimeStatus(4, REGIME_UP, AT - timedelta(minutes=1), False),
)


def show_embed(spec: EmbedSpec) -> None:
    print(f"  title:       {spec.title}")
    print("  description: " + (spec.description.replace("\n", "\n               ") or "(none)"))
    for f in spec.fields:
        print(
            f"  field [{f.name}]{' (inline)' if f.inline else ''}: "
            + f.value.replace("\n", "\n      ")
        )
    print(f"  colour:      #{spec.colour:06X}" if spec.colour is not None else "  colour: none")
    print(f"  footer:      {spec.footer}")
    print(f"  timestamp:   {spec.timestamp.isoformat() if spec.timestamp else None}")


for name, m in ALERTS.items():
    print(f"===== {name} =====")
    print("--- Telegram (HTML as sent) ---")
    print(render_alert(m))
    print("--- Discord embed ---")
    show_embed(alert_embed(m))
    print("--- console ---")
    print(console_line(m))
    print("--- webhook text ---")
    print(webhook_payload(m)["text"])
    print()

print("===== /status =====")
print("--- Telegram (HTML as sent) ---")
print(render_status(REPORT))
print("--- Discord embed ---")
show_embed(status_embed(REPORT))
