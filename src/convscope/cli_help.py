"""One-line help and a placeholder for every config key, as ``convscope train --help`` shows them.

Each entry is ``key: (METAVAR, description)``. The default is appended from the dataclass unless
the description already says it (keys whose dataclass default is ``None`` state their real
default in words). ``tests/test_cli.py`` checks that every config key has an entry.
"""

from __future__ import annotations

FIELD_HELP: dict[str, tuple[str, str]] = {
    # [data]
    "data": (
        "SOURCE",
        "image folders ROOT/{Train,Test}/<class>/, CIFAR-10 python batches (dir or .tar.gz), "
        "MNIST IDX files, download:cifar10, download:mnist, or digits (built in)",
    ),
    "grayscale": ("BOOL", "convert colour images to one channel (ITU-R BT.601 luma)"),
    "resize": ("PX", "resize images to PX x PX (default: keep the source size)"),
    "train_per_class": ("N", "use the first N training images of each class (default: all)"),
    "test_per_class": ("N", "use the first N test images of each class (default: all)"),
    "normalize": ("MODE", "pixel scaling: unit = [0,1]; standardize = then train mean/std"),
    "augment": ("MODE", "training-time augmentation per batch"),
    "cache_dir": ("DIR", "where download:* archives are kept (default: ~/.cache/convscope)"),
    "class_names": (
        "NAMES",
        "comma-separated display names for classes 0..K-1 (default: the source's names)",
    ),
    "permute_labels": (
        "SEED",
        "train on the training labels permuted with SEED (a run's data-randomisation twin, "
        "for the sanity analysis; test labels untouched; default: not permuted)",
    ),
    # [model]
    "model": ("NAME", "network: a registered model or package.module:factory"),
    "hidden_size": (
        "N",
        "recurrent models: units per layer (default: 128 for the built-in models; a factory's "
        "own default)",
    ),
    "num_layers": (
        "N",
        "recurrent models: stacked layers (default: 1 for the built-in models; a factory's own "
        "default)",
    ),
    "dropout": (
        "P",
        "dropout probability (lenet5: before the last layer; recurrent: between) (default: 0 for "
        "the built-in models; a factory's own default)",
    ),
    "model_args": (
        "K=V,...",
        "keyword arguments for a model factory, e.g. width=32,dropout=0.3 (default: none: the "
        "factory's own defaults)",
    ),
    # [optim]
    "optimizer": ("NAME", "optimizer"),
    "lr": ("LR", "learning rate"),
    "momentum": ("M", "momentum (sgd and rmsprop)"),
    "nesterov": ("BOOL", "Nesterov momentum (sgd only)"),
    "weight_decay": ("WD", "L2 weight decay"),
    # [train]
    "epochs": (
        "E",
        "budget in passes over the training set, may be fractional "
        "(default: 1 epoch when neither --epochs nor --iterations is given)",
    ),
    "iterations": (
        "N",
        "budget in optimizer steps instead of --epochs, not both (default: unset, 1 epoch)",
    ),
    "batch_size": ("N", "images per optimizer step"),
    "seed": ("N", "random seed for initialisation, batches and augmentation"),
    "eval_every": (
        "N",
        "steps between records of loss and train/test accuracy "
        "(default: sized to the budget, about 64 records)",
    ),
    "train_eval_size": (
        "N",
        "fixed sample of training images for train_accuracy "
        "(default: min(training images, test images, 2000), at most the test subsample)",
    ),
    "test_eval_size": (
        "N",
        "test images evaluated by each record but the last, which evaluates the whole split "
        "(default: the whole split, a subsample when that would cost over 8%% of training)",
    ),
    "checkpoint_every": (
        "N",
        "steps between resumable checkpoints (also written when interrupted; a finished run "
        "keeps its final model snapshot)",
    ),
    "keep_checkpoints": ("STEPS", "comma-separated steps whose model snapshots are kept"),
    "device": ("DEVICE", "where to train; auto picks a CUDA GPU when there is one"),
    "precision": (
        "P",
        "autocast precision; auto = bf16 for CNNs where the hardware runs it fast "
        "(AMX/AVX-512 BF16 CPU, bf16 CUDA), else fp32",
    ),
    "threads": ("N", "torch intra-op threads (default: all cores)"),
    "channels_last": ("BOOL", "channels-last memory format for 4-D models (faster on CPU)"),
    "divergence_factor": (
        "F",
        "diverged if the recorded loss stays above F times its starting value ...",
    ),
    "divergence_patience": ("N", "... for N consecutive records"),
    "activation_stats_every": ("N", "steps between activation statistics (0 = off)"),
    "activation_stats_size": ("N", "fixed test images used for activation statistics"),
    "stop_at_train_accuracy": (
        "ACC",
        "stop once a record's training accuracy reaches ACC (0-1; the budget stays the limit; "
        "summary.json says whether and when; default: train for the budget)",
    ),
}
