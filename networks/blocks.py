"""Building blocks: residual conv blocks, a downsampling encoder for frames, heads, MLPs."""

from torch import nn

HIDDEN_SIDE = 6
"""Pixel hidden states are [channels, 6, 6], whatever the frame size."""


class ResidualBlock(nn.Module):
    """x + conv-bn-relu-conv-bn(x), then relu (He et al. 2016)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x):
        return nn.functional.relu(x + self.body(x))


class ConvEncoder(nn.Module):
    """Frames [B, C_in, H, W] -> hidden state [B, channels, 6, 6].

    Strided convolutions halve the frame three times before any residual block, which keeps the
    representation cheap enough to run once per move on one CPU core.
    """

    def __init__(self, in_channels: int, channels: int, blocks: int):
        super().__init__()
        half = max(channels // 2, 1)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, half, 3, stride=2, padding=1, bias=False),  # 84 -> 42
            nn.BatchNorm2d(half),
            nn.ReLU(),
            nn.Conv2d(half, channels, 3, stride=2, padding=1, bias=False),  # 42 -> 21
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),  # 21 -> 11
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            *[ResidualBlock(channels) for _ in range(blocks)],
            nn.AdaptiveAvgPool2d(HIDDEN_SIDE),  # 11 -> 6
        )

    def forward(self, x):
        return self.net(x)


class ConvHead(nn.Module):
    """Hidden state [B, C, h, w] -> [B, out]: 1x1 conv to a few channels, then an MLP."""

    def __init__(self, in_channels: int, out: int, hidden: int, reduced: int = 8):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, reduced, 1), nn.ReLU(), nn.Flatten())
        self.fc = nn.Sequential(
            nn.Linear(reduced * HIDDEN_SIDE**2, hidden), nn.ReLU(), nn.Linear(hidden, out)
        )

    def forward(self, x):
        return self.fc(self.reduce(x))


def mlp(inputs: int, hidden: list[int], out: int) -> nn.Sequential:
    """Linear-LayerNorm-ReLU layers, then a linear output."""
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(inputs, size), nn.LayerNorm(size), nn.ReLU()]
        inputs = size
    layers.append(nn.Linear(inputs, out))
    return nn.Sequential(*layers)


def zero_output(head: nn.Module) -> None:
    """Zero the last linear layer, so a new network predicts exactly 0 (value, reward)."""
    last = [m for m in head.modules() if isinstance(m, nn.Linear)][-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
