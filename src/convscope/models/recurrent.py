"""Recurrent classifiers that read an image one row per time step.

A ``(B, C, H, W)`` image becomes a sequence of ``H`` steps of ``C*W`` values (28 steps of 28
values for MNIST). The class comes from the last step's output of the top layer.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Cell = Literal["rnn", "lstm", "gru"]
_CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RowRNN(nn.Module):
    """Row-by-row recurrent classifier.

    Args:
        cell: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``.
        in_channels, image_size: input shape; each step sees ``in_channels * width`` values.
        hidden_size, num_layers: size of the recurrent stack.
        dropout: between stacked layers (as ``nn.RNNBase``); ignored for one layer.
    """

    def __init__(
        self,
        cell: Cell = "lstm",
        in_channels: int = 1,
        image_size: int | tuple[int, int] = 28,
        num_classes: int = 10,
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        self.cell = cell
        self.steps = h
        self.rnn = _CELLS[cell](
            input_size=in_channels * w,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.fc = nn.Linear(hidden_size, num_classes)

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, H, C*W)``: one row per time step."""
        b, c, h, w = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, h, c * w)

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """Top layer's output at every step: ``(B, H, hidden_size)``."""
        out, _ = self.rnn(self.rows(x))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.hidden_states(x)[:, -1])
