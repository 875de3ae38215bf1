"""The ``convscope import`` subcommand: its options and what it prints."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from convscope.errors import EXIT_OK

EXAMPLES = """\
examples:
  convscope import --model mynet.py:make_net --weights mynet_state.pt \\
      --data ../shared/data/CIFAR10 --normalize 0.4914,0.4822,0.4465/0.247,0.243,0.261 \\
      --out runs/mynet
  convscope import --model mynet.py:make_net --model-args width=32,depth=3 \\
      --weights 0=init.pt --weights 500=step500.pt --weights final.pt --data DATA --out RUN
  convscope analyze runs/mynet && convscope explore runs/mynet

Weight files: a state_dict (torch.save(model.state_dict(), PATH)), or a dict holding one under
state_dict (PyTorch Lightning), model_state_dict, model or net; a prefix shared by every key
(model., module., _orig_mod.) is stripped. Files are read with torch.load(weights_only=True):
a pickled module is refused, and nothing in a weights file runs. The factory is called with
in_channels, image_size and num_classes when it takes them, and the --model-args.
--normalize is what the model saw in training, on the [0, 1] scale (torchvision's Normalize
after ToTensor); none means pixels / 255 only (the default).
"""


def add_parser(sub: argparse._SubParsersAction, common: Callable[..., None]) -> None:
    p = sub.add_parser(
        "import",
        help="make a run directory from weights trained elsewhere",
        description="Import a model trained outside convscope (its factory and state_dict) "
        "with a data set: the test split is evaluated, and the folder is a run directory that "
        "analyze, explore and report read.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(p)
    p.add_argument(
        "--model",
        required=True,
        metavar="FILE.py:factory",
        help="the architecture: FILE.py:factory, package.module:factory or a built-in name",
    )
    p.add_argument("--model-args", metavar="K=V,...", help="more keyword arguments for the factory")
    p.add_argument(
        "--weights",
        action="append",
        required=True,
        metavar="[STEP=]PATH",
        help="a weights file; repeat with STEP=PATH for snapshots of your own training (feature "
        "evolution uses them); a PATH without STEP is the final weights",
    )
    p.add_argument("--data", required=True, help="a data source as `convscope train --data` takes")
    p.add_argument(
        "--normalize",
        metavar="MEAN,STD|M1,M2,M3/S1,S2,S3|none",
        help="per-channel mean and std the model was trained with, on the [0, 1] scale "
        "(default: none, pixels / 255 only)",
    )
    p.add_argument(
        "--class-names", metavar="NAMES", help="comma-separated display names for classes 0..K-1"
    )
    p.add_argument("--grayscale", action="store_true", help="convert colour images to 1 channel")
    p.add_argument("--resize", type=int, metavar="N", help="resize images to N x N pixels")
    for split in ("train", "test"):
        p.add_argument(
            f"--{split}-per-class",
            type=int,
            metavar="N",
            help=f"a deterministic subset of N {split} images per class (quicker analyses)",
        )
    p.add_argument("--out", type=Path, required=True, metavar="RUN", help="the run directory")
    p.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from convscope.importer import ImportSpec, run_import
    from convscope.importing_args import parse_model_args, parse_normalize, parse_weights

    spec = ImportSpec(
        model=args.model,
        data=args.data,
        weights=parse_weights(args.weights),
        normalize=parse_normalize(args.normalize),
        class_names=[c.strip() for c in (args.class_names or "").split(",") if c.strip()],
        model_args=parse_model_args(args.model_args),
        grayscale=args.grayscale,
        resize=args.resize,
        train_per_class=args.train_per_class,
        test_per_class=args.test_per_class,
    )
    s = run_import(spec, args.out)
    print(f"run: {args.out} (imported)")
    print(f"test accuracy: {s['test_accuracy']:.4f} on {s['test_images']} images")
    for w in s.get("warnings", []):
        print(f"convscope: warning: {w}", file=sys.stderr)
    print(f"next: convscope analyze {args.out}; convscope explore {args.out}")
    return EXIT_OK
