"""Rows for PostgreSQL: a valid payment may carry NUL in an id, which text and jsonb refuse."""

from lakehouse.stores.postgres import postgres_row


def test_nul_becomes_the_replacement_character_in_text_and_json_columns() -> None:
    row = ("a1", "u\x00\U0010ffff", 3, None, '{"user":"u\\u0000"}', '{"k":"\\u0000"}')
    assert postgres_row(row, json_columns=(4,)) == (
        "a1", "u\ufffd\U0010ffff", 3, None, '{"user":"u\\ufffd"}', '{"k":"\\u0000"}')


def test_rows_without_nul_are_unchanged() -> None:
    row = ("a1", "u-1", 12.5, '{"a":"b"}')
    assert postgres_row(row, json_columns=(3,)) == row
