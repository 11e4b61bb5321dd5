"""Fuzz the .lpx container reader: any exception other than a LatentpressError is a bug.

    python fuzz/fuzz_container.py fuzz/corpus/container fuzz/seeds/container -max_total_time=600 \
        -rss_limit_mb=2048 -timeout=10
"""

import sys

import atheris

with atheris.instrument_imports():
    from latentpress import container
    from latentpress.errors import LatentpressError


def test_one_input(data: bytes) -> None:
    try:
        header, sections = container.read(data)
    except LatentpressError:
        return
    container.split_metadata(sections)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
