"""What a function's variables resolve to locally, as ``sam local invoke`` 1.170 resolves them.

Expected values were read off SAM itself: its envdump run (/work/research/sam/invoke/envdump-default.json)
and ``SamBaseProvider.get_template`` + ``EnvironmentVariables.resolve`` on the template below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shimimg.errors import ShimimgError
from shimimg.localinvoke import values as localvalues
from shimimg.template import load_document

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
  NoDefault: {Type: String}
  Subnets: {Type: CommaDelimitedList, Default: "a, b"}
  Count: {Type: Number, Default: 5}
Mappings:
  Sizes:
    dev: {Mem: "128"}
    prod: {Mem: "1024"}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Equals [a, a]]
  Either: !Or [!Condition IsProd, !Equals [!Ref Stage, dev]]
Globals:
  Function:
    Environment:
      Variables: {FROM_GLOBALS: g, OVERRIDDEN: from-globals}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          OVERRIDDEN: own
          ACCOUNT: !Ref AWS::AccountId
          REGION: !Ref AWS::Region
          STACK_NAME: !Ref AWS::StackName
          STACK_ID: !Ref AWS::StackId
          PARTITION: !Ref AWS::Partition
          URL_SUFFIX: !Ref AWS::URLSuffix
          NOVALUE: !Ref AWS::NoValue
          STAGE: !Ref Stage
          NO_DEFAULT: !Ref NoDefault
          COUNT: !Ref Count
          SUBNETS: !Join [";", !Ref Subnets]
          REF_QUEUE: !Ref Queue
          REF_UNKNOWN: !Ref Nowhere
          GETATT_QUEUE_ARN: !GetAtt Queue.Arn
          GETATT_QUEUE_URL: !GetAtt Queue.QueueUrl
          GETATT_TABLE_STREAM: !GetAtt Table.StreamArn
          GETATT_LONG: {"Fn::GetAtt": [Table, Arn]}
          GETATT_NAMED: !GetAtt NamedFn.Arn
          GETATT_SUB_NAMED: !GetAtt SubNamedFn.Arn
          SUB_API: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/Prod"
          SUB_STAGE: !Sub "orders-${Stage}-${AWS::AccountId}"
          SUB_ATTR: !Sub "${Queue.QueueName}"
          SUB_ARN: !Sub "${Queue.Arn}"
          SUB_NAMED_ARN: !Sub "${NamedFn.Arn}"
          SUB_VARS: !Sub ["${A}-${B}", {A: x, B: !Ref Stage}]
          SUB_LITERAL: !Sub "${!Literal}-${Stage}"
          SUB_ODD: !Sub "${ Stage }${Queue.Arn.Foo}"
          IF_COND: !If [IsProd, prod-value, other-value]
          NOT_COND: !If [NotProd, yes-not, no-not]
          AND_COND: !If [Both, yes-and, no-and]
          OR_COND: !If [Either, yes-or, no-or]
          EQUALS: !Equals [a, a]
          JOIN: !Join ["-", [!Ref Stage, !Ref AWS::Region, x]]
          SELECT: !Select [1, [p, q, r]]
          SPLIT: !Select [2, !Split [",", "p,q,r"]]
          MAP: !FindInMap [Sizes, !Ref Stage, Mem]
          B64: !Base64 hello
          AZ: !Select [0, !GetAZs ""]
          IMPORT: !ImportValue shared-table-name
          NUMBER: 42
          FLOAT: 1.5
          BOOL: true
          LIST: [a, b]
          NULLV: null
  NamedFn:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: named-literal}
  SubNamedFn:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: !Sub "named-${Stage}"}
  PlainFn:
    Type: AWS::Lambda::Function
    Properties:
      Environment: {Variables: {ONLY: own}}
  Queue: {Type: AWS::SQS::Queue}
  Table: {Type: AWS::DynamoDB::Table}
"""

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
SAM_DEFAULTS = {
    "FROM_GLOBALS": "g", "OVERRIDDEN": "own",
    "ACCOUNT": "123456789012", "REGION": "us-east-1", "STACK_NAME": "local",
    "STACK_ID": "arn:aws:cloudformation:us-east-1:123456789012:stack/local/51af3dc0-da77-11e4-872e-1234567db123",
    "PARTITION": "aws", "URL_SUFFIX": "localhost", "NOVALUE": "",
    "STAGE": "dev", "NO_DEFAULT": "NoDefault", "COUNT": "5", "SUBNETS": "a;b",
    "REF_QUEUE": "Queue", "REF_UNKNOWN": "Nowhere",
    # Arn is a Lambda function ARN whatever the resource; other attributes are "".
    "GETATT_QUEUE_ARN": ARN + "Queue", "GETATT_QUEUE_URL": "", "GETATT_TABLE_STREAM": "",
    "GETATT_LONG": ARN + "Table", "GETATT_NAMED": ARN + "named-literal", "GETATT_SUB_NAMED": "",
    "SUB_API": "https://ServerlessRestApi.execute-api.us-east-1.localhost/Prod",
    "SUB_STAGE": "orders-dev-123456789012", "SUB_ATTR": "$Queue.QueueName", "SUB_ARN": ARN + "Queue",
    "SUB_NAMED_ARN": ARN + "named-literal", "SUB_VARS": "x-dev",
    "SUB_LITERAL": "${Literal}-dev",  # as CloudFormation; SAM 1.170 leaves "${!Literal}-dev"
    "SUB_ODD": "${ Stage }${Queue.Arn.Foo}",
    "IF_COND": "other-value", "NOT_COND": "yes-not", "AND_COND": "no-and", "OR_COND": "yes-or", "EQUALS": "true",
    "JOIN": "dev-us-east-1-x", "SELECT": "q", "SPLIT": "r", "MAP": "128", "B64": "aGVsbG8=", "AZ": "us-east-1a",
    "IMPORT": "", "NUMBER": "42", "FLOAT": "1.5", "BOOL": "true", "LIST": "", "NULLV": "",
}


def resolve(tmp_path: Path, overrides=(), region="us-east-1", text=TEMPLATE) -> dict[str, dict[str, str]]:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return localvalues.resolve_environments(load_document(path), path, parameter_overrides=overrides,
                                            region=region, environ={})


# --- SAM's values ------------------------------------------------------------------------------------------

def test_every_value_is_the_one_sam_local_invoke_gives(tmp_path):
    out = resolve(tmp_path)
    assert out["Fn"] == SAM_DEFAULTS
    # Globals apply to AWS::Serverless::Function only.
    assert out["PlainFn"] == {"ONLY": "own"} and out["NamedFn"] == {"FROM_GLOBALS": "g", "OVERRIDDEN": "from-globals"}


def test_overrides_and_region_flow_through_conditions_mappings_and_arns(tmp_path):
    out = resolve(tmp_path, overrides=("Stage=prod NoDefault=given",), region="eu-west-1")["Fn"]
    changed = {k: v for k, v in out.items() if v != SAM_DEFAULTS[k]}
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:"
    assert changed == {
        "REGION": "eu-west-1", "STAGE": "prod", "NO_DEFAULT": "given",
        # SAM 1.170 keeps us-east-1 in its constant StackId; shimimg names the region, as CloudFormation does.
        "STACK_ID": "arn:aws:cloudformation:eu-west-1:123456789012:stack/local/51af3dc0-da77-11e4-872e-1234567db123",
        "GETATT_QUEUE_ARN": arn + "Queue", "GETATT_LONG": arn + "Table", "GETATT_NAMED": arn + "named-literal",
        "SUB_API": "https://ServerlessRestApi.execute-api.eu-west-1.localhost/Prod",
        "SUB_STAGE": "orders-prod-123456789012",
        "SUB_ARN": arn + "Queue", "SUB_NAMED_ARN": arn + "named-literal", "SUB_VARS": "x-prod",
        "SUB_LITERAL": "${Literal}-prod", "IF_COND": "prod-value", "NOT_COND": "no-not", "AND_COND": "yes-and",
        "JOIN": "prod-eu-west-1-x", "MAP": "1024", "AZ": "eu-west-1a",
    }


def test_a_list_parameter_given_as_text_is_split_and_stripped(tmp_path):
    assert resolve(tmp_path, overrides=('Subnets="x , y,z"',))["Fn"]["SUBNETS"] == "x;y;z"


# --- --parameter-overrides -------------------------------------------------------------------------------

@pytest.mark.parametrize("items,expected", [
    (["Stage=dev"], {"Stage": "dev"}),
    (["Stage=dev Table=orders"], {"Stage": "dev", "Table": "orders"}),
    (["Stage=dev", "Table=orders"], {"Stage": "dev", "Table": "orders"}),
    (["ParameterKey=Stage,ParameterValue=dev ParameterKey=Table,ParameterValue=orders"],
     {"Stage": "dev", "Table": "orders"}),
    (['Msg="hello world" Other=x'], {"Msg": "hello world", "Other": "x"}),
    (["Msg='hello world'"], {"Msg": "hello world"}),
    ([r"Msg=hello\ world"], {"Msg": "hello world"}),
    (["ParameterKey=Msg,ParameterValue='a b'"], {"Msg": "a b"}),
    (["Url=https://x.example.com/a?b=c,d"], {"Url": "https://x.example.com/a?b=c,d"}),
    (["List=a,b,c"], {"List": "a,b,c"}),
    (["Stage=dev Table=t", "Stage=prod"], {"Stage": "prod", "Table": "t"}),  # repeats merge, the last wins
    ([], {}),
])
def test_overrides_parse_as_sam_parses_them(items, expected):
    assert localvalues.parse_overrides(items) == expected


@pytest.mark.parametrize("item,message", [
    ("ParameterKey=Stage,ParameterValue=dev Table=orders", "mixes Key=Value and ParameterKey=K,ParameterValue=V"),
    ("AWS::Region=eu-west-1", "'AWS::Region=eu-west-1' is not Key=Value"),
    ("Empty=", "'Empty=' is not Key=Value"),
    ("ParameterKey=Stage,ParameterValue=", "is not Key=Value"),
    ("Stage", "'Stage' is not Key=Value"),
    ("=dev", "'=dev' is not Key=Value"),
    ('Msg="unclosed', "cannot read"),
])
def test_bad_overrides_are_refused(item, message):
    with pytest.raises(ShimimgError) as e:
        localvalues.parse_overrides(["Stage=ok", item])
    assert message in e.value.message and e.value.message.startswith("--parameter-overrides: ")


# --- samconfig.toml ----------------------------------------------------------------------------------------

def _samconfig(tmp_path: Path, text: str) -> None:
    (tmp_path / "samconfig.toml").write_text("version = 0.1\n" + text)


GLOBAL = '[default.global.parameters]\nparameter_overrides = "Stage=from-global NoDefault=from-global"\n'
DEPLOY = '[default.deploy.parameters]\nparameter_overrides = "Stage=from-deploy"\n'
LOCAL = '[default.local_invoke.parameters]\nparameter_overrides = "Stage=from-local-invoke"\n'


@pytest.mark.parametrize("sections,stage,no_default", [
    (GLOBAL + DEPLOY, "from-global", "from-global"),
    # local_invoke's parameter_overrides replaces global's as a whole (NoDefault falls back to its name).
    (GLOBAL + DEPLOY + LOCAL, "from-local-invoke", "NoDefault"),
    ('[default.local_invoke.parameters]\nparameter_overrides = ["Stage=list-form", "NoDefault=two"]\n',
     "list-form", "two"),
    (DEPLOY, "dev", "NoDefault"),  # deploy's section is not invoke's
])
def test_samconfig_sections_as_sam_local_invoke_reads_them(tmp_path, sections, stage, no_default):
    _samconfig(tmp_path, sections)
    out = resolve(tmp_path)["Fn"]
    assert (out["STAGE"], out["NO_DEFAULT"]) == (stage, no_default)


def test_command_line_overrides_replace_samconfigs_whole(tmp_path):
    _samconfig(tmp_path, GLOBAL + LOCAL)
    out = resolve(tmp_path, overrides=("NoDefault=cli",))["Fn"]
    assert (out["STAGE"], out["NO_DEFAULT"]) == ("dev", "cli")


def test_samconfig_errors_name_the_file(tmp_path):
    _samconfig(tmp_path, "[default.global.parameters\n")
    with pytest.raises(ShimimgError, match=r"samconfig.toml: not valid TOML"):
        localvalues.samconfig(tmp_path)
    _samconfig(tmp_path, '[default.local_invoke.parameters]\nparameter_overrides = "Stage="\n')
    with pytest.raises(ShimimgError, match=r"samconfig.toml: 'Stage=' is not Key=Value"):
        localvalues.samconfig(tmp_path)
    assert localvalues.samconfig(tmp_path / "nowhere") == ({}, None)


# --- region and credentials ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cli,config,environ,profile,expected", [
    ("eu-west-1", "us-west-2", {"AWS_DEFAULT_REGION": "ap-south-1"}, "eu-north-1", "eu-west-1"),
    (None, "us-west-2", {"AWS_DEFAULT_REGION": "ap-south-1"}, "eu-north-1", "us-west-2"),
    (None, None, {"AWS_DEFAULT_REGION": "ap-south-1", "AWS_REGION": "sa-east-1"}, "eu-north-1", "ap-south-1"),
    (None, None, {"AWS_REGION": "sa-east-1"}, "eu-north-1", "sa-east-1"),
    (None, None, {}, "eu-north-1", "eu-north-1"),
    (None, None, {}, None, "us-east-1"),
])
def test_region_precedence(tmp_path, cli, config, environ, profile, expected):
    if config:
        _samconfig(tmp_path, f'[default.local_invoke.parameters]\nregion = "{config}"\n')
    assert localvalues.region_of(cli, tmp_path / "template.yaml", environ, profile) == expected


def test_credentials_from_the_environment_need_no_boto3(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    keys = {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "S"}
    assert localvalues.session_credentials(None, keys) == (keys, None)
    assert localvalues.session_credentials(None, {**keys, "AWS_SESSION_TOKEN": "T"})[0]["AWS_SESSION_TOKEN"] == "T"
    assert localvalues.session_credentials(None, {"AWS_ACCESS_KEY_ID": "AKID"}) == (None, None)
