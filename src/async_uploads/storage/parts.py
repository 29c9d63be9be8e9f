"""Part plans of multipart uploads: how a declared size is cut into parts, within each service's rules."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AZURE_LIMITS",
    "FILESYSTEM_LIMITS",
    "S3_LIMITS",
    "PartLimits",
    "PartPlan",
    "plan_parts",
]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB


@dataclass(frozen=True)
class PartLimits:
    """A storage service's rules for uploads in parts."""

    #: Smallest size of every part but the last.
    min_part_size: int
    #: Largest size of a part.
    max_part_size: int
    #: Most parts of one upload.
    max_parts: int
    #: Largest object an upload in parts can make.
    max_object_size: int


#: Amazon S3: parts of 5 MiB to 5 GiB (the last may be smaller), at most 10,000, objects up to 5 TiB.
S3_LIMITS = PartLimits(min_part_size=5 * MiB, max_part_size=5 * GiB, max_parts=10_000, max_object_size=5 * TiB)
#: Azure Blob block blobs: blocks up to 4000 MiB, at most 50,000 committed, blobs up to 50,000 x 4000 MiB
#: (about 190.7 TiB). Azure sets no smallest block.
AZURE_LIMITS = PartLimits(
    min_part_size=1, max_part_size=4000 * MiB, max_parts=50_000, max_object_size=50_000 * 4000 * MiB
)
#: The filesystem backend's own part view: parts up to 5 GiB, at most 10,000, files up to 5 TiB
#: (the disk is the real bound); no smallest part.
FILESYSTEM_LIMITS = PartLimits(min_part_size=1, max_part_size=5 * GiB, max_parts=10_000, max_object_size=5 * TiB)


@dataclass(frozen=True)
class PartPlan:
    """How an upload of ``size`` bytes is cut: ``part_count`` parts of ``part_size``, the last one the rest."""

    size: int
    part_size: int
    part_count: int

    def part_length(self, number: int) -> int:
        """Return the size of part ``number`` (1-based)."""
        if not 1 <= number <= self.part_count:
            raise ValueError(f"Part {number} is outside 1..{self.part_count}.")
        if number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)

    def part_offset(self, number: int) -> int:
        """Return the offset in the object of part ``number`` (1-based)."""
        self.part_length(number)
        return self.part_size * (number - 1)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def plan_parts(size: int, limits: PartLimits, preferred_part_size: int) -> PartPlan:
    """Return the plan for an object of ``size`` bytes: parts of ``preferred_part_size`` where the rules allow.

    The part size is raised to the service's smallest part and to what keeps the count within its
    most parts, and lowered to its largest part; the plan is exactly ``ceil(size / part_size)``
    parts. Raise :class:`ValueError` for a size below 1 byte or above the service's largest object.
    """
    if size < 1:
        raise ValueError("An upload in parts needs at least 1 byte; upload an empty file in one request.")
    if size > limits.max_object_size:
        raise ValueError(f"{size} bytes is more than the {limits.max_object_size} bytes this storage takes in parts.")
    part_size = max(preferred_part_size, limits.min_part_size, _ceil_div(size, limits.max_parts), 1)
    part_size = min(part_size, limits.max_part_size)
    count = _ceil_div(size, part_size)
    if count > limits.max_parts:  # pragma: no cover - max_object_size <= max_parts * max_part_size
        raise ValueError(f"{size} bytes needs more than {limits.max_parts} parts.")
    return PartPlan(size=size, part_size=part_size, part_count=count)
