"""prox_train_refiner: train a refiner on a new seed set; promote it when it is better."""

from __future__ import annotations

from airflow.sdk import Asset, Param, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from prox_tasks.pipeline import dag_config as cfg
from prox_tasks.pipeline import settings, training
from prox_tasks.pipeline.errors import check_conf, fail_fast

SEED_SET = Asset(*cfg.SEED_SET)
REFINER = Asset(*cfg.REFINER)

DOC = """
# Train the refiner

Runs when **prox_seed_label** registers a seed set (`prox_seed_set` Asset), or from the UI
with `seed_uri`.

1. **resolve_seed_set** — the Param, else the triggering Asset event's `uri`; what `train`
   would refuse fails here, once: Params that cannot train together, a `base` of another
   kind, none promoted for `promoted`, a seed set that cannot be read (an empty folder, a
   manifest cut short, a split gone) or holds no training or validation documents — from
   the manifest and each file's first 1,000 lines; **train** checks every row.
2. **train** — the document-level and chunk-level programs are learned together into one
   artifact (`kind`: `line_tagger`, the embedded default that trains in minutes on CPUs, or
   `causal_lm`, fine-tuning `base` — any Hugging Face causal LM, e.g. the ProX paper's
   refining models), published to the `registry` Param's registry (default
   `$PROX_MODEL_REGISTRY`, where prox_refine_snapshot looks for the promoted model). Pool `gpu`.
   `select_epoch` = `gold` keeps the tagger epoch with the best validation word F1 against
   gold (how the shipped default was chosen) instead of the best teacher agreement.
   `backend` picks the inference backend evaluation runs on (empty: production's).
   A model this seed set, these Params and this code published before (a retry after its
   model was published, a second run) is returned without training (`reused` in its XCom),
   unless `retrain` is on.
3. **evaluate** — the promoted model on the same validation documents.
4. **promote** — only when the candidate is not worse than the incumbent (the promoted
   model, else the shipped default) on the shipped human-gold set (word F1; recall within
   0.005) and scores higher on the validation split (document F1 and line F1 against the
   teacher, no worse program failure rate); then the `prox_refiner` Asset is updated and
   the next **prox_refine_snapshot** runs use it. Not better: the task is skipped and the
   reason is in the registry's decision record. When another run promoted a model after
   **evaluate** (or a retry finds one), promote measures the candidate against that model
   again — gold gate and validation, as `prox train` does — and decides on that (pool `gpu`).
   The registry is the truth: once `promoted.json` names the candidate the Asset is updated,
   even when booking it in the catalog failed. The catalog is `prox train`'s: the
   `catalog_url` Param; empty, the default catalog for the default registry and none for a
   `registry` elsewhere (its model never becomes what `prox refine` serves).
5. **book_catalog** — books in the catalog what a promotion could not (the catalog could not
   be written); it fails, and alerts, while the catalog still cannot: refining uses the new
   model, but the catalog's lineage and the report name the old one until it is booked
   (clear the task once the catalog is fixed). Nothing to do otherwise; skipped with promote.
"""


@dag(
    dag_id="prox_train_refiner",
    description="Train, evaluate and promote the refining model on a new seed set",
    owner_links=cfg.owner_links(),
    dagrun_timeout=cfg.dagrun_timeout("PROX_TRAIN_RUN_TIMEOUT_S", 24 * 3600),
    schedule=[SEED_SET],
    start_date=cfg.start_date(),
    catchup=False,
    max_active_runs=1,
    default_args=cfg.default_args(),
    params={name: Param(**spec) for name, spec in cfg.checked_defaults({
        "seed_uri": {"default": None, "type": ["null", "string"], "title": "Seed set",
                     "description": "A seed set's manifest.json or folder (absolute path, "
                     "file:// or s3:// URI), e.g. the uri a prox_seed_label run's register "
                     "task returns. Empty: the seed set of the prox_seed_set Asset event that "
                     "triggered the run; a manual run left empty fails at once."},
        "registry": {"default": settings.registry_root(), "type": ["null", "string"],
                     "minLength": 1,
                     "title": "Model registry root",
                     "description": "Where the candidate is published and promoted (absolute "
                     "path or s3:// URI), as prox train --output; the refine DAG takes the "
                     "promoted model from PROX_MODEL_REGISTRY. Empty: PROX_MODEL_REGISTRY, else "
                     "<PROX_HOME>/registry. Booked in the catalog_url Param's catalog; "
                     "empty, only the default registry is booked (in the default catalog)."},
        "kind": {"default": "line_tagger", "enum": ["line_tagger", "causal_lm"],
                 "title": "Model kind",
                 "description": "line_tagger: the CPU line tagger; causal_lm: a generative "
                 "model (the ProX recipe), fine-tuned from base (docs/training.md)."},
        "base": {"default": None, "type": ["null", "string"], "title": "Base checkpoint",
                 "description": "A checkpoint to fine-tune (causal_lm: a Hugging Face model "
                 "folder), an absolute path or file:// or s3:// URI; 'default': "
                 "PROX_DEFAULT_MODEL, else the shipped line tagger; 'promoted': the promoted "
                 "refiner; empty: train from scratch."},
        "epochs": {"default": 12, "type": "number", "exclusiveMinimum": 0, "title": "Epochs",
                   "description": "Passes over the training documents, as prox train "
                   "--epochs."},
        "threads": {"default": 2, "type": "integer", "minimum": 1, "title": "CPU threads",
                    "description": "CPU threads for training and evaluation, as prox train "
                    "--threads."},
        "random_seed": {"default": 0, "type": "integer", "title": "Random seed",
                        "description": "Seed of the training's random choices, as prox train "
                        "--random-seed."},
        "max_eval_docs": {"default": None, "type": ["null", "integer"], "minimum": 1,
                          "title": "Most validation documents",
                          "description": "Evaluate on at most this many validation "
                          "documents (the first ones), and calibrate the keep threshold and "
                          "choose the epoch on at most this many with gold (the first ones "
                          "with gold; select_epoch teacher chooses it on the evaluated ones); "
                          "empty: all."},
        "select_epoch": {"default": "teacher", "enum": ["teacher", "gold"],
                         "title": "Keep the epoch best on (line_tagger)",
                         "description": "teacher: validation agreement with the teacher; "
                         "gold: validation word F1 against gold at the epoch's calibrated keep "
                         "threshold, on the validation documents with gold_text it is "
                         "calibrated on."},
        "backend": {"default": None, "type": ["null", "string"],
                    "enum": [None, "vllm", "transformers", "tagger"],
                    # the form would show the empty choice as "null"
                    "values_display": {"null": "as the refine DAG picks"},
                    "title": "Evaluation backend",
                    "description": "Inference backend that evaluates the candidate (and the "
                    "incumbent of its kind) as prox train --backend; empty: the one "
                    "prox_refine_snapshot picks, so promotion measures what production runs. "
                    "Not openai: its servers serve their own model, not the candidate."},
        "gold_gate": {"default": True, "type": "boolean", "title": "Gold gate",
                      "description": "Refuse a candidate worse than the incumbent on the "
                                     "shipped human-gold set. Off, a candidate into a "
                                     "registry with nothing promoted is promoted without "
                                     "being compared with the shipped default."},
        "retrain": {"default": False, "type": "boolean", "title": "Train again",
                    "description": "Train even when the registry holds the model this seed "
                    "set, these Params and this code trained before (off: that model is "
                    "returned without training, as prox train does; --retrain)."},
        # prox train's rule (settings.registry_catalog): the default catalog's promoted
        # model is what prox refine serves when the default registry promotes none
        **cfg.common_params(f"{cfg.DEFAULT_CATALOG} for the default registry; no catalog "
                            "for a registry elsewhere, as prox train without --catalog"),
    }).items()},
    doc_md=DOC,
    tags=["prox", "training"],
)
def prox_train_refiner():
    # multiple_outputs=False: a task returning ``dict`` would also push each key as an XCom
    @task(multiple_outputs=False)
    def resolve_seed_set(params=None, triggering_asset_events=None, dag=None,
                         dag_run=None) -> dict:
        """The seed set to train on: the `seed_uri` Param, else the triggering Asset event's."""
        events = [dict(e.extra or {}) for e in (triggering_asset_events or {}).get(SEED_SET, [])]
        with fail_fast(AirflowFailException):
            check_conf(dag_run.conf, dag.params)
            return training.resolve_seed_set(dict(params), events)

    @task(multiple_outputs=False, pool=cfg.POOL_GPU, queue=cfg.gpu_queue(),
          execution_timeout=cfg.train_timeout())
    def train(seed: dict, params=None) -> dict:
        """Train the candidate refining model on the seed set (pool `gpu`)."""
        with fail_fast(AirflowFailException):  # bad labels or options: retrying cannot help
            return training.train(seed, dict(params))

    @task(multiple_outputs=False, pool=cfg.POOL_GPU, queue=cfg.gpu_queue())
    def evaluate(seed: dict, candidate: dict, params=None) -> dict:
        """Score the candidate and the promoted model on the same held-out documents (pool `gpu`)."""
        with fail_fast(AirflowFailException):  # the incumbent removed or damaged since
            return training.evaluate(seed, candidate, dict(params))

    # pool `gpu`: when another model was promoted since evaluate, promote measures the
    # candidate against that one again (gold gate and validation), as evaluate does
    @task(multiple_outputs=False, outlets=[REFINER], pool=cfg.POOL_GPU, queue=cfg.gpu_queue())
    def promote(seed: dict, candidate: dict, incumbent: dict, params=None) -> dict:
        """Promote the candidate when it beats the model promoted now (measured again
        against it if another was promoted after evaluate); skipped otherwise."""
        with fail_fast(AirflowFailException):  # the incumbent removed or damaged since
            decision = training.promote(seed, candidate, incumbent, dict(params))
        if not decision["promoted"]:
            raise AirflowSkipException(f"not promoted: {decision['reason']}")
        return decision  # promoted: the Asset event is sent, booked in the catalog or not

    @task(multiple_outputs=False)
    def book_catalog(seed: dict, decision: dict) -> dict:
        """Book in the catalog the promotion the promote task could not (fails, and alerts,
        while the catalog cannot be written)."""
        return training.book_catalog(seed, decision)

    seed = resolve_seed_set()
    candidate = train(seed)
    book_catalog(seed, promote(seed, candidate, evaluate(seed, candidate)))


prox_train_refiner()
