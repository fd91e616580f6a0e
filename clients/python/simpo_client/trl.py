"""Deprecated alias of ``prefloss.trl``, kept until the client's 0.3.0: the same trainers."""

from prefloss.trl import RemoteCPOTrainer, RemoteDPOTrainer, RemoteORPOTrainer

__all__ = ["RemoteDPOTrainer", "RemoteCPOTrainer", "RemoteORPOTrainer"]
