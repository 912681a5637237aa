"""npmk._files: atomic writes leave the old file or the new one, never a part; the lock excludes."""

import hashlib
import multiprocessing
import os
import time

import pytest

from npmk._files import locked, sha256, write_atomic, write_json


def test_write_atomic_replaces_whole_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]
    # the umask's permissions, not mkstemp's 0600, so a shared cache stays readable
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    write_json(target, {"a": 1})

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_json(target, {"a": 2})
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_sha256_of_a_file(tmp_path):
    data = os.urandom(3 << 20)  # spans several 1 MiB chunks
    (tmp_path / "x").write_bytes(data)
    assert sha256(tmp_path / "x") == hashlib.sha256(data).hexdigest()


def _hold(directory, started):
    with locked(directory):
        started.set()
        time.sleep(0.5)  # give the main process time to try for the lock
        (directory / "done").write_text("released next")


def test_lock_blocks_a_second_holder(tmp_path):
    started = multiprocessing.Event()
    other = multiprocessing.Process(target=_hold, args=(tmp_path, started))
    other.start()
    assert started.wait(60)
    with locked(tmp_path):
        # we hold the lock only after the other process wrote its marker and let go
        assert (tmp_path / "done").exists()
    other.join()
    assert other.exitcode == 0
