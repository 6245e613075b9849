import os
import stat

import pytest

from rewardkit.fileio import atomic_write, atomic_write_text


def test_atomic_write_replaces_a_file_whole_and_keeps_it_on_error(tmp_path):
    path = tmp_path / "out.json"
    atomic_write_text(path, "old")
    with pytest.raises(RuntimeError), atomic_write(path) as f:
        f.write("half")
        raise RuntimeError("crash inside the block")
    assert path.read_text() == "old"
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left behind


def test_writing_to_a_character_device_leaves_it_a_device(tmp_path):
    # `rewardkit score --output /dev/null` used to rename a temporary file over /dev/null, which
    # as root turned the device into a regular file for every process on the machine. A private
    # copy of the null device (needs root, as CI runs) keeps the machine's own out of harm's way.
    null = tmp_path / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    atomic_write_text(null, "discarded\n")
    assert stat.S_ISCHR(os.stat(null).st_mode)


def test_writing_to_a_fifo_writes_in_place(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so opening for writing does not block
    try:
        atomic_write_text(fifo, "through the pipe")
        assert os.read(reader, 100) == b"through the pipe"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
