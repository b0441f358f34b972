#!/usr/bin/env python3
"""Checks the operator's CloudWatch dashboard in template.yaml against the metrics the code writes.

Nothing here can render a CloudWatch dashboard, and a query for a name or a dimension set that no
function writes draws an empty chart without an error, so this is what fails when the dashboard
and the code drift apart. Fails (exit 1, listing every problem) unless:

  * `OperatorDashboard` is an AWS::CloudWatch::Dashboard whose body, once `!Sub` has filled in the
    region and stack name (the only variables it may use), is JSON with widgets, each metric widget
    in the stack's region with ids unique within it;
  * every query (a SEARCH expression or a Metrics Insights SELECT) reads the namespace the
    functions write to (NAMESPACE in shared/lambda/src/metrics.rs), a metric they write, with exactly the
    dimensions that metric is written with (its labels: the table in
    shared/telemetry/src/series.rs, or the labels of a `gauge!`/`counter!` in shared/lambda/src/metrics.rs),
    and a statistic that means something for its kind (counters `Sum`, except the running total
    `queue_admitted_total`; gauges `Maximum`/`Minimum`/`Average`; histograms percentiles);
  * every operator series of series.rs is on the dashboard;
  * the `OperatorDashboardUrl` output points at this dashboard (deploy/web.sh gives it to the app);
  * every alarm (AWS::CloudWatch::Alarm, the per-function ones of the Fn::ForEach included) reads a
    metric that exists with exactly its dimensions: one the functions write (as above; a metric the
    code does not write yet must be listed in PENDING with what is to write it, and the check
    says so on every run), or an AWS service metric of the table AWS_METRICS below, its dimension
    values referring to a resource of the right type.

Usage: deploy/check_cloudwatch.py [--root DIR]
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import checks  # noqa: E402
from check_functions import load_template  # noqa: E402  (CloudFormation-tag-aware)

SEARCH_RE = re.compile(r"""^SEARCH\('\{(?P<schema>[^}]*)\} MetricName="(?P<metric>\w+)"', '(?P<stat>\w+)', \d+\)$""")
SELECT_RE = re.compile(
    r"^SELECT (?P<stat>[A-Z]+)\((?P<metric>\w+)\) FROM SCHEMA\((?P<schema>[^)]*)\)(?: GROUP BY (?P<group>[\w, ]+))?$"
)
STATS = {
    "counter": {"Sum", "SUM"},
    "gauge": {"Maximum", "Minimum", "Average", "MAX", "MIN", "AVG"},
    "histogram": {"Average", "Maximum", "AVG", "MAX"},
}
# A counter the waiting room keeps as a running total (see shared/lambda/src/metrics.rs): read its maximum.
RUNNING_TOTALS = {"queue_admitted_total"}
# Metrics an alarm of the template reads that the code does not write yet: name -> (kind, labels,
# who writes it). Remove an entry once the code writes the series (the check then holds the alarm
# to the series' real kind and labels).
PENDING: dict[str, tuple[str, frozenset, str]] = {}
# AWS metrics the alarms may read: (namespace, metric) -> (dimension names, the resource type a
# dimension value must refer to, or None for a literal such as a function name).
AWS_METRICS = {
    ("AWS/Lambda", "Errors"): ({"FunctionName"}, None),
    ("AWS/Lambda", "Throttles"): ({"FunctionName"}, None),
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): ({"QueueName"}, "AWS::SQS::Queue"),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage"): ({"QueueName"}, "AWS::SQS::Queue"),
    ("AWS/DynamoDB", "ReadThrottleEvents"): ({"TableName"}, "AWS::DynamoDB::Table"),
    ("AWS/DynamoDB", "WriteThrottleEvents"): ({"TableName"}, "AWS::DynamoDB::Table"),
    ("AWS/ApiGateway", "5xx"): ({"ApiId"}, "AWS::Serverless::HttpApi"),
    ("AWS/ApiGateway", "Latency"): ({"ApiId"}, "AWS::Serverless::HttpApi"),
}


def operator_series(series_rs: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (kind, labels) from the table at the top of series.rs."""
    found = {}
    for match in re.finditer(r"^//! \| `(\w+)` \| (\w+) \| (.*?) \|$", series_rs.read_text(), re.M):
        found[match[1]] = (match[2], frozenset(re.findall(r"`(\w+)`", match[3])))
    return found


def lambda_series(metrics_rs: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (kind, labels) of the series shared/lambda/src/metrics.rs records itself."""
    found = {}
    for match in re.finditer(r'\b(gauge|counter|histogram)!\(\s*"(\w+)"([^)]*)\)', metrics_rs.read_text()):
        found[match[2]] = (match[1], frozenset(re.findall(r'"(\w+)"\s*=>', match[3])))
    return found


def namespace(metrics_rs: Path) -> str:
    match = re.search(r'pub const NAMESPACE: &str = "(\w+)";', metrics_rs.read_text())
    if not match:
        sys.exit("NAMESPACE not found in shared/lambda/src/metrics.rs")
    return match[1]


def check_query(expression: str, ns: str, known: dict[str, tuple[str, frozenset[str]]]) -> tuple[str | None, list[str]]:
    """The metric one query reads, and what is wrong with the query."""
    if search := SEARCH_RE.match(expression):
        parts = [p.strip() for p in search["schema"].split(",")]
        group: list[str] = []
    elif select := SELECT_RE.match(expression):
        search = select
        parts = [p.strip() for p in select["schema"].split(",")]
        group = [g.strip() for g in (select["group"] or "").split(",") if g.strip()]
    else:
        return None, [f"not a query this check reads (SEARCH('{{ns,dims}} MetricName=\"m\"', 'stat', period) or SELECT): {expression}"]
    metric, stat = search["metric"], search["stat"]
    problems = []
    if parts[0].strip('"') != ns:
        problems.append(f"{metric}: namespace {parts[0]}, the functions write to {ns}")
    if metric not in known:
        return metric, problems + [f"{metric}: no function writes this metric"]
    kind, labels = known[metric]
    dims = frozenset(parts[1:])
    if dims != labels:
        problems.append(f"{metric}: dimensions {sorted(dims)}, it is written with {sorted(labels)}")
    if not set(group) <= dims:
        problems.append(f"{metric}: grouped by {group}, not all of them dimensions")
    allowed = {"Maximum", "MAX"} if metric in RUNNING_TOTALS else STATS[kind]
    if not (stat in allowed or (kind == "histogram" and re.fullmatch(r"p\d{1,2}(\.\d+)?", stat))):
        problems.append(f"{metric} ({kind}): statistic {stat} (use one of {sorted(allowed)}{' or a percentile' if kind == 'histogram' else ''})")
    return metric, problems


def check(root: Path) -> list[str]:
    template = load_template(root / "template.yaml")
    resources = template.get("Resources") or {}
    dashboard = resources.get("OperatorDashboard") or {}
    if dashboard.get("Type") != "AWS::CloudWatch::Dashboard":
        return ["template.yaml: no OperatorDashboard of type AWS::CloudWatch::Dashboard"]
    body = (dashboard.get("Properties") or {}).get("DashboardBody")
    if not (isinstance(body, dict) and isinstance(body.get("!Sub"), str)):
        return ["OperatorDashboard: DashboardBody is not a !Sub of a JSON string"]
    text = body["!Sub"].replace("${AWS::Region}", "eu-west-1").replace("${AWS::StackName}", "tacos")
    if leftover := re.findall(r"\$\{[^}]*\}", text):
        return [f"OperatorDashboard: variables !Sub would not fill: {sorted(set(leftover))}"]
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        return [f"OperatorDashboard: the body is not JSON: {error}"]

    ns = namespace(root / "shared/lambda/src/metrics.rs")
    operator = operator_series(root / "shared/telemetry/src/series.rs")
    known = {**operator, **lambda_series(root / "shared/lambda/src/metrics.rs")}
    if len(operator) < 8:
        return [f"series.rs: only {len(operator)} series in its table (its format changed?)"]

    problems: list[str] = []
    shown: set[str] = set()
    widgets = parsed.get("widgets") or []
    if not widgets:
        problems.append("OperatorDashboard: no widgets")
    for widget in widgets:
        props = widget.get("properties") or {}
        if widget.get("type") != "metric":
            continue
        title = props.get("title", "?")
        if props.get("region") != "eu-west-1":
            problems.append(f"{title}: region {props.get('region')!r}, not the stack's")
        ids = []
        for row in props.get("metrics") or []:
            query = row[0] if row and isinstance(row[0], dict) else None
            if not query or "expression" not in query:
                problems.append(f"{title}: a metric row that is not an expression: {row}")
                continue
            ids.append(query.get("id"))
            metric, found = check_query(query["expression"], ns, known)
            problems += [f"{title}: {p}" for p in found]
            if metric:
                shown.add(metric)
        if len(ids) != len(set(ids)) or None in ids:
            problems.append(f"{title}: query ids missing or repeated: {ids}")
    for missing in sorted(set(operator) - shown):
        problems.append(f"OperatorDashboard: {missing} is not on the dashboard")

    problems += check_alarms(template, ns, known)

    url = ((template.get("Outputs") or {}).get("OperatorDashboardUrl") or {}).get("Value")
    if not (isinstance(url, dict) and "${OperatorDashboard}" in str(url.get("!Sub", ""))):
        problems.append("Outputs: OperatorDashboardUrl does not point at ${OperatorDashboard}")
    return problems


def alarm_resources(template: dict) -> dict[str, dict]:
    """Every alarm, those a Fn::ForEach repeats once (as written, with the loop's ${...} left in)."""
    found = {}
    for name, resource in (template.get("Resources") or {}).items():
        if name.startswith("Fn::ForEach::") and isinstance(resource, list) and len(resource) == 3:
            for key, inner in resource[2].items():
                if isinstance(inner, dict) and inner.get("Type") == "AWS::CloudWatch::Alarm":
                    found[f"{name}/{key}"] = inner
        elif isinstance(resource, dict) and resource.get("Type") == "AWS::CloudWatch::Alarm":
            found[name] = resource
    return found


def check_alarms(template: dict, ns: str, known: dict[str, tuple[str, frozenset[str]]]) -> list[str]:
    from check_edge import refs  # noqa: PLC0415 - CloudFormation references, one definition

    resources = template.get("Resources") or {}
    problems = []
    alarms = alarm_resources(template)
    if not alarms:
        return ["template.yaml: no CloudWatch alarm at all"]
    for name, alarm in alarms.items():
        props = alarm.get("Properties") or {}
        stats = [(props.get("Namespace"), props.get("MetricName"), props.get("Dimensions") or [],
                  props.get("Statistic") or props.get("ExtendedStatistic"))]
        if props.get("Metrics"):
            stats = []
            for query in props["Metrics"]:
                if "MetricStat" in query:
                    metric = query["MetricStat"].get("Metric") or {}
                    stats.append((metric.get("Namespace"), metric.get("MetricName"), metric.get("Dimensions") or [],
                                  query["MetricStat"].get("Stat")))
                elif "Expression" not in query:
                    problems.append(f"{name}: a query that is neither a metric nor an expression")
        if not stats or any(m is None for _, m, _, _ in stats):
            problems.append(f"{name}: reads no metric")
            continue
        for namespace, metric, dimensions, stat in stats:
            dims = {d.get("Name"): d.get("Value") for d in dimensions}
            if namespace == ns:
                if metric in PENDING:
                    kind, labels, writer = PENDING[metric]
                    print(f"check_cloudwatch: note: alarm {name} reads {metric}, which the code does not write yet ({writer})")
                elif metric in known:
                    kind, labels = known[metric]
                else:
                    problems.append(f"{name}: no function writes {ns}/{metric}")
                    continue
                if set(dims) != set(labels):
                    problems.append(f"{name}: {metric} is written with dimensions {sorted(labels)}, the alarm asks for {sorted(dims)}")
                allowed = {"Maximum", "MAX"} if metric in RUNNING_TOTALS else STATS[kind]
                if not (stat in allowed or (kind == "histogram" and re.fullmatch(r"p\d{1,2}(\.\d+)?", str(stat)))):
                    problems.append(f"{name}: statistic {stat} does not fit {metric} ({kind})")
                continue
            spec = AWS_METRICS.get((namespace, metric))
            if spec is None:
                problems.append(f"{name}: {namespace}/{metric} is not a metric this check knows (add it to AWS_METRICS with its dimensions)")
                continue
            wanted, kind = spec
            if set(dims) != wanted:
                problems.append(f"{name}: {namespace}/{metric} has dimensions {sorted(wanted)}, the alarm asks for {sorted(dims)}")
            for value in dims.values():
                targets = refs(value)
                if kind and not any((resources.get(t) or {}).get("Type") == kind for t in targets):
                    problems.append(f"{name}: its {namespace}/{metric} dimension {value!r} does not refer to a {kind} of the template")
        if not props.get("AlarmActions"):
            problems.append(f"{name}: notifies nobody (no AlarmActions)")
    return problems


def main() -> int:
    return checks.run(
        "check_cloudwatch",
        __doc__,
        check,
        "every query of the operator dashboard reads a series the functions write, "
        "with its dimensions; every operator series is shown; every alarm reads a metric that exists",
    )


if __name__ == "__main__":
    sys.exit(main())
