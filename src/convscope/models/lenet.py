"""LeNet5 as the reference report uses it (the TensorFlow "Deep MNIST" network).

conv 5x5/32 'same' -> ReLU -> max-pool 2 -> conv 5x5/64 'same' -> ReLU -> max-pool 2
-> fc 1024 -> ReLU -> (dropout) -> fc num_classes.

The second conv uses 'same' padding too, which is what makes the reference's 7*7*64 flatten
size for 28x28 inputs. The flatten size is derived from the input shape, so 1 or 3 channels
and 28 or 32 px all work.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn


class LeNet5(nn.Sequential):
    """LeNet5 for ``(B, C, H, W)`` inputs; returns logits ``(B, num_classes)``.

    Layers are named children (``conv1``, ``relu1``, ``pool1``, ...), so analyses find them by
    name and forward hooks on the ReLU modules see each layer's post-nonlinearity activation.
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int | tuple[int, int] = 28,
        num_classes: int = 10,
        dropout: float = 0.0,
    ) -> None:
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        features = OrderedDict(
            conv1=nn.Conv2d(in_channels, 32, kernel_size=5, padding=2),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),
            conv2=nn.Conv2d(32, 64, kernel_size=5, padding=2),
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
        )
        # 'same' convs keep the size, each 2x2 pool floors it by half. Not a trial forward pass:
        # on the meta device (check_memory) the first conv loads PyTorch's meta kernels, 3-7 s
        # once per process, paid by every run and every analysis that builds a LeNet5.
        flat = 64 * ((h // 2) // 2) * ((w // 2) // 2)
        head = OrderedDict(
            fc1=nn.Linear(flat, 1024),
            relu3=nn.ReLU(),
            dropout=nn.Dropout(dropout),
            fc2=nn.Linear(1024, num_classes),
        )
        super().__init__(OrderedDict(**features, **head))
        self.flatten_size = flat
