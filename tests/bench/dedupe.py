"""Dedupe benchmark: precision, recall and F1 of the router's "same person" decisions on
generated people with realistic variants and look-alikes (issue 11).

``python -m tests.bench.dedupe [--people 600] [--seed 1] [--repeats 3] [--batch 50]
[--examples 5] [--out DIR] [--name dedupe]`` (``make bench DEDUPE_BENCH_ARGS="..."``).

What it does:

1. Generates ``--people`` people and their submissions (``tests/bench/dedupe_data.py``), each
   labelled with the real person it came from and its kind of variant or look-alike.
2. Normalizes every form with ingest's own validation (``validate_lead``: E.164 phones,
   lower-cased emails, ``company_domain`` from the website or a non-free-mail address), as
   the router receives it on ``leads.received.v1``.
3. Decides the submissions in time order, ``--batch`` at a time, with the router's pure
   decision code (``services/router/domain/intake.py::decide_batch``) against an in-memory
   store that loads what a batch needs and folds each ``BatchOutcome`` back in, as
   ``services/router/intake/batch.py`` does with PostgreSQL: the leads holding each identity,
   the identities no longer used as keys (shared), fuzzy candidates under each company key
   (a lead is under its company key and its company name key; oldest first, up to
   ``FUZZY_CANDIDATES``), lead rows; reviews come from the outcome. No teams or reps:
   routing does not matter here (every lead is queued or nurtured). Scoring rules are
   ``deploy/config/scoring.yaml``.
4. Pairwise metrics over all submissions: a pair is predicted the same person when both
   ended in one lead. A submission whose new lead was flagged as a possible duplicate
   (review) is not merged; the review rate is the share of submissions that went to review.
   Per kind: pairs, recall (variants of one person) or false-merge rate (look-alikes), and
   the share of pairs sent to review; examples of pairs that went wrong.
5. ``--repeats`` runs with seeds ``--seed``, ``--seed + 1``, ...: medians reported, per-kind
   counts summed over the runs. Writes ``tests/bench/results/<name>.json`` and ``.md``.

No Kafka, no PostgreSQL: it measures the matching rules, not the service. ``--duration``,
``--warmup``, ``--wait-idle`` and ``--keep`` (``BENCH_ARGS`` of the other benchmarks) are
accepted and ignored.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shlex
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.ingest.leads.schemas import validate_lead
from services.router.domain.dedupe import Key, MatchPolicy
from services.router.domain.intake import (
    FUZZY_CANDIDATES,
    Arrival,
    BatchOutcome,
    BatchState,
    ClockRow,
    Config,
    LeadRow,
    arrival_company_keys,
    decide_batch,
    profile_of,
    widened_key,
)
from services.router.domain.matching import Candidate, company_key
from services.router.domain.scoring import load_scoring_rules
from services.router.settings import CONFIG_DIR
from shared.stack.common import REPO_ROOT
from tests.bench.common import (
    code_version,
    console,
    machine_info,
    machine_line,
    markdown_tables,
    print_tables,
)
from tests.bench.dedupe_data import (
    ALL_PAIR_KINDS,
    APART_KINDS,
    OTHER_APART,
    OTHER_SAME,
    SAME_KINDS,
    Dataset,
    Submission,
    generate,
)

RESULTS_DIR = REPO_ROOT / "tests" / "bench" / "results"
SCORING_FILE = CONFIG_DIR / "scoring.yaml"
CODE_PATHS = ("services/router/domain", "services/ingest/leads", "shared/domain")
PACKAGES = ("rapidfuzz", "phonenumbers", "email-validator", "pydantic")
TARGET_F1 = 0.97
TARGET_PRECISION = 0.98
MAX_PEOPLE = 20_000
MAX_REPEATS = 10
POLICY = MatchPolicy()  # the router's defaults (router_match_* settings)
SAME = (*SAME_KINDS, OTHER_SAME)
APART = (*APART_KINDS, *OTHER_APART)
EXAMPLE_FIELDS = ("first_name", "last_name", "email", "phone", "company", "company_domain")

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


# --------------------------------------------------------------------------- the router's side


def config() -> Config:
    """The router's decision settings with the repo's scoring rules; no routing rules."""
    return Config(
        rules=load_scoring_rules(SCORING_FILE),
        routing_rules=(),
        follow_the_sun=(),
        fallback_queue="unassigned",
        policy=POLICY,
    )


class Store(Protocol):
    """What the router keeps between batches (PostgreSQL in the service)."""

    def state(self, arrivals: Sequence[Arrival]) -> BatchState:
        """Load what deciding ``arrivals`` reads (``batch.py``'s load step)."""

    def apply(self, out: BatchOutcome) -> None:
        """Fold a batch's outcome back in (``batch.py``'s apply step)."""

    def reviews(self, out: BatchOutcome) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(new lead, the lead it may duplicate) pairs the batch sent to review."""

    def final_lead(self, lead_id: uuid.UUID) -> uuid.UUID:
        """The lead that holds a lead's submissions now (itself unless merged away)."""


@dataclass
class MemoryStore:
    """The tables ``batch.py`` reads and writes: identities (kind, value) -> the leads holding
    them, identities no longer used as keys (shared), lead rows, and lead ids per company key
    (under its company key, and under its company name key for arrivals without a domain,
    as ``fuzzy_candidates_many`` widens) in the order they were created."""

    identities: dict[Key, list[uuid.UUID]] = field(default_factory=dict)
    shared: set[Key] = field(default_factory=set)
    leads: dict[uuid.UUID, LeadRow] = field(default_factory=dict)
    by_company: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    by_name: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    clocks: dict[uuid.UUID, ClockRow] = field(default_factory=dict)

    def candidates(self, key: str, widen: bool = False) -> list[Candidate]:
        """``fuzzy_candidates_many``: the oldest leads under a key, from their rows."""
        ids = self.by_company.get(key, [])
        if widen and key in self.by_name:
            ids = sorted({*ids, *self.by_name[key]}, key=lambda i: self.leads[i].created_at)
        return [
            Candidate(
                lead_id=lead.id,
                first_name=lead.first_name,
                last_name=lead.last_name,
                company=lead.profile.get("company"),
                company_domain=lead.profile.get("company_domain"),
            )
            for lead in (self.leads[i] for i in ids[:FUZZY_CANDIDATES])
        ]

    def state(self, arrivals: Sequence[Arrival]) -> BatchState:
        keys = sorted({k for a in arrivals for k in a.identities})
        # leads_for_identities: in lead id order
        identities = {k: sorted(self.identities[k]) for k in keys if k in self.identities}
        shared = {k for k in keys if k in self.shared}
        companies = sorted({c for a in arrivals for c in arrival_company_keys(a)})
        widen = {k for a in arrivals if (k := widened_key(a)) is not None}
        candidates = {c: self.candidates(c, c in widen) for c in companies}
        # every lead the decisions may read (batch.py loads those it foresees, then any
        # other one a decision asks for): holders of the keys and the company candidates
        needed = {i for k, held in identities.items() if k not in shared for i in held}
        needed |= {c.lead_id for found in candidates.values() for c in found}
        return BatchState(
            identities=identities,
            candidates=candidates,
            leads={i: self.leads[i] for i in sorted(needed)},
            activities={i: [] for i in sorted(needed)},
            clocks={i: self.clocks[i] for i in sorted(needed) if i in self.clocks},
            teams={},
            team_timezones={},
            reps={},
            shared=shared,
        )

    def apply(self, out: BatchOutcome) -> None:
        for lead_id, lead in out.leads.items():
            before = self.leads.get(lead_id)
            old = (before.company_key, before.company_name_key) if before else (None, None)
            if lead.company_key is not None and lead.company_key != old[0]:
                self.by_company.setdefault(lead.company_key, []).append(lead_id)
            if lead.company_name_key is not None and lead.company_name_key != old[1]:
                self.by_name.setdefault(lead.company_name_key, []).append(lead_id)
            self.leads[lead_id] = lead
        for kind, value, lead_id in out.identities:
            holders = self.identities.setdefault((kind, value), [])
            if lead_id not in holders:  # ON CONFLICT DO NOTHING
                holders.append(lead_id)
        self.shared |= {(s.kind, s.value) for s in out.shared_identities}
        self.clocks.update(out.clocks)

    def reviews(self, out: BatchOutcome) -> list[tuple[uuid.UUID, uuid.UUID]]:
        return [(r.lead_id, r.other_lead_id) for r in out.reviews]

    def final_lead(self, lead_id: uuid.UUID) -> uuid.UUID:
        seen = set()
        while (into := self.leads[lead_id].merged_into) is not None and lead_id not in seen:
            seen.add(lead_id)  # an admin merge moved its submissions there
            lead_id = into
        return lead_id


def _company(arrival: Arrival) -> str | None:
    return company_key(
        profile_of(arrival.incoming, source_id=None, channel=None, purchased_list=False)
    )


# --------------------------------------------------------------------------- one run


@dataclass
class Decided:
    """What became of one submission."""

    lead: uuid.UUID  # the lead it ended in
    matched_by: str
    detail: str
    review_of: uuid.UUID | None  # its new lead may duplicate this one (sent to review)


def arrivals_of(dataset: Dataset) -> list[Arrival]:
    """Every form as ingest publishes it (validated, normalized), with ids from the seed."""
    rng = random.Random(f"arrivals-{dataset.seed}")
    out = []
    for sub in dataset.submissions:
        lead = validate_lead(sub.form)
        submission_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        out.append(
            Arrival(
                event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                submission_id=submission_id,
                source_id="website",
                channel="web",
                purchased_list=False,
                received_at=sub.at,
                incoming=lead.model_dump(mode="json"),
            )
        )
    return out


def decide_all(
    arrivals: Sequence[Arrival],
    store: Store,
    cfg: Config,
    batch: int,
    seed: int,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[list[Decided], dict[str, float]]:
    """Decide the arrivals (in time order) a batch at a time against ``store``."""
    rng = random.Random(f"leads-{seed}")

    def new_id() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    decided: dict[uuid.UUID, Decided] = {}
    timing = {"load_s": 0.0, "decide_s": 0.0, "apply_s": 0.0}
    for start in range(0, len(arrivals), batch):
        chunk = arrivals[start : start + batch]
        now = max(a.received_at for a in chunk) + timedelta(seconds=1)
        t0 = time.perf_counter()
        state = store.state(chunk)
        t1 = time.perf_counter()
        out = decide_batch(state, chunk, cfg, now, new_id)
        t2 = time.perf_counter()
        store.apply(out)
        timing["load_s"] += t1 - t0
        timing["decide_s"] += t2 - t1
        timing["apply_s"] += time.perf_counter() - t2
        reviewed = dict(store.reviews(out))
        for outcome in out.outcomes:
            s = outcome.submission
            decided[s.submission_id] = Decided(
                lead=s.lead_id,
                matched_by=s.matched_by,
                detail=s.detail,
                review_of=reviewed.get(s.lead_id) if outcome.created else None,
            )
        if on_batch is not None:
            on_batch(len(chunk))
    result = []
    for arrival in arrivals:
        d = decided[arrival.submission_id]
        d.lead = store.final_lead(d.lead)
        if d.review_of is not None:
            d.review_of = store.final_lead(d.review_of)
        result.append(d)
    return result, timing


# --------------------------------------------------------------------------- metrics


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def prf(clusters: Sequence[Any], truth: Sequence[int]) -> dict[str, Any]:
    """Pairwise precision, recall, F1 of predicted clusters against the true people."""
    predicted = sum(_pairs(n) for n in Counter(clusters).values())
    true = sum(_pairs(n) for n in Counter(truth).values())
    tp = sum(_pairs(n) for n in Counter(zip(clusters, truth, strict=True)).values())
    precision = tp / predicted if predicted else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "predicted_pairs": predicted,
        "true_pairs": true,
        "true_positive_pairs": tp,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def _accepted(decided: Sequence[Decided]) -> list[uuid.UUID]:
    """Each submission's lead if every review were decided "same person" (a merge)."""
    parent: dict[uuid.UUID, uuid.UUID] = {}

    def find(x: uuid.UUID) -> uuid.UUID:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for d in decided:
        if d.review_of is not None:
            a, b = find(d.lead), find(d.review_of)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return [find(d.lead) for d in decided]


def _key_route(a: Arrival, b: Arrival) -> str:
    """How the pair could be found by company: by domain or by name, each side."""

    def side(x: Arrival) -> str:
        key = _company(x)
        return "none" if key is None else "name" if key.startswith("name:") else "domain"

    return f"{side(a)}/{side(b)}"


def measure(
    dataset: Dataset, arrivals: Sequence[Arrival], decided: Sequence[Decided], examples: int
) -> dict[str, Any]:
    subs = dataset.submissions
    n = len(subs)
    leads = [d.lead for d in decided]
    people = [s.person for s in subs]
    overall = prf(leads, people)
    accepted = prf(_accepted(decided), people)
    in_review = sum(1 for d in decided if d.review_of is not None)
    review_pairs = {frozenset((d.lead, d.review_of)) for d in decided if d.review_of is not None}

    # every pair that is not "unrelated", and every pair merged or reviewed
    by_lead: dict[uuid.UUID, list[int]] = defaultdict(list)
    by_person: dict[int, list[int]] = defaultdict(list)
    by_company: dict[int, list[int]] = defaultdict(list)
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(subs):
        by_lead[leads[i]].append(i)
        person = dataset.people[s.person]
        by_person[s.person].append(i)
        by_company[person.company].append(i)
        if person.group is not None:
            by_group[person.group].append(i)
    pairs: set[tuple[int, int]] = set()
    for groups in (by_lead, by_person, by_company, by_group):
        for members in groups.values():
            pairs.update((a, b) for k, a in enumerate(members) for b in members[k + 1 :])
    for pair in review_pairs:
        x, y = tuple(pair)
        pairs.update((min(a, b), max(a, b)) for a in by_lead.get(x, []) for b in by_lead.get(y, []))

    kinds: dict[str, Counter[str]] = {k: Counter() for k in ALL_PAIR_KINDS}
    routes: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    contacts: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    lookalikes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    details = {gid: dataset.group_detail(gid) for gid in dataset.groups}
    wrong: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for a, b in sorted(pairs):
        kind = dataset.pair_kind(subs[a], subs[b])
        merged = leads[a] == leads[b]
        reviewed = not merged and frozenset((leads[a], leads[b])) in review_pairs
        outcome = "merged" if merged else "reviewed" if reviewed else "separate"
        kinds[kind]["pairs"] += 1
        kinds[kind][outcome] += 1
        if kind in SAME_KINDS:
            later = subs[b] if subs[b].kind != "first" else subs[a]
            for counter in (
                routes[(kind, _key_route(arrivals[a], arrivals[b]), "")],
                contacts[(kind, later.detail, later.contact)],
            ):
                counter["pairs"] += 1
                counter[outcome] += 1
        if kind in APART_KINDS:
            counter = lookalikes[(kind, details[dataset.people[subs[a].person].group or ""])]
            counter["pairs"] += 1
            counter[outcome] += 1
        if (kind in SAME and not merged) or (kind in APART and merged):
            wrong[kind].append((a, b))
    unrelated = kinds["unrelated"]
    unrelated["pairs"] = _pairs(n) - sum(c["pairs"] for k, c in kinds.items() if k != "unrelated")
    unrelated["separate"] = unrelated["pairs"] - unrelated["merged"] - unrelated["reviewed"]

    def example(a: int, b: int) -> dict[str, Any]:
        return {
            "kind": dataset.pair_kind(subs[a], subs[b]),
            "submissions": [_example_side(subs[i], arrivals[i], decided[i]) for i in (a, b)],
            "same_lead": leads[a] == leads[b],
            "reviewed": frozenset((leads[a], leads[b])) in review_pairs,
        }

    return {
        "seed": dataset.seed,
        "people": len(dataset.people),
        "companies": len(dataset.companies),
        "submissions": n,
        "leads": len(set(leads)),
        "all_pairs": _pairs(n),
        **overall,
        "review_rate": round(in_review / n, 4),
        "in_review": in_review,
        "with_reviews_merged": accepted,
        "matched_by": dict(sorted(Counter(d.matched_by for d in decided).items())),
        "submission_kinds": dict(sorted(Counter(s.kind for s in subs).items())),
        "kinds": {k: dict(v) for k, v in kinds.items()},
        "routes": [{"kind": k, "route": r, **dict(c)} for (k, r, _), c in sorted(routes.items())],
        "variants": [
            {"kind": k, "detail": d, "contact": c, **dict(v)}
            for (k, d, c), v in sorted(contacts.items())
        ],
        "lookalikes": [
            {"kind": k, "detail": d, **dict(c)} for (k, d), c in sorted(lookalikes.items())
        ],
        "examples": {
            kind: [example(a, b) for a, b in found[:examples]] for kind, found in wrong.items()
        },
        "wrong_pairs": {kind: len(found) for kind, found in wrong.items()},
    }


def _example_side(sub: Submission, arrival: Arrival, decided: Decided) -> dict[str, Any]:
    return {
        "submission": sub.index,
        "person": sub.person,
        "kind": sub.kind,
        "detail": sub.detail,
        "contact": sub.contact,
        "at": sub.at.isoformat(timespec="seconds"),
        **{f: arrival.incoming.get(f) for f in EXAMPLE_FIELDS},
        "lead": str(decided.lead),
        "matched_by": decided.matched_by,
        "router_detail": decided.detail,
        "review_of": str(decided.review_of) if decided.review_of else None,
    }


# --------------------------------------------------------------------------- summary, report


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    runs = result["runs"]

    def med(key: str, sub: str | None = None) -> float:
        values = [(r[sub] if sub else r)[key] for r in runs]
        return round(statistics.median(values), 4)

    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for run in runs:
        for kind, counts in run["kinds"].items():
            kinds[kind].update(counts)
    per_kind = {}
    for kind in ALL_PAIR_KINDS:
        c = kinds[kind]
        per_kind[kind] = {
            "side": "same" if kind in SAME else "apart",
            "pairs": c["pairs"],
            "merged": c["merged"],
            "reviewed": c["reviewed"],
            "recall" if kind in SAME else "false_merge_rate": _rate(c["merged"], c["pairs"]),
            "review_share": _rate(c["reviewed"], c["pairs"]),
        }
    summary = {
        "precision": med("precision"),
        "recall": med("recall"),
        "f1": med("f1"),
        "review_rate": med("review_rate"),
        "with_reviews_merged": {
            k: med(k, "with_reviews_merged") for k in ("precision", "recall", "f1")
        },
        "spread": {
            k: [min(r[k] for r in runs), max(r[k] for r in runs)]
            for k in ("precision", "recall", "f1", "review_rate")
        },
        "per_kind": per_kind,
    }
    summary["targets"] = [
        {
            "target": f"F1 >= {TARGET_F1}",
            "measured": summary["f1"],
            "met": summary["f1"] >= TARGET_F1,
        },
        {
            "target": f"precision >= {TARGET_PRECISION}",
            "measured": summary["precision"],
            "met": summary["precision"] >= TARGET_PRECISION,
        },
    ]
    return summary


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    s = result["summary"]
    runs = result["runs"]
    n_runs = len(runs)
    overall = [
        ["precision", f"{s['precision']:.4f}", _spread(s, "precision")],
        ["recall", f"{s['recall']:.4f}", _spread(s, "recall")],
        ["F1", f"{s['f1']:.4f}", _spread(s, "f1")],
        [
            "review rate (submissions sent to review)",
            _pct(s["review_rate"]),
            _spread(s, "review_rate", pct=True),
        ],
        ["precision, every review merged", f"{s['with_reviews_merged']['precision']:.4f}", ""],
        ["recall, every review merged", f"{s['with_reviews_merged']['recall']:.4f}", ""],
        ["F1, every review merged", f"{s['with_reviews_merged']['f1']:.4f}", ""],
    ]
    targets = [
        [t["target"], f"{t['measured']:.4f}", "yes" if t["met"] else "no"] for t in s["targets"]
    ]
    same_rows, apart_rows = [], []
    for kind, k in s["per_kind"].items():
        if kind in SAME:
            same_rows.append(
                [
                    kind,
                    f"{k['pairs']:,}",
                    f"{k['merged']:,}",
                    _pct(k["recall"]),
                    f"{k['reviewed']:,}",
                    _pct(k["review_share"]),
                ]
            )
        else:
            apart_rows.append(
                [
                    kind,
                    f"{k['pairs']:,}",
                    f"{k['merged']:,}",
                    _pct(k["false_merge_rate"]),
                    f"{k['reviewed']:,}",
                    _pct(k["review_share"]),
                ]
            )
    routes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for run in runs:
        for row in run["routes"]:
            routes[(row["kind"], row["route"])].update(
                {k: v for k, v in row.items() if k not in ("kind", "route")}
            )
    route_rows = [
        [
            kind,
            route,
            f"{c['pairs']:,}",
            _pct(_rate(c["merged"], c["pairs"])),
            _pct(_rate(c["reviewed"], c["pairs"])),
        ]
        for (kind, route), c in sorted(
            routes.items(), key=lambda x: (SAME_KINDS.index(x[0][0]), x[0][1])
        )
    ]
    variants: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for run in runs:
        for row in run["variants"]:
            key = (row["kind"], row["detail"], row["contact"])
            variants[key].update(
                {k: v for k, v in row.items() if k not in ("kind", "detail", "contact")}
            )
    variant_rows = [
        [
            kind,
            detail,
            contact,
            f"{c['pairs']:,}",
            _pct(_rate(c["merged"], c["pairs"])),
            _pct(_rate(c["reviewed"], c["pairs"])),
        ]
        for (kind, detail, contact), c in sorted(
            variants.items(), key=lambda x: (SAME_KINDS.index(x[0][0]), x[0][1], x[0][2])
        )
        if c["merged"] < c["pairs"]
    ]
    lookalikes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for run in runs:
        for row in run.get("lookalikes", []):
            lookalikes[(row["kind"], row["detail"])].update(
                {k: v for k, v in row.items() if k not in ("kind", "detail")}
            )
    lookalike_rows = [
        [
            kind,
            detail,
            f"{c['pairs']:,}",
            _pct(_rate(c["merged"], c["pairs"])),
            _pct(_rate(c["reviewed"], c["pairs"])),
        ]
        for (kind, detail), c in sorted(
            lookalikes.items(), key=lambda x: (APART_KINDS.index(x[0][0]), x[0][1])
        )
    ]
    header = f"(medians of {n_runs} run(s))" if n_runs > 1 else ""
    summed = f" (summed over {n_runs} runs)" if n_runs > 1 else ""
    return [
        (
            f"Pairwise, all submissions {header}".strip(),
            ["measure", "value", "min .. max"],
            overall,
        ),
        ("Targets (issue 11)", ["target", "measured", "met"], targets),
        (
            f"Same person: recall per kind of variant{summed}",
            ["kind", "pairs", "merged", "recall", "to review", "review share"],
            same_rows,
        ),
        (
            f"Different people: false merges per kind of look-alike{summed}",
            ["kind", "pairs", "merged", "false-merge rate", "to review", "review share"],
            apart_rows,
        ),
        (
            f"Different people: look-alikes by sub-variant{summed}",
            ["kind", "variant", "pairs", "false-merge rate", "review share"],
            lookalike_rows,
        ),
        (
            f"Same person, by how each side is keyed by company (domain or name){summed}",
            ["kind", "first/repeat", "pairs", "recall", "review share"],
            route_rows,
        ),
        (
            f"Same person: the sub-variants with misses{summed}",
            ["kind", "variant", "repeat's contact", "pairs", "recall", "review share"],
            variant_rows,
        ),
    ]


def _spread(s: dict[str, Any], key: str, pct: bool = False) -> str:
    low, high = s["spread"][key]
    if low == high:
        return ""
    return f"{_pct(low)} .. {_pct(high)}" if pct else f"{low:.4f} .. {high:.4f}"


def _example_lines(result: dict[str, Any], limit: int) -> list[str]:
    run = result["runs"][0]
    lines = [
        f"## Examples of pairs that went wrong (seed {run['seed']}; "
        f"up to {limit} per kind, all in the JSON)",
        "",
    ]
    if not run["examples"]:
        lines += ["None.", ""]
    for kind in ALL_PAIR_KINDS:
        found = run["examples"].get(kind, [])
        if not found:
            continue
        what = "not merged" if kind in SAME else "merged"
        lines.append(f"### {kind}: {run['wrong_pairs'][kind]:,} pair(s) {what}")
        lines.append("")
        for ex in found[:limit]:
            a, b = ex["submissions"]
            state = " (sent to review)" if ex["reviewed"] else ""
            lines.append(
                f"- {_side(a)}  \n  vs {_side(b)}{state}  \n  router: {b['matched_by']}: {b['router_detail']}"
            )
        lines.append("")
    return lines


def _side(x: dict[str, Any]) -> str:
    fields = ", ".join(f"{f}={x[f]!r}" for f in EXAMPLE_FIELDS if x.get(f))
    label = x["kind"] if x["kind"] != "first" else "first"
    extra = f" [{x['detail']}; {x['contact']}]" if x["kind"] != "first" else ""
    return f"#{x['submission']} person {x['person']} {label}{extra}: {fields}"


def markdown(result: dict[str, Any]) -> str:
    p = result["parameters"]
    m = result["machine"]
    code = p["code"]
    runs = result["runs"]
    state = "with uncommitted changes" if code["dirty"] else "as committed"
    label = f": {p['label']}" if p.get("label") else ""
    seeds = ", ".join(str(r["seed"]) for r in runs)
    submissions = ", ".join(f"{r['submissions']:,}" for r in runs)
    leads = ", ".join(f"{r['leads']:,}" for r in runs)
    lines = [
        f"# Dedupe benchmark{label}",
        "",
        "Pairwise precision, recall and F1 of the router's same-person decisions "
        "(`decide_batch`, in process) on generated people with realistic variants and "
        "look-alikes. A pair sent to review counts as not merged.",
        "",
        f"- date: {m['date']} (whole run {result['elapsed_s']:.1f} s)",
        f"- machine: {machine_line(m)}",
        f"- code: commit {code['commit']} ({', '.join(code['paths'])}: {state}, fingerprint {code['fingerprint']})",
        f"- command: `{p['command']}`",
        *([f"- note: {p['note']}"] if p.get("note") else []),
        f"- parameters: {p['people']:,} people per run, seeds {seeds}, batches of "
        f"{p['batch']} in time order; {submissions} submissions, {leads} leads",
        f"- match policy: {_policy(p.get('policy'))}",
        f"- decide_batch: {_per_arrival(result)}",
        "",
        "> The overall figures depend on the generated mix (most repeats are exact or "
        "same-address repeats, which every matcher gets right); the per-kind tables are "
        "the part to read. Pairs: a person with n submissions gives n(n-1)/2 same pairs; "
        "'two_variants' are pairs of two repeats of one person, 'colleagues' different "
        "people at one company, 'unrelated' everyone else.",
        "",
    ]
    lines += markdown_tables(tables(result))
    lines += _example_lines(result, p["examples_md"])
    return "\n".join(lines) + "\n"


def _policy(policy: dict[str, Any] | None) -> str:
    if not policy:
        return "none (before the match policy: email, then phone, then a fuzzy name)"
    return ", ".join(f"{k} {v}" for k, v in policy.items()) + " (the router's defaults)"


def _per_arrival(result: dict[str, Any]) -> str:
    runs = result["runs"]
    total = sum(r["submissions"] for r in runs)
    decide = sum(r["timing"]["decide_s"] for r in runs)
    store = sum(r["timing"]["load_s"] + r["timing"]["apply_s"] for r in runs)
    return (
        f"{1e6 * decide / total:,.0f} µs per arrival (the in-memory store's load and apply: "
        f"{1e6 * store / total:,.0f} µs)"
    )


def _write(out: Path, name: str, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out / f"{name}.md").write_text(markdown(result))


def run_once(
    people: int,
    seed: int,
    batch: int,
    examples: int,
    progress: Progress,
    make_store: Callable[[], Store] = MemoryStore,
) -> dict[str, Any]:
    dataset = generate(people, seed)
    arrivals = arrivals_of(dataset)
    task = progress.add_task(f"seed {seed}", total=len(arrivals))
    decided, timing = decide_all(
        arrivals,
        make_store(),
        config(),
        batch,
        seed,
        on_batch=lambda n: progress.advance(task, n),
    )
    result = measure(dataset, arrivals, decided, examples)
    result["timing"] = {k: round(v, 3) for k, v in timing.items()}
    return result


def _check(conditions: Iterable[tuple[bool, str]]) -> None:
    for ok, message in conditions:
        if not ok:
            raise typer.BadParameter(message)


@app.command()
def main(
    people: Annotated[int, typer.Option(help="people per run (look-alike groups included)")] = 600,
    seed: Annotated[
        int, typer.Option(help="seed of the first run (the next runs: +1, +2, ...)")
    ] = 1,
    repeats: Annotated[
        int, typer.Option(help="runs, each with its own seed (medians reported)")
    ] = 3,
    batch: Annotated[int, typer.Option(help="arrivals decided per batch, in time order")] = 50,
    examples: Annotated[int, typer.Option(help="pairs that went wrong kept per kind (JSON)")] = 10,
    examples_md: Annotated[int, typer.Option(help="of those, shown in the Markdown")] = 3,
    out: Annotated[Path, typer.Option(help="results directory")] = RESULTS_DIR,
    name: Annotated[str, typer.Option(help="results file stem")] = "dedupe",
    label: Annotated[str, typer.Option(help="what is measured, for the results' title")] = "",
    render_only: Annotated[
        bool, typer.Option(help="only re-render <name>.md (and the tables) from <name>.json")
    ] = False,
    # BENCH_ARGS of the other benchmarks: accepted, nothing to wait for or keep here
    duration: Annotated[float | None, typer.Option(hidden=True)] = None,
    warmup: Annotated[float | None, typer.Option(hidden=True)] = None,
    wait_idle: Annotated[float | None, typer.Option(hidden=True)] = None,
    keep: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    """Dedupe precision, recall and F1 on generated people (pure, in process)."""
    if render_only:
        result = json.loads((out / f"{name}.json").read_text())
        result["summary"] = summarize(result)
        _write(out, name, result)
        print_tables(tables(result))
        console.print(f"re-rendered {out / f'{name}.md'} from {out / f'{name}.json'}")
        return
    _check(
        [
            (50 <= people <= MAX_PEOPLE, f"--people must be in [50, {MAX_PEOPLE:,}]"),
            (1 <= repeats <= MAX_REPEATS, f"--repeats must be in [1, {MAX_REPEATS}]"),
            (1 <= batch <= 1000, "--batch must be in [1, 1000]"),
            (0 <= examples <= 1000, "--examples must be in [0, 1000]"),
            (0 <= examples_md <= examples, "--examples-md must be in [0, --examples]"),
            (name.replace("-", "").replace("_", "").isalnum(), "--name: letters, digits, - and _"),
        ]
    )
    params: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "tests.bench.dedupe", *sys.argv[1:]]),
        "label": label,
        "people": people,
        "seed": seed,
        "repeats": repeats,
        "batch": batch,
        "examples": examples,
        "examples_md": examples_md,
        "scoring_file": str(SCORING_FILE.relative_to(REPO_ROOT)),
        "policy": dataclasses.asdict(POLICY),
        "code": code_version(*CODE_PATHS),
    }
    machine = machine_info(PACKAGES)
    started = time.perf_counter()
    runs = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        for r in range(repeats):
            runs.append(run_once(people, seed + r, batch, examples, progress))
    result: dict[str, Any] = {
        "machine": machine,
        "parameters": params,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "runs": runs,
    }
    result["summary"] = summarize(result)
    _write(out, name, result)
    print_tables(tables(result))
    console.print(f"results: {out / f'{name}.json'}, {out / f'{name}.md'}")


if __name__ == "__main__":
    app()
