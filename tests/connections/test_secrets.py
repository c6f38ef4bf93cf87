"""``.tide/secrets.yaml`` gives each secret as written: YAML does not turn ``0123`` into 83 or ``yes`` into
True; a file that cannot be read is a clear connection error that never shows a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from tideflow.connections.base import SECRETS_FILE, read_secret
from tideflow.errors import ConnectionError_


def write(root: Path, data: bytes) -> None:
    (root / ".tide").mkdir(exist_ok=True)
    (root / SECRETS_FILE).write_bytes(data)


@pytest.mark.parametrize("written", ["0123", "yes", "~", "1:20", "12_345", "0x1F", "'quoted'", '"dq: x"', "1e3"])
def test_a_secret_is_the_text_as_written(tmp_path: Path, written: str) -> None:
    write(tmp_path, f"pw: {written}\n".encode())
    expected = written[1:-1] if written[0] in "'\"" else written
    assert read_secret(tmp_path, "pw", connection="pg") == expected


@pytest.mark.parametrize(("data", "message"), [
    (b"pw: caf\xe9secret\n", "cannot read .tide/secrets.yaml: expected UTF-8 text"),
    (b"other: 1\npw: 'unclosed secret\n", "cannot read .tide/secrets.yaml: expected YAML 'key: value' lines, "
                                          "got invalid YAML at line"),
    (b"pw: [s3cret, x]\n", "key 'pw' of .tide/secrets.yaml holds a list; expected text"),
    (b"other: s3cret\n", "key 'pw' is missing from .tide/secrets.yaml"),
])
def test_a_bad_file_is_a_clear_error_without_the_secret(tmp_path: Path, data: bytes, message: str) -> None:
    write(tmp_path, data)
    with pytest.raises(ConnectionError_) as caught:
        read_secret(tmp_path, "pw", connection="pg")
    text = str(caught.value)
    assert text.startswith(f"connection 'pg': {message}"), text
    assert "secret" not in text.replace("secrets.yaml", "").replace("password_secret", ""), text
