"""A training whose loss is no longer a number stops there: one check for every loop.

A loss that turns NaN or infinite (a learning rate far too high, a row whose targets or
weights are not finite) makes every later step's weights NaN too; trained on, such a run was
evaluated, published and registered, and its model refused only when a refine loaded it.
Both training loops (:mod:`~prox_tasks.training.tagger`, :mod:`~prox_tasks.training.sft`)
call :func:`check_loss` on each step's loss before the optimizer steps on it, so no
checkpoint holds the diverged weights and :func:`~prox_tasks.training.run.run_training`
publishes nothing.
"""

from __future__ import annotations

import math

#: AdamW's beta1 in both training loops (torch's default; :mod:`~prox_tasks.training.sft`
#: names it).
ADAM_BETA1 = 0.9
#: The largest learning rate the loops can step with: AdamW's first step is the rate /
#: (1 - beta1), a 32-bit float; above it torch's optimizer raised "value cannot be converted
#: to type float without overflow" at step 1, before :func:`check_loss` could say anything.
#: ``prox train --learning-rate`` refuses more (:func:`prox_tasks.cli.arguments.learning_rate`);
#: any rate below it that is still too high diverges and :class:`TrainingDiverged` says so.
MAX_LEARNING_RATE = 3.4028234663852886e38 * (1 - ADAM_BETA1)


class TrainingDiverged(ValueError):
    """The loss at ``step`` is not finite: the run stops, nothing is published.

    Its message (``str``) names ``prox train``'s options; :meth:`worded` gives it as the
    train DAG's user reads it (its Params), as :func:`~prox_tasks.pipeline.errors.fail_fast`
    says it.

    Attributes:
        step: The optimizer step (1-based, counted over the whole run) whose loss it is.
        loss: The loss (``nan``, ``inf``).
        learning_rate: The run's peak learning rate.
        epoch: The epoch (1-based) the step is in, where the loop counts epochs.
    """

    def __init__(self, step: int, loss: float, learning_rate: float,
                 epoch: int | None = None) -> None:
        self.step, self.loss, self.learning_rate, self.epoch = step, loss, learning_rate, epoch
        super().__init__(self.worded("cli"))

    def worded(self, caller: str) -> str:
        """The message for ``caller`` (``cli`` or ``dag``): where the loss stopped being a
        number, and the settings to change, as that user sets them."""
        from prox_tasks.setting_names import setting_name
        from prox_tasks.training.run import CLI_OPTIONS, DAG_PARAMS

        def named(setting: str) -> str:
            return setting_name(setting, caller, CLI_OPTIONS, DAG_PARAMS)

        where = f"step {self.step}" + (f" (epoch {self.epoch})" if self.epoch else "")
        if self.step == 1:  # no weight has moved yet: the rows or their weights
            weights = ("the loss weights prox train's --teacher-weight and --remove-weight "
                       "set" if caller == "dag" else
                       f"{named('teacher_weights')}, {named('remove_weight')}")
            cause = ("before any step was taken: a seed row's targets or weights are not "
                     f"finite (check the seed set and {weights})")
        elif caller == "dag":  # the DAG trains at the kind's default learning rate
            cause = (f"the training diverged at learning rate {self.learning_rate:g} (the "
                     f"kind's default; the DAG has no Param for it): trigger it with another seed "
                     f"({named('seed_value')}), or train with prox train --learning-rate lower")
        else:
            cause = (f"the training diverged: lower {named('learning_rate')} (it is "
                     f"{self.learning_rate:g}), or train with another seed ({named('seed_value')})")
        return (f"the training loss is {self.loss} at {where}, {cause}. Nothing was published "
                "or registered; a run with other settings starts over")


def check_loss(loss: float, step: int, learning_rate: float, epoch: int | None = None) -> None:
    """Raise :class:`TrainingDiverged` when ``loss`` (step ``step``'s) is NaN or infinite.

    Called before the optimizer steps on the loss: the weights, and any checkpoint saved
    from them, are still the last finite step's."""
    if not math.isfinite(loss):
        raise TrainingDiverged(step, loss, learning_rate, epoch)
