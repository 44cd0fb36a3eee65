"""The pure model: rules and their evaluation, alerts, deliveries, destinations, the regime; no I/O."""
