"""Sizes in messages and hints: one spelling, in the units of ``max_size`` (MB of 1024 x 1024 bytes)."""

import pytest

from async_uploads.sizes import human_size, too_large

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (10 * MB, "10 MB"),
        (11534345, "11 MB"),
        (5_000_000_000, "4.7 GB"),
        (3 * 1024**5, "3072 TB"),
    ],
)
def test_human_size(size, text):
    assert human_size(size) == text


def test_a_size_just_over_a_limit_never_reads_as_the_limit():
    assert too_large(10 * MB + 1, 10 * MB) == "The file is 10.000001 MB; this field accepts at most 10 MB."
    assert too_large(11534345, 10 * MB) == "The file is 11 MB; this field accepts at most 10 MB."
    # Beyond six decimals, the exact number of bytes.
    assert human_size(1024**4 + 1, unlike=1024**4) == "1,099,511,627,777 bytes"
