"""The deconvnet's rule at each layer going down (Zeiler & Fergus 2014, §2.1), the choices the
paper leaves open (:data:`DECONV_CHOICES`, written next to every result), and the one-line
refusal for a layer without a rule (:class:`NoDeconvRule`).

:mod:`convscope.analysis.zf.deconvnet` applies these rules and re-exports every name here.
"""

from __future__ import annotations

from convscope.analysis.zf.graph import (
    ACT,
    ADAPTIVEAVG,
    ADAPTIVEMAX,
    ADD,
    AVGPOOL,
    BN,
    CAT,
    CONV,
    DROPOUT,
    FLATTEN,
    LEAKYRELU,
    LINEAR,
    MAXPOOL,
    NORM,
    RELU,
    SCALE,
    Chain,
    display_name,
)
from convscope.analysis.zf.kinds import RECTIFIER_NAMES
from convscope.errors import ConvscopeError

DECONV_CHOICES: dict[str, str] = {
    "source": "Zeiler & Fergus 2014 (arXiv 1311.2901) section 2.1",
    "seed": "the selected activation keeps its forward value; every other activation of the "
    "layer is zero",
    "maxpool": "unpool with this image's switches (argmax of the forward pass); where "
    "overlapping windows share a switch their signals add (the transpose of pooling)",
    "relu": "rectify the reconstruction (relu of the signal), not the forward mask",
    "conv": "conv_transpose2d with the same weights; the conv bias is not applied",
    "linear": "multiply by the transposed weight matrix; the bias is not applied",
    "batchnorm": "eval-mode batch norm is a per-channel affine map; going down it is its "
    "transposed linear part: scale by weight / sqrt(running_var + eps), no shift",
    "avgpool": "transposed average pooling: each output's signal spread evenly over its window",
    "dropout": "identity (eval mode)",
    "leakyrelu": "apply the same leaky rectifier to the reconstruction (negative parts scaled "
    "by the slope), the analogue of the ReLU rule",
    "adaptivepool": "adaptive average pooling: its transpose (spread evenly over each bin); "
    "adaptive max pooling: unpool with its switches",
    "add": "a residual add passes the signal unchanged to both summands; where one tensor "
    "feeds several layers (a skip) the signals coming back from them add",
    "cat": "concatenation splits the signal back into its parts along the channels",
    "rectifier_act": "GELU, SiLU, Mish, Hardswish, ELU, CELU, SELU, Softplus, ReLU6: rectify the "
    "reconstruction (relu of the signal), the ReLU rule: each is ReLU-shaped (above f(0) "
    "exactly where its input is positive), and the rule passes down the signal of the units "
    "that are on, as the paper does at a ReLU",
    "prelu": "PReLU and RReLU (eval: the mean slope): the same leaky rectifier, with the "
    "layer's own slopes, applied to the reconstruction (the leaky-ReLU rule)",
    "saturating_act": "Sigmoid, Tanh, Hardtanh, Hardsigmoid, Softsign, LogSigmoid, "
    "Tanhshrink, Threshold: no rule (a saturating unit has no 'on' part to pass down); the "
    "projection is refused in one line and the forward-only analyses still run",
    "norm": "GroupNorm, LayerNorm, InstanceNorm: the statistics are frozen at this image's "
    "forward pass, so the layer is a per-element affine map; going down, scale by "
    "weight / sigma of this image (the batch-norm rule with the image's own statistics), "
    "no shift",
    "scale": "multiplying or dividing by a constant: the same factor on the way down",
    "other": "any other op (a custom function, a recurrent cell, a non-zero padding mode): no "
    "rule; the projection is refused in one line naming the layer",
}


class NoDeconvRule(ConvscopeError):
    """A layer on the way down has no deconvnet rule (:data:`DECONV_CHOICES`); the message is
    one line naming it. Forward-only analyses are unaffected."""


def layer_rule(chain: Chain, i: int) -> str | None:
    """The :data:`DECONV_CHOICES` key applied at layer ``i`` going down; ``None`` if none."""
    layer = chain.layers[i]
    kind = layer.kind
    if kind == ACT:
        if layer.op in ("prelu", "rrelu"):
            return "prelu"
        return "rectifier_act" if layer.op in RECTIFIER_NAMES else None
    if kind == CONV:
        return "conv" if getattr(layer.module, "padding_mode", "zeros") == "zeros" else None
    if kind in (ADAPTIVEAVG, ADAPTIVEMAX):
        return "adaptivepool"
    table = {RELU: "relu", LEAKYRELU: "leakyrelu", MAXPOOL: "maxpool", AVGPOOL: "avgpool"}
    table |= {BN: "batchnorm", DROPOUT: "dropout", FLATTEN: "flatten", LINEAR: "linear"}
    table |= {ADD: "add", CAT: "cat", NORM: "norm", SCALE: "scale"}
    return table.get(kind)


def projection_rules(chain: Chain, idx: int) -> dict[str, str]:
    """Each layer the projection from ``idx`` passes down through -> the rule applied there
    (``DECONV_CHOICES`` key); :class:`NoDeconvRule` for the first layer that has none."""
    out: dict[str, str] = {}
    for i in sorted(chain.ancestors(idx)):
        rule = layer_rule(chain, i)
        if rule is None:
            layer = chain.layers[i]
            if layer.kind == ACT:
                why = "a saturating nonlinearity has no 'on' part to pass down"
            elif layer.kind == CONV:
                why = (
                    f"padding_mode {getattr(layer.module, 'padding_mode', '')!r}; expected 'zeros'"
                )
            else:
                why = f"no transpose is defined for {layer.op or layer.kind}"
            raise NoDeconvRule(
                f"deconvnet: layer {display_name(layer)} has no projection rule ({why}; see "
                f"docs/deconvnet.md); projections from {chain.layers[idx].name!r} are skipped"
            )
        out[chain.layers[i].name] = rule
    return out
