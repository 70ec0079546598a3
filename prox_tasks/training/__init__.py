"""Training of the refining models: SFT of causal LMs, the line tagger, evaluation, the stage.

- :mod:`~prox_tasks.training.run`: ``run_training(TrainJob(...))``, the stage ``prox train``
  and the DAG call (seed set in; evaluated, published, maybe promoted artifact out).
- :mod:`~prox_tasks.training.sft`: the SFT loop (loss on program tokens, length bucketing,
  gradient accumulation, checkpoint and exact resumption).
- :mod:`~prox_tasks.training.lm`: examples and training of a causal-LM refiner.
- :mod:`~prox_tasks.training.tagger`: training of the line tagger (the embedded default).
- model inputs come from :mod:`prox_tasks.inference.prompts` (one module for both).
- :mod:`~prox_tasks.training.metrics`, :mod:`~prox_tasks.training.evaluate`: metrics.
- :mod:`~prox_tasks.training.seedset`: reading and splitting seed sets.

Heavy imports (torch, transformers) happen inside functions.
"""

import os

# torch's OpenMP threads spin-wait between parallel regions by default. On cores shared with
# other jobs a spinning thread holds the core its descheduled sibling needs, and every
# barrier then waits for a time slice: a tagger epoch ran 10-20x slower with 2 threads at
# load 12 on 2 cores than with sleeping waiters (docs/training.md). It must be set before
# torch loads OpenMP, hence here (every training path imports this package first); an
# explicit OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

