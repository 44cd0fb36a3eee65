"""Delivery: the dispatcher that drains the outbox, and the notifiers the core ships (console, webhook)."""
