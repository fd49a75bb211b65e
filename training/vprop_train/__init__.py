"""vprop training: GRFP/STGRU cells (PyTorch), data loading, training and ONNX export."""
