"""Rules: each rule's alert state, and the custom rules chats add."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from bot.model.evaluation import RuleState
from bot.model.rules import RuleSpec, custom_rule_id, custom_rule_row
from bot.storage.database import Database, UnitBase
from bot.storage.metrics import LastSample
from bot.storage.schema import custom_rules, rule_state, subscriptions
from bot.storage.subscriptions import destination_id


def state_from_row(row: Any, last: LastSample | None = None) -> RuleState:
    return RuleState(
        state=row.state,
        armed=bool(row.armed),
        since=row.since,
        value=last.value if last else None,
        sample_at=last.at if last else None,
        notified_at=row.notified_at,
        high=row.high,
    )


def state_values(rule_id: str, state: RuleState) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "state": state.state,
        "armed": state.armed,
        "since": state.since,
        "notified_at": state.notified_at,
        "high": state.high,
    }


class RulesUnit(UnitBase):
    """What the engine's transaction locks and writes of rule states."""

    async def lock_states(
        self, rule_ids: Sequence[str], last: LastSample | None
    ) -> dict[str, RuleState]:
        """Read and lock the states of `rule_ids`, with `last` as the value they saw last."""
        if not rule_ids:
            return {}
        query = select(rule_state).where(rule_state.c.rule_id.in_(rule_ids)).with_for_update()
        rows = (await self._conn.execute(query)).all()
        found = {row.rule_id: state_from_row(row, last) for row in rows}
        missing = [rid for rid in rule_ids if rid not in found]
        if missing:
            stmt = self._store.insert(rule_state).on_conflict_do_nothing()  # type: ignore[attr-defined]
            await self._conn.execute(stmt, [state_values(rid, RuleState()) for rid in missing])
            again = select(rule_state).where(rule_state.c.rule_id.in_(missing)).with_for_update()
            found.update(
                {row.rule_id: state_from_row(row, last) for row in await self._conn.execute(again)}
            )
        return found

    async def save_states(self, changed: Mapping[str, RuleState]) -> None:
        """Write back the states that changed."""
        if not changed:
            return
        columns = [c.name for c in rule_state.c if c.name != "rule_id"]
        stmt = (
            update(rule_state)
            .where(rule_state.c.rule_id == bindparam("key"))
            .values({name: bindparam(name) for name in columns})
        )
        rows = []
        for rule_id, state in changed.items():
            values = state_values(rule_id, state)
            values["key"] = values.pop("rule_id")
            rows.append(values)
        await self._conn.execute(stmt, rows)


class RulesStore(Database):
    """Rule states and custom rules outside the engine's transaction."""

    async def rule_states(self) -> dict[str, RuleState]:
        """Return every rule's stored state."""
        async with self._connect() as conn:
            rows = (await conn.execute(select(rule_state))).all()
        return {row.rule_id: state_from_row(row) for row in rows}

    async def custom_rule_rows(self, owner: str | None = None) -> list[tuple[str, str, RuleSpec]]:
        """Return `(rule id, owner, spec)` for custom rules, of one owner or all."""
        query = select(custom_rules).order_by(custom_rules.c.id)
        if owner is not None:
            query = query.where(custom_rules.c.owner == owner)
        async with self._connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            (custom_rule_id(row.id), row.owner, RuleSpec(row.metric, row.op, row.threshold))
            for row in rows
        ]

    async def add_custom_rule(
        self, owner: str, spec: RuleSpec, now: datetime, limit: int
    ) -> str | None:
        """Create a custom rule subscribed by its owner; return its id, or None past `limit`."""
        async with self._begin() as conn:
            count = (
                await conn.execute(
                    select(func.count())
                    .select_from(custom_rules)
                    .where(custom_rules.c.owner == owner)
                )
            ).scalar_one()
            if count >= limit:
                return None
            row_id = (
                await conn.execute(
                    insert(custom_rules)
                    .values(
                        owner=owner,
                        metric=spec.metric,
                        op=spec.op,
                        threshold=spec.threshold,
                        created_at=now,
                    )
                    .returning(custom_rules.c.id)
                )
            ).scalar_one()
            rule_id = custom_rule_id(int(row_id))
            dest_id = await destination_id(conn, self.insert, owner, now)
            await conn.execute(
                insert(subscriptions).values(destination_id=dest_id, rule_id=rule_id)
            )
            await conn.execute(insert(rule_state).values(state_values(rule_id, RuleState())))
        return rule_id

    async def remove_custom_rule(self, owner: str, rule_id: str) -> bool:
        """Delete the owner's custom rule with its subscription and state; False if none."""
        number = custom_rule_row(rule_id)
        if number is None:
            return False
        async with self._begin() as conn:
            gone = await conn.execute(
                delete(custom_rules).where(
                    custom_rules.c.id == number, custom_rules.c.owner == owner
                )
            )
            if not gone.rowcount:
                return False
            await conn.execute(delete(subscriptions).where(subscriptions.c.rule_id == rule_id))
            await conn.execute(delete(rule_state).where(rule_state.c.rule_id == rule_id))
        return True
