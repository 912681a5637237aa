"""Regenerate ggml_kquant_ref.npz: llama.cpp's reference Q4_K / Q6_K bytes for seeded blocks.

The bytes come from ggml's C functions ``quantize_row_q4_K_ref`` / ``quantize_row_q6_K_ref``
(ggml-quants.c as vendored in the PyPI sdist ggml-python==0.0.45, MIT), compiled into a
shared library and called through ctypes:

    pip download ggml-python==0.0.45 --no-deps && tar xzf ggml_python-0.0.45.tar.gz
    G=ggml_python-0.0.45/vendor/ggml
    gcc -O1 -shared -fPIC -I $G/include -I $G/src $G/src/ggml-quants.c ggml_shim.c -o libq.so -lm

where ggml_shim.c (beside this file) defines ggml_abort, ggml_log_internal, ggml_row_size,
ggml_type_name and ggml_type_size as stubs (the two reference functions call none of them).
Run: python make_ggml_kquant_ref.py path/to/libq.so
"""

import ctypes
import sys
from pathlib import Path

import numpy as np


def inputs() -> dict[str, np.ndarray]:
    """Blocks of 256 values: Gaussian, heavy-tailed, one-signed and an all-zero block."""
    rng = np.random.default_rng(20261201)
    return {
        "gauss": (rng.standard_normal((8, 256)) * 0.02).astype(np.float32),
        "student3": (rng.standard_t(3, (8, 256)) * 0.01).astype(np.float32),
        "positive": np.abs(rng.standard_normal((4, 256))).astype(np.float32),
        "zero": np.zeros((1, 256), dtype=np.float32),
    }


def main(lib_path: str) -> None:
    lib = ctypes.CDLL(lib_path)
    out = {}
    for name, x in inputs().items():
        out[f"x_{name}"] = x
        for fn, qtype, size in (("quantize_row_q4_K_ref", "Q4_K", 144), ("quantize_row_q6_K_ref", "Q6_K", 210)):
            y = np.zeros((x.shape[0], size), dtype=np.uint8)
            getattr(lib, fn)(x.ctypes.data_as(ctypes.c_void_p), y.ctypes.data_as(ctypes.c_void_p),
                             ctypes.c_int64(x.size))
            out[f"{qtype}_{name}"] = y
    np.savez_compressed(Path(__file__).with_name("ggml_kquant_ref.npz"), **out)


if __name__ == "__main__":
    main(sys.argv[1])
