"""What the random-weights projections (issue 21) add to a top-k pass, on a trained run.

For each layer, alternately in one process: the trained top-k with projections
(:func:`~convscope.analysis.zf.topk.topk_per_map` from precomputed maxima, what the ``topk``
study and the explorer run) and the random-weights pass over the same entries
(:func:`~convscope.analysis.zf.topk_random.random_topk`: projections, Spearman, optionally
SSIM; ``--explorer``: only the Spearman of |map|, as the explorer). Prints the CPU seconds of each and their ratio (the brief: at most about one more
projection pass, a ratio <= ~1).

    python benchmarks/topk_random_cost.py RUN_DIR [--layers conv1,conv2,fc1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from convscope.analysis.sanity.similarity import MEASURES
from convscope.analysis.zf.topk import max_per_map_of_layers, topk_per_map
from convscope.analysis.zf.topk_random import random_topk, random_weights_chain
from convscope.studies._zf import zf_context
from convscope.studies.base import RunContext


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--layers", default="")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--explorer", action="store_true", help="only Spearman of |map|, as the explorer"
    )
    a = ap.parse_args()
    measures = ("spearman_abs",) if a.explorer else MEASURES
    torch.set_num_threads(1)
    ctx = zf_context(RunContext(a.run_dir, device="cpu"))
    chain, (images, _) = ctx.chain, ctx.test
    names = a.layers.split(",") if a.layers else chain.default_layers()
    idxs = [chain.resolve(chain.index(n) if isinstance(n, str) else n) for n in names]
    maxima = max_per_map_of_layers(chain, images, idxs, transform=ctx.normalize, block_output=False)
    rchain = random_weights_chain(chain, 12345)
    for i in idxs:
        base = extra = 0.0
        for _ in range(a.repeat):
            t0 = time.process_time()
            t = topk_per_map(
                chain, images, i, transform=ctx.normalize, block_output=False, maxima=maxima[i]
            )
            t1 = time.process_time()
            random_topk(rchain, images, t, transform=ctx.normalize, measures=measures)
            t2 = time.process_time()
            base, extra = base + t1 - t0, extra + t2 - t1
        n = t.values.numel()
        print(
            f"{chain.layers[i].name}: {n} entries; trained top-k {base / a.repeat:.2f} s CPU, "
            f"random-weights pass {extra / a.repeat:.2f} s CPU, ratio {extra / base:.2f}"
        )


if __name__ == "__main__":
    main()
