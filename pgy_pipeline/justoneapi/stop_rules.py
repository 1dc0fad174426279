"""When a fetch may stop: the rules, as a state with no I/O and no threads (client.py buys the pages).

Two facts shape them: every call costs money, and the warehouse marks notes "gone" only from complete
fetches, so "complete" must rest on evidence. The API's own account is the only evidence: the notes
seen reach the reported total. An empty or short page while the total says more is a contradiction (a
glitch, or notes moving while we page), never proof that the list is done. Page counts are learned, not
assumed (the page size is undocumented), and parallel pages are bought in a bounded window so that an
inflated total cannot buy hundreds of empty pages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from .models import COMPLETE_STOPS, CallTally, FetchResult, Note, Page, StopReason
from .params import NotesQuery


@dataclass(frozen=True)
class Stop:
    """Reading ends here, for this reason."""

    reason: StopReason


@dataclass(frozen=True)
class Reread:
    """Buy this page once more: it ended the list short of the total."""

    page: int


@dataclass(frozen=True)
class Read:
    """Buy these pages next (ascending)."""

    pages: tuple[int, ...]


Step = Stop | Reread | Read


def _as_text(params: Mapping[str, object]) -> dict[str, str]:
    return {key: str(value) for key, value in params.items()}


def reusable_pages(query: NotesQuery, known_pages: Mapping[int, Page] | None) -> dict[int, Page]:
    """``known_pages`` (stored by an earlier attempt), checked to be pages of this very query."""
    known = dict(known_pages or {})
    for number, page in known.items():
        # A page of another user, filter or order holds other notes: reusing it would corrupt the result.
        if page.page_number != number or page.user_id != query.user_id:
            raise ValueError(f"known page {number} is page {page.page_number} of user {page.user_id}")
        # Compared as text: stored pages may have been through JSON or a database.
        if _as_text(page.query_params) != _as_text(query.to_params(number)):
            raise ValueError(f"known page {number} was fetched with other parameters than this query")
    return known


def reaches_back(page: Page, stop_before: date) -> bool:
    # Undated notes say nothing about where the window ends; they must not stop the fetch.
    dates = [note.publish_date for note in page.notes if note.publish_date is not None]
    return bool(dates) and min(dates) < stop_before


class PagesSeen:
    """What the pages of one fetch said so far. Pages 1..len(pages) are always all present.

    ``stop_before``: a windowed fetch (newest first) that may stop at the first page reaching notes
    published before that date.
    """

    def __init__(self, stop_before: date | None = None) -> None:
        self.stop_before = stop_before
        self.pages: dict[int, Page] = {}
        self.bought: set[int] = set()  # pages bought in this fetch; the others were reused
        # Every total any page answered, including a copy replaced by a re-read.
        self.totals: list[int] = []
        self.rereads = 0

    def add(self, number: int, page: Page, *, bought: bool) -> None:
        if page.total is not None:
            self.totals.append(page.total)
        previous = self.pages.get(number)
        # A re-read that lists fewer notes than the first copy must not drop sightings already made.
        if previous is None or len(page.notes) >= len(previous.notes):
            self.pages[number] = page
            self.bought.discard(number)
            if bought:
                self.bought.add(number)

    def page_size(self) -> int:
        return max((len(page.notes) for page in self.pages.values()), default=0)

    def ends_list(self, page: Page) -> bool:
        """True when ``page`` is empty or short: no later page should start."""
        return not page.notes or len(page.notes) < self.page_size()

    def end_page(self) -> int | None:
        """The first page that is empty or short (where the API says the list ends), if any."""
        size = self.page_size()
        return next((n for n in sorted(self.pages) if len(self.pages[n].notes) < max(size, 1)), None)

    def evidence_total(self) -> int | None:
        """The total the notes must reach to prove the fetch complete; None when no total is usable.

        The smallest positive total seen: totals drift mostly down as notes are deleted (60 one day, 58
        the next), and demanding the largest would leave every KOL who deletes a note during a fetch
        incomplete for ever. The risk, a total under-reported by a glitch, is contained by the other
        rules: after a full page the total must also be unanimous, otherwise one more page is read.
        A total of 0 beside listed notes is no evidence; 0 with no notes at all is the answer "none".
        """
        positive = [total for total in self.totals if total > 0]
        if positive:
            return min(positive)
        if any(page.notes for page in self.pages.values()):
            return None
        return 0 if 0 in self.totals else None

    def distinct_notes(self) -> tuple[tuple[Note, ...], int]:
        """The notes in page order, each once, and how many repeats were dropped."""
        seen: set[str] = set()
        notes: list[Note] = []
        duplicates = 0
        for number in sorted(self.pages):
            for note in self.pages[number].notes:
                if note.note_id in seen:
                    duplicates += 1
                    continue
                seen.add(note.note_id)
                notes.append(note)
        return tuple(notes), duplicates

    def stop_reason(self) -> StopReason | None:
        """Why reading may stop after the pages read so far, or None to read on."""
        total = self.evidence_total()
        distinct = len(self.distinct_notes()[0])
        end = self.end_page()
        if end is not None and total is not None and distinct >= total:
            return "total_reached" if distinct else "empty_page"
        # After a full page the total alone may end the fetch only if every page agreed on it: a total
        # that drifted during the fetch may be under-reported, and one more call settles it.
        if end is None and total and distinct == total and len(set(self.totals)) == 1:
            return "total_reached"
        if self.stop_before is not None and any(
            reaches_back(page, self.stop_before) for page in self.pages.values()
        ):
            return "window_reached"
        if end is not None:
            return "no_total" if total is None else "short_of_total"
        return None

    def worth_rereading(self, end: int) -> bool:
        # An empty page read after the end already says the list ends there: a second read of the end
        # page would only repeat it (and would push the cost of an inflated total past the pages in flight).
        later = [page for number, page in self.pages.items() if number > end]
        corroborated = bool(later) and not any(page.notes for page in later)
        return self.rereads == 0 and not corroborated

    def next_pages(self, max_pages: int) -> tuple[int, ...]:
        last = len(self.pages)
        largest = max(self.totals, default=0)
        size = self.page_size()
        # Windowed fetches read in order, one page at a time: most KOLs need one page, and every page
        # bought past the window is wasted money, so a lookahead would cost more than it saves.
        if self.stop_before is not None or not largest or not size:
            return (last + 1,)
        # The largest total, since it only sizes the window: an inflated one costs at most the pages in
        # flight when the first empty or short page comes back.
        expected = min(math.ceil(largest / size), max_pages)
        return tuple(range(last + 1, expected + 1)) if expected > last else (last + 1,)

    def next_step(self, max_pages: int) -> Step:
        """What to do after the pages read so far (page 1 at least)."""
        reason = self.stop_reason()
        end = self.end_page()
        if reason == "short_of_total" and end is not None and self.worth_rereading(end):
            # Once per fetch: a page that comes back empty or short mid-list can be a passing glitch,
            # and an incomplete fetch cannot mark notes gone (the next full fetch of this KOL costs every
            # page again). One more call usually settles it; a second would rarely add anything.
            return Reread(end)
        if reason is not None:
            return Stop(reason)
        if len(self.pages) >= max_pages:
            return Stop("page_cap")
        return Read(self.next_pages(max_pages))

    def result(self, query: NotesQuery, tally: CallTally, stop_reason: StopReason) -> FetchResult:
        """What the fetch read and what it cost, ending for ``stop_reason``."""
        notes, duplicates = self.distinct_notes()
        return FetchResult(
            query=query,
            pages=tuple(self.pages[number] for number in sorted(self.pages)),
            notes=notes,
            total=max(self.totals, default=None),
            calls=tally.calls,
            pages_fetched=len(self.bought),
            pages_reused=len(self.pages) - len(self.bought),
            codes=dict(tally.codes),
            http_statuses=dict(tally.http_statuses),
            retries=tally.retries,
            duplicates_dropped=duplicates,
            stop_reason=stop_reason,
            complete=stop_reason in COMPLETE_STOPS,
            total_min=min(self.totals, default=None),
            windowed=self.stop_before is not None,
            rereads=self.rereads,
        )
