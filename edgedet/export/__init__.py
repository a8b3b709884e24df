"""Export a trained :class:`~edgedet.models.base.Detector` to deployable files.

Entry point: :func:`edgedet.export.api.export` writes one directory per format x precision (``out/onnx_fp32/``,
``out/onnx_int8/``, ``out/tflite_fp16/`` ...) holding the model file(s), ``edgedet.json``
(:mod:`edgedet.deploy.schema`) and ``parity.json`` (:mod:`edgedet.export.parity`).

Exporter contract (table ``FORMAT_EXPORTERS`` in :mod:`edgedet.export.api`)::

    def export_<fmt>(ctx: ExportContext) -> ExportArtifact

``ExportContext`` (:mod:`edgedet.export.context`) gives the model, the graph to trace (``model.export_graph()``),
the precision, the pair's output directory, a shared scratch directory, calibration data and
``ctx.make_metadata(model_file, layout, extra)``; the exporter writes its file(s) into ``ctx.out_dir`` and returns
``ExportArtifact(model_file, metadata)``; the API then writes ``edgedet.json`` and runs the parity check through
:mod:`edgedet.runtime`. Formats that go through ONNX call ``ctx.onnx_fp32()`` for a cached, simplified fp32 ONNX
file.

Layering: ``export`` imports :mod:`edgedet.deploy`, :mod:`edgedet.models` and :mod:`edgedet.runtime`; none of them
imports ``export``. This ``__init__`` imports nothing.
"""
