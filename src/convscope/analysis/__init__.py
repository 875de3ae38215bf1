"""Analyses: read a run directory or a model, return arrays (numpy/torch); no plotting here."""

# What `convscope analyze --what` and an experiment's [[analysis]] tables may name.
INSIDE = ("filters", "activations")  # convscope.analysis.inside (issue: sections 1.3, 1.4)
ZF = ("deconv", "topk", "evolution", "occlusion", "invariance", "correspondence")  # .zf.run
ANALYSES = INSIDE + ZF
