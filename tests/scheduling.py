"""How ``pytest -n`` hands the suite to its workers: the demo page tests of one backend stay together.

The demo page tests (tests/test_browser_demo.py) share a module-scoped example server per storage
backend, the ``example`` fixture, which takes seconds to start. xdist's default scheduler
(``--dist load``) sends each worker a large first batch in collection order, so on two workers one
of them got the whole module: more than two minutes in a row, the longest stretch of the run.

This scheduler sends every test that takes ``example`` with the same backend to one worker as a
unit, those units first, so the three backends start at once on the workers side by side and each
server starts once. Every other test follows in collection order, one at a time, to whichever
worker has fewer than two tests left. An explicit ``--dist`` other than ``load`` keeps xdist's own.

xdist's ``--dist loadgroup`` with ``xdist_group`` marks would say this declaratively, but under
pytest 9.2 it groups nothing (it renames the node ids through a field pytest no longer reads),
and ``loadscope`` assumes node ids are unique, which schemathesis' generated cases are not.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections import deque
from functools import cache
from typing import Any

import pytest

# module -> its module-scoped, parametrized fixture: the tests taking it go as one unit per parameter
GROUPED_BY_FIXTURE = {"tests/test_browser_demo.py": "example"}
_NODE = re.compile(r"(?P<path>[^:]+)::(?P<name>[^\[]+)\[(?P<param>[^\]]+)\]$")


@cache
def _takes(path: str, name: str, fixture: str) -> bool:
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    function = getattr(module, name, None)
    return function is not None and fixture in inspect.signature(function).parameters


def group_of(nodeid: str) -> str | None:
    """``<module>::<fixture>[<param>]`` for a test that goes with the others of its unit, else ``None``."""
    found = _NODE.match(nodeid)
    if found and (fixture := GROUPED_BY_FIXTURE.get(found["path"])) and _takes(found["path"], found["name"], fixture):
        return f"{found['path']}::{fixture}[{found['param']}]"
    return None


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScheduling

    class ByFixtureParameter(LoadScheduling):
        """``--dist load`` that hands out units: lists of indexes into the collection."""

        units: deque[list[int]]

        def schedule(self) -> None:
            assert self.collection_is_completed
            if self.collection is not None:
                for node in self.nodes:
                    self.check_schedule(node)
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = next(iter(self.node2collection.values()))
            groups: dict[str, list[int]] = {}
            singles: list[list[int]] = []
            for index, nodeid in enumerate(self.collection):
                group = group_of(nodeid)
                if group is None:
                    singles.append([index])
                else:
                    groups.setdefault(group, []).append(index)
            self.units = deque(sorted(groups.values(), key=len, reverse=True) + singles)
            self.pending[:] = [index for unit in self.units for index in unit]
            for node in self.nodes:
                self.check_schedule(node)

        def check_schedule(self, node: Any, duration: float = 0) -> None:
            if node.shutting_down:
                return
            while self.units and len(self.node2pending[node]) < 2:
                unit = self.units.popleft()
                del self.pending[: len(unit)]  # pending is the units, flattened, in the same order
                self.node2pending[node].extend(unit)
                node.send_runtest_some(unit)
            if not self.units:
                node.shutdown()

        def remove_node(self, node: Any) -> str | None:
            # A worker that crashed: the tests it had left go first to the others.
            pending = self.node2pending.pop(node)
            if not pending:
                return None
            assert self.collection is not None
            crashed = self.collection[pending.pop(0)]
            if pending:
                self.units.appendleft(pending)
                self.pending[:0] = pending
            for other in self.node2pending:
                self.check_schedule(other)
            return crashed

    return ByFixtureParameter(config, log)
