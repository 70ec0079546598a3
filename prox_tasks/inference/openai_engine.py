"""The ``openai`` engine: an OpenAI-compatible completions client over a pool of servers.

The way to scale past one machine's GPUs: start ``vllm serve`` (or
``python -m vllm.entrypoints.openai.api_server``) on each, list them here. Prompts go as
token ids to ``/v1/completions`` (rendered locally with the model's tokenizer, exactly as
training renders them); constrained decoding travels as vLLM's ``structured_outputs``.

- Concurrency: at most ``concurrency`` requests in flight per server; each request goes to
  the healthy server with the fewest in flight.
- Back-pressure: a server answering 429/5xx or failing to connect is cooled down for a
  backoff period (exponential, jittered; at least what its ``Retry-After`` asks, up to
  ``max_backoff``) and gets no new requests meanwhile; requests wait
  for capacity instead of piling up.
- Retries: up to ``max_retries`` per request, on any server of the pool, after transient
  errors: connection failures, timeouts, 408/409/429, 5xx, and answers that are not a
  completion (a proxy's HTML page, a cut-off body, no choices). A request that still fails
  raises :class:`InferenceError` (the task fails and a retry resumes from its checkpoint),
  or, with ``on_failure="empty"``, becomes an empty completion the executor's policy handles
  (counted as ``failed``).
- A prompt the server rejects as such (400, 413, 422: e.g. longer than its context) is not
  retried: it becomes an empty completion (``failed``) the executor's policy handles. A 400
  or 404 saying the model is not found (a gateway whose backend restarts) is no prompt's
  fault: retried when the pool listed the model at load, else :class:`PoolMisconfigured`.
- Any other answer (401: the key; 404: the model name or URL; another 4xx but 403) means the
  deployment is wrong, not the document: :class:`PoolMisconfigured` at once (at load when
  every server's ``/v1/models`` answers so; a server of several answering so is left out,
  logged, with its reason in ``left_out``), naming the server and status, so no shard is
  published with every document left unrefined; the refine DAG fails its task without
  retries (they cannot heal a key or a URL) and ``prox refine`` exits with code 2.
- Budget: with ``shard_budget`` (``PROX_OPENAI_SHARD_BUDGET``), a shard whose refining has
  taken that long fails (:class:`ShardBudgetExceeded`), its requests in flight cancelled:
  a slow or stalled pool no longer holds a shard, and its task, for hours; so it does at
  once when every server asked (``Retry-After``) to wait past what the shard has left.
  Nothing of the shard is published; a retry resumes from its checkpoints.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from dataclasses import dataclass, field

from prox_tasks.inference.base import Completion, GenerationRequest, shard_elapsed
from prox_tasks.openai_replies import ReplyCutOff, ReplyTooLarge, reply_cap
from prox_tasks.wording import quoted_error, shortened

log = logging.getLogger(__name__)


class InferenceError(RuntimeError):
    """A request failed on every try."""


class ShardBudgetExceeded(InferenceError):
    """The shard being refined took longer than the engine's ``shard_budget``: the pool is
    too slow or stalled. A retry resumes from the shard's checkpoints."""


class PoolMisconfigured(InferenceError):
    """The pool is set up wrong, which no retry heals: a key it refuses (401), a URL with
    no OpenAI API or a model it does not serve (404), another client error of the
    deployment, a model name that does not say which of the pool's models to use. Raised at
    load or on the first request; the refine DAG fails its task at once
    (:func:`prox_tasks.pipeline.errors.cannot_succeed`): its retries spent minutes on a
    setting that cannot change by itself, while a server down, 5xx or a timeout stays an
    :class:`InferenceError` a retry may get past."""


class ServedModelMismatch(InferenceError):
    """A server of the pool does not serve the model asked for (``/v1/models``)."""


class ModelNotServed(ServedModelMismatch, PoolMisconfigured):
    """A server of the pool lists other models than the one named (at load)."""


class AmbiguousServedModel(ServedModelMismatch, PoolMisconfigured):
    """No served model was named and the pool lists more than one: taking the first would
    send one level's programs to the other level's model (a gateway serving both).

    Attributes:
        serves: What each server lists, as the message words it.
    """

    serves: str = ""

    @classmethod
    def naming(cls, serves: str, level: str | None = None,
               prefix: str = "") -> AmbiguousServedModel:
        """The refusal for ``level`` (``doc``, ``chunk``; None: either), naming its option
        and variable, after ``prefix``."""
        if level:
            how = f"prox refine --{level}-served-model NAME, or PROX_OPENAI_{level.upper()}_MODEL"
        else:
            how = ("prox refine --doc-served-model/--chunk-served-model NAME, or "
                   "PROX_OPENAI_DOC_MODEL/PROX_OPENAI_CHUNK_MODEL (the engine's model_name)")
        err = cls(f"{prefix}the pool serves more than one model ({serves}): name the one for this "
                  f"level: {how} (docs/inference.md)")
        err.serves = serves
        return err


def _only_model(answered: dict[str, list[dict]]) -> str | None:
    """The one model the servers of a pool list (None: they list none).

    Raises:
        AmbiguousServedModel: They list more than one, naming what each server serves.
    """
    names = list(dict.fromkeys(card["id"] for cards in answered.values() for card in cards))
    if len(names) > 1:
        raise AmbiguousServedModel.naming("; ".join(
            f"{url} serves {', '.join(c['id'] for c in cards)}" for url, cards in answered.items()))
    return names[0] if names else None


class ServedModelChanged(ServedModelMismatch):
    """A server of the pool serves other weights under the served name than when the model
    was loaded (restarted on another checkpoint), or no longer serves the model."""


@dataclass
class _Server:
    url: str
    client: object
    in_flight: int = 0
    cooldown_until: float = 0.0
    #: When (monotonic) its current cooldown began: a request sent before it that fails is
    #: of the same event (a batch's requests timing out together), not another failure.
    cooled_at: float = 0.0
    failures: int = 0
    served: int = 0
    #: Until when (monotonic) its last ``Retry-After`` asked not to be sent requests: what
    #: it asked, not capped at ``max_backoff`` as its cooldown is.
    asked_until: float = 0.0
    #: The HTTP status of the answer that asked it (429: a rate limit; 503: unavailable,
    #: e.g. still loading its weights).
    asked_status: int | None = None
    errors: dict = field(default_factory=dict)


#: Said when the openai backend is given no server at all: by the engine, and by prox refine
#: before it plans (:class:`ServerURLInvalid`: a command to fix, exit 2).
NO_SERVERS = ("the openai backend needs at least one server URL: prox refine --servers "
              "URL[,URL...], or PROX_OPENAI_SERVERS in the environment (the refine DAG's way: "
              "set it on its workers; docs/deploy.md)")


#: How advice names the pool's servers when who set them is not known (servers given to the
#: engine directly): the shared option and its variable.
POOL_GIVEN = "--servers (PROX_OPENAI_SERVERS)"


class ServerURLInvalid(PoolMisconfigured, ValueError):
    """A server address that is no ``http(s)://HOST…`` URL, or none at all
    (:data:`NO_SERVERS`): a pool set up wrong (``prox refine`` exit 2, the DAG's task fails
    without retries), and a bad option value."""


class LevelWithoutPool(PoolMisconfigured, ValueError):
    """One refining level given a pool (``--doc-servers``, ``PROX_OPENAI_DOC_SERVERS``) and
    the other none, nor a shared one (:func:`prox_tasks.inference.loading._openai_levels`):
    a pool set up wrong (``prox refine`` exit 2, the DAG's task fails without retries), and
    a bad option value."""


def check_server_urls(urls) -> None:
    """Refuse a server address that is no ``http(s)://HOST…`` URL (``127.0.0.1:8000/v1``):
    httpx refused it at load as an unsupported protocol, which was told as a server not
    answering ("start the server") and retried.

    Raises:
        ServerURLInvalid: Naming the address and the form to give.
    """
    from urllib.parse import urlparse

    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ServerURLInvalid(f"{url!r} is no server base URL: give it as http://HOST:PORT/v1 "
                             "(https:// behind TLS) in --servers, --doc-servers, "
                             "--chunk-servers or their PROX_OPENAI_*SERVERS variables")  # fmt: skip


def servers_from_environment(level: str | None = None) -> list[str]:
    """The base URLs a deployment sets for its pool: ``PROX_OPENAI_SERVERS`` (both levels),
    or with ``level`` (``doc``, ``chunk``) that level's ``PROX_OPENAI_DOC_SERVERS`` /
    ``PROX_OPENAI_CHUNK_SERVERS``; comma-separated, empty or unset: none."""
    name = f"PROX_OPENAI_{level.upper()}_SERVERS" if level else "PROX_OPENAI_SERVERS"
    return [url.strip() for url in os.environ.get(name, "").split(",") if url.strip()]


#: The options that name the model a level asks its pool for: the level's own, then the one
#: both levels share.
SERVED_MODEL_OPTIONS = ("doc_served_model", "chunk_served_model", "model_name")


def served_model_names(options: dict) -> dict[str, str | None]:
    """The served model each level (``doc``, ``chunk``) asks its pool for: the level's
    option (``doc_served_model``), else the shared ``model_name``, else the level's variable
    (``PROX_OPENAI_DOC_MODEL`` / ``PROX_OPENAI_CHUNK_MODEL``); None: the one model the pool
    lists (known once loaded). One rule for loading the model and for a snapshot's settings,
    so a name counts the same whichever way it was given."""
    return {level: options.get(f"{level}_served_model") or options.get("model_name")
            or os.environ.get(f"PROX_OPENAI_{level.upper()}_MODEL") or None
            for level in ("doc", "chunk")}  # fmt: skip


def pools_from_environment() -> bool:
    """Whether the environment gives both levels a pool (the shared one, or one each)."""
    return bool(servers_from_environment()) or all(
        servers_from_environment(level) for level in ("doc", "chunk"))


class OpenAIEngine:
    """Completions over a pool of OpenAI-compatible servers.

    Args:
        servers: Base URLs, e.g. ``["http://10.0.0.5:8000/v1"]``, or one comma-separated
            string; None: ``PROX_OPENAI_SERVERS`` (how a deployment points every worker's
            refine tasks at its vLLM pool).
        model_name: The served model name (None: the one ``/v1/models`` lists; a pool
            listing several is refused, :class:`AmbiguousServedModel`).
        api_key: Sent as the bearer token (vLLM ignores it unless started with one); None:
            ``PROX_OPENAI_API_KEY`` (how a deployment gives every worker the key of its
            pool, e.g. one started with ``--api-key``), else none.
        concurrency: Most requests in flight per server.
        max_retries: Tries after the first, per request.
        backoff: Base of the exponential backoff in seconds.
        max_backoff: Longest backoff.
        timeout: Seconds one HTTP request may take before it counts as a failure (and is
            retried); None: ``PROX_OPENAI_TIMEOUT``, else 600 (a long chunk program on a busy
            server). With the retries, a request gives up after about
            ``(max_retries + 1) * timeout`` seconds.
        max_model_len: Context length (None: the shortest ``/v1/models`` reports across the
            pool, else 4096).
        on_failure: ``"raise"`` or ``"empty"`` (see module docs).
        servers_setting: What set ``servers``, as error advice names it (``--doc-servers``,
            ``PROX_OPENAI_DOC_SERVERS``); None: ``PROX_OPENAI_SERVERS`` when ``servers`` is
            None, else :data:`POOL_GIVEN`.
        shard_budget: Seconds the refining of one shard may take on this pool
            (:func:`~prox_tasks.inference.base.shard_clock`); past it the call in progress
            is cancelled and :class:`ShardBudgetExceeded` raised. None:
            ``PROX_OPENAI_SHARD_BUDGET``, else no budget.
    """

    name = "openai"
    supports_constraints = True

    def __init__(self, servers: list[str] | str | None = None, model_name: str | None = None,
                 api_key: str | None = None, concurrency: int = 32, max_retries: int = 4,
                 backoff: float = 0.5, max_backoff: float = 30.0, timeout: float | None = None,
                 max_model_len: int | None = None, on_failure: str = "raise",
                 shard_budget: float | None = None, servers_setting: str | None = None) -> None:
        #: What set the pool, as advice names it (where to fix a server's URL): given by
        #: :func:`prox_tasks.inference.loading._openai_levels` (``--doc-servers``,
        #: ``PROX_OPENAI_CHUNK_SERVERS``, ...); else the variable read here, or
        #: :data:`POOL_GIVEN` for servers given directly.
        self.servers_setting = servers_setting or (
            "PROX_OPENAI_SERVERS" if servers is None else POOL_GIVEN)
        if servers is None:
            servers = servers_from_environment()
        if isinstance(servers, str):
            servers = [s for s in servers.split(",") if s.strip()]
        if not servers:
            # named as each caller sets it: a `servers` option is no setting of a user's
            raise ServerURLInvalid(NO_SERVERS)
        if on_failure not in ("raise", "empty"):
            raise ValueError(f"on_failure must be 'raise' or 'empty', not {on_failure!r}")
        self.urls = [s.strip().rstrip("/") for s in servers]
        check_server_urls(self.urls)
        reply_cap(None)  # a bad PROX_MAX_REPLY_BYTES fails at load, not every request
        self.api_key = api_key or os.environ.get("PROX_OPENAI_API_KEY") or "EMPTY"
        self.timeout = _timeout(timeout)
        self.shard_budget = _shard_budget(shard_budget)
        self.concurrency, self.max_retries = concurrency, max_retries
        self.backoff, self.max_backoff, self.on_failure = backoff, max_backoff, on_failure
        self.model_name = model_name
        #: The weights the server reports serving under ``model_name`` (vLLM's ``root``:
        #: the path or Hugging Face id it loaded); None when not asked or not reported.
        self.served_root: str | None = None
        #: Each server's context at load (``/v1/models`` ``max_model_len``), when reported.
        self._served_contexts: dict[str, int] = {}
        self.max_model_len = max_model_len or 4096
        self.stats = {"retries": 0, "cooldowns": 0}
        #: When (monotonic) each server last answered a request with a completion: a
        #: server answering others so while it answers one request with no completion on
        #: every try tells that request's document apart (:meth:`_malformed_for_it`).
        self._answered_at: dict[str, float] = {}
        #: Whether the pool's models were asked at load, and so are asked again after each
        #: call (:meth:`_check_still_served`); not when name and context were both given.
        self._watched = False
        self._tls_context = None  # built once, on first use (:meth:`_tls`)
        #: Constrained completions checked against their grammar, per server URL.
        self._grammar_checked: dict[str, int] = {}
        #: Servers left out of the pool at load, with why (they refused it: 401, 404).
        self.left_out: dict[str, str] = {}
        if model_name is None or max_model_len is None:
            self._discover(model_name is None, max_model_len is None)

    def _listings(self) -> dict[str, list[dict] | Exception]:
        """Each server's ``/v1/models`` cards, or why it gave none (:meth:`_ask_models`)."""
        return asyncio.run(self._ask_models())

    async def _ask_models(self) -> dict[str, list[dict] | Exception]:
        """Each server's ``/v1/models`` cards, or why it gave none (checked: a list of cards
        with ids), all asked at once: a pool of dozens costs one round trip, not dozens.
        Asynchronous, so the check after each call runs under the call's shard budget
        (:meth:`_generate_all`): its own 30 s timeout let a shard overrun its budget."""
        import httpx

        async def models(url: str) -> list[dict] | Exception:
            try:
                # in all, not per read (httpx's): a server dripping its listing held the
                # load, or the check after each call, for as long as the drip lasted
                try:
                    async with asyncio.timeout(MODELS_TIMEOUT):
                        reply = await client.get(f"{url}/models")
                except TimeoutError as err:
                    raise RequestTimedOut(f"/models gave no whole answer within "
                                          f"{MODELS_TIMEOUT:g} s") from err
                reply.raise_for_status()
                listed = reply.json()["data"]
                # checked here: a card read below without an id broke the whole load with
                # a bare KeyError or AttributeError, naming no server
                if not isinstance(listed, list) or not all(
                        isinstance(c, dict) and isinstance(c.get("id"), str) for c in listed):
                    raise ValueError(f"/models answered no list of models with ids: {listed!r:.200}")
                return listed
            except Exception as err:  # noqa: BLE001 - the other servers of the pool count
                return err

        async with httpx.AsyncClient(timeout=MODELS_TIMEOUT, verify=self._tls(), headers={
                "Authorization": f"Bearer {self.api_key}"}) as client:  # fmt: skip
            answers = await asyncio.gather(*(models(url) for url in self.urls))
        return dict(zip(self.urls, answers, strict=True))

    def _discover(self, want_name: bool, want_len: bool) -> None:
        """The served model's name, weights and context from ``/v1/models`` of every server
        that answers; a server that does not serve it (another model, or another name) is
        refused here, before any document is sent to the wrong model."""
        replies = self._listings()
        self._watched = True
        answered = {u: r for u, r in replies.items() if not isinstance(r, Exception)}
        refused = {u: r for u, r in replies.items()
                   if isinstance(r, Exception) and _classify(r) == "misconfigured"}
        if refused:
            # a server refusing the pool (401, 404) would fail every request sent to it at
            # once, and no retry changes a key or a URL: left out while another server may
            # serve; the whole pool is set up wrong only when none is left
            errors = _failures_said(refused, self.servers_setting)
            if len(refused) == len(self.urls):
                raise PoolMisconfigured(f"the pool is set up wrong, so retrying cannot help: "
                                        f"{errors}")
            self.left_out = {url: f"{_said(err)} ({_what_to_do(err, self.servers_setting)})"
                             for url, err in refused.items()}  # fmt: skip
            self.urls = [url for url in self.urls if url not in refused]
            log.warning("left %d of the pool's %d servers out, which refuse it: %s; refining "
                        "on the other %d. Fix or remove them in %s", len(refused),
                        len(refused) + len(self.urls), errors, len(self.urls),
                        self.servers_setting)
        if not answered:
            raise InferenceError("no server of the pool answered: "
                                 f"{_failures_said(replies, self.servers_setting)}")
        if want_name:
            self.model_name = _only_model(answered)
        mine = {url: next((c for c in listed if c.get("id") == self.model_name), None)
                for url, listed in answered.items()}  # fmt: skip
        wrong = [url for url, card in mine.items() if card is None]
        if wrong:
            serves = "; ".join(f"{url} serves "
                               f"{', '.join(str(c.get('id')) for c in answered[url]) or 'no model'}"
                               for url in wrong)  # fmt: skip
            raise ModelNotServed(
                f"the pool does not serve {self.model_name!r}: {serves}. Name the model the "
                "servers serve (prox refine --doc-served-model/--chunk-served-model, "
                "PROX_OPENAI_DOC_MODEL/PROX_OPENAI_CHUNK_MODEL), or point the level at "
                "servers that serve it (--doc-servers/--chunk-servers; docs/inference.md)")
        roots = {url: str(card["root"]) for url, card in mine.items() if card.get("root")}
        if len(set(roots.values())) > 1:
            # one version for programs written by two sets of weights: a pool caught halfway
            # through a restart on another checkpoint
            weights = "; ".join(f"{url}: {root}" for url, root in roots.items())
            raise ServedModelMismatch(
                f"the servers of the pool serve {self.model_name!r} from different weights "
                f"({weights}): wait until the pool has restarted on one checkpoint, or list "
                "only the servers of one")
        # the weights any server reports (one, checked above): a server that reports none
        # (a proxy) listed first named no weights in the version
        self.served_root = next(iter(roots.values()), None)
        self._served_contexts = {url: int(card["max_model_len"]) for url, card in mine.items()
                                 if card.get("max_model_len")}  # fmt: skip
        lengths = list(self._served_contexts.values())
        if want_len and lengths:
            # the shortest: prompts are fitted once for whichever server takes them, and one
            # too long for a server is rejected there (a failed program), not retried
            self.max_model_len = min(lengths)

    @property
    def served_model(self) -> str:
        """What the pool serves: ``NAME@ROOT`` (the served name and the weights the server
        reports under it, when they differ: a deployment's ``--served-model-name refiner``
        says nothing of which checkpoint), else ``NAME``."""
        root = self.served_root
        return f"{self.model_name}@{root}" if root and root != self.model_name else str(self.model_name)

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        if not requests:
            return []
        return asyncio.run(self._generate_all(requests, self._budget_left()))

    async def _check_still_served(self) -> None:
        """Refuse the completions of a call during which a server of the pool started
        serving the model from other weights than at load (restarted on another checkpoint
        under the same name), or stopped serving it: the rows would carry the old version;
        or with a shorter context than at load and than the prompts are fitted to (restarted
        with another ``--max-model-len``): it would refuse them as too long, each a failed
        document.
        One ``/v1/models`` round trip per call (a batch's documents, or its chunks), asked
        after it (inside the call's shard budget), so every completion kept was written
        while the pool still served what the version names. A server that does not answer is left to the requests' retries.

        Raises:
            ServedModelChanged: Naming the server, what it serves now and what at load.
        """
        for url, listed in (await self._ask_models()).items():
            if isinstance(listed, Exception):
                continue
            card = next((c for c in listed if c["id"] == self.model_name), None)
            root = str(card["root"]) if card is not None and card.get("root") else None
            same_weights = root == self.served_root or None in (root, self.served_root)
            if card is not None and same_weights:
                shorter = self._shorter_context(url, card)
                if shorter is None:
                    continue  # (no weights reported, now or at load, tells nothing new)
                loaded = self._served_contexts.get(url)
                was = (f"not {loaded} as when the model was loaded" if loaded
                       else "and did not answer when the model was loaded")  # fmt: skip
                raise ServedModelChanged(
                    f"{url} now serves {self.model_name!r} with a context of {shorter} tokens, "
                    f"{was}: the "
                    f"prompts, fitted to {self.max_model_len}, may be refused as too long, so "
                    "none of this call is kept; run again (a task's retry) to fit them to what "
                    "the pool serves now, or restart the server with its --max-model-len")
            now = (f"no longer serves {self.model_name!r} (it serves "
                   f"{', '.join(c['id'] for c in listed) or 'no model'})" if card is None
                   else f"now serves {self.model_name!r} from {root}, not {self.served_root} "
                   "as when the model was loaded")  # fmt: skip
            raise ServedModelChanged(
                f"{url} {now}: the programs of this call may come from either, so none is "
                "kept; run again (a task's retry) to refine under the version of what the "
                "pool serves now (the old version's checkpoints are not reused), or restart "
                "the server on the checkpoint it served")

    def _budget_left(self) -> float | None:
        """Seconds the shard being refined has left of :attr:`shard_budget` (None: no
        budget, or no shard timed).

        Raises:
            ShardBudgetExceeded: None left: no request is sent.
        """
        clock = shard_elapsed()
        if self.shard_budget is None or clock is None:
            return None
        left = self.shard_budget - clock[1]
        if left <= 0:
            raise self._over_budget(0)
        return left

    def _over_budget(self, unanswered: int) -> ShardBudgetExceeded:
        """The failure of a shard past :attr:`shard_budget`, with ``unanswered`` requests
        of the call cancelled: what ran out, and the ways out."""
        label, took = shard_elapsed() or ("?", 0.0)
        cancelled = f", {unanswered} requests in flight cancelled" if unanswered else ""
        return ShardBudgetExceeded(
            f"shard {label} ran past its budget of {self.shard_budget:g} s on the openai pool "
            f"({took:.0f} s{cancelled}; {', '.join(self.urls)}): the pool is too slow or "
            "stalled. Nothing of the shard was published; a retry resumes from its "
            "checkpoints. Add servers, or raise the budget: prox refine --shard-budget "
            "SECONDS, PROX_OPENAI_SHARD_BUDGET on the refine DAG's workers (docs/inference.md)")

    def _asked_past_budget(self, servers: list[_Server], deadline: float) -> ShardBudgetExceeded:
        """The failure of a shard every server of whose pool asked (``Retry-After``) to wait
        past ``deadline``, when its budget runs out: each wait, the budget, the ways out."""
        label, _took = shard_elapsed() or ("?", 0.0)
        now = time.monotonic()
        waits = "; ".join(f"{s.url} {s.asked_until - now:.0f} s (HTTP {s.asked_status})"
                          for s in servers)  # fmt: skip
        why = _why_asked_to_wait({s.asked_status for s in servers})
        return ShardBudgetExceeded(
            f"every server of the openai pool asked to retry after more than shard {label} "
            f"has left of its budget of {self.shard_budget:g} s ({max(0.0, deadline - now):.0f} s "
            f"left; Retry-After: {waits}): {why}, and waiting cannot end in the budget. "
            "Nothing of the shard was published; a retry resumes from its checkpoints. Run "
            "again once the limit has reset or the servers are up, add servers, or raise "
            "the budget: prox refine --shard-budget SECONDS, PROX_OPENAI_SHARD_BUDGET on the "
            "refine DAG's workers (docs/inference.md)")

    def _shorter_context(self, url: str, card: dict) -> int | None:
        """The context ``url`` reports now (its ``card``) when shorter than at load and than
        the prompts are fitted to; else None (a longer one fits every prompt). A server
        that reported none at load (down then, and back since) counts by the prompts'
        context alone: it had slipped through, and refused every prompt as too long."""
        try:
            now = int(card.get("max_model_len") or 0)
        except (TypeError, ValueError):
            return None
        loaded = self._served_contexts.get(url)
        fitted = min(loaded, self.max_model_len) if loaded else self.max_model_len
        return now if now and now < fitted else None

    def _timeouts(self):
        """A request's timeouts: :attr:`timeout` in all, :data:`CONNECT_TIMEOUT` at most to
        connect: a server whose address does not answer (a crashed node: no refusal) held
        each request sent to it for the whole timeout, 600 s by default, before the request
        moved to a live server."""
        import httpx

        return httpx.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT))

    def _tls(self):
        """The engine's TLS context, built once: each HTTP client built its own, loading
        the CA bundle (~80 ms of CPU), once per server per call. Read as the HTTP client
        reads it: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` (a private CA), else certifi's."""
        if self._tls_context is None:
            import httpx

            self._tls_context = httpx.create_ssl_context(trust_env=True)
        return self._tls_context

    async def _generate_all(self, requests: list[GenerationRequest],
                            budget: float | None = None) -> list[Completion]:
        """Every request's completion, in order, then the pool's models checked
        (:meth:`_check_still_served`); both with ``budget`` seconds at most.

        Raises:
            ShardBudgetExceeded: ``budget`` ran out: the requests still in flight or
                waiting are cancelled (their connections closed: vLLM aborts a request
                whose client went away) before this returns.
        """
        from openai import AsyncOpenAI, DefaultAsyncHttpxClient

        servers = [_Server(url, AsyncOpenAI(
            base_url=url, api_key=self.api_key, max_retries=0, timeout=self._timeouts(),
            http_client=DefaultAsyncHttpxClient(verify=self._tls(), timeout=self._timeouts())))
            for url in self.urls]  # fmt: skip
        capacity = asyncio.Condition()
        # the monotonic time the budget runs out: a wait a server asks past it is not waited
        deadline = None if budget is None else time.monotonic() + budget
        calls = [asyncio.ensure_future(self._one(r, servers, capacity, deadline))
                 for r in requests]  # fmt: skip
        limit = asyncio.timeout(budget)
        try:
            async with limit:
                completions = list(await asyncio.gather(*calls))
                if self._watched:
                    await self._check_still_served()
                return completions
        except TimeoutError:
            if not limit.expired():
                raise
            raise self._over_budget(sum(not c.done() or c.cancelled() for c in calls)) \
                from None
        finally:
            for call in calls:  # gather cancels them on a timeout; on a failure it does not
                call.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
            for server in servers:
                await server.client.close()

    async def _acquire(self, servers: list[_Server], capacity: asyncio.Condition) -> _Server:
        async with capacity:
            while True:
                now = time.monotonic()
                ready = [s for s in servers
                         if s.in_flight < self.concurrency and s.cooldown_until <= now]
                if ready:
                    server = min(ready, key=lambda s: (s.in_flight, s.failures))
                    server.in_flight += 1
                    busiest = self.stats.get("max_in_flight", 0)
                    self.stats["max_in_flight"] = max(busiest, server.in_flight)
                    return server
                wake = min((s.cooldown_until for s in servers if s.cooldown_until > now),
                           default=None)  # fmt: skip
                try:
                    await asyncio.wait_for(capacity.wait(),
                                           None if wake is None else max(0.01, wake - now))
                except TimeoutError:
                    pass

    async def _release(self, server: _Server, capacity: asyncio.Condition, ok: bool,
                       asked: float = 0.0, sent: float | None = None) -> None:
        """Give ``server``'s slot back; a failure cools it down for the backoff, or for
        ``asked`` seconds when longer (what the server's Retry-After asked for). A failed
        request ``sent`` (monotonic) before the server's current cooldown began does not
        double the backoff again: the requests in flight fail together on one event (a hung
        or restarted server), and counted each they cooled it for ``max_backoff`` at once."""
        async with capacity:
            server.in_flight -= 1
            now = time.monotonic()
            if ok:
                server.failures, server.served = 0, server.served + 1
                server.asked_until = 0.0
            elif sent is not None and sent < server.cooled_at:
                server.cooldown_until = max(server.cooldown_until, now + asked)
            else:
                server.failures += 1
                delay = min(self.max_backoff, self.backoff * 2 ** (server.failures - 1))
                delay = max(delay * random.uniform(0.5, 1.0), asked)
                server.cooldown_until, server.cooled_at = now + delay, now
                self.stats["cooldowns"] += 1
            capacity.notify_all()

    async def _one(self, request: GenerationRequest, servers: list[_Server],
                   capacity: asyncio.Condition, deadline: float | None = None) -> Completion:
        """``request``'s completion from the pool, retried on its transient failures.

        Raises:
            ShardBudgetExceeded: Every server asked (``Retry-After``) to wait past
                ``deadline``, the monotonic time the shard's budget runs out: failing now
                instead of waiting out the budget for an answer that cannot come in it.
        """
        errors: list[str] = []
        last: Exception | None = None
        longest = 0.0  # the longest wait a server's Retry-After asked for
        began = time.monotonic()
        malformed_by: set[str] | None = set()  # who answered no completion (None: else failed)
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.stats["retries"] += 1
            server = await self._acquire(servers, capacity)
            sent = time.monotonic()
            try:
                completion = await self._call(server, request)
            except ReplyTooLarge as err:  # the server's fault, not the pool's: no retry
                await self._release(server, capacity, ok=True)
                self.stats["oversized"] = self.stats.get("oversized", 0) + 1
                if self.stats["oversized"] == 1:
                    log.warning("%s: %s; that document's program counts as an error",
                                server.url, err)
                return Completion("", len(request.prompt_ids), 0, "error")
            except Exception as err:  # noqa: BLE001 - classified below, retried
                kind = _classify(err)
                if kind != "retry" and self._watched and _says_model_not_found(err):
                    # the pool listed the model at load: a gateway answering so (LiteLLM,
                    # vLLM's router: 400) or a server (404) has its backend restarting
                    kind = "retry"
                if kind == "rejected":  # the prompt itself is bad: no retry can fix it
                    await self._release(server, capacity, ok=True)
                    self.stats["rejected"] = self.stats.get("rejected", 0) + 1
                    return Completion("", len(request.prompt_ids), 0, "error")
                if kind in ("fatal", "misconfigured"):
                    await self._release(server, capacity, ok=True)
                    if kind == "misconfigured":
                        raise PoolMisconfigured(
                            f"{server.url} refused the request: {_said(err)} "
                            f"({_what_to_do(err, self.servers_setting)}); retrying cannot "
                            "help") from err
                    raise InferenceError(f"{server.url} refused the request: {_said(err)} "
                                         f"({_what_to_do(err, self.servers_setting)})") from err
                errors.append(f"{server.url}: {_said(err)}")
                last = err
                if malformed_by is not None and isinstance(err, MalformedReply):
                    malformed_by.add(server.url)
                else:
                    malformed_by = None
                response = getattr(err, "response", None)
                asked = _asked_wait(getattr(response, "headers", None) or {})
                longest = max(longest, asked)
                if asked:
                    server.asked_until = time.monotonic() + asked
                    server.asked_status = getattr(response, "status_code", None)
                if deadline is not None and all(s.asked_until > deadline for s in servers):
                    await self._release(server, capacity, ok=False,
                                        asked=min(self.max_backoff, asked))
                    raise self._asked_past_budget(servers, deadline) from err
                await self._release(server, capacity, ok=False,
                                    asked=min(self.max_backoff, asked), sent=sent)
                continue
            await self._release(server, capacity, ok=True)
            self._answered_at[server.url] = time.monotonic()
            self._check_grammar(server, request, completion)
            return completion
        if malformed_by and self._malformed_for_it(malformed_by, began, errors[-1]):
            return Completion("", len(request.prompt_ids), 0, "error")
        if self.on_failure == "empty":
            return Completion("", len(request.prompt_ids), 0, "error")
        advice = _what_to_do(last, self.servers_setting)
        if last is not None and _says_model_not_found(last):
            advice = (f"the pool listed {self.model_name!r} at load, and now answers that it "
                      "does not serve it: a gateway whose backend is restarting, or the model "
                      "was taken off it; run again once it serves the model (the task's retry "
                      "does), or check the gateway's /v1/models")
        if longest > self.max_backoff:  # a spent quota, not a busy server: name the wait
            why = _why_asked_to_wait({s.asked_status for s in servers if s.asked_until})
            advice = (f"a server asked to retry after {longest:.0f} s (Retry-After), longer "
                      f"than a request waits ({self.max_backoff:g} s at most): {why}; run "
                      "again once it has reset or the server is up, or add servers")
        raise InferenceError(f"request failed {self.max_retries + 1} times "
                             f"({advice}): {'; '.join(errors[-3:])}")

    def _malformed_for_it(self, servers: set[str], began: float, said: str) -> bool:
        """Whether a request that every try was answered with no completion (HTTP 200, but
        no choices, not JSON: :class:`MalformedReply`) by ``servers`` is its document's
        failure: one of them answered another request with a completion since this one was
        first sent (monotonic ``began``), so it is up and answering, not a proxy's error
        page. A gateway filtering one prompt, or a server failing on it, answers it so on
        every try: the call failed, and the shard with it on every retry (the DAG's too),
        its other documents never refined. Counted (``stats["malformed"]``) as that
        document's failed program, warned once with ``said`` (the last answer)."""
        if not any(self._answered_at.get(url, 0.0) > began for url in servers):
            return False  # nothing answered meanwhile: the pool's failure, retried as such
        self.stats["malformed"] = self.stats.get("malformed", 0) + 1
        if self.stats["malformed"] == 1:
            log.warning("a request was answered with no completion on each of its %d tries "
                        "while the same server answered others' (%s): counted as that "
                        "document's failed program, not the shard's failure",
                        self.max_retries + 1, said)  # fmt: skip
        return True

    def _check_grammar(self, server: _Server, request: GenerationRequest,
                       completion: Completion) -> None:
        """Count a constrained completion that ended (not cut by the token limit) outside
        its grammar, among the first :data:`GRAMMAR_SAMPLE` of each server, and warn once:
        the server ignores ``structured_outputs`` (vLLM before it took ``guided_regex``,
        and vLLM ignores unknown fields with HTTP 200), which shows otherwise only as a
        high program failure rate. The completions checked are counted too
        (``stats["grammar_checked"]``): the outside ones are of them, not of all."""
        import re

        if not request.regex or completion.finish_reason != "stop":
            return
        # a sample per server says whether it constrains (a server ignores the grammar for
        # every request, or for none): compiling a chunk's regex costs 2-6 ms of the event
        # loop (its match 3 us), where a chunk's completion takes ~15 ms of a CPU vLLM's
        # (bench/README.md) and far less of a GPU's: checking each would cost 15% and more
        checked = self._grammar_checked.get(server.url, 0)
        if checked >= GRAMMAR_SAMPLE:
            return
        self._grammar_checked[server.url] = checked + 1
        self.stats["grammar_checked"] = self.stats.get("grammar_checked", 0) + 1
        text = completion.text  # whitespace at the ends is detokenization, not a sign
        if re.fullmatch(request.regex, text) or re.fullmatch(request.regex, text.strip()):
            return
        self.stats["outside_grammar"] = self.stats.get("outside_grammar", 0) + 1
        if self.stats["outside_grammar"] == 1:
            log.warning("%s answered a constrained request outside its grammar (%r): the "
                        "server ignores structured_outputs (a vLLM that predates it, or "
                        "another server); its programs are parsed as they are and failures "
                        "counted. Upgrade the servers, or refine with prox refine "
                        "--no-constrained (constrained=False) to say so", server.url,
                        completion.text[:80])

    def _retry_after(self, headers) -> float:
        """The seconds a 429 or 503 answer's ``Retry-After`` asks a client to wait
        (:func:`_asked_wait`), at most ``max_backoff``; 0 without one. Retried after the
        backoff alone (0.5 s, doubling), a rate-limited gateway or a server still loading
        its weights had every try spent within seconds and failed the task."""
        return min(self.max_backoff, _asked_wait(headers))

    async def _call(self, server: _Server, request: GenerationRequest) -> Completion:
        from openai.types import Completion as Reply

        from prox_tasks.openai_replies import acapped_body, parsed_reply

        extra = {"structured_outputs": {"regex": request.regex}} if request.regex else None
        # the whole exchange under the timeout: httpx's bounds each read, so a server
        # dripping its answer a byte at a time (a wedged proxy) held a request for as long
        # as the drip lasted, hours past PROX_OPENAI_TIMEOUT, and the shard with it
        limit = asyncio.timeout(self.timeout)
        try:
            async with limit:
                # streamed, so that a body past its cap (a broken or hostile server's
                # gigabytes) is never read whole: ReplyTooLarge, that document's error
                async with server.client.completions.with_streaming_response.create(
                    model=self.model_name, prompt=list(request.prompt_ids),
                    max_tokens=request.max_new_tokens, temperature=0.0, extra_body=extra,
                ) as raw:  # fmt: skip
                    reply = await acapped_body(raw.http_response,
                                               reply_cap(request.max_new_tokens))
        except TimeoutError as err:
            if not limit.expired():
                raise
            raise RequestTimedOut(
                f"no whole answer within the request timeout of {self.timeout:g} s "
                "(the server answers too slowly, or drips its answer)") from err
        try:  # bytes that are not UTF-8 read with U+FFFD: a program error of its document
            reply = parsed_reply(reply, Reply)
            choice = reply.choices[0]
            text = choice.text
            if not isinstance(text, str):
                raise TypeError(f"text is {type(text).__name__}")
            used = reply.usage
            out_tokens = int(used.completion_tokens) if used is not None else 0
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as err:
            raise MalformedReply(f"not a completion ({quoted_error(err)}): "
                                 f"{shortened(str(reply))!r}") from err
        reason = "length" if choice.finish_reason == "length" else "stop"
        return Completion(text, len(request.prompt_ids), out_tokens, reason)

    def close(self) -> None:
        pass


#: Seconds connecting to a server may take (TCP and TLS): far more than a data centre needs.
CONNECT_TIMEOUT = 10.0

#: Seconds a server's ``/v1/models`` listing may take in all, asked at load and after calls.
MODELS_TIMEOUT = 30.0

#: Constrained completions of each server URL checked against their grammar, the first the
#: engine gets from it whenever that is (a server that comes back later has its own): a
#: sample, counted as ``grammar_checked`` beside the ``outside_grammar`` found among them.
GRAMMAR_SAMPLE = 32

#: Statuses that reject the prompt itself (too long, invalid): that document fails alone.
REJECTED_STATUSES = (400, 413, 422)


def _classify(err: Exception) -> str:
    """``"retry"`` (transient: connection, timeout, 408/409/429, 5xx, a reply that is not a
    completion), ``"rejected"`` (the prompt: :data:`REJECTED_STATUSES`),
    ``"misconfigured"`` (the deployment: 401/404, another 4xx status, a 400 saying the
    model is not found: :func:`_says_model_not_found`) or ``"fatal"`` (an error of no known
    kind, or a 403: :data:`FORBIDDEN`). A model not found by a pool that listed it at load
    is retried instead (:meth:`OpenAIEngine._one`)."""
    import json

    import openai

    # ReplyCutOff: the body, read after the SDK's call (capped), cut off by a reset
    if isinstance(err, openai.APIConnectionError | openai.APITimeoutError | MalformedReply
                  | openai.APIResponseValidationError | json.JSONDecodeError | ReplyCutOff
                  | RequestTimedOut):
        return "retry"
    if isinstance(err, openai.APIStatusError):
        if err.status_code in (408, 409, 429) or err.status_code >= 500:
            return "retry"
        if err.status_code == FORBIDDEN:
            return "fatal"
        if err.status_code in REJECTED_STATUSES and not _says_model_not_found(err):
            return "rejected"  # (a model not found is the deployment's, not the prompt's)
        return "misconfigured"
    if _status_of(err) in (401, 404):  # /models, asked with httpx itself
        return "misconfigured"
    return "fatal"


#: Not taken as a pool set up wrong: a gateway's firewall answers 403 to a burst of
#: requests (AWS WAF's rate rules do by default), which the DAG's next try may get past.
FORBIDDEN = 403


class MalformedReply(RuntimeError):
    """A server answered with something that is not a completion."""


class RequestTimedOut(TimeoutError):
    """A request whose whole answer did not come within the engine's ``timeout``: a server
    too slow, or one dripping its answer (each byte within httpx's read timeout); retried
    as a timeout is."""


def _status_of(err: BaseException | None) -> int | None:
    """The HTTP status an error of the OpenAI or httpx client carries, if any."""
    status = getattr(err, "status_code", None)
    if status is None:
        status = getattr(getattr(err, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _why_asked_to_wait(statuses: set) -> str:
    """What a long ``Retry-After`` means, by the statuses it came with: a 429's is a rate
    limit or quota spent; a 503's a server unavailable for now — still starting (loading
    its weights) or in maintenance — not only a quota."""
    reasons = []
    if statuses - {503}:  # 429, and any other status that asks to wait
        reasons.append("its rate limit or quota is spent")
    if 503 in statuses:
        reasons.append("unavailable for now (HTTP 503: still starting, e.g. loading its "
                       "weights, or in maintenance)")
    return " or ".join(reasons) or "its rate limit or quota is spent"


def _said(err: BaseException) -> str:
    """``err`` in a line: its kind and message (an HTTP status as ``HTTP 404``, without
    httpx's link to a page on status codes), then the transport error behind it
    (:func:`_transport_cause`): the SDK's own says only "Connection error.". Each message
    quoted is cut in its middle (:func:`~prox_tasks.wording.shortened`), not the line at its
    end: a long message of the SDK's cut the transport cause after it."""
    status = _status_of(err)
    if status is not None:
        return f"HTTP {status} ({type(err).__name__})"
    said = f"{type(err).__name__}: {shortened(str(err) or 'no message')}"
    cause = _transport_cause(err)
    if cause is err:  # httpx's own (/models): its reason, not "All connection attempts failed"
        said = _cause_said(cause)
    elif isinstance(err, ReplyCutOff) and cause is not None:  # its message names the cause
        said = f"{type(err).__name__}: {_cause_said(cause)}"
    elif cause is not None:
        said += f" ({_cause_said(cause)})"
    return said


#: The packages whose exceptions are the client's transport errors: the ``openai`` SDK
#: brings its own ``httpx2`` (over ``httpcore2``) beside ``httpx``, which asks ``/models``.
_TRANSPORTS = ("httpx", "httpx2", "httpcore", "httpcore2")


def _transport_cause(err: BaseException | None) -> BaseException | None:
    """The outermost error of an HTTP client's transport (:data:`_TRANSPORTS`) in ``err``'s
    chain of causes (``err`` itself included), or None. The SDK wraps it
    (``APIConnectionError``), the capped body read too
    (:class:`~prox_tasks.openai_replies.ReplyCutOff`); httpx and httpx2 name their errors
    alike, so the name says which it is."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if type(err).__module__.split(".")[0] in _TRANSPORTS:
            return err
        err = err.__cause__ or err.__context__
    return None


def _cause_said(cause: BaseException) -> str:
    """A transport error in a few words: its name and the operating system's reason at the
    bottom of its chain ("[Errno 111] Connect call failed"), else its own message."""
    said, inner = str(cause), cause
    while inner.__cause__ or inner.__context__:
        inner = inner.__cause__ or inner.__context__
        if isinstance(inner, OSError) and str(inner):
            said = str(inner)
    return f"{type(cause).__name__}: {shortened(said or 'no message')}"


def _says_model_not_found(err: BaseException) -> bool:
    """Whether ``err`` is a client error (4xx) whose body says the model asked for is not
    served: vLLM's 404 "The model `m` does not exist.", a gateway's 400 (LiteLLM's
    "Invalid model name passed in model=m", vLLM's router's "Model m not found"), which
    they answer while the backend serving it restarts."""
    import re

    status = _status_of(err)
    if status is None or not 400 <= status < 500:
        return False
    said = f"{getattr(err, 'body', '')} {err}"
    return bool(re.search(r"\bmodel\b[^.]{0,200}?\b(not found|does not exist|not exist|is not "
                          r"served|not available)|\b(invalid|unknown|no such) model\b", said,
                          re.IGNORECASE))  # fmt: skip


def _what_to_do(err: BaseException | None, where: str = POOL_GIVEN) -> str:
    """What a user does about ``err``, a failure to reach or use a server of the pool (set
    by ``where``: :attr:`OpenAIEngine.servers_setting`): a
    wrong key, a URL that is not the API's base, a server down or too slow, an answer that
    is no OpenAI API's. A transport error is told by what it is, under the SDK's
    "Connection error." (:func:`_transport_cause`): refused, a name that does not resolve,
    a connection dropped before or during the answer, a certificate not trusted, a timeout."""
    import socket
    import ssl

    import openai

    status = _status_of(err)
    if err is not None and _says_model_not_found(err):
        return ("the server answers that it does not serve the model: check the served "
                "model name (--doc-served-model/--chunk-served-model, PROX_OPENAI_DOC_MODEL/"
                "PROX_OPENAI_CHUNK_MODEL) against its /v1/models")
    if status == 401:
        return ("the server refuses the key: set PROX_OPENAI_API_KEY to the key it was "
                "started with (--api-key), on every worker")
    if status == FORBIDDEN:
        return ("the server or a gateway before it refuses the key, or limits requests: "
                "set PROX_OPENAI_API_KEY to the key it was started with (--api-key), on "
                "every worker, or see the gateway's rate rules")
    if status == 404:
        return ("no OpenAI-compatible API at this URL, or not the served model's name: "
                "give the base URL with its /v1 (http://HOST:8000/v1), and check the served "
                "model name")
    if status is not None and status >= 500 or status in (408, 409, 429):
        return "the server is overloaded or failing: see its log, or add servers to the pool"
    transport = _transport_cause(err)
    name = type(transport).__name__ if transport is not None else ""
    if isinstance(err, openai.APITimeoutError | RequestTimedOut) or name.endswith("Timeout"):
        return ("the server did not answer in time: it is overloaded or still loading its "
                "weights; see its log, or raise --request-timeout (PROX_OPENAI_TIMEOUT)")
    if name in ("ReadError", "WriteError", "RemoteProtocolError"):
        if isinstance(err, ReplyCutOff):  # the answer had begun
            return ("the server's answer was cut off midway: it crashed, restarted or was "
                    "killed while answering (out of memory?), or a proxy between dropped "
                    "the connection; see its log")
        return ("the server took the connection and dropped it without an answer: it "
                "crashed or restarted (see its log), or that port is no plain-HTTP API (an "
                f"https:// one, another service); check {where}")
    if name == "ConnectError" and _in_chain(transport, ssl.SSLCertVerificationError):
        return ("the server's TLS certificate is not trusted here: give the CA that signed it "
                "in SSL_CERT_FILE (or SSL_CERT_DIR) on every worker, or check the host in "
                f"{where}")
    if name == "ConnectError" and _in_chain(transport, ssl.SSLError):
        return ("the TLS handshake failed: check that the server speaks https:// at that port "
                f"(else give http://) in {where}")
    if name == "ConnectError" and _in_chain(transport, socket.gaierror):
        return (f"the host name does not resolve: fix the host in {where}, or the "
                "machine's DNS")
    if isinstance(err, openai.APIConnectionError | OSError) or transport is not None:
        return ("nothing answers there: start the server (vllm serve), or fix the host and "
                f"port in {where}")
    return ("it answered what no OpenAI-compatible server answers (another service, a "
            f"proxy's page): check the URL in {where}")


def _failures_said(failures: dict[str, BaseException], where: str = POOL_GIVEN) -> str:
    """The servers that failed, each with its error, then what to do, said once for the
    servers it is the same for (a pool of a dozen servers all down repeated "start the
    server ..." a dozen times): ``http://a:8000/v1 (ConnectError: [Errno 111] ...), http://
    b:8000/v1 (...): nothing answers there: start the server ...``. The URLs as the user gave
    them, not the ``/models`` path prox asks them on."""
    servers_by_advice: dict[str, list[str]] = {}
    for url, err in failures.items():
        servers_by_advice.setdefault(_what_to_do(err, where), []).append(
            f"{url} ({_said(err)})")
    return "; ".join(f"{', '.join(servers)}: {advice}"
                     for advice, servers in servers_by_advice.items())


def _in_chain(transport: BaseException, kind: type[BaseException]) -> bool:
    """Whether a failed connect failed on ``kind``, anywhere in its chain of causes: on the
    host name (``socket.gaierror``), on the server's certificate (``ssl.
    SSLCertVerificationError``) or its TLS handshake (``ssl.SSLError``)."""
    seen = transport
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _asked_wait(headers) -> float:
    """The seconds an answer's ``Retry-After`` asks a client to wait (a number of seconds or
    an HTTP date); 0 without one, or with one that is no delay."""
    from email.utils import parsedate_to_datetime

    value = str(headers.get("Retry-After") or "").strip()
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return 0.0  # not a delay: the backoff decides
    return max(0.0, seconds)


def check_seconds_settings(options: dict) -> None:
    """Refuse, before anything is planned, a request timeout or shard budget the engine would
    refuse once loaded (``--request-timeout``/``--shard-budget`` are checked by the command
    line; ``PROX_OPENAI_TIMEOUT``/``PROX_OPENAI_SHARD_BUDGET`` were read only by each shard).

    Raises:
        SettingInvalid: Not a number of seconds above 0, naming where it came from.
    """
    _timeout(options.get("timeout"))
    _shard_budget(options.get("shard_budget"))


def _timeout(value: float | str | None) -> float:
    from prox_tasks.pipeline.settings import seconds_setting

    return seconds_setting(value, "timeout", "PROX_OPENAI_TIMEOUT", 600.0)


def _shard_budget(value: float | str | None) -> float | None:
    from prox_tasks.pipeline.settings import seconds_setting

    return seconds_setting(value, "shard_budget", "PROX_OPENAI_SHARD_BUDGET", None)
