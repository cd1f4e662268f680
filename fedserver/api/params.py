"""Reading API parameters the way real clients send them (../shared/CLIENTS.md):

query string, form-urlencoded, multipart or JSON bodies (toot and masto.js send JSON),
empty bodies without a Content-Type, booleans as true/false/1/0, arrays as `id` or `id[]`,
unknown fields ignored. Body values take precedence over the query string.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiMapping

from fedserver import jsoncodec
from fedserver.errors import BadRequest, UnprocessableEntity

_TRUE = {"true", "1", "on", "yes", "t"}
_FALSE = {"false", "0", "off", "no", "f", ""}


class Params:
    def __init__(self, query: MultiMapping[str], body: dict[str, Any] | MultiDict[Any]) -> None:
        self._query = query
        self._body = body

    @classmethod
    async def read(cls, request: web.Request) -> Params:
        body: dict[str, Any] | MultiDict[Any] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                raw = await request.read()
                if raw.strip():
                    try:
                        parsed = jsoncodec.loads(raw)
                    except ValueError:
                        raise BadRequest("the body is not valid JSON") from None
                    if not isinstance(parsed, dict):
                        raise BadRequest("the JSON body must be an object")
                    body = parsed
            elif request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                body = MultiDict(await request.post())
            else:
                await request.read()  # an empty or unknown body is ignored
        return cls(request.query, body)

    def _values(self, name: str) -> list[Any]:
        for source in (self._body, self._query):
            if isinstance(source, dict):
                if name in source:
                    value = source[name]
                    return value if isinstance(value, list) else [value]
                if f"{name}[]" in source:
                    value = source[f"{name}[]"]
                    return value if isinstance(value, list) else [value]
            else:
                found = source.getall(name, []) + source.getall(f"{name}[]", [])
                if found:
                    return list(found)
        return []

    def has(self, name: str) -> bool:
        return bool(self._values(name))

    def raw(self, name: str) -> Any:
        values = self._values(name)
        return values[0] if values else None

    def string(
        self, name: str, default: str | None = None, *, max_length: int = 10_000
    ) -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool | int | float):
            value = str(value).lower() if isinstance(value, bool) else str(value)
        if not isinstance(value, str):
            raise UnprocessableEntity(f"{name} must be a string")
        if len(value) > max_length:
            raise UnprocessableEntity(f"{name} is longer than {max_length} characters")
        return value

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise UnprocessableEntity(f"{name} must be true or false")

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            return int(str(value))
        except ValueError:
            raise UnprocessableEntity(f"{name} must be an integer") from None

    def strings(self, name: str, *, max_items: int = 100) -> list[str]:
        values = [str(v) for v in self._values(name) if v is not None and not isinstance(v, dict)]
        return values[:max_items]

    def mapping(self, name: str) -> Any:
        """A nested parameter: JSON objects, or form keys like `name[0][value]`."""
        if isinstance(self._body, dict) and name in self._body:
            return self._body[name]
        nested: dict[str, dict[str, str]] = {}
        for source in (self._body, self._query):
            keys = list(source.keys())
            for key in keys:
                if key.startswith(f"{name}[") and key.endswith("]"):
                    inner = key[len(name) + 1 : -1]
                    index, _, attribute = inner.partition("][")
                    value = source[key] if isinstance(source, dict) else source.get(key)
                    nested.setdefault(index, {})[attribute] = str(value)
        return nested or None
