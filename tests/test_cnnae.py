"""Report 001's block autoencoders ("Image Compression Using Deep Learning": cnn-ae, gan-ae,
cnn-rnn-ae, cnn-ae-ft) with the shipped weights, and their deblocking post-filter."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import latentpress
from latentpress import container
from latentpress.binary import pack_bits, unpack_bits
from latentpress.codecs.cnnae.codec import CNNRNNAECodec
from latentpress.codecs.cnnae.model import BlockAutoencoder, critic, weight_count
from latentpress.container import Section
from latentpress.errors import CorruptPayloadError, LimitError, ParameterError
from latentpress.metrics import psnr

# Measured with the shipped weights on the crop below: cnn-ae 31.14 dB, gan-ae 31.21 dB; cnn-rnn-ae
# 26.8 / 31.2 / 32.6 dB after 1 / 2 / 3 stages. On the second photograph (sky and tiles,
# where block edges show) the deblocking post-filter adds 0.60 (cnn-ae), 0.46 (cnn-rnn-ae)
# and 0.62 dB (cnn-ae-ft, not fine-tuned); on the crop below, hair and skin, it adds
# nothing to cnn-rnn-ae's 3 stages.
PSNR_FLOOR_CNN_AE = 29.5
PSNR_FLOOR_RNN = (25.5, 29.5, 30.5)
PSNR_FLOOR_GAN_AE = 29.5
DEBLOCK_GAIN_FLOOR = 0.2


@pytest.fixture(scope="module")
def crop(photo):
    return np.ascontiguousarray(photo[:, :256])


def test_decoder_sizes_follow_the_report():
    assert weight_count(BlockAutoencoder().decoder) == 1343            # "~1300 weights" (§6.2)
    assert weight_count(BlockAutoencoder(narrow=True).decoder) == 387
    assert weight_count(critic()) > 0


@pytest.mark.parametrize("bits", [2, 6])
def test_bit_packing_round_trips(bits):
    values = np.random.default_rng(bits).integers(0, 1 << bits, 1001)
    data = pack_bits(values, bits)
    assert len(data) == -(-1001 * bits // 8)
    assert np.array_equal(unpack_bits(data, 1001, bits, "T"), values)
    with pytest.raises(CorruptPayloadError):
        unpack_bits(data + b"\0", 1001, bits, "T")


def test_cnn_ae_is_exactly_16_to_1_and_decodes(crop):
    data = latentpress.encode(crop, "cnn-ae")
    sections = container.read(data)[1]
    assert [s.type for s in sections] == ["LATN"]
    assert len(sections[0].data) * 16 == crop.size                    # 256·256·3 bytes / 16
    decoded = latentpress.decode(data)
    assert decoded.shape == crop.shape and decoded.dtype == np.uint8
    assert psnr(crop, decoded) > PSNR_FLOOR_CNN_AE


# Floors for crops of the photograph, a few dB under the lowest of the four codecs (measured:
# 26.7, 31.4 and 31.4 dB).
ANY_SIZE_FLOOR = {(1, 1, 3): 22.5, (37, 41, 3): 28.0, (33, 70): 28.0}


@pytest.mark.parametrize("codec", ["cnn-ae", "gan-ae", "cnn-rnn-ae", "cnn-ae-ft"])
@pytest.mark.parametrize("shape", list(ANY_SIZE_FLOOR))
def test_any_size_and_greyscale(photo, codec, shape):
    image = np.ascontiguousarray(photo[72:72 + shape[0], :shape[1]])
    if len(shape) == 2:
        image = np.ascontiguousarray(image[..., 1])
    decoded = latentpress.decode(latentpress.encode(image, codec))
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert psnr(image, decoded) > ANY_SIZE_FLOOR[shape]


def test_cnn_rnn_ae_stages_improve_and_decode_progressively(crop):
    data = latentpress.encode(crop, "cnn-rnn-ae")
    header, sections = latentpress.read_info(data), container.read(data)[1]
    assert [s.type for s in sections] == ["STG1", "STG2", "STG3"]
    assert sum(len(s.data) for s in sections) * 16 == crop.size       # 16:1 after three stages
    codec = CNNRNNAECodec()
    qualities = [psnr(crop, codec.decode(header, sections, steps=k)) for k in (1, 2, 3)]
    assert all(q > floor for q, floor in zip(qualities, PSNR_FLOOR_RNN)), qualities
    assert qualities[0] < qualities[1] < qualities[2]
    assert np.array_equal(codec.decode(header, sections), latentpress.decode(data))
    one = latentpress.encode(crop, "cnn-rnn-ae", steps=1)              # a 1-stage file is the prefix
    assert container.read(one)[1][0].data == sections[0].data
    with pytest.raises(ParameterError):
        codec.decode(latentpress.read_info(one), container.read(one)[1], steps=2)


def test_crafted_files_are_refused(small_rgb):
    data = {name: latentpress.encode(small_rgb, name) for name in ("cnn-ae", "cnn-rnn-ae")}

    def rewrite(name, params=None, sections=None, **geometry):
        header, found = container.read(data[name])
        header = dataclasses.replace(header, params={**header.params, **(params or {})}, **geometry)
        return container.write(header, found if sections is None else sections)

    bad = [rewrite("cnn-ae", {"model": "cnn-ae-v0"}), rewrite("cnn-ae", sections=[Section("LATN", b"\0" * 7)]),
           rewrite("cnn-ae", sections=[]), rewrite("cnn-rnn-ae", {"steps": 4}), rewrite("cnn-rnn-ae", {"steps": "3"}),
           rewrite("cnn-rnn-ae", {"steps": 2}), rewrite("cnn-ae", {"steps": 3}),          # not a cnn-ae key
           rewrite("cnn-ae", {"model": "gan-ae-v1"})]
    for crafted in bad:
        with pytest.raises(CorruptPayloadError):
            latentpress.decode(crafted)
    with pytest.raises(LimitError):
        latentpress.decode(rewrite("cnn-ae", width=1 << 13, height=1 << 13))
    with pytest.raises(ParameterError):
        latentpress.encode(small_rgb, "cnn-rnn-ae", steps=4)


def test_cli_decodes_a_prefix_of_the_stages(tmp_path, crop, capsys):
    from PIL import Image

    from latentpress import cli
    source = tmp_path / "in.png"
    Image.fromarray(crop).save(source)
    assert cli.main(["encode", str(source), str(tmp_path / "r.lpx"), "--codec", "cnn-rnn-ae", "--no-psnr"]) == 0
    qualities = []
    for k in (1, 2, 3):
        assert cli.main(["decode", str(tmp_path / "r.lpx"), str(tmp_path / f"{k}.png"), "--steps", str(k)]) == 0
        qualities.append(psnr(crop, np.asarray(Image.open(tmp_path / f"{k}.png"))))
    assert qualities[0] < qualities[1] < qualities[2]
    capsys.readouterr()
    assert cli.main(["decode", str(tmp_path / "r.lpx"), str(tmp_path / "4.png"), "--steps", "4"]) != 0
    assert cli.main(["encode", str(source), str(tmp_path / "a.lpx"), "--codec", "cnn-ae", "--no-psnr"]) == 0
    assert cli.main(["decode", str(tmp_path / "a.lpx"), str(tmp_path / "a.png"), "--steps", "1"]) != 0
    errors = capsys.readouterr().err
    assert "cannot decode 4" in errors and "not progressive" in errors and "Traceback" not in errors
    assert not (tmp_path / "4.png").exists() and not (tmp_path / "a.png").exists()


def test_cnn_ae_ft_stores_and_uses_its_fine_tuned_decoder(crop):
    from latentpress.codecs.cnnae.codec import CNNAEFTCodec
    small = np.ascontiguousarray(crop[:128, :128])
    tuned = latentpress.encode(small, "cnn-ae-ft", iterations=150)
    plain = latentpress.encode(small, "cnn-ae-ft", iterations=0)          # the pretrained narrow decoder
    sections = {s.type: s.data for s in container.read(tuned)[1]}
    assert len(sections["LATN"]) * 16 == small.size
    assert len(sections["DECW"]) == 387 + 4 * 4                            # int8 weights + a scale per tensor
    assert sections["DECW"] != {s.type: s.data for s in container.read(plain)[1]}["DECW"]
    assert sections["LATN"] == {s.type: s.data for s in container.read(plain)[1]}["LATN"]
    tuned_image, plain_image = latentpress.decode(tuned), latentpress.decode(plain)
    assert not np.array_equal(tuned_image, plain_image)
    assert psnr(small, tuned_image) > psnr(small, plain_image) + 0.1
    header, found = container.read(tuned)
    for bad in (b"\0" * 10, sections["DECW"][:-1], b"\xff\xff\xff\x7f" + sections["DECW"][4:]):
        with pytest.raises(CorruptPayloadError):
            CNNAEFTCodec().decode(header, [Section("LATN", sections["LATN"]), Section("DECW", bad)])


@pytest.mark.parametrize("codec, options", [("cnn-ae", {}), ("gan-ae", {}), ("cnn-rnn-ae", {"steps": 2}),
                                            ("cnn-ae-ft", {"iterations": 20})])
def test_range_coding_is_smaller_and_decodes_the_same(crop, codec, options):
    fixed = latentpress.encode(crop, codec, **options)
    coded = latentpress.encode(crop, codec, entropy="range", **options)
    assert len(coded) < len(fixed)
    assert np.array_equal(latentpress.decode(coded), latentpress.decode(fixed))
    header, found = container.read(coded)
    with pytest.raises(CorruptPayloadError):               # the other layout's bytes
        get = {s.type: s.data for s in container.read(fixed)[1]}
        latentpress.decode(container.write(header, [Section(s.type, get[s.type]) for s in found]))
    with pytest.raises(CorruptPayloadError):
        latentpress.decode(container.write(dataclasses.replace(header, params={**header.params, "entropy": "zip"}),
                                           found))


def test_range_coded_latents_out_of_range_are_refused():
    from latentpress.codecs.cnnae.codec import unpack_latents
    from latentpress.entropy.integer_tensors import encode_rows
    data = encode_rows(np.full((4, 64), 64, np.int64))       # 64 does not fit 6 bits
    with pytest.raises(CorruptPayloadError):
        unpack_latents(data, 1, 6, "range", "LATN")


def test_the_block_padding_counts_in_the_size_limit(small_rgb):
    from latentpress.codecs.cnnae import codec as cnnae
    header, found = container.read(latentpress.encode(small_rgb, "cnn-ae", entropy="range"))
    tall = dataclasses.replace(header, width=1, height=cnnae.MAX_PIXELS)    # 1 pixel wide, 32 once padded
    with pytest.raises(LimitError):
        cnnae.CNNAECodec().decode(tall, found)
    with pytest.raises(ParameterError):
        latentpress.encode(small_rgb, "cnn-ae-ft", seed=1 << 64)


def test_gan_ae_is_its_own_model_at_16_to_1(crop):
    gan, plain = latentpress.encode(crop, "gan-ae"), latentpress.encode(crop, "cnn-ae")
    header, sections = container.read(gan)
    assert header.params["model"] == "gan-ae-v1" and [s.type for s in sections] == ["LATN"]
    assert len(sections[0].data) * 16 == crop.size
    decoded = latentpress.decode(gan)
    assert not np.array_equal(decoded, latentpress.decode(plain))
    assert psnr(crop, decoded) > PSNR_FLOOR_GAN_AE


@pytest.mark.parametrize("codec, options", [("cnn-ae", {}), ("cnn-rnn-ae", {"steps": 3}),
                                            ("cnn-ae-ft", {"iterations": 0})])
def test_deblocking_is_a_header_flag_that_improves_the_image(second_photo, codec, options):
    crop = second_photo
    plain = latentpress.encode(crop, codec, **options)
    smooth = latentpress.encode(crop, codec, deblock=True, **options)
    header, sections = container.read(smooth)
    assert header.params["deblock"] is True and "deblock" not in container.read(plain)[0].params
    assert [s.data for s in sections] == [s.data for s in container.read(plain)[1]]    # no extra bytes
    assert psnr(crop, latentpress.decode(smooth)) > psnr(crop, latentpress.decode(plain)) + DEBLOCK_GAIN_FLOOR
    with pytest.raises(CorruptPayloadError):
        latentpress.decode(container.write(dataclasses.replace(header, params={**header.params, "deblock": 1}),
                                           sections))


def test_the_tiled_post_filter_is_the_whole_image_filter(monkeypatch):
    import torch

    from latentpress.codecs.cnnae import codec as cnnae
    rgb = np.random.default_rng(3).random((70, 101, 3), dtype=np.float32)
    with torch.inference_mode():
        whole = cnnae._load("cnn-deblock-v1")(torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None])
    whole = whole[0].clamp(0, 1).numpy().transpose(1, 2, 0)
    monkeypatch.setattr(cnnae, "TILE", 32)                 # 3 × 4 tiles, with edges of 6 and 5 pixels
    assert np.allclose(cnnae.deblock(rgb), whole, atol=1e-5)
