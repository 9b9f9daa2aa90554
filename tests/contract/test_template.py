"""template.yaml as a reviewer reads it before a production deploy."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from ordering_local.template import read
from ordering_local.tools import alarms
from tests.support import ROOT


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = read(ROOT)
    return loaded


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for policy in properties.get("Policies", []) or []:
            document = policy.get("PolicyDocument", policy) if isinstance(policy, dict) else {}
            for statement in document.get("Statement", []):
                yield name, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_function_runs_on_the_shared_layer_from_its_own_folder(template: dict[str, Any]) -> None:
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "OrderingLayer"}]
    layer = template["Resources"]["OrderingLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"  # layers/ordering/Makefile
    for name, function in _of_type(template, "AWS::Serverless::Function").items():
        assert "Layers" not in function["Properties"], name
        assert function["Properties"]["CodeUri"].startswith("functions/"), name


def test_no_statement_grants_every_action_on_every_resource(template: dict[str, Any]) -> None:
    statements = list(_statements(template))
    assert statements
    for name, statement in statements:
        actions = [str(a) for a in _as_list(statement.get("Action", []))]
        resources = _as_list(statement.get("Resource", []))
        assert not any(a == "*" or a.endswith(":*") for a in actions), (name, statement)
        assert "*" not in resources, (name, statement)


def test_the_function_alarms_are_the_ones_generated_from_their_one_definition() -> None:
    text = (ROOT / "template.yaml").read_text()
    assert alarms.current(text) == alarms.generated(text), "run `.venv/bin/ordering-local alarms`"


def test_every_function_has_a_log_group_with_retention_and_alarms(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    alarms = _of_type(template, "AWS::CloudWatch::Alarm").values()
    watched = {
        (alarm["Properties"]["MetricName"], alarm["Properties"]["Dimensions"][0]["Value"].get("Ref"))
        for alarm in alarms
        if alarm["Properties"]["Namespace"] == "AWS/Lambda"
    }
    for name, function in _of_type(template, "AWS::Serverless::Function").items():
        group = resources[function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup", name
        assert group["Properties"]["RetentionInDays"], name
        assert {("Errors", name), ("Throttles", name)} <= watched, name


def test_failures_conflicts_and_5xx_raise_alarms(template: dict[str, Any]) -> None:
    metrics = {a["Properties"]["MetricName"] for a in _of_type(template, "AWS::CloudWatch::Alarm").values()}
    expected = {"DeadLetters", "OrderConflicts", "5XXError", "OffsetLag", "Latency", "DatabaseConnectionsBorrowLatency"}
    assert expected <= metrics


def test_every_msk_source_reports_partial_failures_retries_bisects_and_has_a_destination(
    template: dict[str, Any],
) -> None:
    sources = [
        event["Properties"]
        for function in _of_type(template, "AWS::Serverless::Function").values()
        for event in (function["Properties"].get("Events") or {}).values()
        if event["Type"] == "MSK"
    ]
    assert len(sources) == 5
    for source in sources:
        assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert source["BisectBatchOnFunctionError"] is True
        assert 0 < source["MaximumRetryAttempts"] <= 10
        # S3 keeps the failed batch's payloads; SQS would keep only their coordinates
        assert source["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": ["ConsumerFailureBucket", "Arn"]
        }
        assert source["ProvisionedPollerConfig"]["MinimumPollers"] >= 1
        assert source["StartingPosition"] == {"Ref": "KafkaStartingPosition"}
    assert template["Parameters"]["KafkaStartingPosition"]["Default"] == "LATEST"


def test_every_event_source_mapping_has_a_consumer_group_of_its_own(template: dict[str, Any]) -> None:
    # A group id shared by two mappings (of one function or of two stages in one account) makes
    # them fight over the partitions of one group: each mapping gets its own, with its stage.
    for name, function in _of_type(template, "AWS::Serverless::Function").items():
        groups = [
            event["Properties"]["ConsumerGroupId"]["Fn::Sub"]
            for event in (function["Properties"].get("Events") or {}).values()
            if event["Type"] == "MSK"
        ]
        granted = [
            resource["Fn::Sub"][0].rpartition("/")[2]
            for statement in function["Properties"]["Policies"][0]["Statement"]
            if "kafka-cluster:AlterGroup" in statement["Action"]
            for resource in statement["Resource"]
        ]
        assert sorted(groups) == sorted(granted), name
        assert all("${Stage}" in group for group in groups), name
    every = [
        event["Properties"]["ConsumerGroupId"]["Fn::Sub"]
        for function in _of_type(template, "AWS::Serverless::Function").values()
        for event in (function["Properties"].get("Events") or {}).values()
        if event["Type"] == "MSK"
    ]
    assert len(every) == len(set(every)) == 5


def test_the_data_stores_admit_only_the_functions(template: dict[str, Any]) -> None:
    groups = _of_type(template, "AWS::EC2::SecurityGroup")
    ingress = {name: group["Properties"].get("SecurityGroupIngress", []) for name, group in groups.items()}
    assert ingress["FunctionSecurityGroup"] == []
    assert [rule["SourceSecurityGroupId"] for rule in ingress["ProxySecurityGroup"]] == [
        {"Ref": "FunctionSecurityGroup"}
    ]
    assert [rule["SourceSecurityGroupId"] for rule in ingress["CacheSecurityGroup"]] == [
        {"Ref": "FunctionSecurityGroup"}
    ]
    assert [rule["SourceSecurityGroupId"] for rule in ingress["DatabaseSecurityGroup"]] == [
        {"Ref": "ProxySecurityGroup"}
    ]
    for rules in ingress.values():
        assert all("CidrIp" not in rule for rule in rules)


def test_aurora_serverless_behind_rds_proxy_with_a_managed_secret_and_tls(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    cluster = resources["DatabaseCluster"]["Properties"]
    assert cluster["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in cluster
    assert cluster["StorageEncrypted"] is True
    assert cluster["ServerlessV2ScalingConfiguration"]["MinCapacity"] == {"Ref": "DatabaseMinCapacity"}
    assert template["Parameters"]["DatabaseMinCapacity"]["MinValue"] >= 0.5
    assert resources["DatabaseInstance"]["Properties"]["DBInstanceClass"] == "db.serverless"
    assert resources["DatabaseProxy"]["Properties"]["RequireTLS"] is True
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["DATABASE_HOST"] == {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]}
    assert environment["DATABASE_SSLMODE"] == "verify-full"
    assert environment["DATABASE_SSLROOTCERT"].endswith(".crt")
    assert environment["REDIS_URL"]["Fn::Sub"].startswith("rediss://")


def test_migrations_run_on_deploy_through_a_custom_resource(template: dict[str, Any]) -> None:
    migrations = template["Resources"]["Migrations"]
    assert migrations["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["MigrateFunction", "Arn"]}
    assert migrations["Properties"]["LayerVersion"] == {"Ref": "OrderingLayer"}
    assert migrations["DependsOn"] == ["DatabaseProxyTargetGroup", "VpcEndpointsReady"]
    # CloudFormation waits for the answer a little longer than the function may run, not an hour
    timeout = template["Resources"]["MigrateFunction"]["Properties"]["Timeout"]
    assert timeout < migrations["Properties"]["ServiceTimeout"] <= timeout + 60


def test_no_function_runs_new_code_before_its_migrations(template: dict[str, Any]) -> None:
    for name, function in _of_type(template, "AWS::Serverless::Function").items():
        if name != "MigrateFunction":
            assert function.get("DependsOn") == "Migrations", name


# What each engine offers (CreateServerlessCache, CreateDBCluster): no linter checks the values.
ENGINE_MAJOR_VERSIONS = {"valkey": {"7", "8"}, "redis": {"7"}, "aurora-postgresql": {"13", "14", "15", "16", "17"}}


def test_the_engine_versions_named_exist(template: dict[str, Any]) -> None:
    cache = template["Resources"]["Cache"]["Properties"]
    assert cache["MajorEngineVersion"] in ENGINE_MAJOR_VERSIONS[cache["Engine"]]
    cluster = template["Resources"]["DatabaseCluster"]["Properties"]
    assert cluster["EngineVersion"].split(".")[0] in ENGINE_MAJOR_VERSIONS[cluster["Engine"]]


def test_deploys_are_versioned_behind_an_alias_and_name_their_stage(template: dict[str, Any]) -> None:
    assert template["Globals"]["Function"]["AutoPublishAlias"] == "live"
    # no implicit extra API stage "Stage" (SAM adds one when OpenApiVersion is unset)
    assert template["Globals"]["Api"]["OpenApiVersion"].startswith("3.")
    assert "Default" not in template["Parameters"]["Stage"]


def test_prod_has_a_failover_instance(template: dict[str, Any]) -> None:
    replica = template["Resources"]["DatabaseReplicaInstance"]
    assert replica["Condition"] == "IsProd"
    assert replica["Properties"]["DBClusterIdentifier"] == {"Ref": "DatabaseCluster"}


def test_the_api_throttles_logs_access_and_allows_cors(template: dict[str, Any]) -> None:
    api = template["Resources"]["Api"]["Properties"]
    throttling = api["MethodSettings"][0]
    assert (throttling["ThrottlingRateLimit"], throttling["ThrottlingBurstLimit"]) == (
        {"Ref": "ApiThrottleRate"},
        {"Ref": "ApiThrottleBurst"},
    )
    parameters = template["Parameters"]
    assert (parameters["ApiThrottleRate"]["Default"], parameters["ApiThrottleBurst"]["Default"]) == (100, 200)
    # and the internal API's own, raised with it for an on-sale (Fulfillment reads each paid order)
    internal = template["Resources"]["InternalApi"]["Properties"]["MethodSettings"][0]
    assert (internal["ThrottlingRateLimit"], internal["ThrottlingBurstLimit"]) == (
        {"Ref": "InternalApiThrottleRate"},
        {"Ref": "InternalApiThrottleBurst"},
    )
    assert (parameters["InternalApiThrottleRate"]["Default"], parameters["InternalApiThrottleBurst"]["Default"]) == (
        50,
        100,
    )
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert "Authorization" in api["Cors"]["AllowHeaders"]


def _routes(template: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(API, method, path) of every Api event of every function."""
    return {
        (event["Properties"]["RestApiId"]["Ref"], event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for function in _of_type(template, "AWS::Serverless::Function").values()
        for event in (function["Properties"].get("Events") or {}).values()
        if event["Type"] == "Api"
    }


def test_the_internal_api_is_private_to_the_platforms_vpc_endpoint(template: dict[str, Any]) -> None:
    internal = template["Resources"]["InternalApi"]["Properties"]
    endpoint = {"Ref": "PlatformVpcEndpointId"}
    assert internal["EndpointConfiguration"] == {"Type": "PRIVATE", "VPCEndpointIds": [endpoint]}
    assert internal["Auth"]["ResourcePolicy"] == {"IntrinsicVpceWhitelist": [endpoint]}
    # the functions tell it from the public API by its stage variable, which no caller can set
    assert internal["Variables"] == {"api": "internal"}
    assert "Variables" not in template["Resources"]["Api"]["Properties"]
    assert template["Parameters"]["PlatformVpcEndpointId"]["AllowedPattern"] == "^vpce-[0-9a-f]+$"
    assert internal["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["InternalApiAccessLogs", "Arn"]}


def test_each_api_serves_its_routes_and_no_other(template: dict[str, Any]) -> None:
    routes = _routes(template)
    assert {(method, path) for api, method, path in routes if api == "InternalApi"} == {
        ("GET", "/orders/{orderId}"),
        ("GET", "/Orders/{orderId}"),
        ("POST", "/orders/waitlist"),
        ("PATCH", "/orders/{orderId}/cancel"),
    }
    assert {(method, path) for api, method, path in routes if api == "Api"} == {
        ("GET", "/cart"),
        ("DELETE", "/cart/items/{seatId}"),
        ("GET", "/orders"),
        ("GET", "/health"),
        ("GET", "/health/ready"),
        ("POST", "/cart/add"),
        ("POST", "/orders/checkout"),
        ("GET", "/orders/{orderId}"),
        ("PATCH", "/orders/{orderId}/cancel"),
    }
    assert "X-User-Id" in template["Resources"]["Api"]["Properties"]["Cors"]["AllowHeaders"]


def test_only_the_migrations_use_the_clusters_master_user(template: dict[str, Any]) -> None:
    master = {"Fn::GetAtt": ["DatabaseCluster", "MasterUserSecret.SecretArn"]}
    assert template["Globals"]["Function"]["Environment"]["Variables"]["DATABASE_SECRET_ARN"] == {
        "Ref": "ServiceDatabaseSecret"
    }
    readers = {
        name
        for name, statement in _statements(template)
        if "secretsmanager:GetSecretValue" in _as_list(statement["Action"])
        and master in _as_list(statement["Resource"])
    }
    assert readers == {"MigrateFunction", "DatabaseProxyRole"}
    migrate = template["Resources"]["MigrateFunction"]["Properties"]["Environment"]["Variables"]
    assert (migrate["DATABASE_SECRET_ARN"], migrate["SERVICE_DATABASE_SECRET_ARN"]) == (
        master,
        {"Ref": "ServiceDatabaseSecret"},
    )


def test_only_the_relay_writes_to_kafka_and_only_to_the_order_topics(template: dict[str, Any]) -> None:
    writes = {
        name: statement
        for name, statement in _statements(template)
        if any(str(action).startswith("kafka-cluster:Write") for action in _as_list(statement["Action"]))
    }
    assert set(writes) == {"OutboxRelayFunction"}
    relay = [statement for name, statement in _statements(template) if name == "OutboxRelayFunction"]
    kafka = {tuple(sorted(_as_list(s["Action"]))): s["Resource"] for s in relay if "kafka-cluster:Connect" in
             _as_list(s["Action"]) or "kafka-cluster:WriteData" in _as_list(s["Action"])}  # fmt: skip
    assert kafka[("kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently")] == {"Ref": "MskClusterArn"}
    topics = [
        resource["Fn::Sub"][1]["Topic"]
        for resource in kafka[("kafka-cluster:DescribeTopic", "kafka-cluster:WriteData")]
    ]
    assert topics == [
        {"Ref": t} for t in ("OrderCheckedOutTopic", "OrderPaidTopic", "OrderFulfilledTopic", "OrderCancelledTopic")
    ]
    # the relay runs every minute, for about a minute, and the waiting events raise an alarm
    relay_function = template["Resources"]["OutboxRelayFunction"]["Properties"]
    assert relay_function["Events"]["EveryMinute"]["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert 60 < relay_function["Timeout"] * 0.9 - 1 < 65
    alarm = template["Resources"]["UnpublishedOrderEvents"]["Properties"]
    assert (alarm["MetricName"], alarm["TreatMissingData"]) == ("OldestUnpublishedAge", "breaching")


# A first deploy into a new account: what would stop it, or leave the stack half-working after it.


def test_the_functions_run_python_3_13_on_graviton(template: dict[str, Any]) -> None:
    function = template["Globals"]["Function"]
    layer = template["Resources"]["OrderingLayer"]
    assert (function["Runtime"], function["Architectures"]) == ("python3.13", ["arm64"])
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"


def test_api_gateways_logging_role_can_be_set_in_a_new_account_and_the_stages_wait_for_it(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    account = resources["ApiGatewayAccount"]
    assert account["Condition"] == "CreatesApiGatewayAccountRole"
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    assert account["DeletionPolicy"] == resources["ApiGatewayCloudWatchRole"]["DeletionPolicy"] == "Retain"
    assert template["Parameters"]["CreateApiGatewayAccountRole"]["Default"] == "false"  # account-wide: asked for
    for api in ("Api", "InternalApi"):
        assert resources[api]["DependsOn"] == "ApiGatewayAccountReady"
    ready = resources["ApiGatewayAccountReady"]["Metadata"]["Account"]
    assert ready["Fn::If"][:2] == ["CreatesApiGatewayAccountRole", {"Ref": "ApiGatewayAccount"}]


def test_secrets_manager_and_s3_endpoints_can_be_created_for_private_subnets_without_a_route(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    secrets, s3 = resources["SecretsManagerEndpoint"], resources["S3Endpoint"]
    assert secrets["Condition"] == s3["Condition"] == "CreatesVpcEndpoints"
    assert secrets["Properties"]["VpcEndpointType"] == "Interface"
    assert secrets["Properties"]["PrivateDnsEnabled"] is True
    assert secrets["Properties"]["SubnetIds"] == {"Ref": "SubnetIds"}
    assert s3["Properties"]["VpcEndpointType"] == "Gateway"
    assert s3["Properties"]["RouteTableIds"] == {"Ref": "RouteTableIds"}
    [ingress] = resources["EndpointSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert (ingress["FromPort"], ingress["SourceSecurityGroupId"]) == (443, {"Ref": "FunctionSecurityGroup"})
    # the migrations answer CloudFormation through S3: created after the endpoints, deleted before them
    assert "VpcEndpointsReady" in resources["Migrations"]["DependsOn"]
    endpoints = resources["VpcEndpointsReady"]["Metadata"]["Endpoints"]["Fn::If"]
    assert endpoints[:2] == ["CreatesVpcEndpoints", [{"Ref": "SecretsManagerEndpoint"}, {"Ref": "S3Endpoint"}]]
    # and they are not asked for without the route tables the S3 endpoint needs
    rule = template["Rules"]["VpcEndpointsNeedRouteTables"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "CreateVpcEndpoints"}, "true"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Contains": [{"Ref": "RouteTableIds"}, ""]}]}


def test_the_functions_are_admitted_to_the_msk_clusters_security_group(template: dict[str, Any]) -> None:
    ingress = template["Resources"]["FunctionToMskIngress"]
    assert ingress["Condition"] == "HasMskSecurityGroup"
    properties = ingress["Properties"]
    assert properties["GroupId"] == {"Ref": "MskSecurityGroupId"}
    assert (properties["FromPort"], properties["ToPort"]) == (9098, 9098)
    assert properties["SourceSecurityGroupId"] == {"Ref": "FunctionSecurityGroup"}


def test_msk_topic_and_group_arns_name_the_clusters_account_and_region(template: dict[str, Any]) -> None:
    arns = []
    for _, statement in _statements(template):
        for resource in _as_list(statement.get("Resource")):
            if isinstance(resource, dict) and "Fn::Sub" in resource and ":kafka:" in str(resource["Fn::Sub"][0]):
                arns.append(resource["Fn::Sub"])
    assert len(arns) >= 14
    for pattern, variables in arns:
        assert pattern.startswith("arn:${AWS::Partition}:kafka:${ClusterRegion}:${ClusterAccount}:"), pattern
        assert variables["ClusterAccount"] == {"Fn::Select": [4, {"Fn::Split": [":", {"Ref": "MskClusterArn"}]}]}
        assert variables["ClusterRegion"] == {"Fn::Select": [3, {"Fn::Split": [":", {"Ref": "MskClusterArn"}]}]}


def test_the_event_sources_share_one_poller_group(template: dict[str, Any]) -> None:
    groups = [
        dict(event["Properties"]["ProvisionedPollerConfig"]["PollerGroupName"])
        for function in _of_type(template, "AWS::Serverless::Function").values()
        for event in (function["Properties"].get("Events") or {}).values()
        if event["Type"] == "MSK"
    ]
    assert groups == [{"Fn::Sub": "ordering-${Stage}"}] * 5


def test_snapstart_is_on_for_the_api_functions_in_prod_and_nowhere_else(template: dict[str, Any]) -> None:
    api_functions = {
        name
        for name, function in _of_type(template, "AWS::Serverless::Function").items()
        if any(event["Type"] == "Api" for event in (function["Properties"].get("Events") or {}).values())
    }
    for name, function in _of_type(template, "AWS::Serverless::Function").items():
        snapstart = function["Properties"].get("SnapStart")
        if name in api_functions:
            assert snapstart == {"ApplyOn": {"Fn::If": ["UsesSnapStart", "PublishedVersions", "None"]}}, name
        else:
            assert snapstart is None, name
    assert template["Parameters"]["ApiSnapStart"]["Default"] == "prod"
    assert template["Globals"]["Function"]["AutoPublishAlias"] == "live"  # SnapStart snapshots versions


def test_an_api_request_and_the_proxys_borrow_wait_the_same_budget(template: dict[str, Any]) -> None:
    # Given the template's budget of an API request's database waits
    budget = template["Parameters"]["ApiRequestBudgetSeconds"]
    assert (budget["Default"], budget["MaxValue"]) == (3, 9)  # below the functions' 10 s, less its margin
    assert budget["AllowedValues"] == list(range(1, 10))  # whole seconds, as the proxy takes them
    # Then the functions read it, and RDS Proxy gives up a borrow after as long
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["API_REQUEST_BUDGET_S"] == {"Ref": "ApiRequestBudgetSeconds"}
    pool = template["Resources"]["DatabaseProxyTargetGroup"]["Properties"]["ConnectionPoolConfigurationInfo"]
    assert pool["ConnectionBorrowTimeout"] == {"Ref": "ApiRequestBudgetSeconds"}


def test_a_web_acl_fronts_the_public_api_only_when_one_is_named(template: dict[str, Any]) -> None:
    # Given the template's optional web ACL
    association = template["Resources"]["ApiWebAclAssociation"]
    # Then it is associated with the public API's stage, and only when WebAclArn is set
    assert association["Condition"] == "HasWebAcl"
    assert template["Conditions"]["HasWebAcl"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "WebAclArn"}, ""]}]}
    assert association["Properties"]["WebACLArn"] == {"Ref": "WebAclArn"}
    assert association["Properties"]["ResourceArn"]["Fn::Join"][1][1] == {"Ref": "Api.Stage"}


def test_what_an_on_sale_sets_beforehand_are_parameters(template: dict[str, Any]) -> None:
    # Given the parameters an on-sale sets a day before (README: The on-sale, before and during)
    parameters = template["Parameters"]
    # Then the seats per customer and event reach the functions, 10 by default, 0 for no limit
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["MAX_SEATS_PER_EVENT"] == {"Ref": "MaxSeatsPerEvent"}
    assert (parameters["MaxSeatsPerEvent"]["Default"], parameters["MaxSeatsPerEvent"]["MinValue"]) == (10, 0)
    # and the writer's capacity can be held up from the first second, as low as before by default
    clusters = _of_type(template, "AWS::RDS::DBCluster")
    scaling = next(iter(clusters.values()))["Properties"]["ServerlessV2ScalingConfiguration"]
    assert scaling == {"MinCapacity": {"Ref": "DatabaseMinCapacity"}, "MaxCapacity": {"Ref": "DatabaseMaxCapacity"}}
    assert parameters["DatabaseMinCapacity"]["Default"] == 0.5


def test_the_on_sale_dashboard_is_json_whose_every_name_is_the_stacks(template: dict[str, Any]) -> None:
    # Given the on-sale dashboard's body, before CloudFormation substitutes its names
    body = template["Resources"]["OnSaleDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}]+)\}", body))
    # Then every name it substitutes is a parameter, a resource or a pseudo parameter
    known = {*template["Parameters"], *template["Resources"], "AWS::Region"}
    assert names <= known, names - known
    # and what it becomes is JSON with a metric widget for each thing watched
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "name", body))["widgets"]
    watched = {metric[1] for widget in widgets for metric in widget["properties"]["metrics"] if metric[0] != "..."}
    assert {"Count", "5XXError", "Latency", "Throttles", "ConcurrentExecutions", "DatabaseConnectionsBorrowLatency",
            "ServerlessDatabaseCapacity", "Deadlocks", "OffsetLag", "OldestUnpublishedAge"} <= watched  # fmt: skip


def test_what_api_gateway_answers_itself_in_a_crowd_says_when_to_retry(template: dict[str, Any]) -> None:
    # Given the public API's own answers, for requests its throttle refuses and for functions
    # Lambda would not invoke (their concurrency exhausted: API Gateway's default is a bare 500)
    public = template["Resources"]["Api"]["Properties"]["GatewayResponses"]
    internal = template["Resources"]["InternalApi"]["Properties"]["GatewayResponses"]
    # Then each is the contract's shape and status and says when to retry, on both APIs, and a
    # browser may read the public API's
    for kind, status, body in (("THROTTLED", 429, "Too many requests"), ("INTEGRATION_FAILURE", 503,
                               "Service unavailable")):  # fmt: skip
        for response in (public[kind], internal[kind]):
            assert response["StatusCode"] == status
            assert json.loads(response["ResponseTemplates"]["application/json"]) == {"error": body}
            assert response["ResponseParameters"]["Headers"]["Retry-After"] == "'1'"
        allowed = public[kind]["ResponseParameters"]["Headers"]["Access-Control-Allow-Origin"]
        assert allowed == {"Fn::Sub": "'${AllowedOrigin}'"}
