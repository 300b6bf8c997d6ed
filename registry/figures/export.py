"""Figures as CSV (the API's `Accept: text/csv` and the dashboard's download links)."""
import csv
import io

from flask import Response


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
