"""Tests of the Discord front-end."""

# The front-end package imports discord.py without the audioop deprecation warning its voice
# support raises; load it before any test module imports discord itself.
import handlers.discord  # noqa: F401
