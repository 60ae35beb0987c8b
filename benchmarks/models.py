"""The two training-step models, written once against a torch-like ``nn`` namespace so the same
code builds the tinyconv model (``nn = tc.nn``) and the PyTorch one (``nn = torch.nn``)."""

from __future__ import annotations


def lenet5(nn):
    """LeNet-5 on 1×32×32 (ReLU and max pooling, as in most modern renditions)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def small_resnet(nn):
    """A small ResNet for 3×32×32 (ResNet-8 shape: a 3×3 stem and three stages of one basic block,
    16/32/64 channels, strides 1/2/2, batch norm, global average pooling). ``tc.models.resnet18``
    would be ~40× the work per step, too slow to time repeatedly on two cores."""

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.relu = nn.ReLU()
            if stride != 1 or c_in != c_out:
                self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(c_out))
            else:
                self.shortcut = nn.Identity()

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + self.shortcut(x))

    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )


def small_mobilenet(nn):
    """A small MobileNet-style network for 3×32×32: a 3×3 stem, then four depthwise-separable
    blocks (a depthwise 3×3, ``groups = channels``, then a 1×1 that mixes the channels, each
    followed by batch norm and ReLU), 16 -> 32 -> 64 -> 128 -> 128 channels, strides 1/2/2/1,
    global average pooling."""

    def separable(c_in, c_out, stride):
        return [nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False),
                nn.BatchNorm2d(c_in), nn.ReLU(),
                nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        *separable(16, 32, 1), *separable(32, 64, 2), *separable(64, 128, 2),
        *separable(128, 128, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10),
    )


#: Training steps (forward, loss, backward, SGD update): ``name: (builder, batch, input shape)``.
MODELS = {
    "lenet5": (lenet5, 64, (1, 32, 32)),
    "small_resnet": (small_resnet, 32, (3, 32, 32)),
    "small_mobilenet": (small_mobilenet, 32, (3, 32, 32)),
}

#: Inference (``eval()`` mode, no gradients): ``name: (builder, batch, input shape)``.
INFERENCE = {
    "lenet5_b256": (lenet5, 256, (1, 32, 32)),
    "small_mobilenet_b64": (small_mobilenet, 64, (3, 32, 32)),
}
