"""`make bench`: every benchmark in one run on one throwaway PostgreSQL, then ONE table with every
figure against its target (DESIGN.md "Targets", issue #7).

Order: bench/figures.py seeds 1 k then 1 M people into the empty database and times the national
figures; bench/recommendations.py times both directions of matching on that database; bench/sizes.py
measures storage there and extrapolates to 10 M / 100 M; bench/writes.py compares registrations with
a bare INSERT under gunicorn (its residents are added to the same database); bench/roster.py imports a
roster there; bench/emergency.py fans an emergency out to 100,000 people on a fresh database beside it;
bench/launch_day.py runs the locust scenario on another fresh database. Each prints
its own table as it finishes; the summary comes last. Settings: each script's own (BENCH_PEOPLE …).
"""
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import emergency, figures, launch_day, recommendations, roster, sizes, writes  # noqa: E402
from bench.serve import app_for, postgres_url  # noqa: E402


def main() -> int:
    url = postgres_url("run.py", "an empty PostgreSQL database")
    if url is None:
        return 2
    started = time.perf_counter()
    results = {}
    steps = (("figures", lambda: figures.measure(url), figures.print_table),
             ("recommendations", lambda: recommendations.measure(url), recommendations.print_table),
             ("sizes", lambda: _in_app(url, sizes.measure), sizes.print_table),
             ("writes", lambda: writes.measure(url), writes.print_table),
             ("roster", lambda: roster.measure(roster.ROWS, app=app_for(url)), roster._print_table),
             ("emergency", lambda: emergency.measure(url), emergency.print_table),
             ("launch", lambda: launch_day.measure(url), launch_day.print_table))
    for name, run, show in steps:
        print(f"\n== {name} ==", file=sys.stderr, flush=True)
        results[name] = run()
        show(results[name])
        sys.stdout.flush()
    rows = summary(results)
    print()
    print(f"Summary — one `make bench` run, PostgreSQL {results['figures']['version']}, {os.cpu_count()} CPUs, "
          f"{(time.perf_counter() - started) / 60:.0f} min")
    print()
    print("| figure | measured | target | met |")
    print("|:---|---:|:---|:---|")
    for label, measured, target, met in rows:
        print(f"| {label} | {measured} | {target} | {'—' if met is None else 'yes' if met else 'NO'} |")
    return 0 if all(met is not False for *_, met in rows) else 1


def _in_app(url: str, call):
    with app_for(url).app_context():
        return call()


def summary(r: dict) -> list[tuple]:
    """(figure, measured, target, met or None) rows for the one table."""
    f, rec, s, w, ro, la = (r["figures"], r["recommendations"], r["sizes"], r["writes"], r["roster"], r["launch"])
    em = r["emergency"]
    small, large = f["rows"][0], f["rows"][-1]
    totals, prefs, funnel, one = figures.ENDPOINTS
    ratios = f["ratios"] or [float("nan")] * 4
    rows = [
        (f"/stats/totals p50 at {small['size']:,} → {large['size']:,} people (ms)",
         f"{small[totals][0]:.2f} → {large[totals][0]:.2f} (×{ratios[0]:.2f})", "ratio ≤ 1.5", ratios[0] <= 1.5),
        (f"/stats/by-prefecture p50 at {small['size']:,} → {large['size']:,} people (ms)",
         f"{small[prefs][0]:.2f} → {large[prefs][0]:.2f} (×{ratios[1]:.2f})", "ratio ≤ 1.5", ratios[1] <= 1.5),
        (f"/stats/funnel (the country) p50 / p95 at {small['size']:,} → {large['size']:,} people (ms)",
         f"{small[funnel][0]:.2f} / {small[funnel][1]:.2f} → {large[funnel][0]:.2f} / {large[funnel][1]:.2f} "
         f"(p50 ×{ratios[2]:.2f})", "ratio ≤ 1.5", ratios[2] <= 1.5),
        (f"/stats/funnel?organization={figures.ONE_ORGANIZATION} (one 団体, as the national office reads it) "
         f"p50 / p95 at {small['size']:,} → {large['size']:,} people (ms)",
         f"{small[one][0]:.2f} / {small[one][1]:.2f} → {large[one][0]:.2f} / {large[one][1]:.2f} "
         f"(p50 ×{ratios[3]:.2f})", "ratio ≤ 1.5", ratios[3] <= 1.5),
        (f"publish-open-data (last month) at {small['size']:,} → {large['size']:,} people (s)",
         f"{small['publish']:.2f} → {large['publish']:.2f}", "", None),
        ("figures equal a recount after seeding", "no drift" if f["drift"] == [] else "DRIFT", "no drift",
         f["drift"] == []),
        (f"demo seeding, {large['added']:,} people (rows/s)", f"{large['rows'] / large['seconds']:,.0f}",
         "≥ 20,000 rows/s", large["rows"] / large["seconds"] >= 20_000),
    ]
    for name, target in recommendations.TARGETS.items():
        if name in rec:
            n, p50, p95, _ = rec[name]
            rows.append((f"{name} p50 / p95 (ms), {rec['sizes']['open needs']:,} open needs, "
                         f"{rec['sizes']['residents']:,} residents", f"{p50:.1f} / {p95:.1f}",
                         f"p95 < {target:.0f} ms", p95 < target))
    rows += [
        ("POST /registrations vs a bare Flask app's INSERT, requests/s (gunicorn, 2 sync workers)",
         f"{w['registrations']['rps']:,.0f} vs {w['flask']['rps']:,.0f} (×{w['flask_ratio']:.2f})", "ratio ≥ 0.5",
         w["flask_ratio"] >= 0.5),
        ("POST /registrations vs the registry's bare INSERT endpoint, requests/s",
         f"{w['registrations']['rps']:,.0f} vs {w['bare']['rps']:,.0f} (×{w['ratio']:.2f})", "ratio ≥ 0.5",
         w["ratio"] >= 0.5),
        ("CPU per request, application + PostgreSQL (ms): registration; bare Flask",
         f"{w['registrations']['app_ms']:.2f} + {w['registrations']['db_ms']:.2f}; "
         f"{w['flask']['app_ms']:.2f} + {w['flask']['db_ms']:.2f}", "", None),
        ("POST /registrations p50 / p99 (ms)", f"{w['registrations']['p50']:.1f} / {w['registrations']['p99']:.1f}",
         "", None),
        ("bare INSERT p50 / p99 (ms)", f"{w['bare']['p50']:.1f} / {w['bare']['p99']:.1f}", "", None),
        ("write bench errors; figures after it", f"{w['errors']}; {'no drift' if w['drift'] == [] else 'DRIFT'}",
         "0; no drift", w["errors"] == 0 and w["drift"] == []),
        (f"roster import, {ro['rows']:,} rows, {ro['bad_rows']:,} bad (rows/s)", f"{ro['rows_per_s']:,.0f}",
         "≥ 20,000 rows/s", ro["rows_per_s"] >= 20_000),
        (f"emergency fan-out by send-notifications, {em['recipients']:,} recipients (s; notifications/s, "
         f"e-mails queued/s)", f"{em['seconds']:.1f}; {em['notifications'] / em['seconds']:,.0f}, "
         f"{em['queued'] / em['seconds']:,.0f}", f"< {emergency.TARGET_SECONDS} s, each once",
         em["seconds"] < emergency.TARGET_SECONDS and em["exactly_once"]),
        ("launch day: requests/s sustained, p95 (ms)",
         f"{la['total']['rps']:.1f}, {la['total']['p95']:.0f}", "", None),
        ("launch day: failed requests", f"{la['failures']}", "0", la["failures"] == 0),
        ("launch day: figures vs acknowledged (people, registrations)",
         f"{la['figures']['people']:,}, {la['figures']['registrations']:,} vs {la['acknowledged']['people']:,}, "
         f"{la['acknowledged']['registrations']:,}", "exact", la["exact"]),
        (f"storage at 10 M people / 100 M registrations (heap + indexes, GB; from {s['people']:,})",
         f"{s['goal_heap'] / 1e9:,.0f} + {s['goal_indexes'] / 1e9:,.0f}", "docs/scaling.md", None),
    ]
    return rows


if __name__ == "__main__":
    sys.exit(main())
