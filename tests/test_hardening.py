"""Hardening: every registered codec's decoder against damaged and crafted files.

- Fault sweeps: every truncation and every single-bit flip of one small valid file per
  codec raises one of the library's documented errors; a flip inside a section's data
  is always a ChecksumError (the section CRC covers its type and data).
- Mutations that keep the CRCs valid (the payload bytes and header parameters changed,
  then the file rewritten with fresh CRCs, as an attacker would) reach the codec's own
  decoder: it must raise a documented error or return an image of the header's size
  (never another exception: the codec is called directly, without the API's net).
- No code execution from data: no pickle, torch.load, eval or exec in the package.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import latentpress
from latentpress import container
from latentpress.codecs.base import get_codec
from latentpress.container import Section
from latentpress.errors import ChecksumError, LatentpressError, LimitError

PACKAGE = Path(latentpress.__file__).resolve().parent

# One small, fast-to-make file per registered codec: (image kind, parameters).
SMALL = {
    "factorized": ("rgb", {}),
    "overfit": ("rgb", {"preset": "fast", "iterations": 5}),
    "lossless": ("rgb", {"iterations": 5}),
    "mlp-lossless": ("rgb", {"iterations": 5}),
    "block-cnn": ("large", {"block": 16, "code_length": 8, "epochs": 2}),
    "block-convlstm": ("large", {"block": 16, "code_length": 8, "epochs": 2, "storage": "float32"}),
    "cae": ("rgb", {"bpp": 2.0}),
    "cnn-ae": ("rgb", {"entropy": "range"}),
    "gan-ae": ("rgb", {}),
    "cnn-rnn-ae": ("rgb", {"steps": 2, "entropy": "range"}),
    "cnn-ae-ft": ("rgb", {"iterations": 2}),
    "dense-mnist": ("digit", {"code": "range"}),
}


# Further files of a codec whose payload takes another form: (codec, image kind, parameters).
VARIANTS = {"overfit-instant": ("overfit", "rgb", {"preset": "instant"})}    # the shipped ARM (arm_base)
SWEPT = sorted(SMALL) + sorted(VARIANTS)


def test_every_registered_codec_is_swept():
    assert set(SMALL) == {c.name for c in latentpress.codecs()}


@pytest.fixture(scope="module")
def small_files(photo) -> dict[str, bytes]:
    images = {"rgb": np.ascontiguousarray(photo[72:120, 44:108]),
              "large": np.ascontiguousarray(photo[72:202, 44:144]),        # the block codecs' feasibility
              "digit": np.ascontiguousarray(photo[72:100, 44:72, 1])}
    files = {name: latentpress.encode(images[kind], name, **params) for name, (kind, params) in SMALL.items()}
    return files | {name: latentpress.encode(images[kind], codec, **params)
                    for name, (codec, kind, params) in VARIANTS.items()}


def _section_data_bits(data: bytes) -> set[int]:
    """Bit positions inside the data of some section (not its head or CRC)."""
    header = latentpress.read_info(data)
    bits = set()
    for info in header.sections:
        start = info.offset + 8                         # 4 type bytes, 4 length bytes
        bits.update(range(8 * start, 8 * (start + info.length)))
    return bits


@pytest.mark.slow
@pytest.mark.parametrize("codec", SWEPT)
def test_every_truncation_and_every_bit_flip_is_a_documented_error(small_files, codec):
    data = small_files[codec]
    latentpress.decode(data)
    for length in range(len(data)):
        with pytest.raises(LatentpressError):
            latentpress.decode(data[:length])
    inside = _section_data_bits(data)
    for bit in range(8 * len(data)):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(LatentpressError) as caught:
            latentpress.decode(bytes(flipped))
        if bit in inside:
            assert caught.type is ChecksumError, (bit, caught.value)


def _rewritten(data: bytes, mutate) -> bytes | None:
    """The file with its payload sections (or header parameters) changed by ``mutate``
    and every CRC recomputed; None when the container itself refuses to write it."""
    header, sections = container.read(data)
    header, sections = mutate(header, list(sections))
    try:
        return container.write(dataclasses.replace(header, sections=(), file_bytes=0), sections)
    except LatentpressError:
        return None


def _decodes_or_refuses(data: bytes | None) -> None:
    """The codec's own decoder, not api.decode: the API turns a stray ValueError or
    IndexError into CorruptPayloadError, which would hide it here."""
    if data is None:
        return
    header, sections = container.read(data)
    payload, _ = container.split_metadata(sections)
    try:
        pixels = get_codec(header.codec).decode(header, payload)
    except LatentpressError:
        return
    assert pixels.dtype == np.uint8
    assert pixels.shape == (header.height, header.width) + (() if header.channels == 1 else (3,))


@st.composite
def byte_edits(draw):
    """A list of (section index, position fraction, operation, byte) edits."""
    return draw(st.lists(st.tuples(st.integers(0, 15), st.floats(0, 1), st.sampled_from(["set", "insert", "delete",
                                                                                              "cut"]),
                                   st.integers(0, 255)), min_size=1, max_size=4))


def _apply(edits):
    def mutate(header, sections):
        payload = [i for i, s in enumerate(sections) if s.type not in container.METADATA_TYPES]
        for which, where, operation, value in edits:
            if not payload:
                break
            index = payload[which % len(payload)]
            body = bytearray(sections[index].data)
            at = int(where * len(body))
            if operation == "set" and body:
                body[min(at, len(body) - 1)] = value
            elif operation == "insert":
                body.insert(at, value)
            elif operation == "delete" and body:
                del body[min(at, len(body) - 1)]
            elif operation == "cut":
                del body[at:]
            sections[index] = Section(sections[index].type, bytes(body))
        return header, sections
    return mutate


# Slow decoders get fewer examples; every codec gets some.
EXAMPLES = {"overfit": 25, "overfit-instant": 25, "lossless": 25, "mlp-lossless": 25, "cae": 25, "cnn-ae-ft": 40}


@pytest.mark.slow
@pytest.mark.parametrize("codec", SWEPT)
def test_payload_mutations_with_valid_crcs_are_refused_or_decoded_to_the_declared_size(small_files, codec):
    @settings(max_examples=EXAMPLES.get(codec, 60), deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(byte_edits())
    def check(edits):
        _decodes_or_refuses(_rewritten(small_files[codec], _apply(edits)))

    check()


PARAM_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
                         st.text(max_size=8), st.lists(st.integers(-3, 3), max_size=3))


@pytest.mark.slow
@pytest.mark.parametrize("codec", SWEPT)
def test_header_mutations_with_valid_crcs_are_refused_or_decoded_to_the_declared_size(small_files, codec):
    # The file's own keys and every parameter name of the codec (some, like deblock, are
    # written only when they differ from the default).
    fields = [f.name for f in dataclasses.fields(get_codec(VARIANTS.get(codec, (codec,))[0]).Params)]
    keys = sorted(set(container.read(small_files[codec])[0].params) | set(fields))

    @settings(max_examples=EXAMPLES.get(codec, 60) // 2, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(keys) if keys else st.just("x"), PARAM_VALUES,
           st.sampled_from(["set", "drop"]), st.sampled_from([None, (1, 1), (7, 5), (100, 3), (1 << 14, 1 << 14)]))
    def check(key, value, operation, geometry):
        def mutate(header, sections):
            params = dict(header.params)
            if operation == "drop":
                params.pop(key, None)
            else:
                params[key] = value
            changed = dataclasses.replace(header, params=params)
            if geometry is not None:
                changed = dataclasses.replace(changed, width=geometry[0], height=geometry[1])
            return changed, sections
        _decodes_or_refuses(_rewritten(small_files[codec], mutate))

    check()


FORBIDDEN = {
    "pickle": re.compile(r"\bimport\s+pickle\b|\bpickle\.|\bcPickle\b|\bdill\b|\bjoblib\b"),
    "torch.load": re.compile(r"\btorch\.load\s*\(|\btorch\.jit\.load\b"),
    "numpy pickles": re.compile(r"allow_pickle\s*=\s*True"),
    "eval/exec": re.compile(r"(?<![.\w])(eval|exec|compile)\s*\("),
    "marshal/shelve": re.compile(r"\bimport\s+(marshal|shelve)\b"),
}


def test_no_code_execution_from_data():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            for what, pattern in FORBIDDEN.items():
                if pattern.search(code):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {what}: {line.strip()}")
    assert offenders == []


def test_the_forbidden_patterns_would_catch_what_they_forbid():
    samples = {"pickle": "import pickle", "torch.load": "w = torch.load(path)", "numpy pickles":
               "np.load(f, allow_pickle=True)", "eval/exec": "exec(text)", "marshal/shelve": "import marshal"}
    for what, sample in samples.items():
        assert FORBIDDEN[what].search(sample), what
    assert not FORBIDDEN["eval/exec"].search("model.eval()")


def test_the_codec_fuzz_harness_rebuilds_its_seeds():
    """fuzz/harness.py (atheris is not needed for this): every committed seed, framed
    and rebuilt, is the same file, and the codec decodes it."""
    import sys
    sys.path.insert(0, str(PACKAGE.parent / "fuzz"))
    try:
        from harness import build, frame, seed_parts, unframe
    finally:
        sys.path.pop(0)
    seeds = sorted((PACKAGE.parent / "fuzz" / "seeds").glob("*.lpx"))
    assert {p.stem for p in seeds} == set(SMALL) | set(VARIANTS)
    for path in seeds:
        data = path.read_bytes()
        header, types, parts = seed_parts(data)
        assert unframe(frame(parts), len(parts)) == parts
        rebuilt_header, sections = build(header, types, frame(parts))
        assert container.write(rebuilt_header, sections) == data
        pixels = get_codec(header.codec).decode(rebuilt_header, sections)
        assert pixels.shape[:2] == (header.height, header.width)
        assert build(header, types, b"\x01\x00\x00\x00{") is None              # not JSON: skipped


_CLAIM_SCRIPT = r"""
import resource, sys, dataclasses
import latentpress
from latentpress import container
from latentpress.errors import LatentpressError
data = open(sys.argv[1], "rb").read()
side = int(sys.argv[2])
latentpress.decode(data)                                  # models loaded, caches warm
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
header, sections = container.read(data)
claim = container.write(dataclasses.replace(header, width=side, height=side, sections=(), file_bytes=0), sections)
try:
    latentpress.decode(claim)
    outcome = "decoded"
except LatentpressError as exc:
    outcome = type(exc).__name__
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(outcome, (after - before) // 1024)
"""


@pytest.mark.slow
@pytest.mark.parametrize("codec", sorted(SMALL))
def test_a_file_claiming_the_largest_allowed_size_is_refused_before_a_large_allocation(codec):
    """The seed file's payload under a header claiming 8192×8192 (2²⁶ pixels, the
    container's default limit): the codec must refuse it, and the refusal must not cost
    more than PEAK_MB of memory (an 8192² RGB float32 buffer alone is 768 MB)."""
    import subprocess
    import sys
    seed = PACKAGE.parent / "fuzz" / "seeds" / f"{codec}.lpx"
    done = subprocess.run([sys.executable, "-c", _CLAIM_SCRIPT, str(seed), "8192"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    outcome, grown_mb = done.stdout.split()
    assert outcome != "decoded"
    assert int(grown_mb) < PEAK_MB, (outcome, grown_mb)


PEAK_MB = 200


_DIGESTS = r"""
import glob, hashlib, sys, torch
torch.set_num_threads(int(sys.argv[1]))
import latentpress
for path in sorted(glob.glob(sys.argv[2] + "/*.lpx")):
    pixels = latentpress.decode(open(path, "rb").read())
    print(path.rsplit("/", 1)[-1], hashlib.sha256(pixels.tobytes()).hexdigest())
"""


@pytest.mark.slow
def test_every_codec_decodes_identically_in_other_processes_with_1_and_2_threads():
    """The seed files (one per codec, made in another process) decode to the same pixels
    here and in fresh processes with 1 and with 2 compute threads."""
    import hashlib
    import subprocess
    import sys
    seeds = PACKAGE.parent / "fuzz" / "seeds"
    here = {p.name: hashlib.sha256(latentpress.decode(p.read_bytes()).tobytes()).hexdigest()
            for p in sorted(seeds.glob("*.lpx"))}
    assert set(p.removesuffix(".lpx") for p in here) == set(SMALL) | set(VARIANTS)
    for threads in (1, 2):
        out = subprocess.run([sys.executable, "-c", _DIGESTS, str(threads), str(seeds)], capture_output=True,
                             text=True, check=True, timeout=300).stdout
        assert dict(line.split() for line in out.splitlines()) == here, threads


@pytest.mark.parametrize("codec", ["overfit", "lossless", "mlp-lossless"])
def test_the_work_a_file_may_ask_for_is_a_configurable_limit(codec, tmp_path, capsys):
    from latentpress import cli
    from latentpress.container import Limits
    from latentpress.errors import LimitError
    seed = PACKAGE.parent / "fuzz" / "seeds" / f"{codec}.lpx"
    data = seed.read_bytes()
    latentpress.decode(data)                                               # the default allows it
    with pytest.raises(LimitError, match="multiply-adds per pixel"):
        latentpress.decode(data, limits=Limits(max_macs_per_pixel=10))
    out = tmp_path / "out.png"
    assert cli.main(["decode", str(seed), str(out), "--max-macs-per-pixel", "10"]) != 0
    assert "multiply-adds per pixel" in capsys.readouterr().err and not out.exists()
    assert cli.main(["decode", str(seed), str(out), "--max-macs-per-pixel", "100000"]) == 0


def test_fuzz_finding_a_tiny_file_declaring_a_huge_flat_image():
    """Found by the factorized fuzzer (timeout): 181 bytes declaring 12352×5376, just
    under the default limit of 2**26 pixels, with an empty latent stream and a mutated
    prior. The decoder finds nothing inconsistent (an empty stream decodes as the most
    probable latents, as a flat image's nearly empty stream would) and returns the
    declared image after more than 20 s and 1 GB (SECURITY.md): decode time grows
    with the declared size. A reader of untrusted files lowers max_pixels, and then the
    file is refused before any decoding."""
    data = (Path(__file__).parent / "data" / "factorized-flat-bomb.lpx").read_bytes()
    header = latentpress.read_info(data)
    assert (header.width, header.height, len(data)) == (12352, 5376, 181)
    with pytest.raises(LimitError, match="pixels"):
        latentpress.decode(data, limits=container.Limits(max_pixels=1 << 22))
    with pytest.raises(LimitError, match="MiB"):           # the default decode-memory limit
        latentpress.decode(data)
    small = container.Header(codec=header.codec, codec_version=header.codec_version, width=40, height=24,
                             channels=3, params=header.params)
    assert latentpress.decode(container.write(small, container.read(data)[1])).shape == (24, 40, 3)


@pytest.mark.parametrize("codec", sorted(SMALL))
def test_decode_memory_is_a_configurable_limit_checked_before_decoding(codec, small_files, tmp_path, capsys,
                                                                         monkeypatch):
    """Every codec estimates its decode memory from the header (bytes per pixel) and
    the decoder refuses a file over Limits.max_decode_memory before decoding (the
    codec's decode is never entered); the CLI takes it in MiB."""
    from latentpress import cli
    data = small_files[codec]
    header = latentpress.read_info(data)
    implementation = type(get_codec(codec))
    estimate = implementation.decode_memory(header)
    # At least the per-pixel rate; more where the codec pads the image or counts what the
    # header declares (tests of their own below: crafted worst cases).
    assert estimate >= implementation.decode_base_bytes + implementation.decode_bytes_per_pixel * header.width * header.height
    latentpress.decode(data, limits=container.Limits(max_decode_memory=estimate))      # at the limit: decodes
    monkeypatch.setattr(implementation, "decode", lambda *a, **k: pytest.fail("decoded over the limit"))
    with pytest.raises(LimitError, match="MiB"):
        latentpress.decode(data, limits=container.Limits(max_decode_memory=estimate - 1))
    path, out = tmp_path / "in.lpx", tmp_path / "out.png"
    bomb = container.write(dataclasses.replace(header, width=4096, height=4096, sections=(), file_bytes=0),
                           container.read(data)[1])
    path.write_bytes(bomb)
    limit_mib = max(1, (implementation.decode_memory(latentpress.read_info(bomb)) >> 20) - 1)
    assert cli.main(["decode", str(path), str(out), "--max-decode-memory", str(limit_mib)]) != 0
    assert "MiB" in capsys.readouterr().err and not out.exists()


def test_decode_memory_bounds_hold_where_measured():
    """results/security/decode-memory.json (benchmarks/decode_memory.py) measured each
    codec's peak decode memory at Kodak size and 4× that: the estimate each codec
    declares must cover it, and must be the estimate the file was checked against."""
    import json
    measured = json.loads((PACKAGE.parent / "results" / "security" / "decode-memory.json").read_text())["codecs"]
    # Decoding paths with an estimate of their own (benchmarks/decode_memory.py VARIANTS).
    variants = {"overfit-inverse": ("overfit", "inverse_decode_bytes_per_pixel"),
                "overfit-widest": ("overfit", "decode_bytes_per_pixel"),
                "overfit-wide-arm": ("overfit", "decode_bytes_per_pixel")}
    assert set(measured) == set(SMALL) | set(variants)
    for name, row in measured.items():
        codec, attribute = variants.get(name, (name, "decode_bytes_per_pixel"))
        implementation = type(get_codec(codec))
        per_pixel = getattr(implementation, attribute)
        assert (row["decode_base_bytes"], row["decode_bytes_per_pixel"]) == \
            (implementation.decode_base_bytes, per_pixel), name
        for size, m in row["sizes"].items():
            assert (m["pixels"] < 10_000 or m["peak_rss_growth_bytes"] > 0) and m["peak_rss_growth_bytes"] <= \
                implementation.decode_base_bytes + per_pixel * m["pixels"], (name, size)


def test_crafted_worst_cases_decode_within_their_estimates():
    """results/security/crafted-memory.json (benchmarks/crafted_memory.py) decoded files
    declaring what no encoder writes (the widest block decoder, the most block code
    values, 1-pixel-high images padded to whole blocks or patches) and thin images the
    encoders make (overfit's 1-row pyramid). Today's estimate of each header
    must cover the measured peak (the estimates count declared weights, code values and
    padded pixels: they were up to 15 times too low before they did)."""
    import json

    from latentpress.container import Header
    cases = json.loads((PACKAGE.parent / "results" / "security" / "crafted-memory.json").read_text())["cases"]
    assert len(cases) >= 15
    for name, case in cases.items():
        header = Header(case["codec"], case.get("version", 1), case["width"], case["height"], 3,
                        params=case["params"])
        estimate = type(get_codec(case["codec"])).decode_memory(header)
        assert 0 < case["peak_rss_growth_bytes"] <= estimate == case["estimate_bytes"], name


def test_largest_allowed_files_decode_within_their_estimates():
    """results/security/cap-memory.json (benchmarks/cap_memory.py) decoded a valid file of
    the largest size each codec accepts by default: today's estimate for that size must
    cover the measured peak and stay within the default limit."""
    import json

    from latentpress.container import Header, Limits
    cases = json.loads((PACKAGE.parent / "results" / "security" / "cap-memory.json").read_text())["cases"]
    # A case whose encode or decode failed records why instead of a peak.
    measured = {case: row for case, row in cases.items() if "decode_peak_rss_growth_bytes" in row}
    assert len(measured) >= 8
    for case, row in measured.items():
        codec = type(get_codec(case.removesuffix("-inverse")))
        # The block codecs' estimate also counts the decoder and codes their parameters declare.
        params = {"syn_step": 0} if case.endswith("-inverse") else \
            {"storage": "quantized", **row["params"]} if case.startswith("block-") else {}
        header = Header(codec.name, codec.version, row["width"], row["height"], 3, params=params)
        estimate = codec.decode_memory(header)
        assert 0 < row["decode_peak_rss_growth_bytes"] <= estimate <= Limits().max_decode_memory, case
        assert row["accepted_by_default_limits"] and row["next_size_refused"], case


def test_overfit_decode_estimate_follows_the_synthesis_it_declares():
    """A file without a trained synthesis (syn_step 0) decodes by the inverse wavelet
    and is estimated at the lower rate; any other value, a crafted ``false`` included,
    at the full one."""
    from latentpress.codecs.overfit.codec import OverfitCodec
    header = lambda step: container.Header("overfit", OverfitCodec.version, 1000, 2000, 3,  # noqa: E731
                                           params={"syn_step": step})
    base = OverfitCodec.decode_base_bytes
    assert OverfitCodec.decode_memory(header(0)) == base + OverfitCodec.inverse_decode_bytes_per_pixel * 2_000_000
    for step in (7, False, 0.0, None):
        assert OverfitCodec.decode_memory(header(step)) == base + OverfitCodec.decode_bytes_per_pixel * 2_000_000
    assert OverfitCodec.inverse_decode_bytes_per_pixel < OverfitCodec.decode_bytes_per_pixel


_DECODE_PEAK_SCRIPT = r"""
import sys, time
import latentpress

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

latentpress.decode(open(sys.argv[1], "rb").read())            # warm-up: a small file
data = open(sys.argv[2], "rb").read()
with open("/proc/self/clear_refs", "w") as refs:              # reset the peak (VmHWM) to now
    refs.write("5")
before = status("VmRSS:")
started = time.perf_counter()
latentpress.decode(data)
seconds = time.perf_counter() - started
print(status("VmHWM:") - before, seconds)
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's peak-RSS reset")
def test_factorized_decode_stays_within_its_memory_estimate(kodim23, tmp_path):
    """The estimate against the peak RSS of a decode of a Kodak image in a fresh process
    (the cheapest codec to encode at that size; benchmarks/decode_memory.py covers the
    others with the same script)."""
    import subprocess
    import sys
    small = tmp_path / "small.lpx"
    small.write_bytes(latentpress.encode(np.ascontiguousarray(kodim23[:48, :64]), "factorized"))
    big = tmp_path / "big.lpx"
    big.write_bytes(latentpress.encode(kodim23, "factorized"))
    grown = int(subprocess.run([sys.executable, "-c", _DECODE_PEAK_SCRIPT, str(small), str(big)], capture_output=True,
                               text=True, check=True, timeout=300).stdout.split()[0])
    estimate = type(get_codec("factorized")).decode_memory(latentpress.read_info(big.read_bytes()))
    assert 0 < grown <= estimate


def test_section_and_file_size_limits_are_configurable_from_the_cli(small_files, tmp_path, capsys):
    """--max-section-size and --max-file-size (MiB) lower the container's limits: a file
    with a section of just over 1 MiB decodes by default, and is refused, with nothing
    written, under 1."""
    from latentpress import cli
    header, sections = container.read(small_files["lossless"])
    padding = container.Section("XMP ", b" " * ((1 << 20) + 1))      # metadata, which decoding keeps apart
    path, out = tmp_path / "in.lpx", tmp_path / "out.png"
    path.write_bytes(container.write(header, list(sections) + [padding]))
    assert cli.main(["decode", str(path), str(out), "--quiet"]) == 0 and out.exists()
    out.unlink()
    for flag in ("--max-section-size", "--max-file-size"):
        assert cli.main(["decode", str(path), str(out), flag, "1"]) != 0
        assert "limit" in capsys.readouterr().err and not out.exists()
        assert cli.main(["info", str(path), flag, "1"]) != 0
        assert "limit" in capsys.readouterr().err
    assert cli.main(["decode", str(path), str(out), "--max-section-size", "0"]) != 0
    assert "positive" in capsys.readouterr().err
