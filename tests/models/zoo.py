"""A zoo of real architectures at small-but-real sizes, exported to ONNX by torch.

Every model is written by hand in torch (torchvision does not work here) or built from a
``transformers`` config with random weights, seeded with ``torch.manual_seed``, in eval()
mode. Nothing is downloaded.

    from tests.models import zoo
    path = zoo.export("resnet18", out_dir)                 # classic TorchScript exporter, opset 17
    path = zoo.export("resnet18", out_dir, dynamo=True)    # torch.export-based exporter, opset 18
    feeds = zoo.make_inputs("resnet18", seed=0)            # dict name -> np.ndarray
    shapes = zoo.input_shapes(feeds)                       # for hetc.compile(input_shapes=...)
    for name, dynamo in zoo.variants(): ...

Exports are cached on disk in ``out_dir`` under a file name that carries the model name,
the exporter, the torch version (and transformers version for BERT/GPT-2) and a digest of
this file, and in memory, so a second call is instant.
All files are saved with ``ir_version = 10`` (onnxruntime 1.31 reads at most IR 13, while
onnx 1.23 writes 14) and with the weights inside the file (no external data).

Run ``python -m tests.models.zoo [OUT_DIR]`` to export everything and print, per model, the
export time, size and the ops it uses.
"""

from __future__ import annotations

import collections
import hashlib
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

TORCHSCRIPT_OPSET = 17
# The dynamo exporter's lowest supported opset is 18; asking it for 17 goes through the
# version converter, which is what we are trying not to test here.
DYNAMO_OPSET = 18
IR_VERSION = 10


@dataclass
class ModelSpec:
    name: str
    build: Callable[[], "object"]  # -> torch.nn.Module (eval mode, seeded)
    # name -> (shape, dtype, high) ; dtype "float32" or "int64"; high = token-id bound for int64
    inputs: dict[str, tuple[tuple[int, ...], str, int]]
    outputs: list[str]
    # input name -> {axis: symbolic name}; exported dynamic in both exporters
    dynamic: dict[str, dict[int, str]] = field(default_factory=dict)
    # also export with dynamo=True
    dynamo: bool = False
    # shapes used for the export example inputs, if they differ from ``inputs`` (dynamic dims
    # are exported with a size > 1 so torch.export does not specialise them)
    export_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    description: str = ""
    # TorchScript-exporter opset, if not TORCHSCRIPT_OPSET (older opsets exercise hetc's
    # version conversion up to its pinned opset)
    opset: int | None = None
    # symbolic dim name -> size fed by make_inputs(dynamic_size=...) instead of dynamic_size
    # (e.g. UNet's height / width must be multiples of 8)
    dynamic_sizes: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Architectures (imported lazily so `import zoo` works without torch for listing)
# ---------------------------------------------------------------------------------------


def _torch():
    import torch

    return torch


def _conv_bn(nn, c_in, c_out, k, stride=1, padding=None, groups=1, act="relu"):
    padding = (k - 1) // 2 if padding is None else padding
    layers = [nn.Conv2d(c_in, c_out, k, stride, padding, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    if act == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif act == "relu6":
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


def _randomize_bn(model):
    """Give BatchNorm layers non-trivial running stats / affine params (fresh BN is identity)."""
    torch = _torch()
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            with torch.no_grad():
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.8, 1.2)
                m.bias.uniform_(-0.1, 0.1)
    return model


# --- ResNet-18 -------------------------------------------------------------------------


def build_resnet18(width: int = 32, num_classes: int = 100):
    """torchvision-style ResNet-18 (BasicBlock x [2,2,2,2]) at base width 32 instead of 64."""
    torch = _torch()
    nn = torch.nn

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, c_in, c_out, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.downsample = None
            if stride != 1 or c_in != c_out:
                self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            w = width
            self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(w)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            chans = [w, 2 * w, 4 * w, 8 * w]
            layers, c_in = [], w
            for i, c in enumerate(chans):
                stride = 1 if i == 0 else 2
                layers.append(nn.Sequential(BasicBlock(c_in, c, stride), BasicBlock(c, c)))
                c_in = c
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(c_in, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            x = torch.flatten(self.avgpool(x), 1)
            return self.fc(x)

    return ResNet()


def build_resnet50(width: int = 32, num_classes: int = 1000):
    """torchvision-style ResNet-50 (Bottleneck x [3,4,6,3], 53 convolutions) at base width
    32 instead of 64: the full ResNet-50 graph with a quarter of the weights (~25 MB)."""
    torch = _torch()
    nn = torch.nn

    class Bottleneck(nn.Module):
        def __init__(self, c_in, c_mid, stride=1):
            super().__init__()
            c_out = 4 * c_mid
            self.conv1 = nn.Conv2d(c_in, c_mid, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_mid)
            self.conv2 = nn.Conv2d(c_mid, c_mid, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_mid)
            self.conv3 = nn.Conv2d(c_mid, c_out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(c_out)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or c_in != c_out:
                self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + identity)

    class ResNet50(nn.Module):
        def __init__(self):
            super().__init__()
            w = width
            self.stem = nn.Sequential(nn.Conv2d(3, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
            blocks, c_in = [], w
            for i, (n, c) in enumerate(zip([3, 4, 6, 3], [w, 2 * w, 4 * w, 8 * w])):
                for j in range(n):
                    blocks.append(Bottleneck(c_in, c, 2 if (j == 0 and i > 0) else 1))
                    c_in = 4 * c
            self.blocks = nn.Sequential(*blocks)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(c_in, num_classes)

        def forward(self, x):
            x = self.blocks(self.stem(x))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet50()


# --- MobileNetV2 -----------------------------------------------------------------------


def _make_divisible(v, divisor=8, min_value=None):
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def build_mobilenetv2(width_mult: float = 0.5, num_classes: int = 100):
    """torchvision-style MobileNetV2 (full inverted-residual table) at width 0.5."""
    torch = _torch()
    nn = torch.nn

    class InvertedResidual(nn.Module):
        def __init__(self, c_in, c_out, stride, expand_ratio):
            super().__init__()
            hidden = int(round(c_in * expand_ratio))
            self.use_res_connect = stride == 1 and c_in == c_out
            layers = []
            if expand_ratio != 1:
                layers.append(_conv_bn(nn, c_in, hidden, 1, act="relu6"))
            layers += [
                _conv_bn(nn, hidden, hidden, 3, stride, groups=hidden, act="relu6"),  # depthwise
                nn.Conv2d(hidden, c_out, 1, 1, 0, bias=False),  # linear bottleneck
                nn.BatchNorm2d(c_out),
            ]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self):
            super().__init__()
            setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
            c_in = _make_divisible(32 * width_mult)
            self.last_channel = _make_divisible(1280 * max(1.0, width_mult))
            features = [_conv_bn(nn, 3, c_in, 3, 2, act="relu6")]
            for t, c, n, s in setting:
                c_out = _make_divisible(c * width_mult)
                for i in range(n):
                    features.append(InvertedResidual(c_in, c_out, s if i == 0 else 1, t))
                    c_in = c_out
            features.append(_conv_bn(nn, c_in, self.last_channel, 1, act="relu6"))
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.last_channel, num_classes))

        def forward(self, x):
            x = self.features(x)
            x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
            return self.classifier(torch.flatten(x, 1))

    return MobileNetV2()


# --- DenseNet --------------------------------------------------------------------------


def build_densenet(growth: int = 12, blocks=(4, 4, 4), init_features: int = 24, bn_size: int = 4, num_classes: int = 100):
    """torchvision-style DenseNet-BC, small: 3 dense blocks of 4 bottleneck layers, growth 12."""
    torch = _torch()
    nn = torch.nn
    F = nn.functional

    class DenseLayer(nn.Module):
        def __init__(self, c_in):
            super().__init__()
            self.norm1 = nn.BatchNorm2d(c_in)
            self.relu1 = nn.ReLU(inplace=True)
            self.conv1 = nn.Conv2d(c_in, bn_size * growth, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(bn_size * growth)
            self.relu2 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, 1, 1, bias=False)

        def forward(self, features):  # list of previous feature maps
            x = torch.cat(features, 1)
            x = self.conv1(self.relu1(self.norm1(x)))
            return self.conv2(self.relu2(self.norm2(x)))

    class DenseBlock(nn.ModuleDict):
        def __init__(self, n, c_in):
            super().__init__()
            for i in range(n):
                self[f"denselayer{i + 1}"] = DenseLayer(c_in + i * growth)

        def forward(self, x):
            features = [x]
            for layer in self.values():
                features.append(layer(features))
            return torch.cat(features, 1)

    class Transition(nn.Sequential):
        def __init__(self, c_in, c_out):
            super().__init__(
                nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), nn.Conv2d(c_in, c_out, 1, bias=False), nn.AvgPool2d(2, 2)
            )

    class DenseNet(nn.Module):
        def __init__(self):
            super().__init__()
            c = init_features
            layers = [
                nn.Conv2d(3, c, 7, 2, 3, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            ]
            for i, n in enumerate(blocks):
                layers.append(DenseBlock(n, c))
                c = c + n * growth
                if i != len(blocks) - 1:
                    layers.append(Transition(c, c // 2))
                    c = c // 2
            layers.append(nn.BatchNorm2d(c))
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Linear(c, num_classes)

        def forward(self, x):
            x = F.relu(self.features(x))
            x = torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)
            return self.classifier(x)

    return DenseNet()


# --- Inception -------------------------------------------------------------------------


def build_inception(num_classes: int = 100, s: int = 4):
    """InceptionV3-style net, channels / s: stem, 2x InceptionA, InceptionB (reduction),
    InceptionC (factorised 1x7/7x1), InceptionD (reduction), InceptionE (split 1x3/3x1 + concat)."""
    torch = _torch()
    nn = torch.nn
    F = nn.functional

    def C(c):
        return max(8, c // s)

    class BasicConv2d(nn.Module):
        def __init__(self, c_in, c_out, **kw):
            super().__init__()
            self.conv = nn.Conv2d(c_in, c_out, bias=False, **kw)
            self.bn = nn.BatchNorm2d(c_out, eps=0.001)

        def forward(self, x):
            return F.relu(self.bn(self.conv(x)), inplace=True)

    class InceptionA(nn.Module):
        def __init__(self, c_in, pool_features):
            super().__init__()
            self.branch1x1 = BasicConv2d(c_in, C(64), kernel_size=1)
            self.branch5x5_1 = BasicConv2d(c_in, C(48), kernel_size=1)
            self.branch5x5_2 = BasicConv2d(C(48), C(64), kernel_size=5, padding=2)
            self.branch3x3dbl_1 = BasicConv2d(c_in, C(64), kernel_size=1)
            self.branch3x3dbl_2 = BasicConv2d(C(64), C(96), kernel_size=3, padding=1)
            self.branch3x3dbl_3 = BasicConv2d(C(96), C(96), kernel_size=3, padding=1)
            self.branch_pool = BasicConv2d(c_in, pool_features, kernel_size=1)
            self.c_out = C(64) + C(64) + C(96) + pool_features

        def forward(self, x):
            b1 = self.branch1x1(x)
            b5 = self.branch5x5_2(self.branch5x5_1(x))
            b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
            bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
            return torch.cat([b1, b5, b3, bp], 1)

    class InceptionB(nn.Module):
        def __init__(self, c_in):
            super().__init__()
            self.branch3x3 = BasicConv2d(c_in, C(384), kernel_size=3, stride=2)
            self.branch3x3dbl_1 = BasicConv2d(c_in, C(64), kernel_size=1)
            self.branch3x3dbl_2 = BasicConv2d(C(64), C(96), kernel_size=3, padding=1)
            self.branch3x3dbl_3 = BasicConv2d(C(96), C(96), kernel_size=3, stride=2)
            self.c_out = C(384) + C(96) + c_in

        def forward(self, x):
            b3 = self.branch3x3(x)
            bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
            bp = F.max_pool2d(x, kernel_size=3, stride=2)
            return torch.cat([b3, bd, bp], 1)

    class InceptionC(nn.Module):
        def __init__(self, c_in, c7):
            super().__init__()
            self.branch1x1 = BasicConv2d(c_in, C(192), kernel_size=1)
            self.branch7x7_1 = BasicConv2d(c_in, c7, kernel_size=1)
            self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
            self.branch7x7_3 = BasicConv2d(c7, C(192), kernel_size=(7, 1), padding=(3, 0))
            self.branch7x7dbl_1 = BasicConv2d(c_in, c7, kernel_size=1)
            self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
            self.branch7x7dbl_3 = BasicConv2d(c7, C(192), kernel_size=(1, 7), padding=(0, 3))
            self.branch_pool = BasicConv2d(c_in, C(192), kernel_size=1)
            self.c_out = 4 * C(192)

        def forward(self, x):
            b1 = self.branch1x1(x)
            b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
            bd = self.branch7x7dbl_3(self.branch7x7dbl_2(self.branch7x7dbl_1(x)))
            bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
            return torch.cat([b1, b7, bd, bp], 1)

    class InceptionD(nn.Module):
        def __init__(self, c_in):
            super().__init__()
            self.branch3x3_1 = BasicConv2d(c_in, C(192), kernel_size=1)
            self.branch3x3_2 = BasicConv2d(C(192), C(320), kernel_size=3, stride=2)
            self.branch7x7x3_1 = BasicConv2d(c_in, C(192), kernel_size=1)
            self.branch7x7x3_2 = BasicConv2d(C(192), C(192), kernel_size=(1, 7), padding=(0, 3))
            self.branch7x7x3_3 = BasicConv2d(C(192), C(192), kernel_size=(7, 1), padding=(3, 0))
            self.branch7x7x3_4 = BasicConv2d(C(192), C(192), kernel_size=3, stride=2)
            self.c_out = C(320) + C(192) + c_in

        def forward(self, x):
            b3 = self.branch3x3_2(self.branch3x3_1(x))
            b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
            bp = F.max_pool2d(x, kernel_size=3, stride=2)
            return torch.cat([b3, b7, bp], 1)

    class InceptionE(nn.Module):
        def __init__(self, c_in):
            super().__init__()
            self.branch1x1 = BasicConv2d(c_in, C(320), kernel_size=1)
            self.branch3x3_1 = BasicConv2d(c_in, C(384), kernel_size=1)
            self.branch3x3_2a = BasicConv2d(C(384), C(384), kernel_size=(1, 3), padding=(0, 1))
            self.branch3x3_2b = BasicConv2d(C(384), C(384), kernel_size=(3, 1), padding=(1, 0))
            self.branch3x3dbl_1 = BasicConv2d(c_in, C(448), kernel_size=1)
            self.branch3x3dbl_2 = BasicConv2d(C(448), C(384), kernel_size=3, padding=1)
            self.branch3x3dbl_3a = BasicConv2d(C(384), C(384), kernel_size=(1, 3), padding=(0, 1))
            self.branch3x3dbl_3b = BasicConv2d(C(384), C(384), kernel_size=(3, 1), padding=(1, 0))
            self.branch_pool = BasicConv2d(c_in, C(192), kernel_size=1)
            self.c_out = C(320) + 4 * C(384) + C(192)

        def forward(self, x):
            b1 = self.branch1x1(x)
            b3 = self.branch3x3_1(x)
            b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
            bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
            bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
            bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
            return torch.cat([b1, b3, bd, bp], 1)

    class InceptionNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.Conv2d_1a_3x3 = BasicConv2d(3, C(32), kernel_size=3, stride=2)
            self.Conv2d_2a_3x3 = BasicConv2d(C(32), C(32), kernel_size=3)
            self.Conv2d_2b_3x3 = BasicConv2d(C(32), C(64), kernel_size=3, padding=1)
            self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
            self.Conv2d_3b_1x1 = BasicConv2d(C(64), C(80), kernel_size=1)
            self.Conv2d_4a_3x3 = BasicConv2d(C(80), C(192), kernel_size=3)
            self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
            blocks, c = [], C(192)
            for blk in (
                lambda c: InceptionA(c, C(32)),
                lambda c: InceptionA(c, C(64)),
                lambda c: InceptionB(c),
                lambda c: InceptionC(c, C(128)),
                lambda c: InceptionD(c),
                lambda c: InceptionE(c),
            ):
                b = blk(c)
                blocks.append(b)
                c = b.c_out
            self.blocks = nn.Sequential(*blocks)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.dropout = nn.Dropout()
            self.fc = nn.Linear(c, num_classes)

        def forward(self, x):
            x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
            x = self.maxpool1(x)
            x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
            x = self.blocks(x)
            x = self.dropout(torch.flatten(self.avgpool(x), 1))
            return self.fc(x)

    return InceptionNet()


# --- ShuffleNetV2 ----------------------------------------------------------------------


def build_shufflenetv2(stages_repeats=(4, 8, 4), stages_out=(24, 48, 96, 192, 1024), num_classes: int = 100):
    """torchvision-style ShuffleNetV2 x0.5 (channel shuffle via view/transpose/view, chunk)."""
    torch = _torch()
    nn = torch.nn

    def channel_shuffle(x, groups: int):
        b, c, h, w = x.size()
        x = x.view(b, groups, c // groups, h, w)
        x = torch.transpose(x, 1, 2).contiguous()
        return x.view(b, -1, h, w)

    def dw(c_in, c_out, stride):
        return nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False, groups=c_in)

    class InvertedResidual(nn.Module):
        def __init__(self, inp, oup, stride):
            super().__init__()
            self.stride = stride
            bf = oup // 2
            if stride > 1:
                self.branch1 = nn.Sequential(
                    dw(inp, inp, stride), nn.BatchNorm2d(inp), nn.Conv2d(inp, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU(inplace=True)
                )
            else:
                self.branch1 = nn.Sequential()
            self.branch2 = nn.Sequential(
                nn.Conv2d(inp if stride > 1 else bf, bf, 1, bias=False),
                nn.BatchNorm2d(bf),
                nn.ReLU(inplace=True),
                dw(bf, bf, stride),
                nn.BatchNorm2d(bf),
                nn.Conv2d(bf, bf, 1, bias=False),
                nn.BatchNorm2d(bf),
                nn.ReLU(inplace=True),
            )

        def forward(self, x):
            if self.stride == 1:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.branch2(x2)), dim=1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
            return channel_shuffle(out, 2)

    class ShuffleNetV2(nn.Module):
        def __init__(self):
            super().__init__()
            c_in = stages_out[0]
            self.conv1 = nn.Sequential(nn.Conv2d(3, c_in, 3, 2, 1, bias=False), nn.BatchNorm2d(c_in), nn.ReLU(inplace=True))
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            stages = []
            for repeats, c_out in zip(stages_repeats, stages_out[1:]):
                seq = [InvertedResidual(c_in, c_out, 2)] + [InvertedResidual(c_out, c_out, 1) for _ in range(repeats - 1)]
                stages.append(nn.Sequential(*seq))
                c_in = c_out
            self.stage2, self.stage3, self.stage4 = stages
            c_out = stages_out[-1]
            self.conv5 = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))
            self.fc = nn.Linear(c_out, num_classes)

        def forward(self, x):
            x = self.maxpool(self.conv1(x))
            x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
            x = x.mean([2, 3])  # globalpool
            return self.fc(x)

    return ShuffleNetV2()


# --- SqueezeNet ------------------------------------------------------------------------


def build_squeezenet(num_classes: int = 100):
    """torchvision SqueezeNet 1.1 (Fire modules, ceil-mode max pools, conv classifier)."""
    torch = _torch()
    nn = torch.nn

    class Fire(nn.Module):
        def __init__(self, c_in, squeeze, e1, e3):
            super().__init__()
            self.squeeze = nn.Conv2d(c_in, squeeze, 1)
            self.squeeze_activation = nn.ReLU(inplace=True)
            self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
            self.expand1x1_activation = nn.ReLU(inplace=True)
            self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)
            self.expand3x3_activation = nn.ReLU(inplace=True)

        def forward(self, x):
            x = self.squeeze_activation(self.squeeze(x))
            return torch.cat([self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)

    class SqueezeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, 3, 2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, ceil_mode=True),
                Fire(64, 16, 64, 64),
                Fire(128, 16, 64, 64),
                nn.MaxPool2d(3, 2, ceil_mode=True),
                Fire(128, 32, 128, 128),
                Fire(256, 32, 128, 128),
                nn.MaxPool2d(3, 2, ceil_mode=True),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256),
            )
            self.classifier = nn.Sequential(
                nn.Dropout(0.5), nn.Conv2d(512, num_classes, 1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1))
            )

        def forward(self, x):
            return torch.flatten(self.classifier(self.features(x)), 1)

    return SqueezeNet()


# --- ViT-tiny --------------------------------------------------------------------------


def build_vit_tiny(img: int = 32, patch: int = 4, dim: int = 192, depth: int = 4, heads: int = 3, num_classes: int = 100):
    """timm-style ViT-Tiny (dim 192, 3 heads, MLP 4x) at depth 4 on 32x32 images, patch 4."""
    torch = _torch()
    nn = torch.nn
    F = nn.functional

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.num_heads = heads
            self.head_dim = dim // heads
            self.scale = self.head_dim**-0.5
            self.qkv = nn.Linear(dim, dim * 3)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            B, N, C = x.shape
            qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            attn = (q * self.scale) @ k.transpose(-2, -1)
            attn = attn.softmax(dim=-1)
            x = (attn @ v).transpose(1, 2).reshape(B, N, C)
            return self.proj(x)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.attn = Attention()
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            n_patches = (img // patch) ** 2
            self.patch_embed = nn.Conv2d(3, dim, patch, patch)
            self.cls_token = nn.Parameter(0.02 * torch.randn(1, 1, dim))
            self.pos_embed = nn.Parameter(0.02 * torch.randn(1, n_patches + 1, dim))
            self.blocks = nn.Sequential(*[Block() for _ in range(depth)])
            self.norm = nn.LayerNorm(dim, eps=1e-6)
            self.head = nn.Linear(dim, num_classes)

        def forward(self, x):
            x = self.patch_embed(x).flatten(2).transpose(1, 2)  # B, N, C
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
            x = self.blocks(x + self.pos_embed)
            x = self.norm(x)
            return self.head(x[:, 0])

    return ViT()


# --- BERT / GPT-2 (transformers, random init) -----------------------------------------


def build_bert_mini():
    """transformers BertModel, random init: 2 layers, hidden 128, 2 heads, intermediate 512."""
    torch = _torch()
    from transformers import BertConfig, BertModel

    cfg = BertConfig(
        vocab_size=8192,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=512,
        max_position_embeddings=128,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        attn_implementation="eager",
    )
    bert = BertModel(cfg)

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
            return out.last_hidden_state, out.pooler_output

    return Wrapper()


def build_gpt2_small():
    """transformers GPT2LMHeadModel, random init: 2 layers, n_embd 128, 2 heads, causal, no kv cache."""
    torch = _torch()
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=8192,
        bos_token_id=0,
        eos_token_id=0,
        n_positions=128,
        n_embd=128,
        n_layer=2,
        n_head=2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        use_cache=False,
        attn_implementation="eager",
    )
    gpt = GPT2LMHeadModel(cfg)

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gpt = gpt

        def forward(self, input_ids, attention_mask):
            # An explicit attention_mask also keeps transformers off its packed-sequence
            # detection (torch.diff), which the TorchScript exporter cannot export.
            return self.gpt(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, return_dict=True).logits

    return Wrapper()


# --- LSTM text classifier --------------------------------------------------------------


def build_lstm_classifier(vocab: int = 5000, emb: int = 64, hidden: int = 64, num_classes: int = 4):
    """Embedding -> 1-layer bidirectional LSTM -> concat final fwd/bwd states -> Linear."""
    torch = _torch()
    nn = torch.nn

    class LSTMClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, emb)
            self.lstm = nn.LSTM(emb, hidden, num_layers=1, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(2 * hidden, num_classes)

        def forward(self, tokens):
            x = self.embedding(tokens)
            _, (h_n, _) = self.lstm(x)  # h_n: [2, B, H]
            h = torch.cat([h_n[0], h_n[1]], dim=1)
            return self.fc(h)

    return LSTMClassifier()


# --- CRNN (OCR recogniser) -------------------------------------------------------------


def build_crnn(num_classes: int = 37, hidden: int = 64):
    """CRNN: VGG-ish conv stack (BN, (2,1) pools) on 1x32x128 -> BiLSTM -> BiGRU -> Linear ->
    log_softmax over classes at every time step; output time-major [T, B, classes] (CTC layout)."""
    torch = _torch()
    nn = torch.nn
    F = nn.functional

    class CRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.cnn = nn.Sequential(
                _conv_bn(nn, 1, 32, 3), nn.MaxPool2d(2, 2),  # 16x64
                _conv_bn(nn, 32, 64, 3), nn.MaxPool2d(2, 2),  # 8x32
                _conv_bn(nn, 64, 96, 3), _conv_bn(nn, 96, 96, 3), nn.MaxPool2d((2, 1), (2, 1)),  # 4x32
                _conv_bn(nn, 96, 128, 3), _conv_bn(nn, 128, 128, 3), nn.MaxPool2d((2, 1), (2, 1)),  # 2x32
                _conv_bn(nn, 128, 128, 2, padding=0),  # 1x31
            )
            self.rnn1 = nn.LSTM(128, hidden, bidirectional=True)
            self.rnn2 = nn.GRU(2 * hidden, hidden, bidirectional=True)
            self.fc = nn.Linear(2 * hidden, num_classes)

        def forward(self, x):
            x = self.cnn(x)  # B, C, 1, T
            x = x.squeeze(2).permute(2, 0, 1)  # T, B, C
            x, _ = self.rnn1(x)
            x, _ = self.rnn2(x)
            return F.log_softmax(self.fc(x), dim=2)

    return CRNN()


# --- DBNet (OCR text detector) ---------------------------------------------------------


def build_dbnet(width: int = 16, inner: int = 64):
    """DBNet-style detector: small ResNet backbone (strides 4..32), FPN with nearest upsampling
    in the top-down path and bilinear upsampling to 1/4 + concat, then probability and
    threshold heads (Conv-BN-ReLU, 2x ConvTranspose stride 2, Sigmoid). Output [B, 2, H, W]."""
    torch = _torch()
    nn = torch.nn
    F = nn.functional

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.body = nn.Sequential(_conv_bn(nn, c_in, c_out, 3, stride), _conv_bn(nn, c_out, c_out, 3, act=None))
            self.short = _conv_bn(nn, c_in, c_out, 1, stride, act=None) if stride != 1 or c_in != c_out else nn.Identity()

        def forward(self, x):
            return F.relu(self.body(x) + self.short(x))

    def head():
        q = inner // 4
        return nn.Sequential(
            nn.Conv2d(inner, q, 3, padding=1, bias=False),
            nn.BatchNorm2d(q),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(q, q, 2, 2),
            nn.BatchNorm2d(q),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(q, 1, 2, 2),
            nn.Sigmoid(),
        )

    class DBNet(nn.Module):
        def __init__(self):
            super().__init__()
            w = width
            self.stem = nn.Sequential(_conv_bn(nn, 3, w, 3, 2), nn.MaxPool2d(3, 2, 1))  # 1/4
            chans = [w, 2 * w, 4 * w, 8 * w]
            self.stages = nn.ModuleList()
            c_in = w
            for i, c in enumerate(chans):
                self.stages.append(nn.Sequential(Block(c_in, c, 1 if i == 0 else 2), Block(c, c, 1)))
                c_in = c
            self.lateral = nn.ModuleList([nn.Conv2d(c, inner, 1, bias=False) for c in chans])
            self.smooth = nn.ModuleList([nn.Conv2d(inner, inner // 4, 3, padding=1, bias=False) for _ in chans])
            self.prob_head = head()
            self.thresh_head = head()

        def forward(self, x):
            x = self.stem(x)
            feats = []
            for stage in self.stages:
                x = stage(x)
                feats.append(x)
            lat = [l(f) for l, f in zip(self.lateral, feats)]
            for i in range(len(lat) - 1, 0, -1):  # top-down
                lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], scale_factor=2.0, mode="nearest")
            size = lat[0].shape[-2:]
            outs = [self.smooth[0](lat[0])]
            for i in range(1, len(lat)):
                outs.append(F.interpolate(self.smooth[i](lat[i]), size=size, mode="bilinear", align_corners=False))
            fuse = torch.cat(outs, 1)
            return torch.cat([self.prob_head(fuse), self.thresh_head(fuse)], 1)

    return DBNet()


# --- EfficientNet-B0 -------------------------------------------------------------------


def build_efficientnet_b0(width_mult: float = 0.5, num_classes: int = 100):
    """torchvision-style EfficientNet-B0 at width 0.5: MBConv blocks (expand 1x1, depthwise
    kxk, squeeze-excitation GlobalAveragePool -> 1x1 -> SiLU -> 1x1 -> Sigmoid -> Mul
    broadcast, project 1x1), SiLU everywhere, full B0 stage table with depths (1,2,2,3,3,4,1)."""
    torch = _torch()
    nn = torch.nn
    F = nn.functional

    def conv_bn_act(c_in, c_out, k, stride=1, groups=1, act=True):
        layers = [nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
        if act:
            layers.append(nn.SiLU(inplace=True))
        return nn.Sequential(*layers)

    class SqueezeExcitation(nn.Module):
        def __init__(self, c, c_sq):
            super().__init__()
            self.fc1 = nn.Conv2d(c, c_sq, 1)
            self.fc2 = nn.Conv2d(c_sq, c, 1)

        def forward(self, x):
            s = F.adaptive_avg_pool2d(x, 1)
            s = torch.sigmoid(self.fc2(F.silu(self.fc1(s))))
            return x * s

    class MBConv(nn.Module):
        def __init__(self, c_in, c_out, k, stride, expand):
            super().__init__()
            self.use_res = stride == 1 and c_in == c_out
            hidden = c_in * expand
            layers = []
            if expand != 1:
                layers.append(conv_bn_act(c_in, hidden, 1))
            layers += [
                conv_bn_act(hidden, hidden, k, stride, groups=hidden),
                SqueezeExcitation(hidden, max(1, c_in // 4)),
                conv_bn_act(hidden, c_out, 1, act=False),
            ]
            self.block = nn.Sequential(*layers)

        def forward(self, x):
            y = self.block(x)
            return x + y if self.use_res else y

    class EfficientNet(nn.Module):
        def __init__(self):
            super().__init__()
            table = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                     (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
            c_in = _make_divisible(32 * width_mult)
            layers = [conv_bn_act(3, c_in, 3, 2)]
            for t, k, s, c, n in table:
                c_out = _make_divisible(c * width_mult)
                for i in range(n):
                    layers.append(MBConv(c_in, c_out, k, s if i == 0 else 1, t))
                    c_in = c_out
            last = 4 * c_in
            layers.append(conv_bn_act(c_in, last, 1))
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

        def forward(self, x):
            x = F.adaptive_avg_pool2d(self.features(x), 1)
            return self.classifier(torch.flatten(x, 1))

    return EfficientNet()


# --- ConvNeXt --------------------------------------------------------------------------


def build_convnext(dims=(32, 64, 128, 256), depths=(2, 2, 2, 2), num_classes: int = 100):
    """facebookresearch ConvNeXt, small: patchify stem 4x4/4, blocks of depthwise 7x7 ->
    permute to NHWC -> LayerNorm -> Linear 4x -> GELU -> Linear -> layer scale -> permute back
    -> residual; downsampling with the hand-written channels-first LayerNorm (mean / pow /
    sqrt over dim 1) + 2x2/2 conv; global mean + LayerNorm + Linear head."""
    torch = _torch()
    nn = torch.nn
    F = nn.functional

    class LayerNormCF(nn.Module):  # the reference implementation's "channels_first" LayerNorm
        def __init__(self, c, eps=1e-6):
            super().__init__()
            self.weight = nn.Parameter(1 + 0.1 * torch.randn(c))
            self.bias = nn.Parameter(0.1 * torch.randn(c))
            self.eps = eps

        def forward(self, x):
            u = x.mean(1, keepdim=True)
            s = (x - u).pow(2).mean(1, keepdim=True)
            x = (x - u) / torch.sqrt(s + self.eps)
            return self.weight[:, None, None] * x + self.bias[:, None, None]

    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
            self.norm = nn.LayerNorm(dim, eps=1e-6)
            self.pwconv1 = nn.Linear(dim, 4 * dim)
            self.act = nn.GELU()
            self.pwconv2 = nn.Linear(4 * dim, dim)
            # real checkpoints have learnt layer scales far from the 1e-6 init
            self.gamma = nn.Parameter(0.5 + 0.1 * torch.randn(dim))

        def forward(self, x):
            y = self.dwconv(x).permute(0, 2, 3, 1)  # N, H, W, C
            y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
            y = (self.gamma * y).permute(0, 3, 1, 2)
            return x + y

    class ConvNeXt(nn.Module):
        def __init__(self):
            super().__init__()
            self.downsample_layers = nn.ModuleList([nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), LayerNormCF(dims[0]))])
            for i in range(3):
                self.downsample_layers.append(nn.Sequential(LayerNormCF(dims[i]), nn.Conv2d(dims[i], dims[i + 1], 2, 2)))
            self.stages = nn.ModuleList([nn.Sequential(*[Block(dims[i]) for _ in range(depths[i])]) for i in range(4)])
            self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
            self.head = nn.Linear(dims[-1], num_classes)

        def forward(self, x):
            for down, stage in zip(self.downsample_layers, self.stages):
                x = stage(down(x))
            return self.head(self.norm(x.mean([-2, -1])))

    return ConvNeXt()


# --- UNet ------------------------------------------------------------------------------


def build_unet(base: int = 16, depth: int = 3, num_classes: int = 3):
    """Classic UNet, small: double 3x3 conv-BN-ReLU per level, MaxPool 2x2 down, ConvTranspose
    2x2/2 up, skip connections by channel Concat, 1x1 head. Any H, W divisible by 8."""
    torch = _torch()
    nn = torch.nn

    def double_conv(c_in, c_out):
        return nn.Sequential(_conv_bn(nn, c_in, c_out, 3), _conv_bn(nn, c_out, c_out, 3))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            chans = [base * 2**i for i in range(depth + 1)]
            self.inc = double_conv(3, chans[0])
            self.downs = nn.ModuleList([double_conv(chans[i], chans[i + 1]) for i in range(depth)])
            self.pool = nn.MaxPool2d(2)
            self.ups = nn.ModuleList([nn.ConvTranspose2d(chans[i + 1], chans[i], 2, 2) for i in reversed(range(depth))])
            self.up_convs = nn.ModuleList([double_conv(2 * chans[i], chans[i]) for i in reversed(range(depth))])
            self.outc = nn.Conv2d(chans[0], num_classes, 1)

        def forward(self, x):
            skips = [self.inc(x)]
            for down in self.downs:
                skips.append(down(self.pool(skips[-1])))
            x = skips.pop()
            for up, conv in zip(self.ups, self.up_convs):
                x = conv(torch.cat([skips.pop(), up(x)], dim=1))
            return self.outc(x)

    return UNet()


# --- YOLO-style detector ---------------------------------------------------------------


def build_yolo(width: int = 16, nc: int = 8):
    """YOLOv5-style detector, small: Conv-BN-SiLU backbone with C3 blocks and SPPF (3 chained
    MaxPool 5x5), FPN/PAN neck (nn.Upsample nearest x2 + Concat), Detect head on strides 8/16/32
    with 3 anchors each: view/permute, Sigmoid, split (xy, wh, conf), grids built in forward from
    arange + meshgrid of the feature size, xy = (2 xy - 0.5 + grid) * stride,
    wh = (2 wh)^2 * anchor, concat -> [B, 3 * sum(ny * nx), 5 + nc]."""
    torch = _torch()
    nn = torch.nn

    class Conv(nn.Module):
        def __init__(self, c_in, c_out, k=1, s=1):
            super().__init__()
            self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False)
            self.bn = nn.BatchNorm2d(c_out)
            self.act = nn.SiLU()

        def forward(self, x):
            return self.act(self.bn(self.conv(x)))

    class Bottleneck(nn.Module):
        def __init__(self, c, shortcut=True):
            super().__init__()
            self.cv1, self.cv2 = Conv(c, c, 1), Conv(c, c, 3)
            self.add = shortcut

        def forward(self, x):
            y = self.cv2(self.cv1(x))
            return x + y if self.add else y

    class C3(nn.Module):
        def __init__(self, c_in, c_out, n=1, shortcut=True):
            super().__init__()
            h = c_out // 2
            self.cv1, self.cv2, self.cv3 = Conv(c_in, h), Conv(c_in, h), Conv(2 * h, c_out)
            self.m = nn.Sequential(*[Bottleneck(h, shortcut) for _ in range(n)])

        def forward(self, x):
            return self.cv3(torch.cat([self.m(self.cv1(x)), self.cv2(x)], 1))

    class SPPF(nn.Module):
        def __init__(self, c_in, c_out):
            super().__init__()
            h = c_in // 2
            self.cv1, self.cv2 = Conv(c_in, h), Conv(4 * h, c_out)
            self.m = nn.MaxPool2d(5, 1, 2)

        def forward(self, x):
            x = self.cv1(x)
            y1 = self.m(x)
            y2 = self.m(y1)
            return self.cv2(torch.cat([x, y1, y2, self.m(y2)], 1))

    class Detect(nn.Module):
        def __init__(self, chans):
            super().__init__()
            self.no, self.na = nc + 5, 3
            self.stride = [8.0, 16.0, 32.0]
            anchors = torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]], dtype=torch.float32)
            self.register_buffer("anchors", anchors.view(3, 3, 2))  # pixels
            self.m = nn.ModuleList([nn.Conv2d(c, self.no * self.na, 1) for c in chans])

        def forward(self, feats):
            z = []
            for i, f in enumerate(feats):
                x = self.m[i](f)
                bs, _, ny, nx = x.shape
                x = x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
                yv, xv = torch.meshgrid(torch.arange(ny, dtype=torch.float32), torch.arange(nx, dtype=torch.float32), indexing="ij")
                grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2) - 0.5
                anchor_grid = self.anchors[i].view(1, self.na, 1, 1, 2)
                xy, wh, conf = x.sigmoid().split((2, 2, self.no - 4), 4)
                xy = (xy * 2 + grid) * self.stride[i]
                wh = (wh * 2) ** 2 * anchor_grid
                z.append(torch.cat((xy, wh, conf), 4).view(bs, self.na * ny * nx, self.no))
            return torch.cat(z, 1)

    class YOLO(nn.Module):
        def __init__(self):
            super().__init__()
            w = width
            self.b0 = nn.Sequential(Conv(3, w, 3, 2), Conv(w, 2 * w, 3, 2), C3(2 * w, 2 * w))  # /4
            self.b1 = nn.Sequential(Conv(2 * w, 4 * w, 3, 2), C3(4 * w, 4 * w, 2))  # /8  -> P3
            self.b2 = nn.Sequential(Conv(4 * w, 8 * w, 3, 2), C3(8 * w, 8 * w, 2))  # /16 -> P4
            self.b3 = nn.Sequential(Conv(8 * w, 16 * w, 3, 2), C3(16 * w, 16 * w), SPPF(16 * w, 16 * w))  # /32
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.lat5, self.td4 = Conv(16 * w, 8 * w), C3(16 * w, 8 * w, shortcut=False)
            self.lat4, self.td3 = Conv(8 * w, 4 * w), C3(8 * w, 4 * w, shortcut=False)
            self.down3, self.bu4 = Conv(4 * w, 4 * w, 3, 2), C3(8 * w, 8 * w, shortcut=False)
            self.down4, self.bu5 = Conv(8 * w, 8 * w, 3, 2), C3(16 * w, 16 * w, shortcut=False)
            self.detect = Detect([4 * w, 8 * w, 16 * w])

        def forward(self, x):
            p3 = self.b1(self.b0(x))
            p4 = self.b2(p3)
            p5 = self.b3(p4)
            l5 = self.lat5(p5)
            t4 = self.td4(torch.cat([self.up(l5), p4], 1))
            l4 = self.lat4(t4)
            n3 = self.td3(torch.cat([self.up(l4), p3], 1))
            n4 = self.bu4(torch.cat([self.down3(n3), l4], 1))
            n5 = self.bu5(torch.cat([self.down4(n4), l5], 1))
            return self.detect([n3, n4, n5])

    return YOLO()


# --- Swin ------------------------------------------------------------------------------


def build_swin(img: int = 32, patch: int = 2, dim: int = 32, depths=(2, 2), heads=(2, 4), window: int = 4, num_classes: int = 100):
    """Swin Transformer, small: patch embed 2x2 -> 16x16 tokens; stage 1 = W-MSA + SW-MSA
    (torch.roll shift, window partition / reverse via view/permute, relative position bias
    gathered from a table by a buffer index, precomputed shifted-window attention mask),
    PatchMerging (strided slices + concat + LayerNorm + Linear), stage 2 at 8x8; mean + head."""
    torch = _torch()
    nn = torch.nn
    F = nn.functional

    def window_partition(x, ws):
        B, H, W, C = x.shape
        x = x.view(B, H // ws, ws, W // ws, ws, C).permute(0, 1, 3, 2, 4, 5).contiguous()
        return x.view(-1, ws * ws, C)

    def window_reverse(w, ws, H, W):
        C = w.shape[-1]
        x = w.view(-1, H // ws, W // ws, ws, ws, C).permute(0, 1, 3, 2, 4, 5).contiguous()
        return x.view(-1, H, W, C)

    class WindowAttention(nn.Module):
        def __init__(self, dim, nh):
            super().__init__()
            self.nh, self.scale = nh, (dim // nh) ** -0.5
            self.relative_position_bias_table = nn.Parameter(0.5 * torch.randn((2 * window - 1) ** 2, nh))
            coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
            rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
            self.register_buffer("relative_position_index", rel[..., 0] * (2 * window - 1) + rel[..., 1])
            self.qkv = nn.Linear(dim, 3 * dim)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x, mask=None):
            B_, N, C = x.shape
            qkv = self.qkv(x).reshape(B_, N, 3, self.nh, C // self.nh).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            attn = (q * self.scale) @ k.transpose(-2, -1)
            bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(N, N, -1)
            attn = attn + bias.permute(2, 0, 1).contiguous().unsqueeze(0)
            if mask is not None:
                nW = mask.shape[0]
                attn = attn.view(B_ // nW, nW, self.nh, N, N) + mask.unsqueeze(1).unsqueeze(0)
                attn = attn.view(-1, self.nh, N, N)
            attn = attn.softmax(-1)
            return self.proj((attn @ v).transpose(1, 2).reshape(B_, N, C))

    class SwinBlock(nn.Module):
        def __init__(self, dim, nh, res, shift):
            super().__init__()
            self.res, self.shift = res, (shift if res > window else 0)
            self.norm1, self.attn = nn.LayerNorm(dim), WindowAttention(dim, nh)
            self.norm2 = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
            mask = None
            if self.shift:
                img_mask = torch.zeros(1, res, res, 1)
                cnt = 0
                for h in (slice(0, -window), slice(-window, -self.shift), slice(-self.shift, None)):
                    for w in (slice(0, -window), slice(-window, -self.shift), slice(-self.shift, None)):
                        img_mask[:, h, w, :] = cnt
                        cnt += 1
                mw = window_partition(img_mask, window).squeeze(-1)
                mask = (mw.unsqueeze(1) - mw.unsqueeze(2)) != 0
                mask = mask.float() * -100.0
            self.register_buffer("attn_mask", mask)

        def forward(self, x):
            B, L, C = x.shape
            H = W = self.res
            y = self.norm1(x).view(B, H, W, C)
            if self.shift:
                y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
            y = window_reverse(self.attn(window_partition(y, window), self.attn_mask), window, H, W)
            if self.shift:
                y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
            x = x + y.view(B, L, C)
            return x + self.mlp(self.norm2(x))

    class PatchMerging(nn.Module):
        def __init__(self, dim, res):
            super().__init__()
            self.res = res
            self.norm = nn.LayerNorm(4 * dim)
            self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

        def forward(self, x):
            B, L, C = x.shape
            x = x.view(B, self.res, self.res, C)
            x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
            return self.reduction(self.norm(x.view(B, -1, 4 * C)))

    class Swin(nn.Module):
        def __init__(self):
            super().__init__()
            res = img // patch
            self.patch_embed = nn.Conv2d(3, dim, patch, patch)
            self.pe_norm = nn.LayerNorm(dim)
            self.stage1 = nn.Sequential(*[SwinBlock(dim, heads[0], res, 0 if i % 2 == 0 else window // 2) for i in range(depths[0])])
            self.merge = PatchMerging(dim, res)
            self.stage2 = nn.Sequential(*[SwinBlock(2 * dim, heads[1], res // 2, 0 if i % 2 == 0 else window // 2) for i in range(depths[1])])
            self.norm = nn.LayerNorm(2 * dim)
            self.head = nn.Linear(2 * dim, num_classes)

        def forward(self, x):
            x = self.pe_norm(self.patch_embed(x).flatten(2).transpose(1, 2))
            x = self.stage2(self.merge(self.stage1(x)))
            return self.head(self.norm(x).mean(1))

    return Swin()


# --- DistilBERT / T5 encoder (transformers, random init) ------------------------------


def build_distilbert():
    """transformers DistilBertModel, random init: 2 layers, dim 128, 2 heads, hidden 512."""
    torch = _torch()
    from transformers import DistilBertConfig, DistilBertModel

    cfg = DistilBertConfig(vocab_size=8192, dim=128, n_layers=2, n_heads=2, hidden_dim=512, max_position_embeddings=128,
                           dropout=0.0, attention_dropout=0.0, attn_implementation="eager")
    model = DistilBertModel(cfg)

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True).last_hidden_state

    return Wrapper()


def build_t5_encoder():
    """transformers T5EncoderModel, random init: 2 layers, d_model 128, 4 heads of 32, gated-GELU
    FFN 256 (T5 v1.1), RMS LayerNorm, relative-position buckets computed in the graph."""
    torch = _torch()
    from transformers import T5Config, T5EncoderModel

    cfg = T5Config(vocab_size=8192, d_model=128, d_kv=32, d_ff=256, num_layers=2, num_heads=4,
                   relative_attention_num_buckets=32, relative_attention_max_distance=64, dropout_rate=0.0,
                   feed_forward_proj="gated-gelu", attn_implementation="eager", use_cache=False)
    model = T5EncoderModel(cfg)

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True).last_hidden_state

    return Wrapper()


# --- Whisper-style audio encoder / wav2vec2 feature encoder -----------------------------


def build_whisper_encoder(n_mels: int = 16, d: int = 64, heads: int = 4, layers: int = 2, max_frames: int = 256):
    """Whisper encoder front, small: Conv1d k3 + GELU, Conv1d k3 s2 + GELU, + sinusoidal
    positions (buffer, sliced to the dynamic length), pre-LN transformer layers (q/k/v Linear,
    k without bias, softmax attention, GELU MLP), final LayerNorm. [B, n_mels, T] -> [B, T/2, d]."""
    torch = _torch()
    nn = torch.nn
    F = nn.functional

    def sinusoids(length, channels, max_timescale=10000):
        inc = np.log(max_timescale) / (channels // 2 - 1)
        inv = torch.exp(-inc * torch.arange(channels // 2, dtype=torch.float32))
        t = torch.arange(length, dtype=torch.float32)[:, None] * inv[None, :]
        return torch.cat([torch.sin(t), torch.cos(t)], dim=1)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn_ln = nn.LayerNorm(d)
            self.q, self.k, self.v, self.o = nn.Linear(d, d), nn.Linear(d, d, bias=False), nn.Linear(d, d), nn.Linear(d, d)
            self.mlp_ln = nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def forward(self, x):
            B, T, _ = x.shape
            h = self.attn_ln(x)
            q, k, v = (m(h).view(B, T, heads, -1).transpose(1, 2) for m in (self.q, self.k, self.v))
            a = torch.softmax(q @ k.transpose(-1, -2) * (d // heads) ** -0.5, dim=-1)
            x = x + self.o((a @ v).transpose(1, 2).reshape(B, T, d))
            return x + self.mlp(self.mlp_ln(x))

    class WhisperEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(n_mels, d, 3, padding=1)
            self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
            self.register_buffer("positional_embedding", sinusoids(max_frames, d))
            self.blocks = nn.ModuleList([Layer() for _ in range(layers)])
            self.ln_post = nn.LayerNorm(d)

        def forward(self, mel):
            x = F.gelu(self.conv1(mel))
            x = F.gelu(self.conv2(x)).permute(0, 2, 1)
            x = x + self.positional_embedding[: x.shape[1]]
            for b in self.blocks:
                x = b(x)
            return self.ln_post(x)

    return WhisperEncoder()


def build_wav2vec2_features(dim: int = 32, proj: int = 64):
    """wav2vec2 feature encoder, small: 7 Conv1d layers (kernels 10,3,3,3,3,2,2, strides
    5,2,2,2,2,2,2, no bias), GroupNorm(dim, dim) after the first, GELU after each, then
    LayerNorm + Linear feature projection. Raw audio [B, samples] -> [B, frames, proj]."""
    torch = _torch()
    nn = torch.nn
    F = nn.functional

    class FeatureEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            ks, ss = (10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2)
            self.convs = nn.ModuleList([nn.Conv1d(1 if i == 0 else dim, dim, k, s, bias=False) for i, (k, s) in enumerate(zip(ks, ss))])
            self.norm0 = nn.GroupNorm(dim, dim, affine=True)
            with torch.no_grad():
                self.norm0.weight.uniform_(0.8, 1.2)
                self.norm0.bias.uniform_(-0.1, 0.1)
            self.ln = nn.LayerNorm(dim)
            self.proj = nn.Linear(dim, proj)

        def forward(self, audio):
            x = audio[:, None]
            for i, conv in enumerate(self.convs):
                x = conv(x)
                if i == 0:
                    x = self.norm0(x)
                x = F.gelu(x)
            return self.proj(self.ln(x.transpose(1, 2)))

    return FeatureEncoder()


# --- GRU/LSTM seq2seq, GRU classifier, nn.TransformerEncoder ---------------------------


def build_seq2seq(vocab: int = 1000, emb: int = 64, hidden: int = 64):
    """RNN seq2seq with teacher forcing: Embedding -> bidirectional GRU encoder over the
    source (dynamic length), LSTM decoder over the target (dynamic length) started from the
    projected encoder state, Luong dot attention (bmm + softmax over source) + tanh combine,
    vocabulary logits [B, T_tgt, vocab]."""
    torch = _torch()
    nn = torch.nn

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.src_emb = nn.Embedding(vocab, emb)
            self.tgt_emb = nn.Embedding(vocab, emb)
            self.encoder = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
            self.bridge = nn.Linear(2 * hidden, hidden)
            self.enc_proj = nn.Linear(2 * hidden, hidden, bias=False)
            self.decoder = nn.LSTM(emb, hidden, num_layers=2, batch_first=True)
            self.combine = nn.Linear(2 * hidden, hidden)
            self.out = nn.Linear(hidden, vocab)

        def forward(self, src, tgt):
            enc, h = self.encoder(self.src_emb(src))  # [B, S, 2H], [2, B, H]
            h0 = torch.tanh(self.bridge(torch.cat([h[0], h[1]], dim=1)))  # [B, H]
            h0 = h0.unsqueeze(0).repeat(2, 1, 1)
            dec, _ = self.decoder(self.tgt_emb(tgt), (h0, torch.zeros_like(h0)))  # [B, T, H]
            keys = self.enc_proj(enc)  # [B, S, H]
            attn = torch.softmax(torch.bmm(dec, keys.transpose(1, 2)), dim=-1)  # [B, T, S]
            ctx = torch.bmm(attn, keys)
            return self.out(torch.tanh(self.combine(torch.cat([dec, ctx], dim=-1))))

    return Seq2Seq()


def build_gru_classifier(vocab: int = 5000, emb: int = 64, hidden: int = 64, num_classes: int = 4):
    """Embedding -> 2-layer GRU (batch_first) -> [mean over time, last hidden state] -> Linear."""
    torch = _torch()
    nn = torch.nn

    class GRUClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, emb)
            self.gru = nn.GRU(emb, hidden, num_layers=2, batch_first=True)
            self.fc = nn.Linear(2 * hidden, num_classes)

        def forward(self, tokens):
            out, h = self.gru(self.embedding(tokens))
            return self.fc(torch.cat([out.mean(1), h[-1]], dim=1))

    return GRUClassifier()


def build_torch_transformer(d: int = 64, nhead: int = 4, ff: int = 128, layers: int = 2, num_classes: int = 10):
    """torch.nn.TransformerEncoder (batch_first=True, post-LN, GELU, final LayerNorm) + mean
    pool + Linear. In eval / no_grad it is eligible for torch's fused fast path."""
    torch = _torch()
    nn = torch.nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            layer = nn.TransformerEncoderLayer(d, nhead, ff, dropout=0.0, activation="gelu", batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d), enable_nested_tensor=False)
            self.head = nn.Linear(d, num_classes)

        def forward(self, x):
            return self.head(self.encoder(x).mean(1))

    return Model()


# ---------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------

F32, I64 = "float32", "int64"

MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        ModelSpec(
            "resnet18", build_resnet18, {"x": ((1, 3, 64, 64), F32, 0)}, ["logits"],
            dynamic={"x": {0: "batch"}}, dynamo=True, export_shapes={"x": (2, 3, 64, 64)},
            description="ResNet-18, width 32, 64x64, dynamic batch",
        ),
        ModelSpec("resnet50", build_resnet50, {"x": ((1, 3, 224, 224), F32, 0)}, ["logits"],
                  description="ResNet-50 graph (53 convolutions), width 32, 224x224"),
        ModelSpec("mobilenetv2", build_mobilenetv2, {"x": ((1, 3, 96, 96), F32, 0)}, ["logits"],
                  description="MobileNetV2 x0.5, 96x96"),
        ModelSpec("densenet", build_densenet, {"x": ((1, 3, 64, 64), F32, 0)}, ["logits"],
                  description="DenseNet-BC (4,4,4) growth 12, 64x64"),
        ModelSpec("inception", build_inception, {"x": ((1, 3, 107, 107), F32, 0)}, ["logits"],
                  description="InceptionV3-style A,A,B,C,D,E stack, channels/4, 107x107"),
        ModelSpec("shufflenetv2", build_shufflenetv2, {"x": ((1, 3, 64, 64), F32, 0)}, ["logits"],
                  description="ShuffleNetV2 x0.5, 64x64"),
        ModelSpec("squeezenet", build_squeezenet, {"x": ((1, 3, 70, 70), F32, 0)}, ["logits"],
                  description="SqueezeNet 1.1, 70x70 (34->17 and 8->4 need the ceil-mode pools)"),
        ModelSpec("vit_tiny", build_vit_tiny, {"x": ((1, 3, 32, 32), F32, 0)}, ["logits"], dynamo=True,
                  description="ViT-Tiny dim 192 heads 3 depth 4, 32x32 patch 4"),
        ModelSpec(
            "bert_mini", build_bert_mini,
            {"input_ids": ((1, 16), I64, 8192), "attention_mask": ((1, 16), I64, 2)},
            ["last_hidden_state", "pooler_output"],
            dynamic={"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}},
            dynamo=True, export_shapes={"input_ids": (2, 16), "attention_mask": (2, 16)},
            description="BERT 2 layers hidden 128 heads 2, seq 16, dynamic batch",
        ),
        ModelSpec("gpt2_small", build_gpt2_small, {"input_ids": ((1, 16), I64, 8192), "attention_mask": ((1, 16), I64, 2)},
                  ["logits"], dynamo=True,
                  description="GPT-2 LM 2 layers n_embd 128 heads 2, seq 16, no kv cache"),
        ModelSpec("lstm_classifier", build_lstm_classifier, {"tokens": ((1, 32), I64, 5000)}, ["logits"],
                  description="Embedding + BiLSTM + Linear, seq 32"),
        ModelSpec("crnn", build_crnn, {"x": ((1, 1, 32, 128), F32, 0)}, ["log_probs"],
                  description="CRNN OCR recogniser, 1x32x128 -> [31, 1, 37]"),
        ModelSpec("dbnet", build_dbnet, {"x": ((1, 3, 128, 128), F32, 0)}, ["maps"],
                  description="DBNet-style text detector, 128x128 -> [1, 2, 128, 128]"),
        # --- second wave: families users bring next -------------------------------------
        ModelSpec("efficientnet_b0", build_efficientnet_b0, {"x": ((1, 3, 64, 64), F32, 0)}, ["logits"], opset=13,
                  description="EfficientNet-B0 x0.5 (MBConv, SiLU, squeeze-excitation), 64x64, opset 13"),
        ModelSpec("convnext", build_convnext, {"x": ((1, 3, 64, 64), F32, 0)}, ["logits"], dynamo=True,
                  description="ConvNeXt dims (32..256) depths (2,2,2,2), 64x64"),
        ModelSpec(
            "unet", build_unet, {"x": ((1, 3, 64, 64), F32, 0)}, ["mask"],
            dynamic={"x": {2: "height", 3: "width"}}, dynamic_sizes={"height": 48, "width": 80},
            description="UNet base 16 depth 3, dynamic H and W (fed 48x80)",
        ),
        ModelSpec(
            "yolo", build_yolo, {"x": ((1, 3, 64, 64), F32, 0)}, ["detections"], opset=11,
            dynamic={"x": {2: "height", 3: "width"}}, export_shapes={"x": (1, 3, 96, 64)},
            dynamic_sizes={"height": 64, "width": 128},
            description="YOLOv5-style detector + decode, dynamic H and W (fed 64x128), opset 11",
        ),
        ModelSpec("swin", build_swin, {"x": ((1, 3, 32, 32), F32, 0)}, ["logits"], dynamo=True,
                  description="Swin dim 32 depths (2,2) window 4 shift 2, 32x32 patch 2"),
        ModelSpec(
            "distilbert", build_distilbert,
            {"input_ids": ((1, 16), I64, 8192), "attention_mask": ((1, 16), I64, 2)}, ["last_hidden_state"],
            dynamic={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}},
            export_shapes={"input_ids": (2, 16), "attention_mask": (2, 16)}, dynamic_sizes={"sequence": 24},
            description="DistilBERT 2 layers dim 128 heads 2, dynamic batch (3) and sequence (24)",
        ),
        ModelSpec(
            "t5_encoder", build_t5_encoder,
            {"input_ids": ((1, 16), I64, 8192), "attention_mask": ((1, 16), I64, 2)}, ["last_hidden_state"],
            dynamic={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}},
            export_shapes={"input_ids": (2, 16), "attention_mask": (2, 16)}, dynamic_sizes={"sequence": 24},
            description="T5 v1.1 encoder 2 layers d_model 128 heads 4, dynamic batch (3) and sequence (24)",
        ),
        ModelSpec(
            "whisper_encoder", build_whisper_encoder, {"mel": ((1, 16, 64), F32, 0)}, ["hidden"],
            dynamic={"mel": {0: "batch", 2: "frames"}}, export_shapes={"mel": (2, 16, 64)}, dynamic_sizes={"frames": 96},
            description="Whisper-style encoder (Conv1d, GELU, sinusoids, 2 layers d 64), dynamic batch and frames (96)",
        ),
        ModelSpec("wav2vec2_features", build_wav2vec2_features, {"audio": ((1, 4000), F32, 0)}, ["features"],
                  description="wav2vec2 conv feature encoder (Conv1d, GroupNorm, GELU) + projection, 4000 samples"),
        ModelSpec(
            "seq2seq", build_seq2seq, {"src": ((1, 16), I64, 1000), "tgt": ((1, 10), I64, 1000)}, ["logits"],
            dynamic={"src": {0: "batch", 1: "src_len"}, "tgt": {0: "batch", 1: "tgt_len"}},
            export_shapes={"src": (2, 16), "tgt": (2, 10)}, dynamic_sizes={"src_len": 21, "tgt_len": 7},
            description="BiGRU encoder + 2-layer LSTM decoder + dot attention, dynamic batch / src_len / tgt_len",
        ),
        ModelSpec(
            "gru_classifier", build_gru_classifier, {"tokens": ((1, 32), I64, 5000)}, ["logits"],
            dynamic={"tokens": {1: "sequence"}}, export_shapes={"tokens": (1, 32)}, dynamic_sizes={"sequence": 20},
            dynamo=True, description="Embedding + 2-layer GRU + Linear, dynamic sequence (20)",
        ),
        ModelSpec(
            "torch_transformer", build_torch_transformer, {"x": ((1, 16, 64), F32, 0)}, ["logits"],
            # fed at the export's sequence length: the TorchScript exporter bakes the traced
            # sequence length (16) into MultiheadAttention's Reshape, so even onnxruntime fails
            # on another length (dynamic batch is kept)
            dynamic={"x": {0: "batch", 1: "sequence"}}, export_shapes={"x": (2, 16, 64)}, dynamic_sizes={"sequence": 16},
            dynamo=True, description="nn.TransformerEncoder batch_first 2 layers d 64, dynamic batch and sequence (fed 3x16)",
        ),
        ModelSpec("dbnet_opset10", build_dbnet, {"x": ((1, 3, 128, 128), F32, 0)}, ["maps"], opset=10,
                  description="DBNet as above at opset 10: Resize-10 (nearest + linear, asymmetric)"),
        ModelSpec("dbnet_opset9", build_dbnet, {"x": ((1, 3, 128, 128), F32, 0)}, ["maps"], opset=9,
                  description="DBNet as above at opset 9: Upsample-9 (nearest + linear, asymmetric)"),
        ModelSpec("squeezenet_opset9", build_squeezenet, {"x": ((1, 3, 70, 70), F32, 0)}, ["logits"], opset=9,
                  description="SqueezeNet 1.1 as above, exported at opset 9"),
    ]
}


# Models built from a ``transformers`` config (the test skips them without transformers).
TRANSFORMERS_MODELS = {"bert_mini", "gpt2_small", "distilbert", "t5_encoder"}


def variants() -> list[tuple[str, bool]]:
    """(name, dynamo) for every export in the zoo."""
    out = [(n, False) for n in MODELS]
    out += [(n, True) for n, s in MODELS.items() if s.dynamo]
    return out


def make_inputs(
    name: str, seed: int = 0, shapes: dict[str, tuple[int, ...]] | None = None, dynamic_size: int | None = None
) -> dict[str, np.ndarray]:
    """Seeded random feeds: N(0,1) floats; int64 inputs are valid token ids in [0, high)
    (attention masks: ones with a padded tail on the last row).

    ``shapes`` overrides whole input shapes; ``dynamic_size`` sets every dynamic axis
    (e.g. the batch of resnet18 / bert_mini) to that size."""
    spec = MODELS[name]
    rng = np.random.default_rng(seed)
    feeds = {}
    for inp, (shape, dtype, high) in spec.inputs.items():
        shape = list((shapes or {}).get(inp, shape))
        if dynamic_size is not None:
            for ax, sym in spec.dynamic.get(inp, {}).items():
                shape[ax] = spec.dynamic_sizes.get(sym, dynamic_size)
        shape = tuple(shape)
        if dtype == F32:
            feeds[inp] = rng.standard_normal(shape).astype(np.float32)
        elif inp == "attention_mask":
            mask = np.ones(shape, dtype=np.int64)
            mask[-1, shape[-1] * 3 // 4 :] = 0  # padding on the last sequence
            feeds[inp] = mask
        else:
            feeds[inp] = rng.integers(0, high, size=shape, dtype=np.int64)
    return feeds


def input_shapes(feeds: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in feeds.items()}


# A digest of this file, so an edited architecture never reuses a stale cached export.
_SOURCE_DIGEST = hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:8]


def _file_name(name: str, dynamo: bool) -> str:
    import torch

    tv = torch.__version__.replace("+", "_")
    extra = ""
    if name in TRANSFORMERS_MODELS:
        import transformers

        extra = f".tf{transformers.__version__}"
    return f"{name}.{'dynamo' if dynamo else 'ts'}.torch{tv}{extra}.{_SOURCE_DIGEST}.onnx"


_CACHE: dict[tuple[str, bool, str, str], Path] = {}
EXPORT_TIMES: dict[tuple[str, bool], float] = {}


class DynamoExportError(RuntimeError):
    pass


def build(name: str):
    """The seeded torch module, in eval mode."""
    torch = _torch()
    torch.manual_seed(0)
    model = MODELS[name].build()
    _randomize_bn(model)
    return model.eval()


def export(name: str, out_dir: str | os.PathLike, dynamo: bool = False) -> Path:
    """Export zoo model ``name`` into ``out_dir`` and return the .onnx path (cached)."""
    import torch

    out_dir = Path(out_dir)
    key = (name, dynamo, torch.__version__, str(out_dir.resolve()))
    if key in _CACHE and _CACHE[key].exists():
        return _CACHE[key]
    spec = MODELS[name]
    if dynamo and not spec.dynamo:
        raise ValueError(f"{name} has no dynamo variant")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / _file_name(name, dynamo)
    if path.exists():
        _CACHE[key] = path
        return path

    t0 = time.perf_counter()
    model = build(name)
    shapes = {k: spec.export_shapes.get(k, v[0]) for k, v in spec.inputs.items()}
    example = make_inputs(name, seed=123, shapes=shapes)
    args = tuple(torch.from_numpy(example[k]) for k in spec.inputs)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if not dynamo:
            # In eval + no_grad, nn.TransformerEncoderLayer takes torch's fused fast path
            # (aten::_transformer_encoder_layer_fwd), which the TorchScript exporter cannot
            # export ("Exporting the operator 'aten::_transformer_encoder_layer_fwd' to ONNX
            # opset version 17 is not supported"); users work around it the same way.
            fastpath = torch.backends.mha.get_fastpath_enabled()
            torch.backends.mha.set_fastpath_enabled(False)
            try:
                torch.onnx.export(
                    model, args, str(tmp),
                    input_names=list(spec.inputs), output_names=spec.outputs,
                    dynamic_axes=spec.dynamic or None,
                    opset_version=spec.opset or TORCHSCRIPT_OPSET, dynamo=False, do_constant_folding=True,
                )
            finally:
                torch.backends.mha.set_fastpath_enabled(fastpath)
        else:
            dyn = None
            if spec.dynamic:
                dims: dict[str, object] = {}
                dyn = {}
                for inp in spec.inputs:
                    axes = spec.dynamic.get(inp)
                    if axes:
                        dyn[inp] = {ax: dims.setdefault(sym, torch.export.Dim(sym, min=1, max=1024)) for ax, sym in axes.items()}
                    else:
                        dyn[inp] = None
            try:
                prog = torch.onnx.export(
                    model, args, input_names=list(spec.inputs), output_names=spec.outputs,
                    dynamic_shapes=dyn, opset_version=DYNAMO_OPSET, dynamo=True,
                    external_data=False, optimize=True, verbose=False, report=False,
                )
                prog.save(str(tmp), external_data=False)
            except Exception as e:  # noqa: BLE001 - reported to the caller as a skip reason
                if tmp.exists():
                    tmp.unlink()
                raise DynamoExportError(f"dynamo export of {name} failed: {type(e).__name__}: {e}") from e

    import onnx

    m = onnx.load(str(tmp))
    m.ir_version = IR_VERSION
    onnx.save(m, str(tmp))
    os.replace(tmp, path)
    EXPORT_TIMES[(name, dynamo)] = time.perf_counter() - t0
    _CACHE[key] = path
    return path


def op_counts(path: str | os.PathLike) -> collections.Counter:
    """op_type counts, including nodes inside subgraphs (If/Loop/Scan bodies)."""
    import onnx

    counts: collections.Counter = collections.Counter()

    def walk(graph):
        for n in graph.node:
            counts[n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}"] += 1
            for a in n.attribute:
                if a.g.node:
                    walk(a.g)
                for g in a.graphs:
                    walk(g)

    walk(onnx.load(str(path), load_external_data=False).graph)
    return counts


def _main(argv=None) -> None:
    import sys

    import onnx
    import onnxruntime as ort

    out_dir = Path((argv or sys.argv[1:] or [os.environ.get("HETC_CACHE", "/tmp/hetc_cache") + "/models"])[0])
    names = sys.argv[2:] if len(sys.argv) > 2 else None
    for name, dynamo in variants():
        if names and name not in names:
            continue
        tag = f"{name}{' (dynamo)' if dynamo else ''}"
        try:
            t0 = time.perf_counter()
            path = export(name, out_dir, dynamo)
            dt = EXPORT_TIMES.get((name, dynamo), time.perf_counter() - t0)
        except DynamoExportError as e:
            print(f"== {tag}: SKIP {e}")
            continue
        m = onnx.load(str(path))
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = make_inputs(name, seed=0, dynamic_size=3)
        outs = sess.run(None, feeds)
        ins = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in m.graph.input}
        opset = {o.domain or "ai.onnx": o.version for o in m.opset_import}
        print(f"== {tag}: {path.stat().st_size / 1e6:.1f} MB, export {dt:.1f}s, opset {opset}, inputs {ins}")
        print(f"   outputs {[o.shape for o in outs]} {[str(o.dtype) for o in outs]}")
        print(f"   ops {dict(sorted(op_counts(path).items()))}")


if __name__ == "__main__":
    _main()
