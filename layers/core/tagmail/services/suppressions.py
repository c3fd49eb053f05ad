"""The suppression list as admins manage it: list, add, remove, and CSV import and export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from tagmail.domain.email import InvalidEmail, parse_email
from tagmail.domain.suppressions import Suppression, SuppressionReason
from tagmail.errors import InvalidInput, NotFound, PayloadTooLarge
from tagmail.observability import count, logger
from tagmail.services.ports import Clock, SuppressionStore

MAX_PAGE = 1000
MAX_IMPORT_BYTES = 5 * 1024 * 1024
# What one request can write within the API's 30-second limit; split larger lists.
MAX_IMPORT_ROWS = 10_000
MAX_DETAIL = 500
# Errors listed in one refusal (the count says how many there were).
MAX_REPORTED_ERRORS = 50
IMPORT_WRITERS = 8
EXPORT_COLUMNS = ("address", "reason", "created_at", "detail")
_IMPORT_COLUMNS = frozenset(EXPORT_COLUMNS)
# A cell starting with one of these is a formula to a spreadsheet (CSV injection); export quotes
# it with a leading apostrophe and import removes that again.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CsvProblem:
    line: int
    message: str


class CsvImportError(InvalidInput):
    """The file was refused as a whole; `problems` name each bad line."""

    code = "invalid_csv"

    def __init__(self, problems: list[CsvProblem], total: int) -> None:
        shown = "; ".join(f"line {p.line}: {p.message}" for p in problems[:5])
        more = f" (and {total - 5} more)" if total > 5 else ""
        super().__init__(f"nothing was imported: {total} problem(s): {shown}{more}", field="body")
        self.problems = problems[:MAX_REPORTED_ERRORS]
        self.total = total


@dataclass(frozen=True)
class ImportResult:
    rows: int
    added: int  # rows not suppressed before (an existing entry keeps its first reason)


class SuppressionAdmin:
    def __init__(self, *, suppressions: SuppressionStore, clock: Clock) -> None:
        self._suppressions = suppressions
        self._clock = clock

    def list(self, project_id: str, after: str | None, limit: int) -> tuple[list[Suppression], str | None]:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"must be 1 to {MAX_PAGE}", field="limit")
        return self._suppressions.list(project_id, after=_canonical(after, "after") if after else None, limit=limit)

    def add(self, project_id: str, address: str, detail: str | None = None) -> tuple[Suppression, bool]:
        """Suppress an address by hand; False when it was suppressed already (its entry is kept)."""
        canonical = _canonical(address, "address")
        existing = self._suppressions.get(project_id, canonical)
        if existing is not None:
            return existing, False
        suppression = Suppression(
            project_id=project_id,
            address=canonical,
            reason=SuppressionReason.MANUAL,
            created_at=self._clock(),
            detail=_detail(detail, "detail"),
        )
        self._suppressions.add(suppression)
        count("SuppressionsAdded")
        return self._suppressions.get(project_id, canonical) or suppression, True

    def remove(self, project_id: str, address: str) -> None:
        canonical = _canonical(address, "address")
        if not self._suppressions.remove(project_id, canonical):
            raise NotFound(f"{canonical} is not on the suppression list")
        count("SuppressionsRemoved")
        logger().info("suppression removed", project_id=project_id)

    def import_csv(self, project_id: str, body: bytes) -> ImportResult:
        """All or nothing: every line is checked before the first is written. Writing is
        idempotent, so a failed import can simply be sent again."""
        if len(body) > MAX_IMPORT_BYTES:
            raise PayloadTooLarge(f"the CSV file must be at most {MAX_IMPORT_BYTES // (1024 * 1024)} MB", field="body")
        entries = parse_csv(project_id, body, self._clock())
        with ThreadPoolExecutor(max_workers=IMPORT_WRITERS) as pool:
            added = sum(pool.map(self._add_if_new, entries))
        count("SuppressionsImported", len(entries))
        logger().info("suppressions imported", project_id=project_id, rows=len(entries), added=added)
        return ImportResult(rows=len(entries), added=added)

    def export_csv(self, project_id: str) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        for item in self._all(project_id):
            writer.writerow(
                [
                    _cell(item.address),
                    item.reason.value,
                    item.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                    _cell(item.detail or ""),
                ]
            )
        return out.getvalue()

    def _add_if_new(self, entry: Suppression) -> bool:
        if self._suppressions.get(entry.project_id, entry.address) is not None:
            return False
        self._suppressions.add(entry)
        return True

    def _all(self, project_id: str) -> Iterator[Suppression]:
        after: str | None = None
        while True:
            items, after = self._suppressions.list(project_id, after=after, limit=MAX_PAGE)
            yield from items
            if after is None:
                return


def parse_csv(project_id: str, body: bytes, now: datetime) -> list[Suppression]:
    """Rows of `address[,reason][,created_at][,detail]` (a header line names the columns), or
    CsvImportError naming every bad line."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvImportError([CsvProblem(_line_of(body, exc.start), "is not UTF-8 text")], 1) from exc
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems: list[CsvProblem] = []
    entries: dict[str, Suppression] = {}
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        if (
            not header
            or header[0] != "address"
            or not set(header) <= _IMPORT_COLUMNS
            or len(set(header)) != len(header)
        ):
            raise CsvImportError(
                [CsvProblem(1, "the first line must be the header address[,reason] (also created_at, detail)")], 1
            )
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                problems.append(CsvProblem(line, f"has {len(row)} column(s), the header names {len(header)}"))
                continue
            entry = _entry(project_id, dict(zip(header, row, strict=True)), now, line, problems)
            if entry is not None:
                entries.setdefault(entry.address, entry)
            if len(entries) > MAX_IMPORT_ROWS:
                raise CsvImportError(
                    [CsvProblem(line, f"more than {MAX_IMPORT_ROWS} addresses in one file; split it")], 1
                )
    except csv.Error as exc:
        problems.append(CsvProblem(reader.line_num, f"is not valid CSV ({exc})"))
    if problems:
        raise CsvImportError(problems, len(problems))
    if not entries:
        raise CsvImportError([CsvProblem(1, "the file has no addresses")], 1)
    return list(entries.values())


def _entry(
    project_id: str, row: dict[str, str], now: datetime, line: int, problems: list[CsvProblem]
) -> Suppression | None:
    given = _uncell(row["address"].strip())
    try:
        address = parse_email(given).canonical
    except InvalidEmail as exc:
        problems.append(CsvProblem(line, f"address {given!r} {exc}"))
        return None
    reason_text = row.get("reason", "").strip().lower() or SuppressionReason.MANUAL.value
    try:
        reason = SuppressionReason(reason_text)
    except ValueError:
        allowed = ", ".join(reason.value for reason in SuppressionReason)
        problems.append(CsvProblem(line, f"reason {reason_text!r} is not one of {allowed}"))
        return None
    created_at = now
    if row.get("created_at", "").strip():
        try:
            created_at = datetime.fromisoformat(row["created_at"].strip().replace("Z", "+00:00"))
        except ValueError:
            problems.append(CsvProblem(line, f"created_at {row['created_at']!r} is not an ISO 8601 time"))
            return None
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
    detail = _uncell(row.get("detail", "").strip()) or None
    if detail is not None and len(detail) > MAX_DETAIL:
        problems.append(CsvProblem(line, f"detail is longer than {MAX_DETAIL} characters"))
        return None
    return Suppression(project_id=project_id, address=address, reason=reason, created_at=created_at, detail=detail)


def _canonical(address: str, field: str) -> str:
    try:
        return parse_email(address).canonical
    except InvalidEmail as exc:
        raise InvalidInput(f"{address!r} is not a valid e-mail address: it {exc}", field=field) from exc


def _detail(value: str | None, field: str) -> str | None:
    given = value.strip() if value else None
    if given and len(given) > MAX_DETAIL:
        raise InvalidInput(f"must be at most {MAX_DETAIL} characters", field=field)
    return given or None


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _uncell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def _line_of(body: bytes, offset: int) -> int:
    return body.count(b"\n", 0, offset) + 1
