"""npmk.checkpoints: every source kind reads the same tensors lazily; bad files name themselves."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from npmk.checkpoints import SourceError, open_checkpoint


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = GPTNeoXConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        vocab_size=100, max_position_embeddings=64)
    return GPTNeoXForCausalLM(cfg).eval()


def _files(directory):
    out = {}
    for f in directory.glob("*.safetensors"):
        out.update(load_file(f))
    return out


def _same(ckpt, want):
    got = dict(ckpt.tensors())
    assert set(got) == set(want)
    for name, t in got.items():
        assert torch.equal(t, want[name]), name
    for info in ckpt.infos():
        assert info.shape == tuple(want[info.name].shape)
        chunks = [c.clone() for c in ckpt.chunks(info, elems=100)]
        assert torch.equal(torch.cat(chunks), want[info.name].reshape(-1))


def test_local_dir_single_and_sharded(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "one")
    one = open_checkpoint(tmp_path / "one")
    assert one.config["model_type"] == "gpt_neox"
    _same(one, _files(tmp_path / "one"))
    tiny.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    sharded = open_checkpoint(str(tmp_path / "sharded"))
    _same(sharded, _files(tmp_path / "sharded"))
    files = sorted((tmp_path / "sharded").glob("*.safetensors"))
    assert len(files) > 1
    assert {i.name for i in open_checkpoint(files).infos()} == {i.name for i in sharded.infos()}


def test_bin_module_and_state_dict(tiny, tmp_path):
    torch.save(tiny.state_dict(), tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text(json.dumps(tiny.config.to_dict()))
    for source in (tmp_path, tmp_path / "pytorch_model.bin", tiny, tiny.state_dict()):
        _same(open_checkpoint(source), tiny.state_dict())
    assert open_checkpoint(tiny).config["model_type"] == "gpt_neox"
    assert open_checkpoint(tiny.state_dict()).config is None


def test_several_bin_files_and_their_bad_mixes(tiny, tmp_path):
    state = tiny.state_dict()
    names = list(state)
    torch.save({n: state[n] for n in names[:3]}, tmp_path / "a.bin")
    torch.save({n: state[n] for n in names[3:]}, tmp_path / "b.bin")
    _same(open_checkpoint([tmp_path / "a.bin", tmp_path / "b.bin"]), state)
    torch.save({n: state[n] for n in names[2:]}, tmp_path / "c.bin")
    with pytest.raises(SourceError, match=names[2]):
        open_checkpoint([tmp_path / "a.bin", tmp_path / "c.bin"])
    with pytest.raises(SourceError, match="is a directory"):
        open_checkpoint([tmp_path / "a.bin", tmp_path])


def test_tied_aliases_are_kept_once():
    emb = torch.randn(10, 4)
    ckpt = open_checkpoint({"embed.weight": emb, "head.weight": emb})
    assert [i.name for i in ckpt.infos()] == ["embed.weight"]


def test_metadata_without_reading_data(tmp_path):
    save_file({"a.weight": torch.zeros(3, 4, dtype=torch.float16), "q.qweight": torch.zeros(2, 2, dtype=torch.int8)},
              tmp_path / "m.safetensors")
    infos = {i.name: i for i in open_checkpoint(tmp_path / "m.safetensors").infos()}
    assert infos["a.weight"].shape == (3, 4) and infos["a.weight"].dtype == "float16"
    assert infos["q.qweight"].dtype == "int8"


def test_truncated_and_corrupt_files_name_the_file(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({"w.weight": torch.randn(64, 64)}, path)
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(SourceError, match="model.safetensors"):
        open_checkpoint(path)
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(SourceError, match="model.safetensors"):
        open_checkpoint(path)
    bin_path = tmp_path / "x.bin"
    bin_path.write_bytes(b"garbage" * 10)
    with pytest.raises(SourceError, match="x.bin"):
        open_checkpoint(bin_path)


def test_missing_paths_and_revisions(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        open_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(SourceError, match=r"no \*\.safetensors"):
        open_checkpoint(tmp_path)
    with pytest.raises(SourceError, match="revision"):
        open_checkpoint(tmp_path, revision="step1000")


def test_hub_offline_names_model_and_revision(tmp_path, monkeypatch):
    from huggingface_hub import constants

    # What HF_HUB_OFFLINE=1 sets, with an empty cache.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(SourceError) as err:
        open_checkpoint("EleutherAI/pythia-70m", revision="step3000")
    msg = str(err.value)
    assert "EleutherAI/pythia-70m" in msg and "step3000" in msg and "local directory" in msg
