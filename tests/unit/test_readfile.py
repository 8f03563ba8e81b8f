import os
from pathlib import Path

import pytest

from shimimg import readfile
from shimimg.errors import ShimimgError


def test_regular_files_are_read_up_to_the_cap(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"x" * 10)
    assert readfile.read_bytes(f, 10) == b"x" * 10
    with pytest.raises(ShimimgError, match="larger than"):
        readfile.read_bytes(f, 9)


def test_devices_and_fifos_are_refused_without_blocking(tmp_path):
    with pytest.raises(ShimimgError, match="is a device, not a template"):
        readfile.read_bytes(Path("/dev/zero"), 100, "template")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ShimimgError, match="is a FIFO"):
        readfile.read_bytes(tmp_path / "fifo", 100)
    with pytest.raises(IsADirectoryError):
        readfile.read_bytes(tmp_path, 100)
    with pytest.raises(FileNotFoundError):
        readfile.read_bytes(tmp_path / "missing", 100)
