"""The layers, containers and losses of ``arraylib.nn``."""
from .module import Module
from .container import Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict
from .linear import Identity, Linear, Bilinear
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .pooling import MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool2d
from .activation import (ReLU, ReLU6, LeakyReLU, ELU, GELU, SiLU, Sigmoid, Tanh, Softplus,
                         Softmax, LogSoftmax, Hardtanh, LogSigmoid)
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm
from .misc import Dropout, Embedding, Flatten, Unflatten
from .loss import (MSELoss, L1Loss, SmoothL1Loss, HuberLoss, CrossEntropyLoss, NLLLoss, BCELoss,
                   BCEWithLogitsLoss, KLDivLoss)

__all__ = [
    "Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
    "Identity", "Linear", "Bilinear", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool1d",
    "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d", "ReLU", "ReLU6", "LeakyReLU",
    "ELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softplus", "Softmax", "LogSoftmax", "Hardtanh",
    "LogSigmoid", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Dropout", "Embedding",
    "Flatten", "Unflatten", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "CrossEntropyLoss",
    "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss",
]

# sequence models and more layers (issue 16)
from .rnn import RNNBase, RNN, LSTM, GRU, RNNCellBase, RNNCell, LSTMCell, GRUCell  # noqa: E402
from .transformer import (MultiheadAttention, TransformerEncoderLayer,  # noqa: E402
                          TransformerDecoderLayer, TransformerEncoder, TransformerDecoder,
                          Transformer)
from .extra import (PReLU, Mish, Hardswish, Hardsigmoid, Softmin, CosineSimilarity,  # noqa: E402
                    PairwiseDistance, Upsample, UpsamplingNearest2d, UpsamplingBilinear2d,
                    PixelShuffle, PixelUnshuffle, InstanceNorm1d, InstanceNorm2d, RMSNorm,
                    ConvTranspose1d, Conv3d, MaxPool3d, BatchNorm3d)
from . import extra as _extra, rnn as _rnn, transformer as _transformer  # noqa: E402

__all__ += list(_rnn.__all__) + list(_transformer.__all__) + list(_extra.__all__)

# the rest of PyTorch's layer surface (activations, pooling, padding, losses, EmbeddingBag, ...)
from .extra import *  # noqa: E402,F401,F403
from .activation_extra import *  # noqa: E402,F401,F403
from .pooling_extra import *  # noqa: E402,F401,F403
from .padding import *  # noqa: E402,F401,F403
from .loss_extra import *  # noqa: E402,F401,F403
from . import activation_extra as _act_x, pooling_extra as _pool_x  # noqa: E402
from . import padding as _pad_x, loss_extra as _loss_x  # noqa: E402

__all__ += list(_act_x.__all__) + list(_pool_x.__all__) + list(_pad_x.__all__) + \
    list(_loss_x.__all__)
