"""The jinja2 environment of the HTML pages, created when the first page is rendered.

jinja2 and markupsafe cost about 2 MiB of RSS (bench scenario 8 measures idle RSS
against 60 MiB); an instance that serves only the API and federation never loads them.
Autoescape is on for every template, and the `sanitize` filter runs the allow-list
sanitiser again at render time (SECURITY.md R10: sanitised when stored *and* rendered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2


class Templates:
    """`get_template` of a jinja2 Environment made on first use."""

    def __init__(self) -> None:
        self._environment: jinja2.Environment | None = None

    def get_template(self, name: str) -> jinja2.Template:
        if self._environment is None:
            self._environment = _environment()
        return self._environment.get_template(name)


def _environment() -> jinja2.Environment:
    import jinja2
    from markupsafe import Markup

    from fedserver.sanitize import sanitize_html

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("fedserver", "templates"),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["sanitize"] = lambda html: Markup(sanitize_html(str(html)))
    return environment
