"""Attribution maps for the sanity checks: Captum's methods beside convscope's own.

Every method is a callable ``(model, x, target) -> (N, H, W)``: ``x`` ``(N, C, H, W)`` model
inputs (normalised), ``target`` ``(N,)`` the class explained; the map is the attribution
summed over channels, signed, as a float tensor on CPU. The model is passed on every call, so
one method runs on the trained model and on each randomised copy alike.

* ``saliency`` — Captum ``Saliency`` with ``abs=False``: the input gradient of the target
  logit (Simonyan et al. 2014, arXiv 1312.6034);
* ``guided_backprop`` — Captum ``GuidedBackprop`` (Springenberg et al. 2015, arXiv 1412.6806);
* ``integrated_gradients`` — Captum ``IntegratedGradients`` (Sundararajan et al. 2017,
  arXiv 1703.01365) from the data set's mean pixel;
* ``gradcam`` / ``guided_gradcam`` — Captum ``LayerGradCam`` at the last conv block's
  rectified output (ReLU of the map, bilinear upsampling to the input) and ``GuidedGradCam`` (Selvaraju et al. 2017,
  arXiv 1610.02391);
* ``deconvnet`` — convscope's deconvnet projection (Zeiler & Fergus 2014, §2.1) of each
  image's strongest unit in the last conv block (no class involved);
* ``occlusion`` — convscope's occlusion map (Z&F §4.2): the drop in the target's probability
  when a square covers a pixel, averaged over the squares that cover it.

Captum's guided backprop (and so guided Grad-CAM) overrides the backward pass of ``nn.ReLU``
*modules* only: :func:`captum_limits` names the models where that rule would be silently
wrong (a rectifier applied as a function, a leaky ReLU).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from convscope.errors import ConvscopeError

Method = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

METHODS = (
    "saliency",
    "guided_backprop",
    "integrated_gradients",
    "gradcam",
    "guided_gradcam",
    "deconvnet",
    "occlusion",
)
CAPTUM = {
    "saliency": "captum.attr.Saliency",
    "guided_backprop": "captum.attr.GuidedBackprop",
    "integrated_gradients": "captum.attr.IntegratedGradients",
    "gradcam": "captum.attr.LayerGradCam",
    "guided_gradcam": "captum.attr.GuidedGradCam",
    "deconvnet": "convscope.analysis.zf.deconvnet.project",
    "occlusion": "convscope.analysis.zf.occlusion.occlusion_maps",
}
RELU_RULE_METHODS = ("guided_backprop", "guided_gradcam")


@dataclass(frozen=True)
class Setup:
    """What the methods share.

    Attributes:
        conv_layer: the last ``nn.Conv2d`` module's name (the deconvnet and occlusion read
            its rectified output).
        cam_layer: Grad-CAM's layer: the rectifier module after ``conv_layer`` (its block's
            output, :func:`cam_layer`); ``""``: ``conv_layer`` itself.
        baseline: ``(C,)`` the mean pixel in model-input space (integrated gradients' start).
        ig_steps: integrated gradients' Riemann steps.
        occlusion_size, occlusion_stride: the occluder's side and step in pixels.
    """

    conv_layer: str
    baseline: tuple[float, ...]
    cam_layer: str = ""
    ig_steps: int = 32
    occlusion_size: int = 8
    occlusion_stride: int = 2


def last_conv(model: nn.Module) -> str:
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not names:
        raise ConvscopeError("the sanity checks need a CNN: the model has no Conv2d layer")
    return names[-1]


def cam_layer(model: nn.Module, conv: str) -> str:
    """The module whose output is ``conv``'s block output (its ``nn.ReLU``), as Grad-CAM reads
    the rectified feature maps; ``conv`` itself where that rectifier is not a module of its own
    (a function, or a module called more than once: its graph name is not a module path)."""
    from convscope.analysis.zf.graph import trace_chain

    try:
        chain = trace_chain(model)
        ly = chain.layers[chain.resolve(conv)]
    except ConvscopeError:
        return conv
    own = ly.module is not None and ly.name in dict(model.named_modules())
    return ly.name if own else conv


def captum_limits(model: nn.Module, conv_layer: str | None = None) -> dict[str, str]:
    """Per method Captum (or the deconvnet, at ``conv_layer``) cannot handle for ``model``, one
    line saying why (else empty)."""
    from convscope.analysis.zf.deconvnet import NoDeconvRule, projection_rules
    from convscope.analysis.zf.graph import NONLINEAR, trace_chain

    try:
        chain = trace_chain(model)
    except ConvscopeError as e:
        return dict.fromkeys(RELU_RULE_METHODS, f"the model could not be traced to check ({e})")
    bad = [
        f"{ly.name} ({type(ly.module).__name__ if ly.module is not None else 'a function'})"
        for ly in chain.layers
        if ly.kind in NONLINEAR and type(ly.module) is not nn.ReLU
    ]
    out: dict[str, str] = {}
    if conv_layer is not None:
        try:
            projection_rules(chain, chain.resolve(conv_layer))
        except (NoDeconvRule, ConvscopeError) as e:
            out["deconvnet"] = f"{e}; not computed"
    if not bad:
        return out
    what = ", ".join(bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
    return out | {
        m: f"Captum's guided-backprop rule hooks nn.ReLU modules only; this model "
        f"has another nonlinearity at {what}, where the rule would silently fall back to the "
        "plain gradient; not computed"
        for m in RELU_RULE_METHODS
    }


def _sum_channels(a: torch.Tensor) -> torch.Tensor:
    return a.detach().float().sum(1).cpu()


def _captum(name: str, setup: Setup) -> Method:
    import captum.attr as ca

    def run(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():  # Captum warns each call that it sets ReLU hooks
            warnings.simplefilter("ignore", UserWarning)
            return _sum_channels(attribute(model, x, target))

    def attribute(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = x.detach().clone().requires_grad_(True)
        t = target.to(x.device)
        if name == "saliency":
            a = ca.Saliency(model).attribute(x, target=t, abs=False)
        elif name == "guided_backprop":
            a = ca.GuidedBackprop(model).attribute(x, target=t)
        elif name == "integrated_gradients":
            base = torch.tensor(setup.baseline, dtype=x.dtype, device=x.device)
            base = base.view(1, -1, 1, 1).expand_as(x).contiguous()
            a = ca.IntegratedGradients(model).attribute(
                x, baselines=base, target=t, n_steps=setup.ig_steps, internal_batch_size=512
            )
        elif name == "gradcam":
            layer = model.get_submodule(setup.cam_layer or setup.conv_layer)
            g = ca.LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True)
            a = ca.LayerAttribution.interpolate(g, tuple(x.shape[2:]), "bilinear")
        elif name == "guided_gradcam":
            layer = model.get_submodule(setup.cam_layer or setup.conv_layer)
            a = ca.GuidedGradCam(model, layer).attribute(x, target=t)
        else:  # pragma: no cover - guarded by make_methods
            raise ValueError(name)
        return a

    return run


class _Chains:
    """The traced graph of the last model seen. The randomised models of one generator are one
    object whose weights change in place (:func:`.randomise.randomised`), and a
    :class:`~convscope.analysis.zf.graph.Chain` reads a module's weights when it runs, so the
    graph traced once serves every step; another model object is traced afresh."""

    def __init__(self) -> None:
        self._last: tuple[nn.Module, Any] | None = None

    def __call__(self, model: nn.Module) -> Any:
        from convscope.analysis.zf.graph import trace_chain

        if self._last is None or self._last[0] is not model:
            self._last = (model, trace_chain(model))
        return self._last[1]


def strongest_unit_projection(
    model: Any, x: torch.Tensor, layer: str, block_output: bool = True
) -> torch.Tensor:
    """Deconvnet projection (Z&F §2.1) of each image's strongest unit of ``layer`` (argmax
    over maps and positions): ``x`` ``(N, C, H, W)`` -> ``(N, C, H, W)`` on CPU."""
    from convscope.analysis.zf.deconvnet import Units, project
    from convscope.analysis.zf.topk import max_per_map

    values, positions, shape = max_per_map(model, x, layer, block_output=block_output)
    ch = values.argmax(1)
    pos = positions[torch.arange(len(ch)), ch]
    w = shape[2] if len(shape) == 3 else 1
    units = Units.of(torch.arange(len(ch)), ch, pos // w, pos % w)
    return project(model, x, layer, units, block_output=block_output).detach().cpu()


def _deconvnet(setup: Setup, chains: _Chains) -> Method:
    def run(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _sum_channels(strongest_unit_projection(chains(model), x, setup.conv_layer))

    return run


def _occlusion(setup: Setup, chains: _Chains) -> Method:
    from convscope.analysis.zf.occlusion import occlusion_maps
    from convscope.analysis.zf.reuse import PrefixReuse

    reuse = PrefixReuse()  # the first model's layers, reused below a re-initialised one

    def run(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        occ = occlusion_maps(
            chains(model),
            x.detach(),
            target.cpu(),
            setup.conv_layer,
            size=setup.occlusion_size,
            stride=setup.occlusion_stride,
            fill=list(setup.baseline),
            reuse=reuse,
        )
        drop = (occ.clean_prob_true[:, None, None] - occ.prob_true).double()  # (N, ny, nx)
        h, w = x.shape[2:]
        k = setup.occlusion_size
        cover = torch.zeros((len(occ.ys), len(occ.xs), h, w), dtype=torch.float64)
        for i, y in enumerate(occ.ys.tolist()):
            for j, xx in enumerate(occ.xs.tolist()):
                cover[i, j, y : y + k, xx : xx + k] = 1.0
        total = torch.einsum("nij,ijhw->nhw", drop, cover)
        return (total / cover.sum((0, 1)).clamp_min(1.0)).float()

    return run


def make_methods(names: Sequence[str], setup: Setup) -> dict[str, Method]:
    """The methods named, in :data:`METHODS` order."""
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ConvscopeError(
            f"sanity: unknown method {unknown[0]!r}; expected some of {', '.join(METHODS)}"
        )
    out: dict[str, Method] = {}
    chains = _Chains()
    for n in METHODS:
        if n in names:
            out[n] = (
                _deconvnet(setup, chains)
                if n == "deconvnet"
                else _occlusion(setup, chains)
                if n == "occlusion"
                else _captum(n, setup)
            )
    return out
