"""One declaration per source: its metric ids, their catalogue entries, settings and factory.

These modules stay light (no pandas, no ccxt): the bot's model, settings and CLI read them
without loading a feed; each factory imports its source's implementation when it builds it.
"""
