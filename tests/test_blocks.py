"""Report 000's block autoencoders ("Shallow Autoencoders for Lossy Image Compression"):
block-cnn and block-convlstm."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import latentpress
from latentpress import cli, container
from latentpress.codecs.blocks.codec import feasibility, render
from latentpress.codecs.blocks.model import (
    BlockArchitecture,
    BlockAutoencoder,
    decoder_weight_count,
    from_blocks,
    synthesize,
    to_blocks,
)
from latentpress.container import Section
from latentpress.errors import (
    CorruptPayloadError,
    LatentpressError,
    LimitError,
    ParameterError,
)
from latentpress.metrics import psnr
from latentpress.nn.convlstm import ConvLSTM2d, hard_sigmoid

CODECS = ("block-cnn", "block-convlstm")
# Small enough to train in a second, large enough to compress: 16-pixel blocks, 8-value codes.
SMALL = {"block": 16, "code_length": 8, "epochs": 3}


@pytest.fixture(scope="module")
def crop(photo):
    """130×100: neither side a multiple of 16."""
    return np.ascontiguousarray(photo[72:202, 44:144])


@pytest.fixture(scope="module")
def encoded(crop):
    return {(codec, storage): latentpress.encode(crop, codec, storage=storage, **SMALL)
            for codec in CODECS for storage in ("float32", "quantized")}


def test_decoder_size_is_the_reports():
    # §4.1: 175,584 float32 weights for code length 64; Table 3's 408 KB and 1 MB files.
    assert decoder_weight_count(64) == 175_584
    for kind in ("cnn", "convlstm"):
        decoder = BlockAutoencoder(BlockArchitecture(kind, 32, 64)).decoder
        assert sum(p.numel() for p in decoder.parameters()) == 175_584
    assert feasibility(64, 32, 640, 640).compressed_bytes == 175_584 * 4 + 400 * 64 * 4
    assert round(feasibility(64, 32, 640, 640).ratio, 2) == 1.53
    assert round(feasibility(32, 32, 640, 640).ratio, 2) == 3.01
    assert round(feasibility(80, 32, 640, 640).ratio, 2) == 1.22


def test_feasibility_criterion():
    assert feasibility(64, 32, 640, 640).feasible
    small = feasibility(64, 32, 128, 128)
    assert not small.feasible and small.blocks == 16 and small.raw_bytes == 128 * 128 * 3
    assert feasibility(64, 32, 100, 70).blocks == 4 * 3          # padded to whole blocks
    assert feasibility(64, 32, 640, 640, channels=1).raw_bytes == 640 * 640


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("storage", ["float32", "quantized"])
def test_round_trip(crop, encoded, codec, storage):
    data = encoded[codec, storage]
    header = latentpress.read_info(data)
    assert (header.codec, header.width, header.height) == (codec, 100, 130)
    decoded = latentpress.decode(data)
    assert decoded.shape == crop.shape and decoded.dtype == np.uint8
    assert psnr(crop, decoded) > 14.0     # 3 epochs: near the mean colour (16 dB), but not noise
    assert np.array_equal(latentpress.decode(data), decoded)


@pytest.mark.parametrize("codec", CODECS)
def test_float32_payload_is_the_reports_formula(encoded, codec):
    data = encoded[codec, "float32"]
    header = latentpress.read_info(data)
    sections = {s.type: s.length for s in header.sections}
    expected = feasibility(8, 16, 130, 100)
    assert sections["DECW"] == expected.decoder_bytes == 4 * decoder_weight_count(8, 16)
    assert sections["CODE"] == expected.code_bytes == 4 * 8 * 9 * 7
    assert len(data) - sections["DECW"] - sections["CODE"] < 300          # header and framing


@pytest.mark.parametrize("codec", CODECS)
def test_quantized_storage_is_smaller_and_costs_at_most_the_tolerance(crop, encoded, codec):
    float32, quantized = encoded[codec, "float32"], encoded[codec, "quantized"]
    assert len(quantized) < len(float32) / 3
    # Same training (same seed), so the float file is the quantized one's reference.
    loss = psnr(crop, latentpress.decode(float32)) - psnr(crop, latentpress.decode(quantized))
    assert loss <= 0.1 + 0.02                 # float32 storage itself rounds weights to float32


def test_padding_leaves_no_border_artefacts():
    """Sides of 130 and 100 pixels leave partial 16-pixel blocks, padded by edge
    replication: on a smooth image their pixels (the last 2 rows, the last 4 columns)
    decode within 4 dB of the whole image's PSNR (a border artefact costs far more; the
    20-epoch training differs with the thread count, and a strip once measured 3.1 dB
    under the whole image)."""
    yy, xx = np.mgrid[0:130, 0:100]
    smooth = np.stack([128 + 70 * np.sin(xx / 9 + yy / 23), 128 + 60 * np.cos(yy / 7),
                       128 + 50 * np.sin((xx + yy) / 13)], axis=-1)
    image = np.clip(np.rint(smooth), 0, 255).astype(np.uint8)
    data = latentpress.encode(image, "block-convlstm", storage="float32", block=16, code_length=8, epochs=20)
    decoded = latentpress.decode(data)
    whole = psnr(image, decoded)
    assert whole > 19.0
    for strip in (np.s_[128:], np.s_[:, 96:]):
        assert psnr(np.ascontiguousarray(image[strip]), np.ascontiguousarray(decoded[strip])) > whole - 4


def test_greyscale(crop):
    grey = np.ascontiguousarray(crop[:, :, 1])
    data = latentpress.encode(grey, "block-cnn", **SMALL)
    decoded = latentpress.decode(data)
    assert decoded.shape == grey.shape and psnr(grey, decoded) > 14.0


@pytest.mark.parametrize("bad", [{"code_length": 0}, {"code_length": 2000}, {"block": 8}, {"block": 65},
                                 {"storage": "float16"}, {"epochs": 0}, {"tolerance": 0}, {"batch_size": 0}])
def test_bad_parameters_are_refused(crop, bad):
    with pytest.raises(ParameterError):
        latentpress.encode(crop, "block-cnn", **{**SMALL, **bad})


def test_infeasible_configuration_is_refused_with_the_numbers(crop):
    with pytest.raises(ParameterError, match=r"decoder 702,336 B \+ codes .* >= raw 39,000 B"):
        latentpress.encode(crop, "block-convlstm", storage="float32")


def test_cli(tmp_path, crop):
    from PIL import Image
    source = tmp_path / "in.png"
    Image.fromarray(crop).save(source)
    out = tmp_path / "out.lpx"
    assert cli.main(["encode", str(source), str(out), "--codec", "block-cnn", "-p", "block=16",
                     "-p", "code_length=8", "-p", "epochs=2", "--quiet"]) == 0
    assert latentpress.read_info(out.read_bytes()).params["storage"] == "quantized"
    refused = tmp_path / "refused.lpx"
    assert cli.main(["encode", str(source), str(refused), "--codec", "block-cnn", "--quiet"]) == 1
    assert not refused.exists()


@pytest.mark.parametrize("storage", ["float32", "quantized"])
def test_every_truncation_and_sampled_bit_flips_are_refused_or_decoded(encoded, storage):
    data = encoded["block-cnn", storage]
    for length in range(0, len(data), max(1, len(data) // 300)):
        with pytest.raises(LatentpressError):
            latentpress.decode(data[:length])
    rng = np.random.default_rng(0)
    for bit in rng.choice(8 * len(data), 300, replace=False):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(LatentpressError):
            latentpress.decode(bytes(flipped))             # the CRCs catch every payload flip


def test_numpy_decoder_matches_torch():
    arch = BlockArchitecture("cnn", 24, 12)
    torch.manual_seed(1)
    decoder = BlockAutoencoder(arch).decoder
    codes = torch.rand(5, 12) * 2 - 1
    expected = decoder(codes).detach().numpy()
    actual = synthesize([t.detach().numpy() for t in decoder.tensors()], codes.double().numpy(), arch)
    assert actual.shape == (5, 3, 24, 24)
    np.testing.assert_allclose(actual, expected, atol=1e-6)


def test_blocks_round_trip_in_row_major_order():
    pixels = np.arange(32 * 48 * 3).reshape(32, 48, 3)
    blocks = to_blocks(pixels, 16)
    assert blocks.shape == (6, 3, 16, 16)
    assert np.array_equal(blocks[4].transpose(1, 2, 0), pixels[16:, 16:32])
    assert np.array_equal(from_blocks(blocks, 2, 3), pixels)


def test_convlstm_gates_follow_keras():
    torch.manual_seed(0)
    layer = ConvLSTM2d(2, 3, kernel_size=3, stride=2, activation="relu")
    x = torch.randn(1, 1, 2, 9, 9)
    out = layer(x)
    assert out.shape == (1, 1, 3, 4, 4)
    # One step from a zero state: h = σ(o) ⊙ g(σ(i) ⊙ g(c̃)).
    i, f, c, o = torch.split(layer.input_conv(x[:, 0]), 3, dim=1)
    expected = hard_sigmoid(o) * torch.relu(hard_sigmoid(i) * torch.relu(c))
    torch.testing.assert_close(out[:, 0], expected)
    assert torch.all(layer.input_conv.bias[3:6] == 1.0)               # forget bias starts at 1
    # A second step sees the first through the recurrent convolution and the cell.
    two = layer(torch.cat([x, x], dim=1))
    assert not torch.allclose(two[:, 1], two[:, 0])
    two[:, 1].sum().backward()
    assert layer.recurrent_conv.weight.grad.abs().sum() > 0


def test_training_reduces_the_error(crop):
    from latentpress.train.blocks import train
    blocks = torch.from_numpy(to_blocks(np.ascontiguousarray(crop[:96, :96]), 16)).float() / 255
    torch.manual_seed(0)
    history = train(BlockAutoencoder(BlockArchitecture("convlstm", 16, 8)), blocks, epochs=6)
    assert len(history) == 6 and history[-1] < 0.8 * history[0]


def _rewrite(data: bytes, params: dict | None = None, sections: dict | None = None, **geometry) -> bytes:
    """The file with other header values or section bytes, CRCs valid: the codec's own checks."""
    header, found = container.read(data)
    header = dataclasses.replace(header, params={**header.params, **(params or {})}, **geometry)
    found = [Section(s.type, (sections or {}).get(s.type, s.data)) for s in found]
    return container.write(header, found)


@pytest.mark.parametrize("storage", ["float32", "quantized"])
def test_crafted_headers_and_sections_are_refused(encoded, storage):
    data = encoded["block-cnn", storage]
    bad_params = [{"block": 8}, {"block": "32"}, {"code_length": 0}, {"code_length": 2.0}, {"storage": "f16"}]
    if storage == "quantized":
        bad_params += [{"weight_step": 99}, {"code_step": 0}, {"code_step": True}]
    if storage == "float32":
        bad_params += [{"weight_step": 8, "code_step": 2}]            # precisions of a quantized file
    for params in bad_params:
        with pytest.raises(CorruptPayloadError):
            latentpress.decode(_rewrite(data, params))
    for section in ("DECW", "CODE"):
        with pytest.raises(CorruptPayloadError):
            latentpress.decode(_rewrite(data, sections={section: b"\x00" * 7}))
    if storage == "float32":
        header, found = container.read(data)
        weights = bytearray(dict((s.type, s.data) for s in found)["DECW"])
        weights[:4] = np.float32(np.nan).tobytes()
        with pytest.raises(CorruptPayloadError, match="not finite"):
            latentpress.decode(_rewrite(data, sections={"DECW": bytes(weights)}))


def test_decode_estimate_counts_what_the_header_declares(encoded):
    """The estimate checked before decoding counts padded pixels, the decoder's weights
    and the code values a header declares (64 × 1 pixels with 64-pixel blocks and code
    length 1,024: 11.8 million weights, measured at 631 MB in
    results/security/crafted-memory.json); parameters the decoder refuses fall back to
    the per-pixel rate, and the decoder then refuses them before allocating."""
    from latentpress.codecs.base import get_codec
    codec = type(get_codec("block-cnn"))
    header = lambda **params: container.Header("block-cnn", 1, 64, 1, 3, params=params)  # noqa: E731
    widest = codec.decode_memory(header(code_length=1024, block=64, storage="quantized"))
    assert widest == codec.decode_base_bytes + codec.decode_bytes_per_pixel * 64 * 64 \
        + codec.decode_bytes_per_weight * decoder_weight_count(1024, 64) + codec.decode_bytes_per_code * 1024
    assert widest > 700e6
    data = encoded["block-cnn", "quantized"]
    for bad in ({"block": 65}, {"code_length": True}, {"storage": "zip"}, {"block": None}):
        params = {"code_length": 1024, "block": 64, "storage": "quantized", **bad}
        assert codec.decode_memory(header(**params)) == codec.decode_base_bytes + codec.decode_bytes_per_pixel * 64
        with pytest.raises(CorruptPayloadError, match="invalid block parameters|header: parameter"):
            latentpress.decode(_rewrite(data, bad))


def test_thin_images_that_pad_to_huge_areas_are_refused_before_allocation(encoded):
    data = _rewrite(encoded["block-cnn", "float32"], {"block": 64}, width=1 << 24, height=1)
    with pytest.raises(LimitError, match="max_decode_memory"):  # the estimate counts padded pixels
        latentpress.decode(data)
    with pytest.raises(LimitError, match="pads to"):               # and so does the codec's own cap
        latentpress.decode(data, limits=container.Limits(max_decode_memory=1 << 62))


def test_render_places_blocks_in_row_major_order():
    """The decoder's own placement against to_blocks/from_blocks, with a decoder whose
    output is a flat colour set by the code."""
    arch = BlockArchitecture("cnn", 16, 1)
    hidden = 3 * 14 * 14
    kernel = np.zeros((3, 3, 3, 3))
    kernel[np.arange(3), np.arange(3), 1, 1] = 1.0          # centre tap: copy the hidden plane
    tensors = [np.full((hidden, 1), 0.5), np.zeros(hidden), kernel, np.zeros(3)]
    codes = np.linspace(-1, 1, 12)[:, None]                  # 3 rows × 4 columns of blocks
    image = render(tensors, codes, arch, 40, 60)              # cropped from 48×64
    blocks = synthesize(tensors, codes, arch)
    expected = np.clip(np.rint(from_blocks(blocks, 3, 4) * 255), 0, 255).astype(np.uint8)[:40, :60]
    assert np.array_equal(image, expected)
    assert len({tuple(image[r * 16 + 4, c * 16 + 4]) for r in range(3) for c in range(4)}) == 12


def test_collapsed_training_restarts_from_the_next_seed(crop, monkeypatch):
    from latentpress.train import blocks as training
    calls = []
    real_train = training.train

    def train(model, blocks, epochs, batch_size, time_budget, seed, check_collapse=False):
        calls.append((seed, check_collapse))
        if seed == 0:
            raise training.Collapsed
        return real_train(model, blocks, epochs, batch_size, time_budget, seed, check_collapse)

    monkeypatch.setattr(training, "train", train)
    params = {**SMALL, "epochs": 4}
    latentpress.encode(crop, "block-cnn", **params)
    assert calls == [(0, True), (1, True)]
    calls.clear()
    latentpress.encode(crop, "block-cnn", **params, seed=5, restarts=0)      # the report's procedure
    assert calls == [(5, False)]


def test_collapse_is_detected_when_the_error_stalls():
    from latentpress.train.blocks import COLLAPSE_EPOCHS, Collapsed, train
    flat = torch.full((4, 3, 16, 16), 0.5)
    model = BlockAutoencoder(BlockArchitecture("cnn", 16, 4))
    for parameter in model.parameters():          # a dead network: nothing can change
        parameter.requires_grad_(False)
    model.decoder.dense.bias.requires_grad_(True)
    with torch.no_grad():
        model.decoder.deconvolution.weight.zero_()
        model.decoder.deconvolution.bias.fill_(5.0)     # saturated sigmoid output, zero gradient
    with pytest.raises(Collapsed):
        train(model, flat, epochs=COLLAPSE_EPOCHS + 2, check_collapse=True)
