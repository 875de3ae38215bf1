"""Zeiler & Fergus 2014, *Visualizing and Understanding Convolutional Networks* (arXiv 1311.2901),
for any CNN made of Conv2d, ReLU, MaxPool2d, AvgPool2d, BatchNorm2d, Dropout, Flatten, Linear.

* :func:`trace_chain` — the model as a chain of layers (``graph``);
* :func:`project` — deconvnet projection to pixel space (§2.1, ``deconvnet``);
* :func:`receptive_fields` — each layer's receptive field from the architecture (``receptive``);
* :func:`topk_per_map` — the 9 strongest activations per map with projections and patches
  (Fig. 2, ``topk``);
* :func:`feature_evolution` — the strongest activation per map across checkpoints (Fig. 4);
* :func:`occlusion_maps` — occlusion sensitivity (Fig. 7);

Shared by several studies and the explorer. What only one study computes lives in its package:
invariance curves (Fig. 5) in :mod:`convscope.studies.invariance.compute`, correspondence
(Table 1) in :mod:`convscope.studies.correspondence.compute`. Every function returns arrays
(tensors on CPU); each study draws its own figures.
"""

from convscope.analysis.zf.deconvnet import DECONV_CHOICES, Units, project, project_requests
from convscope.analysis.zf.evolution import Evolution, feature_evolution
from convscope.analysis.zf.graph import Chain, Layer, trace_chain
from convscope.analysis.zf.occlusion import (
    Occlusion,
    mean_fill,
    occlusion_maps,
    occlusion_summary,
)
from convscope.analysis.zf.receptive import ReceptiveField, extract_patches, receptive_fields
from convscope.analysis.zf.topk import TopK, max_per_map, topk_per_map

__all__ = [
    "DECONV_CHOICES",
    "Chain",
    "Evolution",
    "Layer",
    "Occlusion",
    "ReceptiveField",
    "TopK",
    "Units",
    "extract_patches",
    "feature_evolution",
    "max_per_map",
    "mean_fill",
    "occlusion_maps",
    "occlusion_summary",
    "project",
    "project_requests",
    "receptive_fields",
    "topk_per_map",
    "trace_chain",
]
