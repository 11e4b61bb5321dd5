"""Pretrained weights shipped with the package: small float16 safetensors files.

Each file is listed with its SHA-256 in ``CHECKSUMS``; loading verifies it, so a
damaged install fails loudly instead of decoding garbage. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import torch
from safetensors.torch import load, save_file

from latentpress.errors import WeightsError

CHECKSUMS: dict[str, str] = {
    "factorized-v1.safetensors": "f62e1b1d24715dfe059f907207e73d158054bdfdf8b452274d5b16a2cab620e5",
    "cae-luma-v1.safetensors": "4342f33f2d77f9337df02fad127d2caacce8184683128e29964b8884f3eb2249",
    "cae-chroma-v1.safetensors": "358a7eca2ecbb540e9ba35179fe7dfdabeeeb594f378483bf35c76a2b676c910",
    "cnn-ae-v1.safetensors": "497fc1a489f77f4167054c5071f580d06947bbf50f593576b0898da9c801b63f",
    "cnn-rnn-ae-v1.safetensors": "5bd2440ec7c91032c955122152304fa495202a8d472f35a47063ab8f8c3b418a",
    "cnn-ae-ft-v1.safetensors": "047b1b60b48a82c36a715b74f3b4fba3dc709472bd61b71d3223b30d1cfdd320",
    "gan-ae-v1.safetensors": "8f03cdb12c113e67fca74fa5bdaa719caeae0fd03fc9247c388362f4ae415d21",
    "cnn-deblock-v1.safetensors": "a4f96fc548bae6fce4f2dba198b59da0a6e7308c96db00ec774b0ee97eb93d87",
    "dense-fashion-v1.safetensors": "eb63ca9356814459658b027bda7ba69c2b909d424b5926333ba437ff870a027c",
    "dense-mnist-v1.safetensors": "4d23201d6da75083f9f02cd19d094631e2a91a86d977f52c69c157a5615be51b",
    "overfit-restore-v1.safetensors": "a37f625aba36108d00a4a72224362e52326d67c945a8a8e417428f4e6a51ce09",
    "overfit-arm-v1.safetensors": "87782ea908c979bab5b47f5ad959bba37858fb4daac43c9faf0e291901fb82cb",
}


def weights_bytes(name: str) -> bytes:
    if name not in CHECKSUMS:
        raise WeightsError(f"no shipped weights named {name!r}")
    try:
        data = resources.files(__name__).joinpath(name).read_bytes()
    except OSError as exc:
        raise WeightsError(f"shipped weights {name} are missing from the install: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != CHECKSUMS[name]:
        raise WeightsError(f"shipped weights {name} fail their checksum "
                           f"(sha256 {digest[:16]}…, expected {CHECKSUMS[name][:16]}…); reinstall latentpress")
    return data


def load_weights(name: str) -> dict[str, torch.Tensor]:
    """Tensors of a shipped weights file, as float32, after checking its SHA-256."""
    tensors = load(weights_bytes(name))
    return {k: v.float() for k, v in tensors.items()}


def export_weights(model: torch.nn.Module, path: str, metadata: dict[str, str]) -> str:
    """Save a model's parameters as float16 safetensors; returns the file's SHA-256."""
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, path, metadata=metadata)
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()
