"""The suppression list as admins manage it: CSV import is all or nothing with line numbers, and
an export imports back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tagmail.domain.suppressions import Suppression, SuppressionReason
from tagmail.errors import InvalidInput, NotFound, PayloadTooLarge
from tagmail.services.suppressions import MAX_IMPORT_BYTES, CsvImportError, SuppressionAdmin
from tests.unit.fakes import FakeClock, FakeSuppressions

PROJECT = "p1"


@pytest.fixture
def store() -> FakeSuppressions:
    return FakeSuppressions()


@pytest.fixture
def admin(store: FakeSuppressions) -> SuppressionAdmin:
    return SuppressionAdmin(suppressions=store, clock=FakeClock())


def test_an_import_adds_every_address_in_canonical_form(admin: SuppressionAdmin, store: FakeSuppressions) -> None:
    result = admin.import_csv(PROJECT, b"Address,Reason\r\nA@Example.com,bounce\r\nb@example.com,\r\n\r\n")

    assert (result.rows, result.added) == (2, 2)
    assert store.get(PROJECT, "a@example.com").reason is SuppressionReason.BOUNCE  # type: ignore[union-attr]
    assert store.get(PROJECT, "b@example.com").reason is SuppressionReason.MANUAL  # type: ignore[union-attr]


def test_an_address_only_file_is_manual(admin: SuppressionAdmin, store: FakeSuppressions) -> None:
    admin.import_csv(PROJECT, "\ufeffaddress\nsomeone@example.jp\n".encode())

    assert store.get(PROJECT, "someone@example.jp").reason is SuppressionReason.MANUAL  # type: ignore[union-attr]


def test_existing_entries_keep_their_first_reason(admin: SuppressionAdmin, store: FakeSuppressions) -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    store.add(Suppression(PROJECT, "a@example.com", SuppressionReason.COMPLAINT, first))

    result = admin.import_csv(PROJECT, b"address,reason\na@example.com,manual\nb@example.com,manual\n")

    assert (result.rows, result.added) == (2, 1)
    assert store.get(PROJECT, "a@example.com").reason is SuppressionReason.COMPLAINT  # type: ignore[union-attr]


def test_any_bad_line_refuses_the_whole_file_naming_each_line(admin: SuppressionAdmin, store: FakeSuppressions) -> None:
    body = (
        b"address,reason\n"
        b"ok@example.com,manual\n"
        b"not-an-address,manual\n"
        b"fine@example.com,spam\n"
        b"x@example.com,manual,extra\n"
    )

    with pytest.raises(CsvImportError) as excinfo:
        admin.import_csv(PROJECT, body)

    problems = {problem.line: problem.message for problem in excinfo.value.problems}
    assert sorted(problems) == [3, 4, 5]
    assert "not-an-address" in problems[3]
    assert "spam" in problems[4]
    assert "column" in problems[5]
    assert excinfo.value.total == 3
    assert "line 3" in excinfo.value.message
    assert store.items == {}  # nothing was written


@pytest.mark.parametrize(
    "body",
    [b"", b"email\nx@example.com\n", b"address,colour\nx@example.com,red\n", b"address\n"],
    ids=["empty", "wrong-header", "unknown-column", "no-rows"],
)
def test_a_file_without_the_header_or_rows_is_refused_at_line_1(admin: SuppressionAdmin, body: bytes) -> None:
    with pytest.raises(CsvImportError) as excinfo:
        admin.import_csv(PROJECT, body)

    assert excinfo.value.problems[0].line == 1


def test_a_file_that_is_not_utf8_names_the_line(admin: SuppressionAdmin) -> None:
    with pytest.raises(CsvImportError) as excinfo:
        admin.import_csv(PROJECT, b"address\nok@example.com\n\xff\xfe@example.com\n")

    assert excinfo.value.problems[0].line == 3


def test_a_file_over_5_mb_is_refused(admin: SuppressionAdmin) -> None:
    with pytest.raises(PayloadTooLarge):
        admin.import_csv(PROJECT, b"address\n" + b"x" * MAX_IMPORT_BYTES)


def test_an_export_imports_back_unchanged(admin: SuppressionAdmin, store: FakeSuppressions) -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    originals = [
        Suppression(PROJECT, "bounce@example.com", SuppressionReason.BOUNCE, at, "550 5.1.1 no such user"),
        Suppression(PROJECT, "=cmd@example.com", SuppressionReason.MANUAL, at, '=HYPERLINK("http://evil")'),
        Suppression(PROJECT, "comma@example.com", SuppressionReason.COMPLAINT, at, 'says "stop", twice'),
    ]
    for item in originals:
        store.add(item)

    exported = admin.export_csv(PROJECT)
    store.items.clear()
    admin.import_csv(PROJECT, exported.encode())

    assert sorted(store.items.values(), key=lambda s: s.address) == sorted(originals, key=lambda s: s.address)
    # A spreadsheet opening the export sees text, not a formula.
    assert "\n'=cmd@example.com," in exported
    assert "\"'=HYPERLINK" in exported


def test_an_export_pages_through_the_whole_list(admin: SuppressionAdmin, store: FakeSuppressions) -> None:
    for n in range(2500):
        store.add(
            Suppression(PROJECT, f"u{n:04d}@example.com", SuppressionReason.MANUAL, datetime(2026, 1, 1, tzinfo=UTC))
        )

    lines = admin.export_csv(PROJECT).splitlines()

    assert len(lines) == 2501


def test_adding_and_removing_one_address(admin: SuppressionAdmin) -> None:
    item, added = admin.add(PROJECT, " Someone@Example.com ", "asked by phone")
    _, again = admin.add(PROJECT, "someone@example.com")

    assert (item.address, item.reason, item.detail, added, again) == (
        "someone@example.com",
        SuppressionReason.MANUAL,
        "asked by phone",
        True,
        False,
    )
    admin.remove(PROJECT, "SOMEONE@example.com")
    with pytest.raises(NotFound):
        admin.remove(PROJECT, "someone@example.com")
    with pytest.raises(InvalidInput):
        admin.add(PROJECT, "no-at-sign")
