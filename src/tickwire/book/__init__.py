"""Order books kept from a venue's snapshot and level updates (sans-I/O)."""

from tickwire.book.levels import LevelBook

__all__ = ["LevelBook"]
