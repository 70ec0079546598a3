"""prox_seed_label: label a sample of a snapshot with a teacher; register the seed set."""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from prox_tasks.pipeline import dag_config as cfg
from prox_tasks.pipeline import seeding, settings
from prox_tasks.pipeline.errors import check_conf, fail_fast

SEED_SET = Asset(*cfg.SEED_SET)
#: The bundled sample beside this DAG folder (the repository's data/sample).
SAMPLE = str(Path(__file__).resolve().parents[1] / "data" / "sample" / "sample.jsonl.gz")

DOC = """
# Label a seed set

Builds the supervised data the refining models learn from (`prox_tasks.labeling.seedset`).

1. **sample** — `sample_size` documents of `input_uri`, stratified by source and length and
   seeded by `random_seed` (the same input always gives the same sample), cut into label
   shards of about `label_shard_docs`. `format`, `text_field`, `id_field`: how the input is
   read (e.g. `format` `jsonl` for Spark's `part-00000-….json`). `teacher_options` the
   teacher does not take fail the run here, before anything is sampled. With `warc_uris`,
   the WARC files are indexed here, once (`sample/warc-index.json`: the responses the
   sample refers to), not again by each label task.
2. **label_shard** — one mapped task per shard (pool `teacher_api` bounds the concurrent
   calls to an LLM endpoint); a retry reuses labels already written. Teachers: `rules`
   (offline default), `diff` (documents with `gold_text`), `html` (the page's HTML: an
   `html` field, or the WARC response of a WET record from `warc_uris`), `best` (per
   document the best of these it allows), `llm` (an OpenAI-compatible endpoint, see
   docs/airflow.md).
3. **validate** — every label is parsed and executed; the run fails when more than
   `max_invalid_rate` of the sample is rejected (reasons in the error and the XCom).
4. **split** — train/validation by a seeded hash of the id (`valid_percent`); writes
   `train/validation/rejected.jsonl.gz` (rejected with reasons) and `manifest.json`, whose
   `version` is a hash of the content.
5. **register** — the catalog records it and the `prox_seed_set` Asset is updated, which
   triggers **prox_train_refiner**.

**sample**, each **label_shard** and **split** hold the seed set's labeling claim (the one
`prox label --seed-set` takes) while they write into its folder: the tasks of one run share
it; a task of another run, or a `prox label`, into the same folder meanwhile fails with
`SeedSetBusy`, naming the holder, and is retried.
"""


@dag(
    dag_id="prox_seed_label",
    description="Label a seed set with a teacher (rules, diff, html, best, LLM); manual",
    owner_links=cfg.owner_links(),
    dagrun_timeout=cfg.dagrun_timeout("PROX_SEED_TIMEOUT_S", 12 * 3600),
    schedule=None,
    start_date=cfg.start_date(),
    catchup=False,
    default_args=cfg.default_args(),
    params={name: Param(**spec) for name, spec in cfg.checked_defaults({
        # null (a cleared field) is accepted, to fail the run naming this Param (the form's
        # own refusal, "None is not of type 'string'", names none): no default fits it
        "input_uri": {"default": SAMPLE, "type": ["null", "string"], "minLength": 1,
                      "title": "Snapshot to sample", "description": "File, folder, prefix or "
                      "glob; {ds} placeholders take the run's date. Required."},
        **cfg.read_params(),
        "seed_root": {"default": settings.seed_root(), "type": ["null", "string"], "minLength": 1,
                      "title": "Seed-set root", "description": "Seed sets go to "
                      "<root>/<seed-set name>. Empty: PROX_SEED_ROOT, else seeds under "
                      "PROX_HOME."},
        "seed_set_name": {"default": None, "type": ["null", "string"],
                          "pattern": cfg.NAME_PATTERN, "title": "Seed-set name",
                          "description": "Default: seed-<teacher>-<hash of what decides its "
                          "content>. Letters, digits, '.', '_', '-'."},
        "teacher": {"default": "rules", "enum": cfg.TEACHERS, "title": "Teacher",
                    "description": "rules (offline), diff (rows with gold_text), html (the "
                    "page's HTML), best (per document the best of these), llm (an "
                    "OpenAI-compatible endpoint: teacher_options)."},
        # null: the trigger form sends a cleared JSON field as null, and a cleared list
        # (or one whose lines were all deleted) as null once it loses focus: both mean none
        "teacher_options": {"default": {}, "type": ["null", "object"],
                            "title": "Teacher options",
                            "description": 'e.g. {"base_url": "http://host:8000/v1", '
                            '"model": "Qwen/Qwen2.5-72B-Instruct"} for the llm teacher, '
                            '{"extractor": "resiliparse"} for html. Empty: none.'},
        "warc_uris": {"default": [], "type": ["null", "array"], "items": {"type": "string"},
                      "title": "WARC files of a WET input",
                      "description": "For the html and best teachers: each sampled WET record "
                      "takes the HTML of the WARC response it refers to; each a file, folder or "
                      "glob (*.warc.gz), one a line (blank lines are skipped); {ds} "
                      "placeholders take the run's date. Rows with an html field need none."},
        "sample_size": {"default": 300, "type": "integer", "minimum": 2, "title": "Documents",
                        "description": "Documents sampled to label, stratified by source and "
                        "length."},
        "label_shard_docs": {"default": 100, "type": "integer", "minimum": 1,
                             "title": "Documents per label task",
                             "description": "About this many per mapped label_shard task "
                             "(more when the sample would need over 1024 tasks)."},
        "random_seed": {"default": 0, "type": "integer", "title": "Sampling seed",
                        "description": "The same input and seed always give the same "
                        "sample."},
        "valid_percent": {"default": 10, "type": "integer", "minimum": 1, "maximum": 50,
                          "title": "Validation share (%)",
                          "description": "Documents held out for validation, by a seeded "
                          "hash of the id."},
        "max_invalid_rate": {"default": 0.05, "type": "number", "minimum": 0, "maximum": 1,
                             "title": "Most invalid labels allowed",
                             "description": "Share of the sample (0 to 1) whose labels may be "
                             "rejected; more fails validate, naming the reasons."},
        **cfg.common_params(),
    }).items()},
    doc_md=DOC,
    tags=["prox", "labeling"],
)
def prox_seed_label():
    # multiple_outputs=False: a task returning ``dict`` would also push each key as an XCom
    @task(multiple_outputs=False)
    def sample(params=None, ds=None, dag=None, dag_run=None, ti=None) -> dict:
        """Stratified sample of the snapshot to label; a versioned manifest."""
        with fail_fast(AirflowFailException):
            check_conf(dag_run.conf, dag.params)
            return seeding.sample(dict(params), ds, cfg.task_try(ti), bundled_sample=SAMPLE)

    @task
    def shards(plan: dict) -> list[int]:
        """The sample's shard indices, one mapped labeling task each."""
        return plan["shards"]

    @task(multiple_outputs=False, pool=cfg.POOL_TEACHER,
          map_index_template="{{ prox_label_part }}")
    def label_shard(plan: dict, index: int, params=None, ti=None) -> dict:
        """Label one shard with the teacher (pool `teacher_api`); rejected rows keep their reason."""
        get_current_context()["prox_label_part"] = f"part-{index:05d}"
        with fail_fast(AirflowFailException):  # bad teacher options; an endpoint error retries
            return seeding.label_shard(plan, index, params["teacher_options"],
                                       cfg.task_try(ti))

    @task(multiple_outputs=False)
    def validate(plan: dict, parts, params=None) -> dict:
        """Every label parses and runs on its document; counts of rejected labels by reason."""
        with fail_fast(AirflowFailException):  # the same labels would be judged again
            return seeding.validate(plan, list(parts[:]), params["max_invalid_rate"])

    @task(multiple_outputs=False)
    def split(plan: dict, parts, checked: dict, params=None, ti=None) -> dict:
        """Train/validation split of the valid labels by a seeded hash of the id
        (`valid_percent`); the rejected ones apart, with their reasons."""
        with fail_fast(AirflowFailException):
            return seeding.split(plan, list(parts[:]), checked, params["valid_percent"],
                                 cfg.task_try(ti))

    @task(multiple_outputs=False, outlets=[SEED_SET])
    def register(plan: dict, seed_set: dict, *, outlet_events=None) -> dict:
        """Record the seed set in the catalog and emit the `prox_seed_set` Asset."""
        with fail_fast(AirflowFailException):  # a name taken since sample: a retry cannot help
            event = seeding.register(plan, seed_set)
        outlet_events[SEED_SET].extra = event
        return event

    plan = sample()
    parts = cfg.documented(label_shard).partial(plan=plan).expand(index=shards(plan))
    register(plan, split(plan, parts, validate(plan, parts)))


prox_seed_label()
