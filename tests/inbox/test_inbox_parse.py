"""inbox.parse: the nesting cap is decided the same with or without the walk it skips."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from fedserver.errors import InvalidJSON
from inbox.parse import MAX_DEPTH, nesting_depth, parse_json


def nested(depth: int) -> dict[str, Any]:
    """An object `depth` containers deep, alternating objects and arrays."""
    value: Any = "leaf [{"
    for level in range(depth - 1):
        value = [value] if level % 2 else {"k": value, "s": "}]"}
    return {"top": value}


@pytest.mark.parametrize("depth", [1, 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 60])
def test_the_cap_at_every_depth(depth: int) -> None:
    document = nested(depth)
    assert nesting_depth(document) == depth
    body = json.dumps(document).encode()
    if depth > MAX_DEPTH:
        with pytest.raises(InvalidJSON, match="nested more than"):
            parse_json(body)
    else:
        assert parse_json(body) == document


def test_brackets_in_strings_do_not_refuse_a_shallow_document() -> None:
    document = {"content": "[{" * 100, "tag": [{"name": "]}"}]}
    assert parse_json(json.dumps(document).encode()) == document


def random_document(rng: random.Random, budget: int) -> Any:
    roll = rng.random()
    if budget <= 0 or roll < 0.3:
        return rng.choice(["s", "[", "{x}", 1, None, True])
    children = [random_document(rng, budget - rng.randint(1, 3)) for _ in range(rng.randint(0, 3))]
    if roll < 0.65:
        return children
    return {f"k{i}": child for i, child in enumerate(children)}


def test_random_documents_are_refused_exactly_when_too_deep() -> None:
    rng = random.Random(3)
    for _ in range(3_000):
        document = {"root": random_document(rng, rng.randint(0, 70))}
        body = json.dumps(document).encode()
        too_deep = nesting_depth(document) > MAX_DEPTH
        try:
            parse_json(body)
        except InvalidJSON:
            assert too_deep
        else:
            assert not too_deep
