"""Griffe extension for the docs build: show Sphinx roles in docstrings
(``:class:`~sktimbre.TimbreVAE```) as inline code (``TimbreVAE``), since
mkdocstrings renders Markdown and would print the role markup as it is."""

import re

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|attr|obj|data|exc):`(~?)([^`]+)`")


def _as_code(match):
    target = match[2]
    if match[1]:  # "~a.b.C" shows only "C", as Sphinx does
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring as it is loaded."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_as_code, obj.docstring.value)
