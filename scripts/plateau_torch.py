"""PyTorch twins of Plateau's models, with Plateau's parameter names.

Each class mirrors a model in `Sources/PlateauNN/Models/` so that a Plateau checkpoint's
state dictionary loads with `load_state_dict(strict=True)`:

- `MLP`      (MLP.swift): Linear layers `layers.0`, `layers.1`, ... with ReLU between
  (the ReLUs hold no parameters and take no index); input flattened to [N, features].
- `LeNet5`   (LeNet5.swift): `conv1` 6@5x5 pad 2, ReLU, max-pool 2, `conv2` 16@5x5, ReLU,
  max-pool 2, flatten in N,C,H,W order, `fc1` 400-120, ReLU, `fc2` 120-84, ReLU, `fc3` 84-classes.
- `ResNet`   (ResNet.swift): CIFAR ResNet of depth 6n+2 with option-A shortcuts (subsample
  with stride ::2 and zero-pad the new channels, half before and half after), BatchNorm
  with eps 1e-5 and momentum 0.1; names `conv1`, `bn1`, `layer1.0.conv1`, ..., `linear`.

Initialization follows PyTorch's defaults, not Plateau's: the benchmark only times steps and
the checkpoint check overwrites every tensor.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, sizes=(784, 512, 512, 10)):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        x = x.flatten(1)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class LeNet5(nn.Module):
    def __init__(self, input_channels=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BasicBlock(nn.Module):
    def __init__(self, input_channels, output_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, output_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(output_channels)
        self.conv2 = nn.Conv2d(output_channels, output_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(output_channels)
        self.stride = stride
        self.extra = output_channels - input_channels

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.stride != 1 or self.extra != 0:
            shortcut = x[:, :, :: self.stride, :: self.stride]
            # Option A: zero channels, extra // 2 before and the rest after (as Plateau pads).
            shortcut = F.pad(shortcut, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return F.relu(out + shortcut)


class ResNet(nn.Module):
    def __init__(self, depth=20, input_channels=3, classes=10):
        super().__init__()
        assert depth >= 8 and (depth - 2) % 6 == 0, f"ResNet depth must be 6n+2, got {depth}"
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(input_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)

        def stage(cin, cout, stride):
            return nn.Sequential(*(BasicBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1) for i in range(n)))

        self.layer1 = stage(16, 16, 1)
        self.layer2 = stage(16, 32, 2)
        self.layer3 = stage(32, 64, 2)
        self.linear = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(x.mean(dim=(2, 3)))


MODELS = ("mlp", "lenet", "resnet20", "resnet32", "resnet56")


def make(name: str, sample_shape=(1, 28, 28), classes: int = 10) -> nn.Module:
    """The twin of Plateau's `ModelFactory.make(name, sampleShape:, classCount:)`."""
    features = 1
    for s in sample_shape:
        features *= s
    if name == "mlp":
        return MLP((features, 512, 512, classes))
    if name == "lenet":
        return LeNet5(sample_shape[0], classes)
    if name in ("resnet20", "resnet32", "resnet56"):
        return ResNet(int(name[6:]), sample_shape[0], classes)
    raise ValueError(f"no PyTorch twin for model '{name}'; expected one of {', '.join(MODELS)}")
