"""More loss modules in PyTorch's names (wrappers over ``nn.functional``):
``MarginRankingLoss``, ``HingeEmbeddingLoss``, ``CosineEmbeddingLoss``, ``SoftMarginLoss``,
``MultiLabelSoftMarginLoss``, ``MultiMarginLoss``, ``TripletMarginLoss``, ``PoissonNLLLoss``,
``GaussianNLLLoss``, ``TripletMarginWithDistanceLoss``, ``MultiLabelMarginLoss``."""
from __future__ import annotations

from arraylib import Tensor

from .. import functional as F
from .loss import _Loss, _WeightedLoss
from .extra import PairwiseDistance
from .module import _not_a_tensor

__all__ = ["MarginRankingLoss", "HingeEmbeddingLoss", "CosineEmbeddingLoss", "SoftMarginLoss",
           "MultiLabelSoftMarginLoss", "MultiMarginLoss", "TripletMarginLoss", "PoissonNLLLoss",
           "GaussianNLLLoss", "TripletMarginWithDistanceLoss", "MultiLabelMarginLoss"]


def _tensors(module, **tensors):
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            _not_a_tensor(module, t, name)
    return tuple(tensors.values())


class MarginRankingLoss(_Loss):
    """``max(0, -y (x1 - x2) + margin)``."""

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(*_tensors(self, input1=input1, input2=input2, target=target),
                                     margin=self.margin, reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """``x`` for ``y = 1``, ``max(0, margin - x)`` for ``y = -1``."""

    def __init__(self, margin=1.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input, target):
        return F.hinge_embedding_loss(*_tensors(self, input=input, target=target),
                                      margin=self.margin, reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    """``1 - cos(x1, x2)`` for ``y = 1``, ``max(0, cos(x1, x2) - margin)`` for ``y = -1``."""

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(*_tensors(self, input1=input1, input2=input2,
                                                 target=target),
                                       margin=self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """``log(1 + exp(-y x))``."""

    def forward(self, input, target):
        return F.soft_margin_loss(*_tensors(self, input=input, target=target),
                                  reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """Per-class binary cross-entropy of ``sigmoid(x)``, averaged over classes."""

    def forward(self, input, target):
        return F.multilabel_soft_margin_loss(*_tensors(self, input=input, target=target),
                                             weight=self.weight, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss (``p`` 1 or 2, ``margin``, class ``weight``)."""

    def __init__(self, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                 reduction="mean"):
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 are supported, got {p}")
        super().__init__(weight, size_average, reduce, reduction)
        self.p, self.margin = p, margin

    def forward(self, input, target):
        return F.multi_margin_loss(*_tensors(self, input=input, target=target), p=self.p,
                                   margin=self.margin, weight=self.weight,
                                   reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """``max(0, margin + d(a, p) - d(a, n))`` with the pairwise p-norm distance ``d``."""

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: margin must be greater than 0, got {margin}")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(*_tensors(self, anchor=anchor, positive=positive,
                                               negative=negative),
                                     margin=self.margin, p=self.p, eps=self.eps, swap=self.swap,
                                     reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood (``log_input``, ``full``, ``eps``)."""

    def __init__(self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return F.poisson_nll_loss(*_tensors(self, log_input=log_input, target=target),
                                  log_input=self.log_input, full=self.full, eps=self.eps,
                                  reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood of ``target`` under mean ``input`` and ``var``."""

    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        super().__init__(None, None, reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        input, target = _tensors(self, input=input, target=target)
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """``max(0, margin + d(a, p) - d(a, n))`` for a ``distance_function`` (default
    ``PairwiseDistance()``, held as a submodule as PyTorch)."""

    def __init__(self, *, distance_function=None, margin=1.0, swap=False, reduction="mean"):
        super().__init__(None, None, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: margin must be greater than 0, got "
                             f"{margin}")
        self.distance_function = distance_function if distance_function is not None \
            else PairwiseDistance()
        self.margin, self.swap = margin, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_with_distance_loss(
            *_tensors(self, anchor=anchor, positive=positive, negative=negative),
            distance_function=self.distance_function, margin=self.margin, swap=self.swap,
            reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss over the class indices of ``target`` (ended by -1)."""

    def forward(self, input, target):
        return F.multilabel_margin_loss(*_tensors(self, input=input, target=target),
                                        reduction=self.reduction)
