"""deftmer: micro-expression recognition with disentangled experts and a LoRA-tuned LLM."""

__version__ = "0.1.0"
