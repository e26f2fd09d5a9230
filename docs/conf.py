"""Sphinx configuration of the recbole-dcr docs: Markdown pages (MyST), the API from docstrings (autodoc).

Build: ``python -m sphinx -W --keep-going -n -b html docs docs/_build/html`` (tests/test_docs.py runs it).
"""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

project = "recbole-dcr"
author = "the recbole-dcr developers"
with open(os.path.join(ROOT, "recbole_dcr", "version.py"), encoding="utf-8") as f:
    release = version = re.search(r'__version__ = "([^"]+)"', f.read()).group(1)  # the one version number

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links, checked by the build

# The API pages import the package from this checkout; nothing is executed but imports.
autodoc_mock_imports = []
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"
autodoc_inherit_docstrings = False  # torch's and RecBole's docstrings of the methods we override are theirs, not ours
# RecBole's classes are documented on RecBole's site; a reference to one is not a broken link here.
nitpick_ignore_regex = [(r"py:.*", r"(recbole|torch|numpy|pandas|np|pd)\..*")]

# The reports under results/ are written by scripts (a title, then "###" tables, say); their heading levels
# are theirs, so a skipped level there is not an error of these pages.
suppress_warnings = ["myst.header"]

html_theme = "sphinx_rtd_theme"
html_title = f"recbole-dcr {release}"
html_static_path = []
