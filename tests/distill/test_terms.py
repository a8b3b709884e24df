"""The KD terms on tiny models: zero where the student equals the teacher, gradients to the student only, ramps."""

import copy

import pytest
import torch

from edgedet.distill.taps import FeatureTaps, neck_strides
from edgedet.distill.terms import BoxKDTerm, FeatureKDTerm, HeatmapKDTerm, OutputKDTerm, TeacherBatch, ramp
from edgedet.models.zoo import pafnet_lite_mbv3, retinanet

NUM_CLASSES = 3


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    student = pafnet_lite_mbv3(NUM_CLASSES, width=0.25).train()
    teacher = copy.deepcopy(student).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return student, teacher


def _targets():
    return [{"boxes": torch.tensor([[8.0, 8.0, 40.0, 48.0]]), "labels": torch.tensor([1])},
            {"boxes": torch.tensor([[30.0, 20.0, 60.0, 60.0]]), "labels": torch.tensor([2])}]


def _batch(teacher, images, iteration=1000, taps=None):
    b = TeacherBatch()
    with torch.no_grad():
        b.outputs = teacher(images)
    b.features = dict(taps.maps) if taps is not None else {}
    b.iteration = iteration
    return b


def test_ramp():
    assert ramp(2.0, 0, 100) == 0.0
    assert ramp(2.0, 25, 100) == 0.5
    assert ramp(2.0, 500, 100) == 2.0
    assert ramp(2.0, 0, 0) == 2.0


def test_heatmap_and_box_terms_zero_when_student_is_teacher(pair):
    student, teacher = pair
    images = torch.randn(2, 3, 64, 64)
    student.eval()  # same BN statistics path as the teacher
    batch = _batch(teacher, images)
    with torch.no_grad():
        outputs = student(images)
    hm = HeatmapKDTerm(batch, 7.0, 100)(outputs, _targets(), None)["loss_kd_hm"]
    box = BoxKDTerm(batch, 2.5, 100, min_score=0.0)(outputs, _targets(), None)["loss_kd_box"]
    assert hm.item() == pytest.approx(0.0, abs=1e-12) and box.item() == pytest.approx(0.0, abs=1e-5)
    student.train()


def test_terms_ramp_from_zero_and_reach_the_student_only(pair):
    student, teacher = pair
    images = torch.randn(2, 3, 64, 64)
    batch = _batch(teacher, images, iteration=0)
    outputs = student(images)
    term = HeatmapKDTerm(batch, 7.0, 100)
    assert term(outputs, _targets(), None)["loss_kd_hm"].item() == 0.0  # iteration 0 of the warmup
    batch.iteration = 50
    half = term(outputs, _targets(), None)["loss_kd_hm"]
    batch.iteration = 100
    full = term(outputs, _targets(), None)["loss_kd_hm"]
    assert full.item() > 0 and half.item() == pytest.approx(full.item() / 2)
    box = BoxKDTerm(batch, 2.5, 100, min_score=0.0)(outputs, _targets(), None)["loss_kd_box"]
    student.zero_grad()
    (full + box).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.head.parameters())
    assert all(p.grad is None for p in teacher.parameters())


def test_feature_term_adapters_train_and_teacher_stays_frozen(pair):
    student, teacher = pair
    student_taps, teacher_taps = FeatureTaps(student), FeatureTaps(teacher, always=True)
    try:
        s_ch, t_ch = student_taps.channels(64), teacher_taps.channels(64)
        assert s_ch == t_ch and sorted(s_ch) == [4, 8, 16]
        images = torch.randn(2, 3, 64, 64)
        batch = _batch(teacher, images, taps=teacher_taps)
        term = FeatureKDTerm(batch, 6.0, 0, taps=student_taps, pairs={4: 4, 8: 8, 16: 16}, student_channels=s_ch,
                             teacher_channels=t_ch)
        outputs = student(images)
        loss = term(outputs, _targets(), None)["loss_kd_feat"]
        assert 0 < loss.item() < 6.0 * 3 * 2  # PKD is in [0, 2] per level
        student.zero_grad()
        loss.backward()
        assert all(p.grad is not None for p in term.adapters.parameters())
        assert student.neck.upsamples[0].deconv[0][0].weight.grad is not None  # through the tap into the student
        assert all(p.grad is None for p in teacher.parameters())
    finally:
        student_taps.remove()
        teacher_taps.remove()


def test_taps_do_not_record_in_eval_mode(pair):
    student, _ = pair
    taps = FeatureTaps(student)
    try:
        student.eval()
        with torch.no_grad():
            student(torch.zeros(1, 3, 64, 64))
        assert taps.maps == {}
        student.train()
        student(torch.zeros(1, 3, 64, 64))
        assert sorted(taps.maps) == [4, 8, 16] and taps.maps[4].shape[-1] == 16
    finally:
        taps.remove()


def test_anchor_teacher_strides():
    teacher = retinanet(NUM_CLASSES, depth=18, width=0.25, imgsz=64)
    assert neck_strides(teacher) == [8, 16, 32, 64, 128]


def test_output_term_renders_teacher_detections_as_scaled_peaks(pair):
    student, _ = pair
    criterion = student.criterion
    images = torch.randn(2, 3, 64, 64)
    outputs = student(images)
    _, context = criterion.compute(outputs, _targets())
    batch = TeacherBatch()
    batch.iteration = 10
    # the teacher found the first object with score 0.6 and nothing in the second image
    batch.detections = [{"boxes": torch.tensor([[8.0, 8.0, 40.0, 48.0]]), "scores": torch.tensor([0.6]),
                         "labels": torch.tensor([1])},
                        {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}]
    rendered = criterion.target_builder([{k: d[k] for k in ("boxes", "labels", "scores")} for d in batch.detections],
                                        (16, 16))
    assert rendered["heatmap"][0, 1].max().item() == pytest.approx(0.6)
    gt = criterion.target_builder(_targets(), (16, 16))
    assert torch.allclose(rendered["box_weight"][0], 0.6 * gt["box_weight"][0])
    term = OutputKDTerm(batch, 1.0, 0, builder=criterion.target_builder, blend=0.5)
    loss = term(outputs, _targets(), context)["loss_kd_out"]
    assert torch.isfinite(loss) and loss.item() > 0
    student.zero_grad()
    loss.backward()
    assert student.head.parameters().__next__().grad is not None
    # no teacher detections and blend 0: the heatmap part is the soft QFL against the ground truth alone
    batch.detections = [batch.detections[1], batch.detections[1]]
    alone = OutputKDTerm(batch, 1.0, 0, builder=criterion.target_builder, blend=0.0)(outputs, _targets(), context)
    from edgedet.losses.distill import soft_quality_focal_loss

    expected = soft_quality_focal_loss(outputs[0].float(), context.targets["heatmap"], reduction="sum") / 2
    assert alone["loss_kd_out"].item() == pytest.approx(expected.item(), rel=1e-5)
