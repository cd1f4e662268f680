"""Checking API entities against the community OpenAPI description of Mastodon's API.

    from tests.api.openapi import assert_valid

    assert_valid(entity, "Status")            # one entity
    assert_valid(entities, "Account")         # a list: each item is checked

The description (abraham/mastodon-openapi, GFDL test data) is read from
`../shared/openapi/mastodon-openapi-schema.json` next to the repository, never copied into
it; the tests that use it are skipped, with that reason, when it is absent. Schemas are
`components.schemas` names ("Account", "CredentialAccount", "Relationship", "Instance",
"V1Instance", "Preferences", "Marker", "Tag", "Search", ...), checked with JSON Schema
Draft 2020-12 (OpenAPI 3.1's dialect), `$ref`s resolved inside the whole description.

Formats are checked too, where clients break on them: `date-time` (ISO 8601 with a time
zone; toot raises on anything else), `date`, and `uri` (absolute). `email` and
`iso-639-1` are not: Mastodon itself sends an empty contact e-mail when none is set.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

#: ../shared/openapi/ relative to the repository root.
SPEC_PATH = Path(__file__).resolve().parents[3] / "shared/openapi/mastodon-openapi-schema.json"
_BASE = "https://mastodon-openapi.invalid/schema.json"

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value or not (value.endswith("Z") or value[-6] in "+-"):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMATS.checks("date", raises=ValueError)
def _date(value: object) -> bool:
    if isinstance(value, str):
        date.fromisoformat(value)
    return True


@FORMATS.checks("uri")
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme in ("mailto", "urn"))


@cache
def _registry() -> tuple[Registry, dict[str, Any]]:
    spec = json.loads(SPEC_PATH.read_text("utf-8"))
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    return Registry().with_resource(_BASE, resource), spec["components"]["schemas"]


def spec_available() -> bool:
    return SPEC_PATH.is_file()


def require_spec() -> None:
    """Skip the calling test when the description is not next to the repository."""
    if not spec_available():
        pytest.skip(
            f"the Mastodon OpenAPI description is not at {SPEC_PATH} (GFDL test data kept"
            " outside the repository, in ../shared/openapi/)"
        )


@cache
def validator(schema: str) -> Draft202012Validator:
    """A validator for one `components.schemas` entry."""
    require_spec()
    registry, schemas = _registry()
    if schema not in schemas:
        raise KeyError(f"no schema {schema!r} in the OpenAPI description")
    return Draft202012Validator(
        {"$ref": f"{_BASE}#/components/schemas/{schema}"},
        registry=registry,
        format_checker=FORMATS,
    )


def errors(entity: Any, schema: str) -> list[str]:
    """Every violation, as `path: message` lines (empty when valid)."""
    found = validator(schema).iter_errors(entity)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in found)


def assert_valid(entity: Any, schema: str) -> None:
    """Fail with every violation listed; a list is checked item by item."""
    items = entity if isinstance(entity, list) else [entity]
    problems = [
        f"[{index}] {line}" if isinstance(entity, list) else line
        for index, item in enumerate(items)
        for line in errors(item, schema)
    ]
    assert not problems, f"not a valid {schema}:\n" + "\n".join(problems)
