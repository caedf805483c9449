"""The static site: ``alignkit render`` executes the notebooks and writes offline pages.

:mod:`.build` (execute, index, student copies, atomic write) and :mod:`.page` (one
notebook -> one HTML page: plotly.js inlined once, MathML math, no network).
"""

from alignkit.site.build import SiteReport, render_site, strip_solutions, write_student_notebooks

__all__ = ["SiteReport", "render_site", "strip_solutions", "write_student_notebooks"]
