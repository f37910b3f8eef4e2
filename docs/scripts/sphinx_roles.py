"""Griffe extension for the API reference: Sphinx roles in docstrings become inline code.

The docstrings write cross-references the Sphinx way (``:class:`~resode.model.spec.BlockSpec```);
Markdown has no such roles, so they are shown as code with the name they would display:
``~a.b.C`` as ``C``, ``a.b.C`` as ``a.b.C``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|mod|func|meth|attr|data|exc|obj):`(~?)([^`]+)`")


def plain_roles(text: str) -> str:
    """``:role:`~a.b.C``` → ```C```, ``:role:`a.b.C``` → ```a.b.C```."""
    return ROLE.sub(
        lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", text
    )


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring once it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(obj.docstring.value)
