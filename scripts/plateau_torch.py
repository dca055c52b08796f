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

- `VisionTransformer` (VisionTransformer.swift, `vit`): torchvision's ViT layout for small
  images: `conv_proj` p×p stride-p patch embedding, `class_token`, `encoder.pos_embedding`,
  pre-norm blocks `encoder.layers.encoder_layer_i` (`ln_1`, `self_attention` as
  `nn.MultiheadAttention(batch_first=True)`, `ln_2`, `mlp.0` Linear d-4d, exact GELU, `mlp.3`
  Linear 4d-d), `encoder.ln`, `heads.head` on the class token; LayerNorm eps 1e-6; d 64,
  depth 6, 4 heads (ModelFactory: 7×7 patches on 28×28, 4×4 on 32×32).
- `MLPMixer` (MLPMixer.swift, `mixer`): timm's layout: `stem.proj` patch embedding, blocks
  `blocks.i` (`norm1`, `mlp_tokens.fc1/fc2` over the patches with hidden d/2, `norm2`,
  `mlp_channels.fc1/fc2` over the channels with hidden 4d, exact GELU), `norm`, mean over
  patches, `head`; LayerNorm eps 1e-6; d 64, depth 4.
- `WideResNet` (WideResNet.swift, `wrn16-4`, `wrn16-8`, `wrn28-10`): xternalz/WideResNet-pytorch:
  pre-activation wide basic blocks `block1.layer.0.{bn1,conv1,bn2,conv2,convShortcut}`
  (a projecting block feeds its activated input to the 1×1 shortcut), final `bn1`, ReLU,
  global average pooling, `fc`.
- `UNet` (UNet.swift, `unet`): milesial/Pytorch-UNet with transposed-convolution upsampling:
  `inc`, `down1.maxpool_conv.1`, …, `up1.up` (2×2 stride-2 transposed conv halving the
  channels), `up1.conv` on [skip, upsampled], `outc.conv` 1×1; DoubleConv = (3×3 conv without
  bias, BatchNorm, ReLU) × 2. The benchmark's `unet`: 3 levels, width 16, 2 classes per pixel.

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


class EncoderBlock(nn.Module):
    """torchvision's ViT EncoderBlock: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, dim, heads, mlp_dim):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        # Indices 0 and 3 as torchvision's MLPBlock (its dropouts are identities here).
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Identity(), nn.Linear(mlp_dim, dim))

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.self_attention(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class _Encoder(nn.Module):
    def __init__(self, tokens, dim, depth, heads, mlp_dim):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, tokens, dim).normal_(std=0.02))
        self.layers = nn.Sequential()
        for i in range(depth):
            self.layers.add_module(f"encoder_layer_{i}", EncoderBlock(dim, heads, mlp_dim))
        self.ln = nn.LayerNorm(dim, eps=1e-6)


class VisionTransformer(nn.Module):
    def __init__(self, image_size, patch_size, input_channels=3, classes=10, dim=64, depth=6, heads=4, mlp_dim=None):
        super().__init__()
        tokens = (image_size // patch_size) ** 2 + 1
        self.conv_proj = nn.Conv2d(input_channels, dim, patch_size, stride=patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.encoder = _Encoder(tokens, dim, depth, heads, mlp_dim or 4 * dim)
        self.heads = nn.Sequential()
        self.heads.add_module("head", nn.Linear(dim, classes))

    def forward(self, x):
        n = x.shape[0]
        patches = self.conv_proj(x).flatten(2).transpose(1, 2)  # [N, P, d]
        x = torch.cat([self.class_token.expand(n, -1, -1), patches], dim=1) + self.encoder.pos_embedding
        x = self.encoder.ln(self.encoder.layers(x))
        return self.heads.head(x[:, 0])


class FeedForward(nn.Module):
    """timm's Mlp without dropout: fc1, GELU, fc2."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class MixerBlock(nn.Module):
    def __init__(self, patches, dim, token_hidden, channel_hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_tokens = FeedForward(patches, token_hidden)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_channels = FeedForward(dim, channel_hidden)

    def forward(self, x):
        x = x + self.mlp_tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.mlp_channels(self.norm2(x))


class _PatchStem(nn.Module):
    def __init__(self, input_channels, dim, patch_size):
        super().__init__()
        self.proj = nn.Conv2d(input_channels, dim, patch_size, stride=patch_size)


class MLPMixer(nn.Module):
    def __init__(self, image_size, patch_size, input_channels=3, classes=10, dim=64, depth=4):
        super().__init__()
        patches = (image_size // patch_size) ** 2
        self.stem = _PatchStem(input_channels, dim, patch_size)
        self.blocks = nn.Sequential(*(MixerBlock(patches, dim, max(dim // 2, 1), 4 * dim) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.stem.proj(x).flatten(2).transpose(1, 2)  # [N, S, C]
        return self.head(self.norm(self.blocks(x)).mean(dim=1))


class WideBasicBlock(nn.Module):
    def __init__(self, input_channels, output_channels, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(input_channels)
        self.conv1 = nn.Conv2d(input_channels, output_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(output_channels)
        self.conv2 = nn.Conv2d(output_channels, output_channels, 3, padding=1, bias=False)
        self.convShortcut = None
        if input_channels != output_channels:
            self.convShortcut = nn.Conv2d(input_channels, output_channels, 1, stride=stride, bias=False)

    def forward(self, x):
        activated = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(activated))))
        return out + (self.convShortcut(activated) if self.convShortcut is not None else x)


class _WideGroup(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.layer = nn.Sequential(*blocks)

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth=16, widen_factor=4, classes=10, input_channels=3):
        super().__init__()
        assert depth >= 10 and (depth - 4) % 6 == 0, f"WideResNet depth must be 6n+4, got {depth}"
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(input_channels, widths[0], 3, padding=1, bias=False)

        def group(cin, cout, stride):
            return _WideGroup([WideBasicBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1) for i in range(n)])

        self.block1 = group(widths[0], widths[1], 1)
        self.block2 = group(widths[1], widths[2], 2)
        self.block3 = group(widths[2], widths[3], 2)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.fc = nn.Linear(widths[3], classes)

    def forward(self, x):
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.fc(F.relu(self.bn1(x)).mean(dim=(2, 3)))


class DoubleConv(nn.Module):
    def __init__(self, input_channels, output_channels):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(input_channels, output_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(output_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(output_channels, output_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(output_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.double_conv(x)


class _Down(nn.Module):
    def __init__(self, input_channels, output_channels):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(input_channels, output_channels))

    def forward(self, x):
        return self.maxpool_conv(x)


class _Up(nn.Module):
    def __init__(self, input_channels, output_channels):
        super().__init__()
        self.up = nn.ConvTranspose2d(input_channels, input_channels // 2, 2, stride=2)
        self.conv = DoubleConv(input_channels, output_channels)

    def forward(self, x, skip):
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class _OutConv(nn.Module):
    def __init__(self, input_channels, classes):
        super().__init__()
        self.conv = nn.Conv2d(input_channels, classes, 1)


class UNet(nn.Module):
    def __init__(self, input_channels=1, classes=2, levels=3, width=16):
        super().__init__()
        assert 2 <= levels <= 5, f"UNet levels must be in 2...5, got {levels}"
        channels = [width << i for i in range(levels)]
        self.levels = levels
        self.inc = DoubleConv(input_channels, channels[0])
        for i in range(1, levels):
            self.add_module(f"down{i}", _Down(channels[i - 1], channels[i]))
        for i, level in enumerate(range(levels - 1, 0, -1)):
            self.add_module(f"up{i + 1}", _Up(channels[level], channels[level - 1]))
        self.outc = _OutConv(channels[0], classes)

    def forward(self, x):
        skips = [self.inc(x)]
        for i in range(1, self.levels):
            skips.append(getattr(self, f"down{i}")(skips[-1]))
        x = skips.pop()
        for i in range(1, self.levels):
            x = getattr(self, f"up{i}")(x, skips.pop())
        return self.outc.conv(x)


MODELS = ("mlp", "lenet", "resnet20", "resnet32", "resnet56", "wrn16-4", "wrn16-8", "wrn28-10", "vit", "mixer", "unet")


def make(name: str, sample_shape=(1, 28, 28), classes: int = 10) -> nn.Module:
    """The twin of Plateau's `ModelFactory.make(name, sampleShape:, classCount:)`; `unet` is
    the benchmark's U-Net (3 levels, width 16) with `classes` classes per pixel."""
    features = 1
    for s in sample_shape:
        features *= s
    if name == "mlp":
        return MLP((features, 512, 512, classes))
    if name == "lenet":
        return LeNet5(sample_shape[0], classes)
    if name in ("resnet20", "resnet32", "resnet56"):
        return ResNet(int(name[6:]), sample_shape[0], classes)
    if name in ("wrn16-4", "wrn16-8", "wrn28-10"):
        depth, k = (int(part) for part in name[3:].split("-"))
        return WideResNet(depth, k, classes, sample_shape[0])
    if name in ("vit", "mixer"):
        size = sample_shape[1]
        patch = 7 if size == 28 else 4
        if name == "vit":
            return VisionTransformer(size, patch, sample_shape[0], classes)
        return MLPMixer(size, patch, sample_shape[0], classes)
    if name == "unet":
        return UNet(sample_shape[0], classes, levels=3, width=16)
    raise ValueError(f"no PyTorch twin for model '{name}'; expected one of {', '.join(MODELS)}")
