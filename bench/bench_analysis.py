"""How fast is "which version wins" on a big experiment? 1,000,000 batch items, statistics and page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_analysis .venv/bin/python bench/bench_analysis.py [--rebuild]

Builds (once; --rebuild to start over) an experiment with 4 variants × 10,000 cases × 5 repeats × 5
batch runs = 1,000,000 BatchItems with INSERT … SELECT generate_series, then prints, each figure with
the machine's load average (1 minute) when it was taken:
  - the time to build the finished batches' rollups (what finishing a batch adds; rebuilt here);
  - the time to compute every statistic of the report (experiment_report, no cache), best and median,
    from the rollups and, for comparison, from every item (rollups=False: the path before rollups);
  - the dashboard page's server time, warm (report cached), through Django's test client.
It also adds (once) 1,000,000 production outcome events over 200,000 users (5 per user: a yes/no
"converted" and a numeric "order_value") with exposure counts, so the per-user production
aggregation (promptlib.analysis.aggregates.outcome_sums) is part of every figure, and prints its
own time. --simulate runs the bigger A/A and power simulation of tests/analysis/test_simulation_production.py.
Targets: statistics ≤ 1 s, warm page ≤ 300 ms. Another shape (--cases 50000 --repeats 1: a million
items without repeats, the rollups' worst case) needs a database of its own.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from promptlib.analysis.production import production_section  # noqa: E402
from promptlib.analysis.report import experiment_report, experiment_variants  # noqa: E402
from promptlib.batches.models import Batch, BatchItem, Dataset, DatasetCase  # noqa: E402
from promptlib.batches.rollups import batch_rollups_ready  # noqa: E402
from promptlib.core.models import Project  # noqa: E402
from promptlib.experiments.app_metrics import application_metric_register  # noqa: E402
from promptlib.experiments.models import Experiment, ExposureCount, OutcomeEvent, OutcomeSubjectSum  # noqa: E402
from promptlib.experiments.outcomes import outcome_sums_rebuild  # noqa: E402
from promptlib.experiments.services import VariantSpec, experiment_create, experiment_start  # noqa: E402
from promptlib.prompts.content import VersionContent  # noqa: E402
from promptlib.prompts.services import template_create, version_create  # noqa: E402

CASES, REPEATS, RUNS = 10_000, 5, 5
KEYS = ("control", "b", "c", "d")
# Per variant: the success probability and the latency offset (ms).
PROFILE = {"control": (0.70, 0), "b": (0.74, -40), "c": (0.69, 25), "d": (0.71, 0)}


def _build(cases: int, repeats: int) -> Experiment:
    project = Project.objects.create(slug="bench", name="Bench")
    template = template_create(project=project, slug="bench-welcome", title="Bench welcome")
    versions = []
    for i in range(len(KEYS)):
        content = VersionContent(
            role="You are Acme's voice.",
            task=f"Write a welcome email to {{{{ name }}}} (style {i}).",
            variables=[{"name": "name", "type": "string", "required": True}],
        )
        versions.append(version_create(template=template, content=content)[0])
    experiment = experiment_create(
        template=template,
        name="Bench: welcome wording",
        variants=[
            VariantSpec(key=k, version=v, is_control=k == "control") for k, v in zip(KEYS, versions, strict=True)
        ],
        guardrail_metrics=["latency_p50_ms", "cost_per_success_usd"],
    )
    experiment_start(experiment=experiment)
    dataset = Dataset.objects.create(project=project, name="bench-customers")
    case_table, item_table = DatasetCase._meta.db_table, BatchItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {case_table} (dataset_id, position, input, expected_output, expected_fields, tags)"  # noqa: S608
            " SELECT %s, g, jsonb_build_object('name', 'Customer ' || g), '', '{}'::jsonb, '[]'::jsonb"
            " FROM generate_series(1, %s) g",
            [dataset.pk, cases],
        )
    first_case = dataset.cases.order_by("position").values_list("pk", flat=True).first()
    for run in range(RUNS):
        batch = Batch.objects.create(
            project=project, experiment=experiment, dataset=dataset, repeats=repeats, status=Batch.Status.FINISHED,
            total=cases * repeats * len(KEYS),
        )  # fmt: skip
        for variant in experiment.variants.all():
            rate, offset = PROFILE[variant.key]
            started = time.perf_counter()
            with connection.cursor() as cursor:
                # Deterministic pseudo-random per (run, case, repeat, variant): hashes, no random().
                cursor.execute(
                    f"""INSERT INTO {item_table} (batch_id, variant_id, case_id, repeat, status, claim_token, model,
                        output, error, error_kind, success, schema_passed, attempts, attempt_log, latency_ms, cost_usd,
                        judge_cost_usd, input_tokens, output_tokens, cached, scores, finished_at, rerun_from)
                    SELECT %(batch)s, %(variant)s, %(first_case)s + c, r, 'done', '', 'demo', 'Hello', '', '',
                        (abs(hashtext(%(seed)s || c || ':' || r)) %% 1000) < %(permille)s + (c %% 7) * 10 - 30,
                        (abs(hashtext('s' || %(seed)s || c || r)) %% 100) < 97,
                        1 + (abs(hashtext('a' || %(seed)s || c || r)) %% 100 < 8)::int, '[]'::jsonb,
                        600 + %(offset)s + abs(hashtext('l' || %(seed)s || c || r)) %% 800,
                        0.0004 + (abs(hashtext('k' || %(seed)s || c || r)) %% 100) / 1e6, 0.0, 150 + c %% 50,
                        40 + abs(hashtext('o' || %(seed)s || c || r)) %% 60, false, '[]'::jsonb, now(), 0
                    FROM generate_series(0, %(cases)s - 1) c CROSS JOIN generate_series(0, %(repeats)s - 1) r""",  # noqa: S608
                    {
                        "batch": batch.pk, "variant": variant.pk, "first_case": first_case,
                        "seed": f"{run}:{variant.key}:",
                        "permille": int(rate * 1000), "offset": offset, "cases": cases, "repeats": repeats,
                    },
                )  # fmt: skip
            print(f"  run {run + 1}, variant {variant.key}: {time.perf_counter() - started:.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {item_table}")  # noqa: S608
    return experiment


def _experiment(rebuild: bool, cases: int, repeats: int) -> Experiment:
    existing = Experiment.objects.filter(name="Bench: welcome wording").first()
    if existing and not rebuild:
        return existing
    if existing:
        # Batches protect their datasets and variants their versions: delete from the leaves up.
        project = Project.objects.get(slug="bench")
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {BatchItem._meta.db_table} CASCADE")  # noqa: S608
        Batch.objects.filter(experiment__project=project).delete()
        Experiment.objects.filter(project=project).delete()
        project.delete()
    print(f"Generating {cases * repeats * RUNS * len(KEYS):,} batch items…", flush=True)
    with transaction.atomic():
        return _build(cases, repeats)


OUTCOME_EVENTS, OUTCOME_USERS = 1_000_000, 200_000


def _outcomes(experiment: Experiment) -> None:
    """1,000,000 outcome events over 200,000 users, each user in one variant (added once)."""
    if OutcomeEvent.objects.filter(experiment=experiment).count() == OUTCOME_EVENTS:
        if not OutcomeSubjectSum.objects.filter(experiment=experiment).exists():
            outcome_sums_rebuild(experiment_id=experiment.pk)
        return
    print(f"Generating {OUTCOME_EVENTS:,} outcome events over {OUTCOME_USERS:,} users…", flush=True)
    started = time.perf_counter()
    variants = list(experiment.variants.order_by("key").values_list("pk", flat=True))
    with transaction.atomic(), connection.cursor() as cursor:
        OutcomeEvent.objects.filter(experiment=experiment).delete()
        # Event e belongs to user (e · 7919) mod 200,000 (5 events each); a user's variant is user mod 4.
        # Per user a shared effect makes its events alike, as real users' are.
        cursor.execute(
            f"""INSERT INTO {OutcomeEvent._meta.db_table}
                (project_id, experiment_id, variant_id, subject, metric, value, is_boolean, event_id, created_at)
            SELECT %(project)s, %(experiment)s, (%(variants)s::bigint[])[1 + u %% 4], 'user-' || u,
                CASE WHEN e %% 10 < 7 THEN 'converted' ELSE 'order_value' END,
                CASE WHEN e %% 10 < 7
                    THEN ((abs(hashtext('c' || e)) %% 1000) < 300 + (u %% 13) * 20 + (u %% 4 = 1)::int * 15)::int
                    ELSE 20 + (u %% 17) * 2 + (abs(hashtext('v' || e)) %% 4000) / 100.0 END,
                e %% 10 < 7, 'bench-' || e, now() - ((e %% 14) || ' days')::interval
            FROM (SELECT e, (e * 7919) %% %(users)s AS u FROM generate_series(0::bigint, %(events)s - 1) e) g""",  # noqa: S608
            {
                "project": experiment.project_id, "experiment": experiment.pk, "variants": variants,
                "users": OUTCOME_USERS, "events": OUTCOME_EVENTS,
            },
        )  # fmt: skip
        cursor.execute(f"ANALYZE {OutcomeEvent._meta.db_table}")  # noqa: S608
    rollup_started = time.perf_counter()
    outcome_sums_rebuild(experiment_id=experiment.pk)
    print(f"  per-user and per-day sums rebuilt from the events: {time.perf_counter() - rollup_started:.1f} s")
    ExposureCount.objects.filter(experiment=experiment).delete()
    ExposureCount.objects.bulk_create(
        ExposureCount(experiment=experiment, variant_id=v, day=None, subjects=OUTCOME_USERS // 4, exact=False)
        for v in variants
    )
    project = experiment.project
    application_metric_register(project=project, name="converted", label="Converted", direction="higher")
    application_metric_register(
        project=project, name="order_value", label="Order value", direction="higher", kind="mean", unit="USD",
        minimum_effect=1.0,
    )  # fmt: skip
    print(f"  {time.perf_counter() - started:.1f} s", flush=True)


def _simulate() -> None:
    from tests.analysis.test_simulation_production import winner_rates

    started = time.perf_counter()
    per_user, per_event = winner_rates(seed=1, experiments=4000, users=2000, looks=20)
    print(
        f"A/A, 4,000 experiments × 2,000 users per arm, 1 + Poisson(4) events per user, correlation 0.3, "
        f"20 looks: false winners per user {per_user:.2%}, per event (the old way) {per_event:.2%} "
        f"({time.perf_counter() - started:.1f} s)"
    )
    power, _ = winner_rates(seed=2, shift=0.12, experiments=2000, users=1000, looks=20)
    print(f"Power with a shift of 0.12 at 1,000 users per arm, 20 looks: {power:.1%}")


def _timed(function, times: int) -> list[float]:
    results = []
    for _ in range(times):
        started = time.perf_counter()
        function()
        results.append(time.perf_counter() - started)
    return results


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def _summary(times: list[float]) -> str:
    return f"best {min(times) * 1000:.0f} ms, median {statistics.median(times) * 1000:.0f} ms ({_load()})"


def _paired_speed(times: int) -> None:
    import numpy as np

    """The per-case paired test on 100,000 cases (the biggest dataset a batch may have ×2)."""
    from promptlib.stats.paired import paired_numeric

    differences = np.random.default_rng(8).normal(0.01, 1.0, size=100_000)
    paired_numeric(differences[:100])  # imports
    print(
        f"Paired test on 100,000 per-case differences: {_summary(_timed(lambda: paired_numeric(differences), times))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="drop and regenerate the bench experiment")
    parser.add_argument("--times", type=int, default=5)
    parser.add_argument("--cases", type=int, default=CASES, help="another shape: use another database")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--simulate", action="store_true", help="also run the bigger production A/A simulation")
    args = parser.parse_args()
    if args.simulate:
        _simulate()
    _paired_speed(args.times)
    if connection.vendor != "postgresql":
        sys.exit("Run with DATABASE_URL=postgres://… (the bench measures PostgreSQL).")
    call_command("migrate", verbosity=0)
    experiment = _experiment(args.rebuild, args.cases, args.repeats)
    items = BatchItem.objects.filter(batch__experiment=experiment).count()
    print(
        f"Experiment {experiment.pk}: {items:,} batch items, {len(KEYS)} variants, "
        f"{args.cases:,} cases × {args.repeats} repeats × {RUNS} runs"
    )

    _outcomes(experiment)
    events = OutcomeEvent.objects.filter(experiment=experiment).count()
    print(f"Production: {events:,} outcome events over {OUTCOME_USERS:,} users")
    variants = experiment_variants(experiment=experiment)
    production_section(experiment=experiment, variants=variants)
    production_times = _timed(lambda: production_section(experiment=experiment, variants=variants), args.times)
    print(f"Production section alone (per-user sums in SQL, delta method, SRM): {_summary(production_times)}")

    batch_ids = list(Batch.objects.filter(experiment=experiment).values_list("pk", flat=True))
    build = _timed(lambda: batch_rollups_ready(batch_ids=batch_ids, rebuild=True), 1)[0]
    print(f"Rollups of {len(batch_ids)} finished batches rebuilt: {build * 1000:.0f} ms ({_load()})")

    experiment_report(experiment=experiment, rollups=False)  # warm the database's buffers
    raw_times = _timed(lambda: experiment_report(experiment=experiment, rollups=False), args.times)
    print(f"All statistics from every item (rollups=False, the path before rollups): {_summary(raw_times)}")
    experiment_report(experiment=experiment)
    stats_times = _timed(lambda: experiment_report(experiment=experiment), args.times)
    report = experiment_report(experiment=experiment)
    print(f"Verdict: {report.verdict.state} — {report.verdict.reason}")
    print(f"All statistics (experiment_report, uncached): {_summary(stats_times)} (target ≤ 1000 ms)")

    user_model = get_user_model()
    admin_user = user_model.objects.filter(username="bench-admin").first() or user_model.objects.create_superuser(
        "bench-admin", "bench@example.com", "bench-password"
    )
    client = Client()
    client.force_login(admin_user)
    url = reverse("promptlib_experiment_dashboard", args=[experiment.pk])
    secure = settings.SECURE_SSL_REDIRECT
    first = _timed(lambda: client.get(url, secure=secure), 1)[0]
    page_times = []
    for _ in range(args.times * 2):
        started = time.perf_counter()
        response = client.get(url, secure=secure)
        page_times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    print(f"Dashboard page, first load (computes the report): {first * 1000:.0f} ms ({_load()})")
    print(f"Dashboard page, warm (report cached): {_summary(page_times)} (target ≤ 300 ms)")


if __name__ == "__main__":
    main()
