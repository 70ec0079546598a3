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
