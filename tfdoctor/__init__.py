"""tfdoctor: a doctor for TensorFlow on Linux machines with NVIDIA GPUs."""

__version__ = "0.1.0"
