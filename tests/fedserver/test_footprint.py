"""What the server loads before it serves a page: jinja2 only when the first HTML page or
XML document is rendered (fedserver/templates.py; bench scenario 8, idle RSS)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_server_does_not_load_jinja2() -> None:
    code = (
        "import sys, fedserver.app, fedserver.cli\n"
        "loaded = sorted(m for m in ('jinja2', 'markupsafe') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_templates_render_once_asked_for() -> None:
    from fedserver.templates import Templates

    templates = Templates()
    xml = templates.get_template("host-meta.xml").render(template_url="https://x/{uri}")
    assert "https://x/{uri}" in xml
