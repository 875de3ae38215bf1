"""Analyses: read a run directory or a model, return arrays (numpy/torch); no plotting here."""
