"""``tc.onnx``: export a model's inference graph to ONNX, as ``torch.onnx`` does.

``tc.onnx.export(model, tc.randn(1, 3, 32, 32), "model.onnx")``; how the graph is recorded and
which layers are translated: :mod:`tinyconv.interop.onnx_export`.
"""

from tinyconv.interop.onnx_export import OPSET_VERSION, SUPPORTED_LAYERS, export

__all__ = ["OPSET_VERSION", "SUPPORTED_LAYERS", "export"]
