"""Model builders for the training lab: Pythia-style GPT-NeoX and LLaMA-style decoders.

Both are built from ``transformers`` config classes (no download), so parameter
names are the real ones (``gpt_neox.layers.0.attention.query_key_value.weight``,
``model.layers.0.self_attn.q_proj.weight`` …) and :func:`npmk.skeleton.classify`
recognises them.

* ``pythia``: GPT-NeoX with rotary on 25% of each head, parallel residual,
  untied embeddings, biases, LayerNorm, GELU, init std 0.02 (the Pythia recipe).
* ``llama``: LLaMA with SwiGLU MLP, RMSNorm, RoPE on the full head, no biases,
  untied embeddings, init std 0.02.

Named sizes (``SIZES``): ``tiny`` (CI, trains in seconds), ``small`` (the book's
default, ~1 minute per run on 2 CPU cores) and ``pythia-70m`` (the paper's
config: hidden 512, 6 layers, 8 heads, FFN 2048; for a GPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM, PreTrainedModel

__all__ = ["ARCHES", "SIZES", "Size", "FAMILY", "build", "model_config"]

ARCHES = ("pythia", "llama")
FAMILY = {"pythia": "gpt_neox", "llama": "llama"}


@dataclass(frozen=True)
class Size:
    """Shape of a model: width, depth, heads, FFN width (LLaMA uses ``ffn_llama``)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    ffn_llama: int


SIZES: dict[str, Size] = {
    "tiny": Size(hidden=32, layers=2, heads=2, ffn=128, ffn_llama=88),
    "small": Size(hidden=128, layers=2, heads=4, ffn=512, ffn_llama=344),
    "pythia-70m": Size(hidden=512, layers=6, heads=8, ffn=2048, ffn_llama=1368),
}


def model_config(arch: str, size: str, vocab_size: int, max_positions: int) -> GPTNeoXConfig | LlamaConfig:
    """The transformers config for ``arch`` at named ``size``.

    LLaMA's SwiGLU has three FFN matrices, so its FFN width is ~2/3 of the
    GPT-NeoX one (rounded to a multiple of 8) to keep the parameter count matched.
    """
    if arch not in ARCHES:
        raise ValueError(f"unknown arch {arch!r}; expected one of {ARCHES}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {tuple(SIZES)}")
    s = SIZES[size]
    common = dict(
        vocab_size=vocab_size,
        hidden_size=s.hidden,
        num_hidden_layers=s.layers,
        num_attention_heads=s.heads,
        max_position_embeddings=max_positions,
        initializer_range=0.02,
        tie_word_embeddings=False,
        use_cache=False,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )
    if arch == "pythia":
        return GPTNeoXConfig(
            intermediate_size=s.ffn,
            hidden_act="gelu",
            use_parallel_residual=True,
            attention_bias=True,
            hidden_dropout=0.0,
            attention_dropout=0.0,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
            **common,
        )
    return LlamaConfig(
        intermediate_size=s.ffn_llama,
        hidden_act="silu",
        num_key_value_heads=s.heads,
        attention_bias=False,
        mlp_bias=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        **common,
    )


def build(arch: str, size: str, vocab_size: int, max_positions: int, seed: int) -> PreTrainedModel:
    """A freshly initialised float32 causal LM; the init depends only on ``seed``."""
    config = model_config(arch, size, vocab_size, max_positions)
    cls = GPTNeoXForCausalLM if arch == "pythia" else LlamaForCausalLM
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config)
    model.config.use_cache = False
    return model.float()
