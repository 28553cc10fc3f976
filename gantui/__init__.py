"""gantui: a terminal dashboard for training Generative Adversarial Networks."""

__version__ = "0.1.0"
