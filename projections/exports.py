"""Rows as CSV for spreadsheets: UTF-8 with a byte order mark, a header row of the given
column names, CRLF line ends, nested values as JSON, missing cells empty."""

import csv
import io
import json
import re
from collections.abc import Sequence
from typing import Any

BOM = "\ufeff"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula
NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # a decimal string (tonnes, yuan): a number


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(value):
        return "'" + value  # text someone typed (a reason, a name) stays text
    return "" if value is None else value


def csv_bytes(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return (BOM + text.getvalue()).encode()
