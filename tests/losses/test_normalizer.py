import pytest
import torch

from edgedet.losses import EMANormalizer, NumPosNormalizer, all_reduce_mean, global_normalizer, reduce_loss

CPU = torch.device("cpu")


def test_single_process_normalisers():
    assert float(global_normalizer(torch.tensor(7))) == 7.0
    assert float(global_normalizer(torch.tensor(0.25))) == 1.0  # at least 1
    assert float(NumPosNormalizer()(0, CPU)) == 1.0 and float(NumPosNormalizer()(12, CPU)) == 12.0
    assert all_reduce_mean(3.5, CPU) == 3.5


def test_ema_normalizer_hand_values():
    ema = EMANormalizer(init=100.0, momentum=0.9)
    assert float(ema(7, CPU)) == 100.0
    ema.update(10, CPU)
    assert float(ema.num_pos_ema) == pytest.approx(91.0)
    ema.num_pos_ema.fill_(0.2)
    assert float(ema(0, CPU)) == 1.0  # at least 1
    assert list(ema.state_dict()) == ["num_pos_ema"]


def test_reduce_loss():
    x = torch.tensor([1.0, 2.0, 6.0])
    assert float(reduce_loss(x, "sum")) == 9.0 and float(reduce_loss(x, "mean")) == 3.0
    assert reduce_loss(x, "none") is x and float(reduce_loss(x[:0], "mean")) == 0.0
    with pytest.raises(ValueError, match="reduction"):
        reduce_loss(x, "max")
