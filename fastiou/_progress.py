"""A one-line progress bar on stderr (no dependency): ``fastiou bench`` and ``fastiou eval``."""

from __future__ import annotations

import sys


class Progress:
    """A one-line progress bar on stderr (no dependency)."""

    def __init__(self, total: int, enabled: bool = True, width: int = 30):
        self.total, self.done, self.width = max(total, 1), 0, width
        self.enabled = enabled and total > 0

    def step(self, text: str, advance: bool = True) -> None:
        self.done += advance
        if self.enabled:
            filled = int(self.width * self.done / self.total)
            bar = "#" * filled + "." * (self.width - filled)
            sys.stderr.write(f"\r[{bar}] {self.done}/{self.total} {text[:60]:<60}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
