"""Pure methods: tensors in, arrays and typed results out; no files, figures or verdicts.

The analyses a user names (``convscope analyze --what``, ``[[analysis]]``) are the registered
studies of :mod:`convscope.studies`, which call these.
"""
