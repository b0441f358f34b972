#!/usr/bin/env python3
"""Checks template.yaml as CloudFormation will see it, for what an operator relies on.

The template is expanded the way SAM CLI and CloudFormation do (AWS::LanguageExtensions'
Fn::ForEach, then SAM's transform, for both values of EnableContainerImage and EnableCloudFront),
and the resulting resources are checked. Nothing here can deploy a stack, so this is what fails
when one of these is dropped or drifts. Fails (exit 1, listing every problem) unless:

  * names fit: every name property with a length limit (Lambda function names 64, CloudFront
    function and origin access control names 64, user pool and API names 128, alarm names 255,
    ...) stays within it for the longest stack name CloudFormation allows (128 characters) and
    the longest value of every parameter;
  * every function writes to a log group of the template (LoggingConfig.LogGroup) and every log
    group has RetentionInDays; the Fn::ForEach list of function names is every zip function;
  * every function has an Errors and a Throttles alarm on its own name;
  * every dead-letter or failure queue (an SQS redrive target, a rule target's DeadLetterConfig,
    an on-failure destination, TACOS_SCHEDULER_DLQ_ARN) has an alarm on its visible messages;
    every alarm notifies the alarm topic;
  * the two timer targets (TACOS_EXPIRE_FUNCTION_ARN, TACOS_SIMULATOR_FUNCTION_ARN) are invoked
    asynchronously by Scheduler, so each has an EventInvokeConfig with retries and an SQS
    on-failure destination; the Scheduler role may invoke them and send to the dead-letter queue;
  * no function has a secret in its environment (TACOS_JWT_SECRET, TACOS_WEBHOOK_SECRET,
    TACOS_ADMIN_PASSWORD, TACOS_ORIGIN_SECRET); each *_SECRET_ARN a function is given is readable
    by its role (a managed policy granting secretsmanager:GetSecretValue on it);
  * a WebSocket stage that writes access logs depends on the account's API Gateway CloudWatch role
    (AWS::ApiGateway::Account), without which it fails to deploy;
  * the resources have no circular dependency;
  * env.json (`sam local invoke --env-vars`) names only functions of the template and variables
    they declare: SAM silently ignores any other, which would leave a local run on AWS's names.

Needs aws-sam-cli (its language-extension expansion and the SAM translator), as installed by
scripts/validate_deploy.sh. Usage: scripts/check_operations.py [--root DIR]
"""
from __future__ import annotations

import copy
import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checks  # noqa: E402

# The longest stack name CloudFormation accepts.
LONGEST_STACK_NAME = "s" * 128
STACK_ID = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{LONGEST_STACK_NAME}/1c2fa620-982a-11e3-aff7-50e2416294e0"
PSEUDO = {
    "AWS::StackName": LONGEST_STACK_NAME,
    "AWS::StackId": STACK_ID,
    "AWS::Region": "ap-southeast-5",  # among the longest region names
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws-us-gov",
    "AWS::URLSuffix": "amazonaws.com",
}
# (resource type, property path) -> the service's length limit.
NAME_LIMITS = {
    ("AWS::Lambda::Function", "FunctionName"): 64,
    ("AWS::CloudFront::Function", "Name"): 64,
    ("AWS::CloudFront::OriginAccessControl", "OriginAccessControlConfig.Name"): 64,
    ("AWS::CloudFront::ResponseHeadersPolicy", "ResponseHeadersPolicyConfig.Name"): 128,
    ("AWS::CloudFront::Distribution", "DistributionConfig.Comment"): 128,
    ("AWS::Cognito::UserPool", "UserPoolName"): 128,
    ("AWS::Cognito::UserPoolClient", "ClientName"): 128,
    ("AWS::WAFv2::WebACL", "Name"): 128,
    ("AWS::ApiGatewayV2::Api", "Name"): 128,
    ("AWS::ApiGatewayV2::Api", "Body.info.title"): 128,
    ("AWS::ApiGatewayV2::Stage", "StageName"): 128,
    ("AWS::Events::EventBus", "Name"): 256,
    ("AWS::Events::Rule", "Name"): 64,
    ("AWS::CloudWatch::Dashboard", "DashboardName"): 255,
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::SecretsManager::Secret", "Name"): 512,
    ("AWS::IAM::Role", "RoleName"): 64,
    ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"): 128,
    ("AWS::SQS::Queue", "QueueName"): 80,
    ("AWS::SNS::Topic", "TopicName"): 256,
    ("AWS::Scheduler::ScheduleGroup", "Name"): 64,
    ("AWS::Scheduler::Schedule", "Name"): 64,
}
PLAIN_SECRETS = ("TACOS_JWT_SECRET", "TACOS_WEBHOOK_SECRET", "TACOS_ADMIN_PASSWORD", "TACOS_ORIGIN_SECRET")
DEPTH = "ApproximateNumberOfMessagesVisible"


class Unknown(str):
    """A value only known at deploy time (an attribute of a resource); counted as its placeholder."""


def translate(root: Path, overrides: dict[str, str]) -> tuple[dict, dict]:
    """(the template after Fn::ForEach and SAM's transform, the parameters used)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samcli.lib.cfn_language_extensions.sam_integration import expand_language_extensions
    from samcli.yamlhelper import yaml_parse
    from samtranslator.translator.transform import transform

    template = yaml_parse((root / "template.yaml").read_text())
    parameters = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
    parameters.update(overrides)
    expanded = expand_language_extensions(
        template, parameter_values={**PSEUDO, **{k: v for k, v in parameters.items() if v is not None}}, enabled=True
    ).expanded_template
    # What `sam deploy` uploads: code in S3 (as `sam validate` pretends too).
    for res in expanded.get("Resources", {}).values():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://bucket/" + props["CodeUri"]

    class NoManagedPolicies:
        def load(self):
            return {}

    return transform(copy.deepcopy(expanded), parameters, NoManagedPolicies()), parameters


def longest(template: dict, name: str, parameters: dict):
    """A parameter's longest possible value (its allowed values, MaxLength, or what it is set to)."""
    spec = template.get("Parameters", {}).get(name, {})
    if spec.get("AllowedValues"):
        return max((str(v) for v in spec["AllowedValues"]), key=len)
    if spec.get("MaxLength"):
        return "p" * int(spec["MaxLength"])
    return str(parameters.get(name) or "")


def evaluate(value, template: dict, parameters: dict):
    """The string an intrinsic makes, taking the longest case where it depends on a choice."""
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, list):
        return [evaluate(v, template, parameters) for v in value]
    if not isinstance(value, dict) or len(value) != 1:
        return Unknown("?")
    (fn, arg), = value.items()
    if fn == "Ref":
        if arg in PSEUDO:
            return PSEUDO[arg]
        if arg in template.get("Parameters", {}):
            return longest(template, arg, parameters)
        return Unknown("r" * 64)  # a resource's physical id
    if fn == "Fn::GetAtt":
        return Unknown("g" * 64)
    if fn == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {k: evaluate(v, template, parameters) for k, v in variables.items()}

        def fill(match):
            name = match.group(1)
            if name in values:
                return str(values[name])
            return str(evaluate({"Ref": name} if "." not in name else {"Fn::GetAtt": name.split(".")}, template, parameters))

        return re.sub(r"\$\{([^}!]+)\}", fill, text)
    if fn == "Fn::Join":
        return str(arg[0]).join(str(evaluate(v, template, parameters)) for v in arg[1])
    if fn == "Fn::Split":
        return str(evaluate(arg[1], template, parameters)).split(arg[0])
    if fn == "Fn::Select":
        items = evaluate(arg[1], template, parameters)
        return items[int(arg[0])] if isinstance(items, list) and int(arg[0]) < len(items) else Unknown("?")
    if fn == "Fn::If":
        branches = [evaluate(v, template, parameters) for v in arg[1:]]
        return max((b for b in branches if isinstance(b, str)), key=len, default=Unknown("?"))
    return Unknown("?")


def at(props: dict, path: str):
    for part in path.split("."):
        if not isinstance(props, dict) or part not in props:
            return None
        props = props[part]
    return props


def refs(value) -> set[str]:
    """Every logical id a (nested) intrinsic refers to."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner if isinstance(inner, str) else inner[0]
                found.add(target.split(".")[0])
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found |= {n.split(".")[0] for n in re.findall(r"\$\{([^}!]+)\}", text)}
                if not isinstance(inner, str):
                    found |= refs(inner[1])
            else:
                found |= refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs(inner)
    return found


def cycle(resources: dict) -> list[str] | None:
    """A dependency cycle among the resources, if there is one."""
    edges = {
        name: (refs(res.get("Properties", {})) | set(res.get("DependsOn", []) if isinstance(res.get("DependsOn"), list) else [res["DependsOn"]] if res.get("DependsOn") else [])) & set(resources)
        for name, res in resources.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


_NO_VALUE = object()


def resolve_conditions(out: dict, parameters: dict) -> dict:
    """The template as deployed with `parameters`: resources whose Condition is false removed,
    every Fn::If replaced by its branch (AWS::NoValue dropping the key or item)."""
    def value(v):
        if isinstance(v, dict) and len(v) == 1 and "Ref" in v:
            return str(parameters.get(v["Ref"], PSEUDO.get(v["Ref"], "us-east-1" if v["Ref"] == "AWS::Region" else "")))
        return v

    conditions: dict[str, bool] = {}

    def holds(expr) -> bool:
        if isinstance(expr, dict) and len(expr) == 1:
            (fn, arg), = expr.items()
            if fn == "Condition":
                return condition(arg)
            if fn == "Fn::Equals":
                a, b = (str(value(x)) for x in arg)
                return a == b
            if fn == "Fn::Not":
                return not holds(arg[0])
            if fn == "Fn::And":
                return all(holds(x) for x in arg)
            if fn == "Fn::Or":
                return any(holds(x) for x in arg)
        raise ValueError(f"condition not understood: {expr}")

    def condition(name: str) -> bool:
        if name not in conditions:
            conditions[name] = holds(out["Conditions"][name])
        return conditions[name]

    def walk(v):
        if isinstance(v, dict):
            if len(v) == 1 and "Fn::If" in v:
                name, yes, no = v["Fn::If"]
                return walk(yes if condition(name) else no)
            if v == {"Ref": "AWS::NoValue"}:
                return _NO_VALUE
            out_dict = {}
            for k, inner in v.items():
                inner = walk(inner)
                if inner is not _NO_VALUE:
                    out_dict[k] = inner
            return out_dict
        if isinstance(v, list):
            return [x for x in (walk(i) for i in v) if x is not _NO_VALUE]
        return v

    parameters = {**{"AWS::Region": "us-east-1"}, **{k: v for k, v in parameters.items() if v is not None}}
    resolved = copy.deepcopy(out)
    resolved["Resources"] = {
        name: walk(res) for name, res in out["Resources"].items()
        if "Condition" not in res or condition(res["Condition"])
    }
    return resolved


def check_translated(out: dict, parameters: dict, label: str, source: dict) -> list[str]:
    problems: list[str] = []
    out = resolve_conditions(out, parameters)
    resources = out["Resources"]

    def of_type(kind: str) -> dict[str, dict]:
        return {n: r for n, r in resources.items() if r.get("Type") == kind}

    # Names within their limits, for the longest stack name.
    for name, res in resources.items():
        for (kind, path), limit in NAME_LIMITS.items():
            if res.get("Type") != kind:
                continue
            value = at(res.get("Properties", {}), path)
            if value is None:
                continue
            text = evaluate(value, out, parameters)
            if isinstance(text, str) and len(text) > limit:
                problems.append(f"{label}: {name}.{path} can be {len(text)} characters (limit {limit}) for a {len(LONGEST_STACK_NAME)}-character stack name: {text[:60]}…")

    functions = of_type("AWS::Lambda::Function")
    log_groups = of_type("AWS::Logs::LogGroup")
    alarms = of_type("AWS::CloudWatch::Alarm")
    topics = set(of_type("AWS::SNS::Topic"))

    for name, group in log_groups.items():
        if "RetentionInDays" not in group.get("Properties", {}):
            problems.append(f"{label}: log group {name} keeps its logs forever (no RetentionInDays)")

    def function_name(name: str) -> str:
        return evaluate(functions[name]["Properties"].get("FunctionName", {"Ref": name}), out, parameters)

    def dimension(alarm: dict, key: str):
        dims = alarm["Properties"].get("Dimensions") or []
        for metric in alarm["Properties"].get("Metrics") or []:
            dims = dims + (((metric.get("MetricStat") or {}).get("Metric") or {}).get("Dimensions") or [])
        return [d.get("Value") for d in dims if d.get("Name") == key]

    for name, fn in functions.items():
        props = fn.get("Properties", {})
        group = refs((props.get("LoggingConfig") or {}).get("LogGroup"))
        if not group & set(log_groups):
            problems.append(f"{label}: function {name} writes to no log group of the template (LoggingConfig.LogGroup): Lambda would make one that keeps logs forever")
        own = function_name(name)
        for metric in ("Errors", "Throttles"):
            watching = [a for a, alarm in alarms.items() if alarm["Properties"].get("MetricName") == metric
                        and alarm["Properties"].get("Namespace") == "AWS/Lambda"
                        and any(evaluate(v, out, parameters) == own for v in dimension(alarm, "FunctionName"))]
            if not watching:
                problems.append(f"{label}: function {name} ({own}) has no {metric} alarm")
        env = ((props.get("Environment") or {}).get("Variables") or {})
        for plain in PLAIN_SECRETS:
            if plain in env:
                problems.append(f"{label}: function {name} has its secret in the environment ({plain}); give {plain}_ARN")
        granted = set()
        for policy in refs(props.get("ManagedPolicyArns") or []) | {
            p for role in refs(props.get("Role")) for p in refs(resources.get(role, {}).get("Properties", {}).get("ManagedPolicyArns") or [])
        }:
            for st in ((resources.get(policy, {}).get("Properties", {}).get("PolicyDocument") or {}).get("Statement") or []):
                if "secretsmanager:GetSecretValue" in json.dumps(st.get("Action")):
                    granted |= refs(st.get("Resource"))
        for variable, value in env.items():
            if variable.endswith("_SECRET_ARN") or variable == "TACOS_ADMIN_PASSWORD_ARN":
                wanted = refs(value)
                if wanted - granted:
                    problems.append(f"{label}: function {name} is given {variable} but its role may not read {sorted(wanted - granted)}")

    # The ForEach list is every zip function.
    loop = next((v for k, v in source.get("Resources", {}).items() if k.startswith("Fn::ForEach::")), None)
    zip_names = {function_name(n).split("-", 2)[-1] for n, f in functions.items() if f["Properties"].get("PackageType") != "Image"}
    if not loop:
        problems.append("template.yaml: no Fn::ForEach of the functions' log groups and alarms")
    elif set(loop[1]) != zip_names:
        problems.append(f"template.yaml: the Fn::ForEach list differs from the functions: missing {sorted(zip_names - set(loop[1]))}, extra {sorted(set(loop[1]) - zip_names)}")

    # Every dead-letter / failure queue is alarmed on its depth.
    queues = set(of_type("AWS::SQS::Queue"))
    dead: set[str] = set()
    for q, res in of_type("AWS::SQS::Queue").items():
        dead |= refs((res.get("Properties", {}).get("RedrivePolicy") or {}).get("deadLetterTargetArn")) & queues
    for res in of_type("AWS::Events::Rule").values():
        for target in res.get("Properties", {}).get("Targets", []):
            dead |= refs(target.get("DeadLetterConfig")) & queues
    configs = of_type("AWS::Lambda::EventInvokeConfig")
    for res in configs.values():
        dead |= refs(res.get("Properties", {}).get("DestinationConfig")) & queues
    scheduler_dlq: set[str] = set()
    for fn in functions.values():
        scheduler_dlq |= refs(((fn["Properties"].get("Environment") or {}).get("Variables") or {}).get("TACOS_SCHEDULER_DLQ_ARN")) & queues
    if not scheduler_dlq:
        problems.append(f"{label}: no function is given TACOS_SCHEDULER_DLQ_ARN: undeliverable timer jobs would be dropped")
    dead |= scheduler_dlq
    for q in sorted(dead):
        if not any(alarm["Properties"].get("MetricName") == DEPTH and q in refs(dimension(alarm, "QueueName")) for alarm in alarms.values()):
            problems.append(f"{label}: dead-letter queue {q} has no alarm on {DEPTH}")
    for a, alarm in alarms.items():
        if not refs(alarm["Properties"].get("AlarmActions")) & topics:
            problems.append(f"{label}: alarm {a} notifies no SNS topic of the template")

    # The timer targets: asynchronous, so an on-failure destination; Scheduler's role.
    by_name = {function_name(n): n for n in functions}
    any_env = next(iter(functions.values()))["Properties"].get("Environment", {}).get("Variables", {})
    roles = of_type("AWS::IAM::Role")
    scheduler_roles = [r for r, res in roles.items() if "scheduler.amazonaws.com" in json.dumps(res["Properties"].get("AssumeRolePolicyDocument"))]
    role_policy = json.dumps([res["Properties"].get("Policies") for r, res in roles.items() if r in scheduler_roles])
    for variable in ("TACOS_EXPIRE_FUNCTION_ARN", "TACOS_SIMULATOR_FUNCTION_ARN"):
        arn = evaluate(any_env.get(variable), out, parameters)
        target = by_name.get(str(arn).rsplit(":", 1)[-1]) if isinstance(arn, str) else None
        if not target:
            problems.append(f"{label}: {variable} names no function of the template ({arn})")
            continue
        config = [c for c in configs.values() if target in refs(c["Properties"].get("FunctionName"))]
        destination = refs([c["Properties"].get("DestinationConfig", {}).get("OnFailure") for c in config]) & queues
        if not config or not destination:
            problems.append(f"{label}: {target} is invoked asynchronously by Scheduler but has no EventInvokeConfig with an SQS on-failure destination")
        if variable.split("_")[1].lower() not in role_policy.lower():
            problems.append(f"{label}: the Scheduler role may not invoke {target}")
    for q in scheduler_dlq:
        if "sqs:SendMessage" not in role_policy or q not in role_policy:
            problems.append(f"{label}: the Scheduler role may not send to its dead-letter queue {q}")

    # WebSocket access logging needs the account's CloudWatch role.
    accounts = set(of_type("AWS::ApiGateway::Account"))
    for name, stage in of_type("AWS::ApiGatewayV2::Stage").items():
        if "AccessLogSettings" not in stage.get("Properties", {}):
            continue
        api = resources.get(next(iter(refs(stage["Properties"].get("ApiId"))), ""), {})
        if api.get("Properties", {}).get("ProtocolType") == "WEBSOCKET":
            depends = stage.get("DependsOn", [])
            depends = [depends] if isinstance(depends, str) else depends
            if not set(depends) & accounts:
                problems.append(f"{label}: WebSocket stage {name} logs access but does not depend on an AWS::ApiGateway::Account (the account's CloudWatch role)")

    if found := cycle(resources):
        problems.append(f"{label}: circular dependency: {' -> '.join(found)}")
    return problems


def check_env_json(root: Path, source: dict) -> list[str]:
    path = root / "env.json"
    if not path.is_file():
        return ["env.json: missing (the environment of `sam local invoke --env-vars`)"]
    try:
        env = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        return [f"env.json: not JSON: {error}"]
    shared = set((((source.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables") or {})
    declared = {
        name: shared | set((((res.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}))
        for name, res in (source.get("Resources") or {}).items()
        if isinstance(res, dict) and res.get("Type") == "AWS::Serverless::Function"
    }
    problems = []
    for key, variables in env.items():
        if key == "Parameters":
            every = set().union(*declared.values())
            for variable in sorted(set(variables) - every):
                problems.append(f"env.json: Parameters sets {variable}, which no function declares (SAM would ignore it)")
        elif key not in declared:
            problems.append(f"env.json: {key} is not a function of template.yaml")
        else:
            for variable in sorted(set(variables) - declared[key]):
                problems.append(f"env.json: {key} sets {variable}, which it does not declare (SAM would ignore it)")
    return problems


def check(root: Path) -> list[str]:
    from samcli.yamlhelper import yaml_parse

    source = yaml_parse((root / "template.yaml").read_text())
    problems: list[str] = check_env_json(root, source)
    for overrides in ({}, {"EnableContainerImage": "true", "ContainerImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/tacos:lambda"}, {"EnableCloudFront": "false"}):
        label = ", ".join(f"{k}={v}" for k, v in overrides.items() if k != "ContainerImageUri") or "defaults"
        try:
            out, parameters = translate(root, overrides)
        except Exception as error:  # noqa: BLE001 - the translator's errors are the finding
            problems.append(f"{label}: SAM could not transform the template: {error}")
            continue
        problems += check_translated(out, parameters, label, source)
    return problems


def main() -> int:
    return checks.run(
        "check_operations",
        __doc__,
        check,
        "names fit any stack name; every function has a log group with retention and its alarms; "
        "every dead-letter queue is alarmed; timer targets fail to a queue; no secret in the environment; no cycle",
    )


if __name__ == "__main__":
    sys.exit(main())
