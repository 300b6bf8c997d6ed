"""Figures as CSV: the API's `Accept: text/csv` (plain UTF-8, the schema's columns, for programs), and
spreadsheet CSV for people (the dashboard's downloads, open-data releases): UTF-8 with a byte-order
mark and CRLF line ends, as Excel on Japanese Windows opens them, identifier columns first."""
import csv
import io

from flask import Response

BOM = "\ufeff"


def flatten(row: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value.isoformat() if hasattr(value, "isoformat") else value
    return flat


def csv_response(data, schema, filename: str = "figures.csv") -> Response:
    """`data` (a row or rows) dumped through `schema`; a null (suppressed) count is an empty cell."""
    rows = [flatten(r) for r in schema.dump(data if isinstance(data, list) else [data], many=True)]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else list(schema.fields))
    writer.writeheader()
    writer.writerows(rows)
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def identifiers_first(columns: list[str], identifiers: tuple[str, ...]) -> list[str]:
    """`columns` with those in `identifiers` first, in that order, the rest as they were."""
    first = [c for c in identifiers if c in columns]
    return first + [c for c in columns if c not in first]


def spreadsheet_csv(rows: list[dict], columns: list[str]) -> bytes:
    """UTF-8 with a BOM, CRLF line ends, `columns` in that order; None is an empty cell."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({c: row.get(c) for c in columns} for row in rows)
    return (BOM + out.getvalue()).encode("utf-8")


# The identifier columns of the figures' tables, in the order a spreadsheet shows them first.
IDENTIFIERS = ("organization_code", "home_prefecture_code", "prefecture_code", "name", "kind", "period", "cohort",
               "tier", "tie", "type", "age_band")


def spreadsheet_response(data, schema, filename: str) -> Response:
    """The dashboard's downloads: `data` dumped through `schema` as spreadsheet CSV, identifier
    columns first (the API's `Accept: text/csv` stays `csv_response`)."""
    rows = [flatten(r) for r in schema.dump(data if isinstance(data, list) else [data], many=True)]
    columns = list(rows[0]) if rows else list(schema.fields)
    return Response(spreadsheet_csv(rows, identifiers_first(columns, IDENTIFIERS)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
