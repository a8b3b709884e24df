"""The PAFNet export graph (network + static top-k decode) traces to ONNX and matches PyTorch."""

import pytest
import torch

from edgedet.config.schema import ModelConfig
from edgedet.models.zoo import build_model

torch.set_num_threads(1)


@pytest.mark.optional
def test_export_graph_onnx_parity(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="pafnet_lite_mbv3", num_classes=3, width=0.25))
    # Untrained BN statistics make every activation vanish in eval mode; set them from one batch and give the
    # heatmap layer large weights, so scores are distinct and the top-k order is well defined.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0
    with torch.no_grad():
        model.train()(torch.randn(4, 3, 64, 64))
        model.head.hm_out.weight.normal_(0, 0.5)
    model.eval()
    graph = model.export_graph()
    x = torch.randn(1, 3, 64, 64)
    path = tmp_path / "pafnet.onnx"
    torch.onnx.export(graph, (x,), str(path), opset_version=17, dynamo=False,
                      input_names=["images"], output_names=["boxes", "scores", "labels"])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    boxes, scores, labels = sess.run(None, {"images": x.numpy()})
    with torch.no_grad():
        ref = graph(x)
    assert boxes.shape == (1, 100, 4) and scores.shape == (1, 100) and labels.shape == (1, 100)
    torch.testing.assert_close(torch.from_numpy(scores), ref[1], atol=3e-4, rtol=0)
    assert len(set(ref[1][0, :20].tolist())) == 20  # distinct scores: the order is well defined
    torch.testing.assert_close(torch.from_numpy(boxes)[0, :20], ref[0][0, :20], atol=1e-2, rtol=0)
    torch.testing.assert_close(torch.from_numpy(labels)[0, :20], ref[2][0, :20])
