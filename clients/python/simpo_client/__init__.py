"""Deprecated: the client is now ``prefloss``. This package is its old name, kept until the client's 0.3.0.

    import simpo_client                      ->  import prefloss
    simpo_client.SimPOClient                 ->  prefloss.LossClient
    simpo_client.SimPOError / SimPOProblem / SimPOConnectionError
                                             ->  prefloss.LossError / LossProblem / LossConnectionError
    simpo_client.torch.simpo_loss            ->  prefloss.torch.remote_loss
    simpo_client.trl.Remote*Trainer          ->  prefloss.trl.Remote*Trainer

Each old name is the new object itself, and the new names are here too. Importing this package
warns (DeprecationWarning); ``simpo_client.torch`` and ``simpo_client.trl`` import torch and TRL
only when imported themselves.
"""

import warnings

from prefloss import *  # noqa: F403 (the new names too, for a gradual move)
from prefloss import LossClient as SimPOClient
from prefloss import LossConnectionError as SimPOConnectionError
from prefloss import LossError as SimPOError
from prefloss import LossProblem as SimPOProblem
from prefloss import __all__ as _new_names

warnings.warn(
    "simpo_client is renamed prefloss, and this alias goes in prefloss 0.3.0: use `import prefloss` "
    "(SimPOClient -> LossClient, SimPOError/SimPOProblem/SimPOConnectionError -> LossError/LossProblem/"
    "LossConnectionError, simpo_client.torch.simpo_loss -> prefloss.torch.remote_loss, "
    "simpo_client.trl -> prefloss.trl)",
    DeprecationWarning, stacklevel=2)

__all__ = ["SimPOClient", "SimPOError", "SimPOProblem", "SimPOConnectionError", *_new_names]
