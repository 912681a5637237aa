"""Randomly initialised models of every supported family, built locally from config classes.

No download: each model comes from its transformers config class with small
dimensions, so it carries the family's real parameter names (the skeleton rule
tables are tested on them) and the family's own initialisation, with standard
deviation ``config.initializer_range`` (sigma_init) for the Gaussian tensors.

Sizes (hidden, layers, attention heads, FFN width, vocabulary):

* ``tiny``  -- 64, 2, 4, 4x hidden (GeLU) or ~2.7x hidden (SwiGLU), 256: all 15 in seconds;
* ``small`` -- 256, 4, 8, same ratios, 2048: every matrix has >= 16k values for a per-matrix fit.

Attention heads follow the real family: GQA (half as many KV heads) for LLaMA,
Mistral, Mixtral, Qwen2, Qwen3; MQA for Gemma (as Gemma-2B) and Falcon (as
Falcon-7B); MHA for the rest.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
import transformers
from transformers import AutoModel, AutoModelForCausalLM, PretrainedConfig, PreTrainedModel

from npmk.checkpoints import drop_tied_aliases
from npmk.skeleton import UnknownArchitectureError

#: the 15 families, by transformers model_type, each with its config class name
CONFIG_CLASSES = {
    "gpt_neox": "GPTNeoXConfig", "llama": "LlamaConfig", "mistral": "MistralConfig",
    "mixtral": "MixtralConfig", "qwen2": "Qwen2Config", "qwen3": "Qwen3Config",
    "olmo": "OlmoConfig", "olmo2": "Olmo2Config", "gemma": "GemmaConfig", "phi": "PhiConfig",
    "phi3": "Phi3Config", "falcon": "FalconConfig", "gpt2": "GPT2Config", "bert": "BertConfig",
    "mpnet": "MPNetConfig",
}
FAMILIES = list(CONFIG_CLASSES)

ZOO_SIZES = {
    "tiny": {"hidden": 64, "layers": 2, "heads": 4, "vocab": 256, "positions": 128},
    "small": {"hidden": 256, "layers": 4, "heads": 8, "vocab": 2048, "positions": 256},
}

_GQA = {"llama", "mistral", "mixtral", "qwen2", "qwen3"}
_MQA = {"gemma"}  # Falcon's MQA is its config default (multi_query=True)
_GELU = {"gpt_neox", "phi", "falcon", "gpt2", "bert", "mpnet"}
_ENCODERS = {"bert", "mpnet"}


def config(family: str, size: str = "tiny") -> PretrainedConfig:
    """The transformers config of a ``family`` model of ``size`` (see module docstring)."""
    if family not in CONFIG_CLASSES:
        raise UnknownArchitectureError(
            f"no zoo model for family {family!r}; families: {', '.join(FAMILIES)}")
    if size not in ZOO_SIZES:
        raise ValueError(f"unknown zoo size {size!r}; sizes: {', '.join(ZOO_SIZES)}")
    s = ZOO_SIZES[size]
    h, heads = s["hidden"], s["heads"]
    # SwiGLU width ~ (8/3) h keeps the parameter count of a 4h GeLU MLP, as LLaMA does
    ffn = 4 * h if family in _GELU else 8 * h // 3
    kv = heads // 2 if family in _GQA else 1 if family in _MQA else heads
    # token ids inside the small vocabulary; no padding row, so no embedding row is zeroed
    ids = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": None}
    cls = getattr(transformers, CONFIG_CLASSES[family])
    if family == "gpt2":
        return cls(n_embd=h, n_layer=s["layers"], n_head=heads, n_inner=ffn, vocab_size=s["vocab"],
                   n_positions=s["positions"], **ids)
    if family == "falcon":
        return cls(hidden_size=h, num_hidden_layers=s["layers"], num_attention_heads=heads,
                   vocab_size=s["vocab"], **ids)
    kwargs = {"hidden_size": h, "num_hidden_layers": s["layers"], "num_attention_heads": heads,
              "intermediate_size": ffn, "vocab_size": s["vocab"],
              "max_position_embeddings": s["positions"], **ids}
    if family not in {"gpt_neox"} | _ENCODERS:
        kwargs["num_key_value_heads"] = kv
    if family in {"qwen3", "gemma"}:
        kwargs["head_dim"] = h // heads
    if family == "mixtral":
        kwargs.update(num_local_experts=4, num_experts_per_tok=2, intermediate_size=h)
    return cls(**kwargs)


def build(family: str, size: str = "tiny", seed: int = 0,
          dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """A randomly initialised ``family`` model (causal LM; BERT, MPNet: the bare encoder with pooler).

    Deterministic for a given (family, size, seed) on one machine.  sigma_init is
    ``model.config.initializer_range`` (see ``sigma_init``).
    """
    cfg = config(family, size)
    torch.manual_seed(seed)
    auto = AutoModel if family in _ENCODERS else AutoModelForCausalLM
    model = auto.from_config(cfg)
    return model.to(dtype).eval()


def sigma_init(model: PreTrainedModel | PretrainedConfig) -> float:
    """The Gaussian initialisation standard deviation ``initializer_range`` of a model or config."""
    cfg = model.config if isinstance(model, PreTrainedModel) else model
    value = getattr(cfg, "initializer_range", None)
    if value is None:
        raise ValueError(f"{type(cfg).__name__} has no initializer_range")
    return float(value)


def unique_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict without tied aliases (e.g. ``lm_head.weight`` tied to the token
    embedding), as ``save_pretrained`` writes it: see ``npmk.checkpoints.drop_tied_aliases``."""
    return drop_tied_aliases(model.state_dict(), type(model).__name__)


def save(family: str, directory: str | os.PathLike, size: str = "tiny", seed: int = 0,
         dtype: torch.dtype = torch.float32) -> Path:
    """Build a zoo model and ``save_pretrained`` it (config.json + model.safetensors) into
    ``directory``, which must not exist or be empty.  Written to a temporary sibling
    directory first and moved into place, so a crash leaves no half-written model."""
    target = Path(directory)
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"zoo.save: {target} exists and is not empty")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    build(family, size, seed, dtype).save_pretrained(tmp)
    os.replace(tmp, target)
    return target
