import pytest
import torch
from torch import nn

from edgedet.assigners import ATSSAssigner, MaxIoUAssigner, NoisyAnchorAssigner
from edgedet.assigners.base import Assigner, AssignResult
from edgedet.losses.normalizer import EMANormalizer
from edgedet.models.criteria.dense import DenseCriterion, reweight_keep_total
from edgedet.models.criteria.dense_losses import (
    FocalClassification,
    GIoUBoxLoss,
    L1BoxLoss,
    QualityFocalClassification,
    SmoothL1BoxLoss,
)
from edgedet.models.zoo import PRESETS
from edgedet.structures.coders import DeltaXYWHCoder

torch.set_num_threads(1)

TARGETS = [
    {"boxes": torch.tensor([[10.0, 12, 50, 60], [40, 30, 60, 62]]), "labels": torch.tensor([1, 2])},
    {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)},  # an image with no object
]


def _tiny(name):
    torch.manual_seed(0)
    return PRESETS[name](3, width=0.25, imgsz=64).train()


def test_reweight_keeps_total_and_noisy_anchor_loss():
    losses = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    r = torch.tensor([0.5, 1.0, 1.5])
    out = reweight_keep_total(losses, r)
    assert abs(float(out.sum()) - 6.0) < 1e-6
    torch.testing.assert_close(out.detach(), torch.tensor([0.5, 2.0, 4.5]) * 6 / 7)
    out.sum().backward()  # the scale is a constant: gradients are r * scale
    torch.testing.assert_close(losses.grad, r * 6 / 7)
    model = _tiny("noisy_anchor_retinanet_r18_fpn")
    crit = model.criterion
    assert isinstance(crit.assigner, NoisyAnchorAssigner) and crit.assigner.top_n == 30
    assert isinstance(crit.box_loss, SmoothL1BoxLoss) and crit.box_loss.beta == 0.1  # the authors' code
    assert float(crit.normalizer.num_pos_ema) == 100.0
    model.loss(model(torch.randn(2, 3, 64, 64)), TARGETS)
    assert 90.0 < float(crit.normalizer.num_pos_ema) < 100.0  # EMA moved towards this batch's <= 30 positives
    assert "criterion.normalizer.num_pos_ema" in model.state_dict()  # the moving average is checkpointed
    model.eval()
    before = float(crit.normalizer.num_pos_ema)
    model.loss(model(torch.randn(2, 3, 64, 64)), TARGETS)
    assert float(crit.normalizer.num_pos_ema) == before  # only training batches move it


def _hand_batch():
    """One image, four priors; the first two overlap the GT well (max-IoU positives), the others are negatives."""
    priors = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [30, 30, 40, 40], [50, 50, 60, 60]])
    targets = [{"boxes": torch.tensor([[0.0, 0, 10, 10]]), "labels": torch.tensor([1])}]
    cls = torch.zeros(1, 4, 2)
    reg = torch.zeros(1, 4, 4)
    return priors, targets, cls, reg


def test_hand_built_focal_l1_values():
    priors, targets, cls, reg = _hand_batch()
    crit = DenseCriterion(assigner=MaxIoUAssigner(0.5, 0.4), cls_loss=FocalClassification(), box_loss=L1BoxLoss())
    out = crit((cls, reg), targets, priors=priors, num_level_priors=[4], coder=DeltaXYWHCoder())
    # positives: prior 0 (IoU 1) and prior 1 (IoU 81/119 > .5); p = .5 everywhere: focal = .25 * .5^2 * ln 2 for a
    # positive's true class, .75 * .5^2 * ln 2 for each other (class, prior) pair; 8 pairs, 2 of them positive
    pos_term, neg_term = 0.25 * 0.25 * 0.6931471805599453, 0.75 * 0.25 * 0.6931471805599453
    torch.testing.assert_close(out["loss_cls"], torch.tensor((2 * pos_term + 6 * neg_term) / 2))
    # L1 on deltas: prior 0 is exact (0); prior 1's target is (-.1, -.1, 0, 0)
    torch.testing.assert_close(out["loss_box"], torch.tensor(0.2 / 2))
    assert set(out) == {"loss_cls", "loss_box"}


class _FixedNoisyAssigner(Assigner):
    """Priors 0 and 1 positive for GT 0 with NoisyAnchor re-weights 3 and 1, prior 2 negative, prior 3 ignored."""

    def assign(self, priors, num_level_priors, gt_boxes, gt_labels, *, pred_boxes=None, pred_scores=None,
               gt_boxes_ignore=None):
        return AssignResult(gt_inds=torch.tensor([1, 1, 0, -1]), max_overlaps=torch.zeros(4),
                            labels=torch.tensor([1, 1, -1, -1]), soft_targets=torch.tensor([1.0, 1.0, 0.0, 0.0]),
                            weights=torch.tensor([3.0, 1.0, 1.0, 1.0]))


class _LinearRows:
    """A classification loss linear in one logit per prior: row i = c_i * cls[b, i, 0] with c = 1, 2, 3, 4, so
    the gradient of a row is exactly the weight the criterion gives it."""

    def __call__(self, cls, pos, iou_target):
        return cls[..., 0] * torch.tensor([1.0, 2.0, 3.0, 4.0])


def test_noisy_anchor_cls_reweighting_spans_all_valid_priors():
    priors, targets, _, reg = _hand_batch()
    cls = torch.zeros(1, 4, 2)
    cls[..., 0] = 1.0
    cls.requires_grad_(True)
    crit = DenseCriterion(assigner=_FixedNoisyAssigner(), cls_loss=_LinearRows(), box_loss=L1BoxLoss())
    out = crit((cls, reg), targets, priors=priors, num_level_priors=[4], coder=DeltaXYWHCoder())
    # valid rows 0, 1, 2 (prior 3 is ignored): losses L = 1, 2, 3; weights w = r = 3, 1 on the positives and 1 on
    # the negative. Rescale over all valid rows: sum L / sum(w L) = 6 / (3 + 2 + 3) = 0.75, so the total stays 6;
    # normaliser = 2 positives -> loss_cls = 6 / 2 = 3
    torch.testing.assert_close(out["loss_cls"], torch.tensor(3.0))
    out["loss_cls"].backward()
    # d/dlogit of row i = w_i * 0.75 * c_i / 2: 3 * .75 * 1 / 2 = 1.125, 1 * .75 * 2 / 2 = .75, 1 * .75 * 3 / 2 =
    # 1.125, ignored 0. (Rescaling over the positives only would give .9, .6, 1.5: the negative would keep its
    # weight and the positives their total.)
    torch.testing.assert_close(cls.grad[0, :, 0], torch.tensor([1.125, 0.75, 1.125, 0.0]))
    assert float(cls.grad[0, :, 1].abs().sum()) == 0.0


def test_ema_normaliser_takes_the_batch_in_before_dividing():
    priors, targets, cls, reg = _hand_batch()
    crit = DenseCriterion(assigner=MaxIoUAssigner(0.5, 0.4), cls_loss=FocalClassification(), box_loss=L1BoxLoss(),
                          normalizer=EMANormalizer(init=100.0, momentum=0.9))
    out = crit((cls, reg), targets, priors=priors, num_level_priors=[4], coder=DeltaXYWHCoder())
    # as in test_hand_built_focal_l1_values: 2 positives; summed focal 2 * pos_term + 6 * neg_term, L1 sum 0.2.
    # The EMA first moves to 0.9 * 100 + 0.1 * 2 = 90.2, then divides (dividing by the old 100 was the bug)
    pos_term, neg_term = 0.25 * 0.25 * 0.6931471805599453, 0.75 * 0.25 * 0.6931471805599453
    torch.testing.assert_close(out["loss_cls"], torch.tensor((2 * pos_term + 6 * neg_term) / 90.2))
    torch.testing.assert_close(out["loss_box"], torch.tensor(0.2 / 90.2))
    crit.eval()  # evaluation batches leave the average alone and divide by it as it is
    out = crit((cls, reg), targets, priors=priors, num_level_priors=[4], coder=DeltaXYWHCoder())
    torch.testing.assert_close(out["loss_box"], torch.tensor(0.2 / 90.2))
    assert float(crit.normalizer.num_pos_ema) == pytest.approx(90.2)


def test_smooth_l1_box_loss_hand_values():
    # beta 0.1 (NoisyAnchor): |x| = .05 < beta -> .5 * .05^2 / .1 = .0125; |x| = .3 -> .3 - .05 = .25; 0 -> 0
    rows = SmoothL1BoxLoss(beta=0.1)(torch.tensor([[0.05, -0.3, 0.0, 0.0]]), torch.zeros(1, 4))
    torch.testing.assert_close(rows, torch.tensor([0.2625]))
    # beta 0.11 (RetinaNet): |x| = .11 sits on the switch: .5 * .11 = .055 either way; |x| = 1 -> 1 - .055 = .945
    rows = SmoothL1BoxLoss(beta=0.11)(torch.tensor([[0.11, 1.0, 0.0, 0.0]]), torch.zeros(1, 4))
    torch.testing.assert_close(rows, torch.tensor([0.055 + 0.945]))


def test_giou_on_decoded_boxes_and_quality_weighting():
    priors, targets, cls, reg = _hand_batch()
    crit = DenseCriterion(assigner=MaxIoUAssigner(0.5, 0.4), cls_loss=QualityFocalClassification(),
                          box_loss=GIoUBoxLoss(weight=2.0))
    out = crit((cls, reg), targets, priors=priors, num_level_priors=[4], coder=DeltaXYWHCoder())
    # zero deltas decode to the priors: GIoU loss 0 for prior 0; prior 1: IoU 81/119, enclosing 121 -> 1 - GIoU
    iou = 81 / 119
    giou = iou - (121 - 119) / 121
    torch.testing.assert_close(out["loss_box"], torch.tensor(2.0 * (1 - giou) / 2), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="quality target"):
        DenseCriterion(assigner=MaxIoUAssigner(0.5, 0.4), cls_loss=FocalClassification(),
                       box_loss=GIoUBoxLoss(quality_weighted=True))


class _CountPositives(nn.Module):
    """A stand-in for a distillation term: reads the criterion's context and adds a key."""

    def forward(self, outputs, targets, context):
        return {"loss_extra": outputs[0].sum() * 0 + float(context.positives.p.numel())}


class _Clash(nn.Module):
    def forward(self, outputs, targets, context):
        return {"loss_cls": outputs[0].sum()}


def test_extra_terms_add_keys_and_may_not_overwrite():
    priors, targets, cls, reg = _hand_batch()
    kw = dict(assigner=MaxIoUAssigner(0.5, 0.4), cls_loss=FocalClassification(), box_loss=L1BoxLoss())
    out = DenseCriterion(**kw, extra_terms=[_CountPositives()])((cls, reg), targets, priors=priors,
                                                                 num_level_priors=[4], coder=DeltaXYWHCoder())
    assert set(out) == {"loss_cls", "loss_box", "loss_extra"} and float(out["loss_extra"]) == 2.0
    with pytest.raises(ValueError, match="new 'loss_\\*' keys"):
        DenseCriterion(**kw, extra_terms=[_Clash()])((cls, reg), targets, priors=priors, num_level_priors=[4],
                                                      coder=DeltaXYWHCoder())


def test_detector_rejects_a_criterion_without_its_head_quality_branch():
    model = _tiny("atss_r18_fpn")
    bad = DenseCriterion(assigner=ATSSAssigner(9), cls_loss=FocalClassification(), box_loss=L1BoxLoss())
    with pytest.raises(ValueError, match="quality"):
        type(model)(backbone=model.backbone, neck=model.neck, head=model.head, prior_generator=model.prior_generator,
                    coder=model.coder, criterion=bad, num_classes=3)
