"""Messages packed into one blob for a whole update group, and what one member is handed of it:
the blob itself, or memoryview slices around its own routes' messages (no copy either way)."""

from __future__ import annotations

from dataclasses import dataclass, field

Spans = list[tuple[int, int]]  # [(start, end)] of whole messages inside one blob


@dataclass(slots=True)
class Packed:
    """Messages packed into one blob, with the spans of each source's own messages (which that
    source is not sent: it gets slices around them)."""

    blob: bytes = b""
    count: int = 0
    spans: dict[str, Spans] = field(default_factory=dict)

    def for_member(self, key: str) -> tuple[list[bytes | memoryview], int]:
        """What one member is handed: the blob, or memoryview slices of it around its own
        messages (no copy either way), and how many messages that is."""
        own = self.spans.get(key)
        if not own:
            return ([self.blob] if self.blob else []), self.count
        view = memoryview(self.blob)
        chunks: list[bytes | memoryview] = []
        cur = 0
        for a, b in own:
            if a > cur:
                chunks.append(view[cur:a])
            cur = b
        if cur < len(self.blob):
            chunks.append(view[cur:])
        return chunks, self.count - len(own)


class Builder:
    """Appends messages to one blob-to-be, tracking byte positions without re-summing."""

    __slots__ = ("packed", "parts", "pos")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.pos = 0
        self.packed = Packed()

    def add(self, messages: list[bytes], owner: str | None = None) -> None:
        pos = self.pos
        spans = None
        if owner is not None:
            spans = self.packed.spans.get(owner)
            if spans is None:
                spans = self.packed.spans[owner] = []
        for m in messages:
            self.parts.append(m)
            n = len(m)
            if spans is not None:
                spans.append((pos, pos + n))
            pos += n
        self.pos = pos
        self.packed.count += len(messages)

    def done(self) -> Packed:
        self.packed.blob = b"".join(self.parts)
        return self.packed
