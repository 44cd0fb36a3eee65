"""The watch loop: one poller per feed, the derived regime, and the engine that turns samples into alerts."""
