"""A convolutional LSTM layer for PyTorch (which has none), with Keras' ConvLSTM2D semantics.

Shi et al. (2015): the LSTM's matrix products become convolutions, so the state keeps
its spatial layout. Per time step t, with * a 2-D convolution::

    i = σ(W_i * x_t + U_i * h + b_i)      f = σ(W_f * x_t + U_f * h + b_f)
    o = σ(W_o * x_t + U_o * h + b_o)      c = f ⊙ c + i ⊙ g(W_c * x_t + U_c * h + b_c)
    h = o ⊙ g(c)

As in Keras (which report 000, "Shallow Autoencoders for Lossy Image Compression", used): the input convolution has the layer's stride and
padding ("valid" by default), the recurrent convolution U has stride 1 and "same"
padding over the state, only the input convolution has a bias, the forget gate's bias
starts at 1, and σ (``recurrent_activation``) defaults to Keras 2's hard sigmoid,
clip(0.2·x + 0.5, 0, 1). ``activation`` (g) is tanh unless the model asks for another
(report 000 uses ReLU).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Keras 2's hard sigmoid: clip(0.2·x + 0.5, 0, 1)."""
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "hard_sigmoid": hard_sigmoid,
}


class ConvLSTM2d(nn.Module):
    """Input (batch, time, channels, height, width) → all hidden states (batch, time,
    filters, height', width'), the spatial size following the input convolution."""

    def __init__(self, in_channels: int, filters: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 0, activation: str = "tanh", recurrent_activation: str = "hard_sigmoid"):
        super().__init__()
        if activation not in ACTIVATIONS or recurrent_activation not in ACTIVATIONS:
            raise ValueError(f"activations must be among {sorted(ACTIVATIONS)}")
        if kernel_size % 2 == 0:
            raise ValueError("the recurrent convolution needs an odd kernel size ('same' padding)")
        self.filters = filters
        self.activation = ACTIVATIONS[activation]
        self.recurrent_activation = ACTIVATIONS[recurrent_activation]
        # Gates in Keras' order: input, forget, cell candidate, output.
        self.input_conv = nn.Conv2d(in_channels, 4 * filters, kernel_size, stride, padding)
        self.recurrent_conv = nn.Conv2d(filters, 4 * filters, kernel_size, 1, kernel_size // 2, bias=False)
        nn.init.xavier_uniform_(self.input_conv.weight)
        for gate in range(4):
            nn.init.orthogonal_(self.recurrent_conv.weight[gate * filters:(gate + 1) * filters].view(filters, -1))
        with torch.no_grad():
            self.input_conv.bias.zero_()
            self.input_conv.bias[filters:2 * filters] = 1.0

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        if sequence.dim() != 5:
            raise ValueError("ConvLSTM2d expects (batch, time, channels, height, width)")
        outputs = []
        hidden = cell = None
        for t in range(sequence.shape[1]):
            gates = self.input_conv(sequence[:, t])
            if hidden is not None:
                # With a zero initial state the recurrent term is exactly zero; skipping it
                # at t = 0 is the same computation without the wasted convolution.
                gates = gates + self.recurrent_conv(hidden)
            i, f, g, o = torch.split(gates, self.filters, dim=1)
            candidate = self.recurrent_activation(i) * self.activation(g)
            cell = candidate if cell is None else self.recurrent_activation(f) * cell + candidate
            hidden = self.recurrent_activation(o) * self.activation(cell)
            outputs.append(hidden)
        return torch.stack(outputs, dim=1)


def conv_output_size(size: int, kernel_size: int, stride: int, padding: int = 0) -> int:
    return (size + 2 * padding - kernel_size) // stride + 1

