"""Streaming frame decoder: bytes in (any chunking), messages out.

Never raises on bad input.  Every dropped frame is counted by cause; the
decoder resynchronises at the next 0x00 delimiter, so one corrupted byte
costs at most the frame it landed in (and the one after it, if it was the
delimiter that was hit).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .protocol import DELIMITER, MAX_ENCODED, Message, ProtocolError, decode_frame


@dataclass
class DecoderStats:
    frames_ok: int = 0
    bytes_in: int = 0
    cobs: int = 0          # not a valid COBS block
    short: int = 0         # decoded body shorter than id + seq + crc
    crc: int = 0           # CRC mismatch (corruption)
    unknown_id: int = 0
    length: int = 0        # payload length wrong for its id (truncated or padded)
    value: int = 0         # a field outside its documented range
    oversize: int = 0      # no delimiter within MAX_ENCODED bytes (garbage)
    seq_gaps: int = 0      # frames missing according to sequence numbers
    by_id: dict = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return self.cobs + self.short + self.crc + self.unknown_id + self.length + self.value + self.oversize


class FrameDecoder:
    """Feed bytes with :meth:`feed`; it returns the messages completed by them."""

    def __init__(self):
        self.stats = DecoderStats()
        self._buf = bytearray()
        self._discarding = False     # inside an oversize run: skip to the next delimiter
        self._last_seq: int | None = None

    def reset(self) -> None:
        """Forget partial input and sequence state (after a reconnect)."""
        self._buf.clear()
        self._discarding = False
        self._last_seq = None

    def feed(self, data: bytes) -> list[tuple[int, Message]]:
        out: list[tuple[int, Message]] = []
        st = self.stats
        st.bytes_in += len(data)
        start = 0
        while start < len(data):
            end = data.find(DELIMITER, start) if isinstance(data, (bytes, bytearray)) else bytes(data).find(0, start)
            chunk = data[start:] if end < 0 else data[start:end]
            if not self._discarding:
                self._buf += chunk
                if len(self._buf) > MAX_ENCODED:
                    st.oversize += 1
                    self._buf.clear()
                    self._discarding = True
            if end < 0:
                break
            start = end + 1
            if self._discarding:
                self._discarding = False
                continue
            if not self._buf:
                continue            # back-to-back delimiters are idle fill, not errors
            block = bytes(self._buf)
            self._buf.clear()
            try:
                seq, msg = decode_frame(block)
            except ProtocolError as e:
                setattr(st, e.kind, getattr(st, e.kind) + 1)
                continue
            if self._last_seq is not None:
                st.seq_gaps += (seq - self._last_seq - 1) & 0xFF
            self._last_seq = seq
            st.frames_ok += 1
            name = type(msg).__name__
            st.by_id[name] = st.by_id.get(name, 0) + 1
            out.append((seq, msg))
        return out
