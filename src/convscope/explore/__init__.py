"""The unit explorer: every unit of every layer of a run, as a static site (``convscope
explore RUN``).

:mod:`~convscope.explore.compute` turns the Zeiler & Fergus compute functions' arrays into
per-unit numbers, :mod:`~convscope.explore.pages` and :mod:`~convscope.explore.images` render
them, :mod:`~convscope.explore.layer_site` writes one layer's files (unit data, pages, sheets,
tiles) and :func:`~convscope.explore.build.build_site` writes the site. (Nothing is imported
here, so the CLI's parser stays light.)
"""
