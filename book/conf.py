"""Sphinx configuration of the web edition (`make book`; book/build.py stages the sources).

Sphinx + MyST-NB renders the notebooks from their stored outputs (nothing is executed), with
sphinx-book-theme for navigation, launch buttons (Colab, Binder) and the search page. Everything
the pages load is served from the site itself: the theme bundles its fonts and icons, Sphinx's
search is a local index, and MathJax comes from the sphinx-mathjax-offline package.
"""

import os

project = "Unsupervised Learning: Generation — the notebooks"
author = "The generation-notebooks authors"
copyright = "2026, the generation-notebooks authors (code: MIT; prose and figures: CC BY 4.0)"

REPOSITORY = os.environ["BOOK_REPOSITORY"]  # set by book/build.py from pyproject.toml
BRANCH = os.environ.get("BOOK_BRANCH", "main")

extensions = ["myst_nb", "sphinx-mathjax-offline"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# notebooks: stored outputs only
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # the widget manager would come from a CDN; build/book.py shows static twins
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "html_image"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type", "misc.highlighting_failure"]  # ```csv blocks: shown as text

html_theme = "sphinx_book_theme"
html_title = "Unsupervised Learning: Generation"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_js_files = ["live.js"]  # the live panels (book/live.py, book/build.py)
html_show_sourcelink = False
html_copy_source = True  # the download button offers each page's notebook
html_context = {"default_mode": "light"}  # the figures are drawn on white
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": BRANCH,
    "path_to_docs": "",
    "use_repository_button": True,
    "use_issues_button": False,
    "use_edit_page_button": False,
    "use_download_button": True,
    "launch_buttons": {
        "colab_url": "https://colab.research.google.com",
        "binderhub_url": "https://mybinder.org",
        "notebook_interface": "jupyterlab",
    },
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
}
