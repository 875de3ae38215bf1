"""What the Zeiler & Fergus studies of one run share: the model as a chain, the data, the
deterministic choice of test images (moved here from ``analysis/zf/run.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

import torch
from matplotlib.figure import Figure

from convscope.analysis.zf.graph import Chain, trace_chain
from convscope.analysis.zf.occlusion import mean_fill
from convscope.analysis.zf.topk import Maxima, max_per_map_of_layers
from convscope.errors import ConvscopeError
from convscope.studies.base import FigureRef, RunContext, StudyResult

CITATION = "Zeiler & Fergus 2014, arXiv 1311.2901"


def display_classes(name: str, classes: Sequence[str]) -> tuple[list[str], str]:
    """Class names for figures and sentences, and where they came from."""
    return list(classes), "the data set's class names (set them with the config key class_names)"


def caption(stem: str) -> str:
    return stem.replace("zf_", "").replace("_", " ").replace("-", " ").strip().capitalize()


def zf_context(run: RunContext) -> _Context:
    """The shared ZF context of a run (built once per analyze call)."""
    if "zf" not in run.cache:
        run.require_checkpoint()
        run.cache["zf"] = _Context(run)
    return run.cache["zf"]


def from_info(info: dict[str, Any]) -> StudyResult:
    """A study result from the flat dict the ZF studies build: sentences, figures and choices
    are taken out, the rest are its numbers."""
    info = dict(info)
    obs = [info.pop("observation")]
    obs += [str(x) for x in info.pop("observations", [])]
    figs = info.pop("figures", [])
    choices = info.pop("choices", {})
    return StudyResult(numbers=info, observations=obs, figures=list(figs), choices=choices)


class _Context:
    """What every analysis of one run needs, loaded once."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        self.rd = rd = run.rd
        cfg = rd.config()
        device = run.device
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConvscopeError(f"device {device!r}: CUDA is not available here")
        self.model = rd.load_model(None, device=self.device)
        try:
            self.chain: Chain = trace_chain(self.model)
        except ConvscopeError as e:
            raise ConvscopeError(
                f"{rd.path}: the Zeiler & Fergus analyses need a CNN ({cfg.model.model}): {e}"
            ) from None
        if not any(ly.kind == "conv" for ly in self.chain.layers):
            raise ConvscopeError(
                f"{rd.path}: the Zeiler & Fergus analyses need a CNN ({cfg.model.model} has no "
                "Conv2d layer)"
            )
        self.dataset, self.normalize = run.data()
        self.classes, self.class_names_from = display_classes(
            self.dataset.name, self.dataset.classes
        )
        self.hw = (int(self.dataset.image_shape[1]), int(self.dataset.image_shape[2]))
        self._preds: torch.Tensor | None = None
        self._maxima: dict[int, Maxima] = {}
        self._riders: list[tuple[Sequence[int], Callable[[dict[int, Any]], None]]] = []

    @cached_property
    def fill(self) -> list[float]:
        """The mean training pixel in model-input space (occluders' fill): a pass over the
        training split, taken when a study first needs it (the explorer never does)."""
        return mean_fill(self.dataset.channel_stats()[0], self.normalize)

    @property
    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.dataset.test.images, self.dataset.test.labels

    def _test_pass(self) -> None:
        """One pass of the final model over the test images: its predictions, and the
        per-image maxima of every default layer (for top-k and whatever else reads them)."""
        shapes = self.chain.output_shapes(tuple(self.dataset.test.images.shape[1:]))
        idxs = [self.chain.resolve(i, True) for i in self.chain.default_layers()]
        idxs = [i for i in idxs if len(shapes[i]) in (1, 3)]  # (M,) or (M, H, W) per image
        preds: list[torch.Tensor] = []
        riders, self._riders = self._riders, []

        def feed(acts: dict[int, Any]) -> None:
            for _, f in riders:
                f(acts)

        self._maxima = max_per_map_of_layers(
            self.chain,
            self.dataset.test.images,
            idxs,
            transform=self.normalize,
            block_output=False,
            predictions=preds,
            also=([i for taps, _ in riders for i in taps], feed) if riders else None,
        )
        self._preds = torch.cat(preds).cpu()

    def ride_test_pass(self, taps: Sequence[int], f: Callable[[dict[int, Any]], None]) -> bool:
        """Have the shared pass over the test images (the next :meth:`predictions` or
        :meth:`test_maxima`) also give each batch's outputs of the layers at chain indices
        ``taps`` to ``f``; False when that pass has already run (take your own)."""
        if self._preds is not None:
            return False
        self._riders.append((list(taps), f))
        return True

    def predictions(self) -> torch.Tensor:
        """``(N_test,)`` predicted classes of the final model."""
        if self._preds is None:
            self._test_pass()
        assert self._preds is not None
        return self._preds

    def test_maxima(self, idxs: Sequence[int]) -> dict[int, Maxima]:
        """Per-image maxima over the test images of the layers at chain indices ``idxs``
        (already resolved), from the shared test pass where it read them."""
        if self._preds is None:
            self._test_pass()
        missing = [i for i in idxs if i not in self._maxima]
        if missing:
            self._maxima.update(
                max_per_map_of_layers(
                    self.chain,
                    self.dataset.test.images,
                    missing,
                    transform=self.normalize,
                    block_output=False,
                )
            )
        return {i: self._maxima[i] for i in idxs}

    def pick(self, classes: Sequence[int], per_class: int = 1) -> list[int]:
        """Test indices: per class, the first ``per_class`` correctly classified images
        (then the first misclassified ones if there are not enough)."""
        labels = self.dataset.test.labels
        preds = self.predictions()
        out: list[int] = []
        for c in classes:
            idx = torch.nonzero(labels == c).flatten().tolist()
            good = [i for i in idx if int(preds[i]) == c]
            bad = [i for i in idx if int(preds[i]) != c]
            out.extend((good + bad)[:per_class])
        return out

    def layer_names(self, layers: Sequence[str] | None) -> list[int]:
        if layers is None:
            return self.chain.default_layers()
        return [self.chain.resolve(ly) for ly in layers]

    def save(self, fig: Figure, name: str) -> FigureRef:
        return FigureRef(self.run.save_figure(fig, name), caption(name))

    def base_info(self) -> dict[str, Any]:
        return {
            "run": str(self.rd.path),
            "data": self.dataset.source,
            "model": self.rd.config().model.model,
            "layers": self.chain.names,
            "device": str(self.device),
            "class_names": self.class_names_from,
            "citation": CITATION,
        }
