"""Training recipe of the S4D, S5 and DSS papers.

The SSM parameters (Λ, B, Δ — tagged by the layers, `layer.ssm_variables`)
train at their own learning rate `ssm_lr` with no weight decay; everything
else with AdamW at `lr` and `weight_decay`; both rates follow a linear warmup
then a cosine decay to `lr_min`:

- `SSMAdamW`: AdamW with that second parameter group;
- `WarmupCosine`: the per-step schedule;
- `build_optimizer(lr, ssm_lr, weight_decay, warmup_steps, total_steps)`:
  both together.

Import this module before loading a saved model compiled with `SSMAdamW`
(it registers the classes for deserialization).
"""

from keras_ssm.training.optimizers import SSMAdamW, build_optimizer
from keras_ssm.training.schedules import WarmupCosine

__all__ = ["SSMAdamW", "WarmupCosine", "build_optimizer"]
