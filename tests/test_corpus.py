"""Corpus sources, caching, the validation split and the corruption knob."""

import numpy as np
import pytest

from npmk import corpus


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NPMK_CACHE", str(tmp_path_factory.getbasetemp() / "npmk-cache"))


def test_stdlib_files_sorted_and_filtered():
    root, files = corpus.stdlib_files()
    rel = [p.relative_to(root).as_posix() for p in files]
    assert rel == sorted(rel) and len(rel) > 100
    assert all(p.endswith(".py") for p in rel)
    assert not any(part in {"site-packages", "test", "tests"} for r in rel for part in r.split("/")[:-1])


def test_read_text_cap_is_exact():
    docs = corpus.read_text("stdlib", 123_457)
    assert sum(len(d.encode("utf-8", errors="surrogatepass")) for d in docs) == pytest.approx(123_457, abs=8)


def test_directory_file_and_npy_sources(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b.txt").write_text("def g(y):\n    return y * 2\n" * 200)
    (tmp_path / "d" / "a.txt").write_text("def f(x):\n    return x + 1\n" * 200)
    docs = corpus.read_text(tmp_path / "d", 10**6)
    assert docs[0].startswith("def f")  # sorted order: a.txt first
    c = corpus.load(tmp_path / "d", tokenizer="bpe", vocab=300, max_bytes=10**6)
    assert c.n_files == 2 and c.tokens.max() < 300 and c.vocab_size == 300
    again = corpus.load(tmp_path / "d", tokenizer="bpe", vocab=300, max_bytes=10**6)
    np.testing.assert_array_equal(c.tokens, again.tokens)
    assert again.sha256 == c.sha256
    single = corpus.load(tmp_path / "d" / "a.txt", tokenizer="bpe", vocab=300, max_bytes=10**6)
    assert single.n_files == 1 and single.sha256 != c.sha256
    np.save(tmp_path / "t.npy", np.arange(50) % 7)
    t = corpus.load(tmp_path / "t.npy", tokenizer="none")
    assert t.vocab_size == 7 and t.tokens.dtype == np.int32
    with pytest.raises(ValueError, match="tokenizer='none'"):
        corpus.load(tmp_path / "t.npy")
    with pytest.raises(FileNotFoundError, match="neither"):
        corpus.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="unknown tokenizer"):
        corpus.load(tmp_path / "d", tokenizer="gpt2")


def test_split_holds_out_the_tail():
    tr, va = corpus.split(np.arange(100), 0.1)
    assert len(va) == 10 and va[0] == 90 and len(tr) == 90
    with pytest.raises(ValueError):
        corpus.split(np.arange(10), 1.5)


@pytest.mark.parametrize("rho", [0.05, 0.3])
def test_corrupt_changes_expected_fraction(rho):
    vocab = 64
    tokens = np.random.default_rng(9).integers(0, vocab, 200_000).astype(np.int32)
    out = corpus.corrupt(tokens, rho, vocab, seed=3)
    frac = (out != tokens).mean()
    expected = rho * (1 - 1 / vocab)
    sigma = np.sqrt(expected * (1 - expected) / len(tokens))
    assert abs(frac - expected) < 5 * sigma
    np.testing.assert_array_equal(out, corpus.corrupt(tokens, rho, vocab, seed=3))
    assert (out != corpus.corrupt(tokens, rho, vocab, seed=4)).any()
    assert out.max() < vocab


def test_corrupt_zero_and_bad_rate():
    t = np.arange(10, dtype=np.int32)
    np.testing.assert_array_equal(corpus.corrupt(t, 0.0, 10, 0), t)
    with pytest.raises(ValueError, match="rho"):
        corpus.corrupt(t, 1.5, 10, 0)


def test_stdlib_docstrings_is_built_once_from_docstrings():
    path = corpus.stdlib_docstrings()
    text = path.read_text()
    assert len(text) > 100_000
    assert "def " not in text[:5000]  # docstrings, not source
    mtime = path.stat().st_mtime_ns
    assert corpus.stdlib_docstrings() == path and path.stat().st_mtime_ns == mtime
