"""Erasure in nurture as values: the tables that hold a lead's personal data, and whether a
name arriving later is barred from marketing (the do-not-contact list)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.erasure import IdentityHash


@dataclass(frozen=True)
class ErasedTable:
    """A table of the nurture schema whose rows about a lead are deleted, and the column that
    names the lead (a lead id or, ``lead_ref``, a lead or submission id)."""

    table: str
    column: str


# Children before parents. A table added later that holds a lead's personal data belongs here
# (the erasure test searches every column of every schema for the person).
ERASED_TABLES: tuple[ErasedTable, ...] = (
    ErasedTable("scheduled_step", "lead_id"),
    ErasedTable("enrollment", "lead_id"),
    ErasedTable("pending_activity", "lead_ref"),
    ErasedTable("lead_alias", "lead_id"),
    ErasedTable("lead_alias", "ref_id"),
    ErasedTable("consent", "lead_id"),  # its consent history: the lead goes, so does it
    ErasedTable("lead", "id"),
)


def marketing_barred(
    purchased_list: bool, hashes: frozenset[IdentityHash], do_not_contact: frozenset[IdentityHash]
) -> bool:
    """A purchased-list name whose email or phone an erased person had: never marketed to. A
    form the person fills in themselves is never barred."""
    return purchased_list and not hashes.isdisjoint(do_not_contact)
