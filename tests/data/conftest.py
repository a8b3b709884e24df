import pytest

from edgedet.data import generate_synth


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """A small built-in dataset (COCO directory), generated once per test session."""
    return generate_synth(tmp_path_factory.mktemp("synth"), n_train=24, n_val=12, imgsz=320, seed=0, workers=1)
