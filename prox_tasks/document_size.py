"""The default bound on one document's size, in a module that imports nothing.

The refine DAG's Params (:func:`prox_tasks.pipeline.dag_config.limit_params`) show it as the
default of ``max_doc_bytes`` while the scheduler parses the DAG file; taken from
:mod:`prox_tasks.corpus.document`, it loaded the ``prox_tasks.corpus`` package (its writer,
Arrow columns and numpy: ~100 ms a parse, every 30 s). The readers and
:class:`~prox_tasks.refine.limits.Limits` take it from here.
"""

#: Documents larger than this (UTF-8 bytes of the text) are quarantined as ``too_large``.
DEFAULT_MAX_DOC_BYTES = 8 * 1024 * 1024
