"""Read a user's text file as UTF-8, with an error that points at the bad bytes.

``Path.read_text`` raises a bare ``UnicodeDecodeError`` that names neither the file nor
the line; a data file saved as Latin-1 or Windows-1252 is a common slip, so say where.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from distill_zoo.errors import DataError


def read_utf8(path: Path) -> str:
    """The text of ``path``, decoded as UTF-8; a leading byte-order mark is dropped.

    Raises:
        DataError: naming the file, the line and the byte offset of the first byte that
            is not UTF-8.
    """
    data = path.read_bytes()
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = skip + err.start
        line = data.count(b"\n", 0, offset) + 1
        bad = data[offset : skip + err.end]
        raise DataError(
            f"{path}, line {line}: byte {bad!r} at offset {offset} is not valid UTF-8; "
            "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
        ) from None
