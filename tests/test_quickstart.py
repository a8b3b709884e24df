"""The main job end to end, on a micro schedule so it fits in CI (the real tiny schedule takes ~10 min)."""

import json

import edgedet.quickstart as qs


def test_quickstart_pipeline_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEDET_DATA", str(tmp_path / "synth"))
    micro = qs.Schedule(
        overrides=("train.epochs=1", "train.batch=4", "data.max_images=8", "model.imgsz=64", "model.width=0.25",
                   "train.max_iters=2", "data.workers=0", "data.multiscale=[0,0]", "train.eval_interval=0"),
        exports=(("onnx", "fp32"), ("onnx", "int8"), ("paddle", "int8")),  # the last pair is unsupported: a row error
        val_images=6, calib_n=4, synth=(12, 6),
    )
    monkeypatch.setitem(qs.SCHEDULES, "micro", micro)
    assert qs.run_quickstart("micro", device="cpu", project=str(tmp_path / "runs"), progress=False) == 0
    run = tmp_path / "runs/quickstart/pafnet_lite_micro"
    summary = json.loads((run / "summary.json").read_text())
    rows = {(r["format"], r["precision"]): r for r in summary["exports"]}
    # two iterations leave a flat heatmap whose peaks are decided by float rounding, so the fp32 parity gate may
    # fail here (tests/export checks it on models with distinct outputs); the difference must still be reported
    assert rows[("onnx", "fp32")]["max_abs_diff"] is not None
    assert 0.0 <= rows[("onnx", "int8")]["AP"] <= 1.0 and rows[("onnx", "int8")]["size_mb"] > 0
    assert "error" in rows[("paddle", "int8")]
    report = (run / "report.md").read_text()
    assert "| pytorch | fp32 |" in report and "| onnx | int8 |" in report and "failed:" in report
    assert (run / "train/weights/last.pt").is_file()
