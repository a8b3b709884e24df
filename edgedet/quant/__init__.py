"""Post-training quantization per backend: :mod:`edgedet.quant.onnx_int8` (onnxruntime QDQ int8)."""
