from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from latentpress.entropy import EntropyDecoder, EntropyEncoder, FactorizedPrior, Family, snap, tables
from latentpress.errors import CorruptPayloadError

# Pinned: the tables must be bit-identical on every machine and in every release that
# reads files written with them. A change here breaks every existing file.
TABLES_SHA256 = "ab54f4feeefd00a061c7f732336f3a67cc43af8648f1d53fe7df057210148b38"


def test_tables_are_pinned():
    assert tables.tables_digest() == TABLES_SHA256


def test_tables_identical_in_a_fresh_process_with_other_thread_settings():
    code = ("import os; os.environ['OMP_NUM_THREADS']='1'; "
            "from latentpress.entropy import tables; print(tables.tables_digest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == TABLES_SHA256


def test_deterministic_exp_and_erfc_are_accurate():
    x = np.linspace(0, 700, 200001)
    assert np.max(np.abs(tables.det_exp_neg(x) / np.exp(-x) - 1)) < 1e-12
    from scipy.special import erfc
    z = np.linspace(0, 8, 10001)
    assert np.max(np.abs(tables.det_erfc(z) / erfc(z) - 1)) < 2e-7


@pytest.mark.parametrize("family", list(Family))
def test_every_table_is_a_valid_distribution(family):
    for freq in tables.frequency_tables(family):
        assert freq.min() >= 1
        assert freq.sum() == 1 << tables.PRECISION


def test_snap():
    centres, ids = snap(np.array([0.0, 0.49, 0.51, -2.6, 7.0]), np.array([1e-9, 1.0, 1.0, 3.0, 1e9]))
    assert centres.tolist() == [0, 0, 1, -3, 7]
    scale_index, offset = ids // tables.NUM_OFFSETS, ids % tables.NUM_OFFSETS - tables.OFFSET_STEPS
    assert scale_index[0] == 0 and scale_index[-1] == tables.NUM_SCALES - 1
    assert offset.tolist() == [0, 8, -8, 6, 0]
    grid = tables.scales()
    assert abs(grid[scale_index[1]] - 1.0) / 1.0 < 0.07      # nearest grid scale
    with pytest.raises(ValueError):
        snap(np.array([np.nan]), np.array([1.0]))


def ideal_bits(family, symbols, means, scales) -> float:
    centres, ids = snap(means, scales)
    radius = tables.radii(family)[ids // tables.NUM_OFFSETS]
    residual = symbols - centres
    index = np.where(np.abs(residual) > radius, 2 * radius + 1, residual + radius)
    freq = tables.frequency_tables(family)
    bits = float(-sum(np.log2(freq[t][i] / 2.0**tables.PRECISION) for t, i in zip(ids.tolist(), index.tolist())))
    assert bits == pytest.approx(tables.ideal_bits(family, symbols, centres, ids), rel=1e-9)
    return bits


def code(family, symbols, means, scales) -> tuple[bytes, np.ndarray]:
    encoder = EntropyEncoder()
    centres, ids = snap(means, scales)
    encoder.encode_parametric(symbols, family, centres, ids)
    data = encoder.finish()
    decoded = EntropyDecoder(data).decode_parametric(family, centres, ids)
    return data, decoded


@pytest.mark.parametrize("family", list(Family))
def test_size_within_one_percent_of_ideal(family):
    rng = np.random.default_rng(int(family))
    n = 100_000
    means = rng.normal(0, 4, n)
    scales = np.exp(rng.uniform(np.log(0.1), np.log(40), n))
    if family == Family.GAUSSIAN:
        symbols = np.rint(rng.normal(means, scales))
    elif family == Family.LAPLACE:
        symbols = np.rint(rng.laplace(means, scales))
    else:
        symbols = np.rint(rng.logistic(means, scales))
    symbols = symbols.astype(np.int64)
    data, decoded = code(family, symbols, means, scales)
    assert np.array_equal(decoded, symbols)
    ideal = ideal_bits(family, symbols, means, scales) / 8
    assert len(data) <= ideal * 1.01 + 8
    assert len(data) >= ideal * 0.99 - 8


@pytest.mark.parametrize("family", list(Family))
@pytest.mark.parametrize("case", ["zeros", "heavy_tails", "huge", "empty", "one"])
def test_adversarial_round_trips(family, case):
    rng = np.random.default_rng(3)
    n = {"empty": 0, "one": 1}.get(case, 5000)
    means = rng.normal(0, 2, n)
    scales = np.full(n, 0.3)
    if case == "zeros":
        symbols = np.zeros(n, np.int64)
    elif case == "heavy_tails":
        symbols = np.rint(rng.standard_cauchy(n) * 50).clip(-2**40, 2**40).astype(np.int64)
    elif case == "huge":
        symbols = rng.choice([-(2**61), 2**61, 0, 1 << 33, -(1 << 20)], n).astype(np.int64)
    else:
        symbols = rng.integers(-3, 4, n)
    data, decoded = code(family, symbols, means, scales)
    assert np.array_equal(decoded, symbols)


def test_values_beyond_the_escape_range_are_refused():
    with pytest.raises(ValueError, match="2\\*\\*62"):
        EntropyEncoder().encode_laplace(np.array([-(2**63)]), np.zeros(1), np.ones(1))
    prior = FactorizedPrior.fit(np.zeros((1, 4), np.int64))
    with pytest.raises(ValueError, match="2\\*\\*62"):
        prior.encode(EntropyEncoder(), np.array([[2**62 + 5]]))


def test_leftover_data_is_detected():
    encoder = EntropyEncoder()
    encoder.encode_laplace(np.arange(10), np.zeros(10), np.ones(10))
    data = encoder.finish()
    decoder = EntropyDecoder(data)
    decoder.decode_laplace(np.zeros(10), np.ones(10))
    decoder.finish()
    padded = EntropyDecoder(data + b"\0" * 12)
    padded.decode_laplace(np.zeros(10), np.ones(10))
    with pytest.raises(CorruptPayloadError, match="continues"):
        padded.finish()


# Golden bitstream: the exact bytes for fixed inputs. If a dependency upgrade (above all
# constriction's fixed-point conversion of the tables) changes one bit, existing files
# stop decoding; this test is the alarm.
GOLDEN_SHA256 = "5ea4c62ecd68eb8d12169384b02008152bbf09d8445c82e547afe7713daff616"


def golden_stream() -> bytes:
    rng = np.random.default_rng(2026)
    encoder = EntropyEncoder()
    for family in Family:
        means = rng.normal(0, 3, 2000)
        scales = np.exp(rng.uniform(-3, 4.5, 2000))
        symbols = np.rint(means + rng.laplace(0, scales)).astype(np.int64)
        symbols[::97] += 10**6
        encoder.encode_parametric(symbols, family, *snap(means, scales))
    channels = np.rint(rng.laplace(0, [[0.3], [2.0], [9.0]], (3, 3000))).astype(np.int64)
    prior = FactorizedPrior.fit(channels)
    prior.encode(encoder, channels)
    return prior.to_bytes() + encoder.finish()


def test_golden_bitstream():
    import hashlib
    assert hashlib.sha256(golden_stream()).hexdigest() == GOLDEN_SHA256


def test_several_calls_share_one_stream():
    rng = np.random.default_rng(5)
    a = rng.integers(-5, 5, 1000)
    b = rng.integers(-100, 100, 300)
    encoder = EntropyEncoder()
    encoder.encode_laplace(a, np.zeros(1000), np.full(1000, 2.0))
    encoder.encode_gaussian(b, np.zeros(300), np.full(300, 60.0))
    decoder = EntropyDecoder(encoder.finish())
    assert np.array_equal(decoder.decode_laplace(np.zeros(1000), np.full(1000, 2.0)), a)
    assert np.array_equal(decoder.decode_gaussian(np.zeros(300), np.full(300, 60.0)), b)


def test_garbage_decodes_to_something_or_raises_documented_error():
    rng = np.random.default_rng(9)
    for _ in range(50):
        data = rng.integers(0, 256, 4 * int(rng.integers(0, 20)), dtype=np.uint8).tobytes()
        try:
            out = EntropyDecoder(data).decode_laplace(np.zeros(200), np.full(200, 0.5))
            assert out.shape == (200,)
        except CorruptPayloadError:
            pass
    with pytest.raises(CorruptPayloadError):
        EntropyDecoder(b"abc")


def test_table_id_out_of_range_rejected():
    with pytest.raises(CorruptPayloadError):
        EntropyDecoder(b"\0" * 8).decode_parametric(Family.LAPLACE, np.zeros(2, np.int64), np.array([0, 10**6]))


# Factorized priors ------------------------------------------------------------------

def laplace_channels(rng, n=100_000):
    return np.rint(rng.laplace(0, [[0.2], [1.5], [8.0]], (3, n))).astype(np.int64)


def test_factorized_round_trip_and_size():
    rng = np.random.default_rng(11)
    symbols = laplace_channels(rng)
    prior = FactorizedPrior.fit(symbols)
    table = prior.to_bytes()
    encoder = EntropyEncoder()
    prior.encode(encoder, symbols)
    data = encoder.finish()
    restored = FactorizedPrior.from_bytes(table)
    assert np.array_equal(restored.decode(EntropyDecoder(data), symbols.shape[1]), symbols)
    ideal = prior.ideal_bits(symbols) / 8
    assert ideal * 0.99 - 8 <= len(data) <= ideal * 1.01 + 8
    assert len(table) < 400


def test_factorized_escapes_outside_the_table():
    rng = np.random.default_rng(12)
    train = laplace_channels(rng, 1000)
    prior = FactorizedPrior.fit(train)
    symbols = train.copy()
    symbols[:, :3] = [[10**9], [-(10**9)], [12345]]
    encoder = EntropyEncoder()
    prior.encode(encoder, symbols)
    decoded = prior.decode(EntropyDecoder(encoder.finish()), symbols.shape[1])
    assert np.array_equal(decoded, symbols)


def test_factorized_from_pmf():
    pmf = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    prior = FactorizedPrior.from_pmf([-2], [pmf])
    symbols = np.array([[-2, -1, 0, 1, 2, 0, 0, 7]])
    encoder = EntropyEncoder()
    prior.encode(encoder, symbols)
    assert np.array_equal(prior.decode(EntropyDecoder(encoder.finish()), 8), symbols)


def test_factorized_table_reader_is_strict():
    table = FactorizedPrior.fit(laplace_channels(np.random.default_rng(1), 500)).to_bytes()
    for length in range(len(table)):
        with pytest.raises(CorruptPayloadError):
            FactorizedPrior.from_bytes(table[:length])
    with pytest.raises(CorruptPayloadError):
        FactorizedPrior.from_bytes(table + b"\0")
    with pytest.raises(CorruptPayloadError):                 # support over the limit
        FactorizedPrior.from_bytes(b"\x01\x00\xff\xff\x03")
    with pytest.raises(CorruptPayloadError):                 # zero frequency
        FactorizedPrior.from_bytes(b"\x01\x00\x01\x00\x01")


def test_rows_layout_round_trips_whatever_mode_wins():
    from latentpress.entropy.integer_tensors import decode_rows, encode_rows
    rng = np.random.default_rng(3)
    cases = [rng.integers(-3, 4, (5, 100)),                                   # small support: tables
             rng.laplace(0, 20, (3, 1000)).round().astype(np.int64) + 500,    # offset Laplace rows
             np.zeros((2, 10), np.int64), np.array([[7]]),
             np.array([[1 << 35, -(1 << 35), 0]])]                            # escapes
    modes = set()
    for symbols in cases:
        data = encode_rows(symbols)
        modes.add(data[0])
        assert np.array_equal(decode_rows(data, *symbols.shape, "rows"), symbols)
    assert len(modes) >= 2                  # the cases exercise more than one mode
    with pytest.raises(CorruptPayloadError):
        decode_rows(b"\x07" + data[1:], *symbols.shape, "rows")


def test_rows_layout_refuses_every_corruption_cleanly():
    from latentpress.entropy.integer_tensors import decode_rows, encode_rows
    from latentpress.errors import LatentpressError
    rng = np.random.default_rng(4)
    symbols = rng.laplace(0, 3, (4, 50)).round().astype(np.int64)
    data = encode_rows(symbols)
    # A range-coded stream cut short can still decode to something (the container's CRC
    # is what catches that); what must never happen is another exception or shape.
    candidates = [data[:length] for length in range(len(data))]
    for _ in range(300):
        mutated = bytearray(data)
        mutated[rng.integers(len(data))] = rng.integers(256)
        candidates.append(bytes(mutated))
    refused = 0
    for candidate in candidates:
        try:
            values = decode_rows(candidate, 4, 50, "rows")
        except LatentpressError:
            refused += 1
            continue
        assert values.shape == (4, 50)
    assert refused > len(data) // 2
