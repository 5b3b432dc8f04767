"""Walking a parsed JSON document, for the tests that remove or break one field at a time."""

from __future__ import annotations

from typing import Any, Iterator


def leaf_paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every key / index path in ``value``, children before their parent, the root ``()`` last."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaf_paths(child, path + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from leaf_paths(child, path + (index,))
    yield path
