"""``tc.models``: the classic CNN architectures, written to be read next to their papers.

Every builder takes ``num_classes`` and ``in_channels``; the ImageNet-sized ones take
``small_input=True`` for 32×32 images (CIFAR-style stem: a 3×3 stride-1 first convolution and no
initial max-pool), and :func:`lenet5` takes ``input_size=32`` or ``28``. With default arguments
the parameter counts equal torchvision's (so ``state_dict`` keys and shapes can be compared):

==================  ==============  =====================================================
builder             parameters      paper
==================  ==============  =====================================================
``lenet5``                  61,706  LeCun et al., 1998
``alexnet``             61,100,840  Krizhevsky et al., 2012
``vgg11``              132,863,336  Simonyan & Zisserman, 2015 (configuration A)
``vgg16``              138,357,544  (configuration D)
``resnet18``            11,689,512  He et al., 2016
``resnet34``            21,797,672
``resnet50``            25,557,032
``googlenet``            6,624,904  Szegedy et al., 2015 (13,004,888 with aux_logits)
``mobilenet_v1``         4,231,976  Howard et al., 2017 (not in torchvision)
``mobilenet_v2``         3,504,872  Sandler et al., 2018
``se_resnet18``         11,778,592  Hu et al., 2018 (reduction 16)
``se_resnet50``         28,088,024
``densenet121``          7,978,856  Huang et al., 2017
``zfnet``               62,357,608  Zeiler & Fergus, 2014 (Fig. 3 of the paper)
``deepid``               1,741,880  Sun et al., 2014 (10,000 identities, 39×31 patches)
==================  ==============  =====================================================

``tc.summary(model, (3, 224, 224))`` prints their per-layer shapes, parameters and
multiply-adds. There are no pretrained weights here. For transfer learning see
:func:`replace_head` and :func:`freeze_all_but`.
"""

from tinyconv.models.alexnet import AlexNet, alexnet
from tinyconv.models.deepid import DeepID, deepid
from tinyconv.models.densenet import DenseBlock, DenseLayer, DenseNet, Transition, densenet121
from tinyconv.models.googlenet import (
                                       BasicConv2d,
                                       GoogLeNet,
                                       GoogLeNetOutputs,
                                       Inception,
                                       InceptionAux,
                                       googlenet,
)
from tinyconv.models.lenet import LeNet5, lenet5
from tinyconv.models.mobilenet import (
                                       DepthwiseSeparableConv,
                                       InvertedResidual,
                                       MobileNetV1,
                                       MobileNetV2,
                                       mobilenet_v1,
                                       mobilenet_v2,
)
from tinyconv.models.resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50
from tinyconv.models.senet import SEBasicBlock, SEBlock, SEBottleneck, se_resnet18, se_resnet50
from tinyconv.models.transfer import find_head, freeze_all_but, replace_head, trainable_parameters
from tinyconv.models.vgg import VGG, vgg, vgg11, vgg16
from tinyconv.models.zfnet import ZFNet, zfnet

__all__ = [
                                       "VGG",
                                       "AlexNet",
                                       "BasicBlock",
                                       "BasicConv2d",
                                       "Bottleneck",
                                       "DenseBlock",
                                       "DenseLayer",
                                       "DenseNet",
                                       "DeepID",
                                       "DepthwiseSeparableConv",
                                       "GoogLeNet",
                                       "GoogLeNetOutputs",
                                       "Inception",
                                       "InceptionAux",
                                       "InvertedResidual",
                                       "LeNet5",
                                       "MobileNetV1",
                                       "MobileNetV2",
                                       "ResNet",
                                       "SEBasicBlock",
                                       "SEBlock",
                                       "SEBottleneck",
                                       "Transition",
                                       "ZFNet",
                                       "alexnet",
                                       "deepid",
                                       "densenet121",
                                       "find_head",
                                       "freeze_all_but",
                                       "googlenet",
                                       "lenet5",
                                       "mobilenet_v1",
                                       "mobilenet_v2",
                                       "replace_head",
                                       "resnet18",
                                       "resnet34",
                                       "resnet50",
                                       "se_resnet18",
                                       "se_resnet50",
                                       "trainable_parameters",
                                       "vgg",
                                       "vgg11",
                                       "vgg16",
                                       "zfnet",
]
