"""``tinyconv.interop``: weights in and out of tinyconv.

- :mod:`~tinyconv.interop.pytorch`: ``torch.save`` files read and written without PyTorch, through
  a restricted unpickler (``tc.load("resnet18.pth")``, ``tc.save(sd, "m.pth")``);
- :mod:`~tinyconv.interop.safetensors`: ``.safetensors`` files (``tc.save(sd, "m.safetensors")``);
- :mod:`~tinyconv.interop.onnx_export`: the inference graph as ONNX (``tc.onnx.export``);
- :mod:`~tinyconv.interop.convnetjs`: convnetjs's ``Net.toJSON`` format, both ways.

``tc.load`` picks the reader from the file's first bytes. The optional packages (safetensors,
onnx, onnxruntime) come with ``pip install 'tinyconv[interop]'``; importing tinyconv never
needs them.
"""
