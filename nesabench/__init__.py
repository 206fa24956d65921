"""nesabench: what each privacy technique for inference on untrusted compute costs and protects."""

__version__ = "0.1.0"
