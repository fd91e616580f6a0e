"""Deprecated alias of ``prefloss.torch``, kept until the client's 0.3.0: ``simpo_loss`` is ``remote_loss``."""

from prefloss.torch import remote_loss as simpo_loss

__all__ = ["simpo_loss"]
