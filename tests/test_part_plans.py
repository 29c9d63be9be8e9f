"""Part plans follow each service's rules, up to each service's largest object."""

from __future__ import annotations

import math

import pytest

from async_uploads.storage.parts import (
    AZURE_LIMITS,
    FILESYSTEM_LIMITS,
    S3_LIMITS,
    GiB,
    MiB,
    PartLimits,
    TiB,
    plan_parts,
)

LIMITS = {"s3": S3_LIMITS, "azure": AZURE_LIMITS, "filesystem": FILESYSTEM_LIMITS}
SIZES = [1, 5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 100 * MiB, 1 * GiB, 5 * GiB + 1, 1 * TiB, 5 * TiB]


def check(plan, limits: PartLimits) -> None:
    assert plan.part_count == math.ceil(plan.size / plan.part_size)
    assert 1 <= plan.part_count <= limits.max_parts
    assert plan.part_size <= limits.max_part_size
    lengths = [plan.part_length(1), plan.part_length(plan.part_count)]
    if plan.part_count > 1:
        assert plan.part_length(1) >= limits.min_part_size
    assert 0 < lengths[-1] <= plan.part_size
    assert plan.part_size * (plan.part_count - 1) + plan.part_length(plan.part_count) == plan.size
    assert plan.part_offset(plan.part_count) == plan.size - plan.part_length(plan.part_count)


@pytest.mark.parametrize("service", sorted(LIMITS))
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("preferred", [1, 16 * MiB, 100 * GiB])
def test_plans_keep_the_rules(service, size, preferred):
    limits = LIMITS[service]
    check(plan_parts(size, limits, preferred), limits)


@pytest.mark.parametrize("service", sorted(LIMITS))
def test_the_largest_object_fits_and_one_byte_more_does_not(service):
    limits = LIMITS[service]
    plan = plan_parts(limits.max_object_size, limits, 16 * MiB)
    check(plan, limits)
    with pytest.raises(ValueError, match="more than"):
        plan_parts(limits.max_object_size + 1, limits, 16 * MiB)


def test_s3_largest_object_uses_at_most_10000_parts_of_at_least_5_mib():
    plan = plan_parts(5 * TiB, S3_LIMITS, 5 * MiB)
    assert plan.part_count <= 10_000 and plan.part_size == math.ceil(5 * TiB / 10_000)


def test_azure_largest_blob_uses_at_most_50000_blocks_of_at_most_4000_mib():
    plan = plan_parts(AZURE_LIMITS.max_object_size, AZURE_LIMITS, 16 * MiB)
    assert (plan.part_count, plan.part_size) == (50_000, 4000 * MiB)
    assert round(AZURE_LIMITS.max_object_size / TiB, 1) == 190.7


def test_s3_parts_are_raised_to_5_mib_and_the_preferred_size_is_kept_where_it_fits():
    assert plan_parts(11 * MiB, S3_LIMITS, 1 * MiB).part_size == 5 * MiB
    assert plan_parts(11 * MiB, S3_LIMITS, 1 * MiB).part_count == 3
    assert plan_parts(100 * MiB, S3_LIMITS, 16 * MiB).part_count == 7
    assert plan_parts(300 * 1024, FILESYSTEM_LIMITS, 100 * 1024).part_count == 3


@pytest.mark.parametrize("size", [0, -1])
def test_an_empty_upload_has_no_plan(size):
    with pytest.raises(ValueError, match="at least 1 byte"):
        plan_parts(size, S3_LIMITS, 5 * MiB)


def test_part_numbers_outside_the_plan_have_no_length():
    plan = plan_parts(10, FILESYSTEM_LIMITS, 4)
    assert [plan.part_length(n) for n in (1, 2, 3)] == [4, 4, 2]
    for n in (0, 4):
        with pytest.raises(ValueError):
            plan.part_length(n)
