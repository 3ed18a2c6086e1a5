"""A dependency-free TensorBoard event-file writer (scalars and text).

TensorBoard reads ``events.out.tfevents.*`` files: TFRecord framing (length, masked CRC-32C, data,
masked CRC-32C) around serialized ``Event`` protocol buffers. Writing the few message types needed
by hand keeps TensorFlow and the ``tensorboard`` package out of the core install; the tests read
the files back with TensorBoard's own ``EventAccumulator``.
"""

import os
import socket
import struct
import time


def _crc32c_table() -> list[int]:
  table = []
  for byte in range(256):
    crc = byte
    for _ in range(8):
      crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    table.append(crc)
  return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
  """CRC-32C (Castagnoli) of ``data``."""
  crc = 0xFFFFFFFF
  for b in data:
    crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
  out = bytearray()
  while True:
    bits = value & 0x7F
    value >>= 7
    if value:
      out.append(bits | 0x80)
    else:
      out.append(bits)
      return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
  return _varint((number << 3) | wire) + payload


def _bytes(number: int, data: bytes) -> bytes:
  return _field(number, 2, _varint(len(data)) + data)


def _event(wall_time: float, step: int, body: bytes) -> bytes:
  return _field(1, 1, struct.pack("<d", wall_time)) + _field(2, 0, _varint(step)) + body


class EventFileWriter:
  """Appends scalar and text summaries to a new event file in ``logdir``.

  Args:
    logdir: directory TensorBoard is pointed at (created if needed).
  """

  def __init__(self, logdir: str):
    os.makedirs(logdir, exist_ok=True)
    name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
    self.path = os.path.join(logdir, name)
    self._file = open(self.path, "ab")  # noqa: SIM115 - kept open across writes, closed in close().
    self._write(_event(time.time(), 0, _bytes(3, b"brain.Event:2")))

  def _write(self, event: bytes) -> None:
    header = struct.pack("<Q", len(event))
    self._file.write(header + struct.pack("<I", _masked_crc(header)))
    self._file.write(event + struct.pack("<I", _masked_crc(event)))

  def scalars(self, step: int, values: dict[str, float]) -> None:
    """Writes ``{tag: value}`` scalars at ``step``."""
    summary = b"".join(
      _bytes(1, _bytes(1, tag.encode()) + _field(2, 5, struct.pack("<f", float(v))))
      for tag, v in values.items()
    )
    self._write(_event(time.time(), int(step), _bytes(5, summary)))

  def text(self, step: int, tag: str, text: str) -> None:
    """Writes a text summary (rendered as Markdown by TensorBoard's text plugin)."""
    metadata = _bytes(1, _bytes(1, b"text"))  # SummaryMetadata.plugin_data.plugin_name
    tensor = _field(1, 0, _varint(7)) + _bytes(2, b"") + _bytes(8, text.encode())  # DT_STRING
    value = _bytes(1, tag.encode()) + _bytes(9, metadata) + _bytes(8, tensor)
    self._write(_event(time.time(), int(step), _bytes(5, _bytes(1, value))))

  def flush(self) -> None:
    """Flushes buffered events to disk."""
    self._file.flush()

  def close(self) -> None:
    """Flushes and closes the file."""
    self._file.close()
