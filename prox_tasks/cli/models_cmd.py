"""``prox models``: list the versions of a model in the registry, show one, promote one by
hand (a rollback), with the reason recorded beside the automatic decisions."""

from __future__ import annotations

import argparse

from prox_tasks.cli.output import Outcome, count, cut_any, table
from prox_tasks.models.resolver import DEFAULT_MODEL

REGISTRY_HELP = (
    "model registry root, path or s3:// (default PROX_MODEL_REGISTRY, else "
    "$PROX_HOME/registry: the one prox refine and the refine DAG take the "
    "promoted model from)"
)
NAME_HELP = "model name (default refiner)"


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--registry", default=None, help=REGISTRY_HELP)
    p.add_argument("--name", default="refiner", help=NAME_HELP)
    # also taken after the action (`prox models list --name x`); SUPPRESS keeps an action's
    # parser from resetting one given before the action
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--registry", default=argparse.SUPPRESS, help=REGISTRY_HELP)
    shared.add_argument("--name", default=argparse.SUPPRESS, help=NAME_HELP)
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser(
        "list",
        parents=[shared],
        help="the published versions: created, promoted, metrics, last decision",
    )
    show = sub.add_parser(
        "show", parents=[shared], help="one version: its record and every decision on it"
    )
    show.add_argument("version")
    promote = sub.add_parser(
        "promote",
        parents=[shared],
        help="promote a published version by hand (roll back), no "
        "comparison; the reason is recorded",
    )
    promote.add_argument(
        "version",
        help="a published version, or 'default': the model prox refine --model default "
        "uses (PROX_DEFAULT_MODEL, else the shipped line tagger), published there first",
    )
    promote.add_argument(
        "--reason",
        required=True,
        help="why, recorded in the decision (e.g. 'rollback: v42 drops tables')",
    )
    promote.add_argument(
        "--catalog",
        default=None,
        help="catalog URL the promotion is booked in (default for the default "
        "registry: PROX_CATALOG_URL, else $PROX_HOME/catalog.sqlite, the one prox "
        "refine consults; a --registry elsewhere: none unless named)",
    )
    promote.add_argument(
        "--no-catalog", action="store_true", help="book it in no catalog (the registry only)"
    )
    p.set_defaults(func=run)


def run(args) -> Outcome:
    from prox_tasks.pipeline import settings
    from prox_tasks.registry import ModelRegistry

    root = args.registry or settings.registry_root()
    if args.action == "promote":
        # booked as prox train books: the default catalog for the default registry only, so a
        # promotion in another registry does not switch what prox refine serves by default
        return _promote(args, root, None if args.no_catalog
                        else settings.registry_catalog(root, args.catalog))
    registry = ModelRegistry(root)
    if args.action == "show":
        return _show(registry, args.name, args.version)
    versions = registry.versions(args.name)
    gone = _promoted_gone(registry, args.name, versions)
    if not versions:
        return Outcome(
            f"no version of {args.name} published in {root}"
            + registry.none_published(args.name) + gone,
            [],
            rows=True,
        )
    rows = [_row(v) for v in versions]
    cut = " (long values cut in their middle: --json prints them whole)" if cut_any(rows) else ""
    return Outcome(
        "\n".join([*table(rows), count(len(rows), "version") + cut + gone]), versions, rows=True
    )


def _promoted_gone(registry, name: str, versions: list[dict]) -> str:
    """``"; ..."`` saying that ``promoted.json`` names a version not among the published
    ``versions`` (its folder removed by hand: refining with this registry fails), with how
    to promote one; empty when it does not. Read only when no version listed is promoted,
    the one case it can be so."""
    from prox_tasks.registry import PromotedVersionGone

    if any(v["promoted"] for v in versions):
        return ""
    try:
        registry.promoted_published(name)
    except PromotedVersionGone as err:
        return f"\nnote: {err}"
    return ""


def _promote(args, root: str, catalog: str | None) -> Outcome:
    """``promote``: replace promoted.json (the truth refining reads), then book it in the
    catalog. A booking that fails after the swap is said as such — the version is live —
    with the way to book it, not as a failed promotion."""
    from prox_tasks.cli.errors import describe_error
    from prox_tasks.registry import (
        CatalogNotBooked,
        ModelNotBooked,
        ModelRegistry,
        rebook_advice,
    )

    booked = ""
    if args.version == DEFAULT_MODEL:  # back to the model before any was promoted
        from prox_tasks.models.resolver import shipped_default
        from prox_tasks.registry.registry import fetch_folder

        folder = fetch_folder(shipped_default().uri)
        try:
            published = ModelRegistry(root, catalog=catalog).publish_artifact(folder, args.name)
        except ModelNotBooked as err:
            # published all the same: a catalog outage must not block a rollback; the
            # promotion's own booking below fails too and is said as not booked
            published = err.record
        args.version = published["version"]
    try:
        decision = ModelRegistry(root, catalog=catalog).promote(
            args.name, args.version, args.reason
        )
        if catalog:
            booked = f"; booked in the catalog {catalog}"
    except CatalogNotBooked as err:
        decision = err.decision
        # this registry, model and catalog named: the bare command acts on the defaults
        advice = rebook_advice(err.__cause__, args.version, root, args.name, catalog)
        booked = (
            f"; the registry serves it now, but it is NOT booked in the catalog "
            f"{catalog} ({describe_error(err.__cause__)}): {advice} (it books it, the "
            "registry stays as is), or --no-catalog to keep it out"
        )
        data = {
            **decision.to_dict(),
            "catalog_booked": False,
            "catalog_error": describe_error(err.__cause__),
        }
    else:
        data = {**decision.to_dict(), "catalog_booked": bool(catalog)}
    if not decision.promoted:
        return Outcome(
            f"{args.name} {args.version} is already the promoted model in {root}: "
            f"nothing changed in the registry{booked}",
            data,
        )
    return Outcome(
        f"promoted {args.name} {args.version} in {root} by hand (was "
        f"{decision.incumbent or 'none'}): {args.reason}{booked}",
        data,
    )


def _show(registry, name: str, version: str) -> Outcome:
    """One version's record and the decisions on it, oldest first."""
    found = registry.version(name, version)  # promote's refusal of an unknown one, as a look
    decisions = found.pop("decisions")
    lines = [
        f"{name} {version}: {'promoted' if found['promoted'] else 'not promoted'}; "
        f"created {found.get('created_at')}; {found.get('uri')}",
        f"metrics: {_numbers(found.get('metrics'))}",
    ]
    lines += [
        f"{d['decided_at']}: {'promoted' if d['promoted'] else 'not promoted'} (incumbent "
        f"{_incumbent(d)}): {d['reason']}"
        for d in decisions
    ]
    return Outcome("\n".join(lines), {**found, "decisions": decisions})


def _incumbent(decision: dict) -> str:
    """What a decision compared with: the promoted version, else the gold gate's incumbent
    (``shipped:line-tagger`` when nothing was promoted: the reason's figures are its), else
    none (a promotion by hand into an empty registry)."""
    return decision.get("incumbent") or decision.get("incumbent_source") or "none"


def _row(version: dict) -> dict:
    """One line of ``prox models list``."""
    decision = version.get("decision") or {}
    gold = decision.get("candidate_gold") or {}
    metrics = version.get("metrics") or {}
    return {
        "version": version["version"],
        "created": version.get("created_at"),
        "promoted": "yes" if version["promoted"] else "no",
        # words are scored only against gold (evaluate_refiner): no gold page, no word F1
        "word_f1": _figure(metrics.get("word_f1"), NO_GOLD_PAGES if metrics else None),
        # gold figures come with a decision the gold gate ran for; one by hand carries the
        # version's last gate figures, if a gate ever scored it
        "gold_f1": _figure(gold.get("f1"), _no_gold(decision)),
        "gold_recall": _figure(gold.get("recall"), _no_gold(decision)),
        "decision": decision.get("reason"),
    }


def _figure(value, why_none: str | None) -> str | None:
    """A cell of ``prox models list``: ``value`` as a number, else why there is none
    (``why_none``; None: a blank, where there is nothing to say, e.g. no decision)."""
    return _number(value) if isinstance(value, (int, float)) else why_none


#: the word_f1 cell of a version whose validation split held no gold page
NO_GOLD_PAGES = "n/a (no gold pages)"
#: the gold_f1 and gold_recall cells of a version decided without the gold gate
GOLD_GATE_OFF = "n/a (gold gate off)"
#: ... and of a version promoted by hand that no gold gate ever scored (``promote default``)
NEVER_GATED = "n/a (promoted by hand, never gated)"


def _no_gold(decision: dict) -> str | None:
    """Why a decision's gold cells are empty (None: no decision, a blank as it is)."""
    if not decision:
        return None
    return NEVER_GATED if decision.get("manual") else GOLD_GATE_OFF


def _number(value) -> str | None:
    return f"{value:.4f}" if isinstance(value, (int, float)) else None


def _numbers(metrics: dict | None) -> str:
    shown = [
        f"{k} {_number(v)}"
        for k, v in sorted((metrics or {}).items())
        if isinstance(v, (int, float))
    ]
    return ", ".join(shown) or "none"
