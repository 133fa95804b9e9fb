"""bootstrap/: the clouds' side of the GitHub OIDC trust, run under Pulumi's mock engine, its rendered conditions
evaluated against example token claims (issue 17, Critical: "if the cloud trust is repository-wide, [a branch pull
request can] act as the deploy identities"; "the cloud side of the OIDC trust is not declared anywhere").

The evaluators below implement exactly what bootstrap emits: IAM's StringEquals/StringLike on the token's claims
(docs.aws.amazon.com IAM "Condition operators": StringLike takes * and ? wildcards), and the CEL subset of the GCP
provider's attribute condition (==, !=, &&, ||, !, `in` a list, parentheses, 'strings', assertion.<claim>).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
from typing import Any

import pulumi
import pytest
import yaml

from bootstrap.program import declare
from bootstrap.trust import Settings
from infra import sdk
from tests.conftest import ROOT, stack_config

REPO = "acme/llm-fleet"
POOL = "projects/123456789/locations/global/workloadIdentityPools/github-actions"
PROVIDER_TYPE = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"


class _Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[tuple[str, str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == "gcp:iam/workloadIdentityPool:WorkloadIdentityPool":
            outputs["name"] = POOL
        if args.typ == "gcp:serviceaccount/account:Account":
            outputs["name"] = f"projects/p/serviceAccounts/{args.inputs['accountId']}@p.iam.gserviceaccount.com"
            outputs["email"] = f"{args.inputs['accountId']}@p.iam.gserviceaccount.com"
        if args.typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            outputs["arn"] = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
        if args.typ == "aws:iam/role:Role":
            outputs["arn"] = f"arn:aws:iam::111122223333:role/{args.inputs['name']}"
        if args.typ == "aws:kms/key:Key":
            outputs["arn"] = "arn:aws:kms:us-east-1:111122223333:key/k"
            outputs["keyId"] = "k"
        self.resources.append((args.typ, args.name, outputs))
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def render(settings: Settings) -> list[tuple[str, str, dict[str, Any]]]:
    # The SDK makes its futures on the thread's current event loop; an earlier test's asyncio.run leaves none, so
    # bring one (as infra/plan.py does) and close it after.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        mocks = _Recorder()
        pulumi.runtime.set_mocks(mocks, project="llm-fleet-bootstrap", stack=settings.stack, preview=False)
        sdk.reset_root_stack()
        sdk.run_program(lambda: declare(settings))
        return mocks.resources
    finally:
        asyncio.set_event_loop(None)
        loop.close()


# --- AWS ---------------------------------------------------------------------------------------------------------

def aws_allows(policy: dict[str, Any], claims: dict[str, str], provider_arn: str) -> bool:
    """Whether AssumeRoleWithWebIdentity with a token of these claims, via this provider, is allowed."""
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow" or statement["Action"] != "sts:AssumeRoleWithWebIdentity":
            continue
        if statement["Principal"].get("Federated") != provider_arn:
            continue
        ok = True
        for operator, tests in statement.get("Condition", {}).items():
            for key, expected in tests.items():
                claim = claims.get(key.removeprefix("token.actions.githubusercontent.com:"))
                values = expected if isinstance(expected, list) else [expected]
                if operator == "StringEquals":
                    ok &= claim in values
                elif operator == "StringLike":
                    ok &= claim is not None and any(fnmatch.fnmatchcase(claim, v) for v in values)
                else:
                    raise AssertionError(f"operator {operator} is not evaluated here")
        if ok:
            return True
    return False


def token(sub: str, repository: str = REPO, ref: str = "refs/heads/main", aud: str = "sts.amazonaws.com"):
    return {"sub": sub, "repository": repository, "ref": ref, "aud": aud}


PROVIDER_ARN = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
# Claim sets, worked out from GitHub's subject formats (docs.github.com/en/actions/reference/security/oidc):
AWS_CASES = {
    "prod's deploy job from main": (token(f"repo:{REPO}:environment:eks-prod"), {"deploy"}),
    "prod's approved preview": (token(f"repo:{REPO}:environment:preview-eks-prod", ref="refs/pull/7/merge"),
                                {"preview"}),
    "the promote job": (token(f"repo:{REPO}:environment:promote-eks-prod"), {"promote"}),
    "a branch pull request without an environment": (token(f"repo:{REPO}:pull_request", ref="refs/pull/7/merge"),
                                                     set()),
    "a push to a branch": (token(f"repo:{REPO}:ref:refs/heads/feature"), set()),
    "a fork's own workflow naming prod": (token("repo:mallory/llm-fleet:environment:eks-prod",
                                                repository="mallory/llm-fleet"), set()),
    "another repository of the organisation": (token("repo:acme/other:environment:eks-prod", repository="acme/other"),
                                               set()),
    "staging's deploy token": (token(f"repo:{REPO}:environment:eks-staging"), set()),
    "a token for another audience": (token(f"repo:{REPO}:environment:eks-prod", aud="https://github.com/acme"), set()),
}


@pytest.fixture(scope="module")
def eks_prod():
    resources = render(Settings(repository=REPO, stack="eks-prod", cloud="eks", aws_region="us-east-1"))
    roles = {r["name"]: json.loads(r["assumeRolePolicy"]) for t, _, r in resources if t == "aws:iam/role:Role"}
    return resources, roles


def test_the_aws_side_declares_githubs_oidc_provider_for_sts(eks_prod):
    resources, _ = eks_prod
    (provider,) = [r for t, _, r in resources if t == "aws:iam/openIdConnectProvider:OpenIdConnectProvider"]
    assert provider["url"] == "https://token.actions.githubusercontent.com"
    assert provider["clientIdLists"] == ["sts.amazonaws.com"]


@pytest.mark.parametrize("case", AWS_CASES, ids=list(AWS_CASES))
def test_only_the_named_environments_token_assumes_each_aws_role(eks_prod, case):
    _, roles = eks_prod
    claims, expected = AWS_CASES[case]
    allowed = {name.removeprefix("llm-fleet-eks-prod-") for name, policy in roles.items()
               if aws_allows(policy, claims, PROVIDER_ARN)}
    assert allowed == expected


def test_aws_preview_is_read_only_and_deploy_is_the_tiers_admin(eks_prod):
    resources, _ = eks_prod
    attached = {r["role"]: r["policyArn"] for t, _, r in resources
                if t == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"}
    assert attached == {"llm-fleet-eks-prod-deploy": "arn:aws:iam::aws:policy/AdministratorAccess",
                        "llm-fleet-eks-prod-preview": "arn:aws:iam::aws:policy/ReadOnlyAccess",
                        "llm-fleet-eks-prod-promote": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser"}
    kms = {r["role"]: json.loads(r["policy"])["Statement"][0]["Action"] for t, _, r in resources
           if t == "aws:iam/rolePolicy:RolePolicy"}
    # Preview decrypts the stack's secrets and never encrypts; promote never touches them. (The role's id, as the
    # mock engine gives it: "<resource name>-id".)
    assert kms == {"deploy-id": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], "preview-id": ["kms:Decrypt"]}


# --- GCP ---------------------------------------------------------------------------------------------------------

_CEL = re.compile(r"\s*(?:(?P<str>'[^']*')|(?P<op>&&|\|\||==|!=|!|\(|\)|\[|\]|,)|(?P<name>[A-Za-z_][\w.]*))")


def cel(expression: str, assertion: dict[str, str]) -> bool:
    """Evaluate the CEL subset bootstrap emits (precedence: ! > == != in > && > ||)."""
    tokens = []
    pos = 0
    while pos < len(expression.rstrip()):
        m = _CEL.match(expression, pos)
        assert m and m.end() > pos, expression[pos:]
        tokens.append((m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    i = 0

    def peek():
        return tokens[i][1] if i < len(tokens) else None

    def take():
        nonlocal i
        i += 1
        return tokens[i - 1]

    def primary():
        kind, text = take()
        if text == "(":
            value = disjunction()
            assert take()[1] == ")"
            return value
        if text == "!":
            return not primary()
        if text == "[":
            items = []
            while peek() != "]":
                items.append(primary())
                if peek() == ",":
                    take()
            take()
            return items
        if kind == "str":
            return text[1:-1]
        assert kind == "name" and text.startswith("assertion."), text
        return assertion[text.removeprefix("assertion.")]  # a missing claim is an error, as in CEL

    def comparison():
        left = primary()
        if peek() in ("==", "!=", "in"):
            op = take()[1]
            right = primary()
            return left == right if op == "==" else left != right if op == "!=" else left in right
        return left

    def conjunction():
        value = comparison()
        while peek() == "&&":
            take()
            right = comparison()
            value = value and right
        return value

    def disjunction():
        value = conjunction()
        while peek() == "||":
            take()
            right = conjunction()
            value = value or right
        return value

    result = disjunction()
    assert i == len(tokens)
    return bool(result)


@pytest.fixture(scope="module")
def gke_prod():
    return render(Settings(repository=REPO, stack="prod", cloud="gke", gcp_project="acme-llm-prod"))


def gcp_accounts_for(resources, claims: dict[str, str]) -> set[str]:
    """The service accounts a token may impersonate: the provider's condition holds, and a workloadIdentityUser
    binding names its subject (google.subject = assertion.sub) in our pool."""
    (provider,) = [r for t, _, r in resources if t == PROVIDER_TYPE]
    assert provider["attributeMapping"]["google.subject"] == "assertion.sub"
    if claims.get("iss", "https://token.actions.githubusercontent.com") != provider["oidc"]["issuerUri"]:
        return set()
    if not cel(provider["attributeCondition"], claims):
        return set()
    member = f"principal://iam.googleapis.com/{POOL}/subject/{claims['sub']}"
    return {r["serviceAccountId"].split("/")[-1].split("@")[0].removeprefix("llm-fleet-") for t, _, r in resources
            if t == "gcp:serviceaccount/iAMMember:IAMMember" and r["role"] == "roles/iam.workloadIdentityUser"
            and r["member"] == member}


GCP_CASES = {
    "prod's deploy job from main": (token(f"repo:{REPO}:environment:prod"), {"deploy"}),
    # GCP also checks the ref: a job naming `prod` from a branch (a deployment branch policy left open) is refused.
    "prod's environment from a branch": (token(f"repo:{REPO}:environment:prod", ref="refs/heads/feature"), set()),
    "prod's approved preview of a pull request": (token(f"repo:{REPO}:environment:preview-prod",
                                                        ref="refs/pull/7/merge"), {"preview"}),
    "the promote job from main": (token(f"repo:{REPO}:environment:promote-prod"), {"promote"}),
    "the promote job from a branch": (token(f"repo:{REPO}:environment:promote-prod", ref="refs/heads/x"), set()),
    "a branch pull request without an environment": (token(f"repo:{REPO}:pull_request", ref="refs/pull/7/merge"),
                                                     set()),
    "a fork's own workflow naming prod": (token("repo:mallory/llm-fleet:environment:prod",
                                                repository="mallory/llm-fleet"), set()),
    "another repository claiming our subject": (token(f"repo:{REPO}:environment:prod", repository="acme/other"),
                                                set()),
    "staging's deploy token": (token(f"repo:{REPO}:environment:staging"), set()),
}


@pytest.mark.parametrize("case", GCP_CASES, ids=list(GCP_CASES))
def test_only_the_named_environments_token_impersonates_each_service_account(gke_prod, case):
    claims, expected = GCP_CASES[case]
    assert gcp_accounts_for(gke_prod, claims) == expected


def test_the_gcp_condition_is_exactly_this(gke_prod):
    (provider,) = [r for t, _, r in gke_prod if t == PROVIDER_TYPE]
    assert provider["attributeCondition"] == (
        "assertion.repository == 'acme/llm-fleet' && (!(assertion.sub in ['repo:acme/llm-fleet:environment:prod', "
        "'repo:acme/llm-fleet:environment:promote-prod']) || assertion.ref == 'refs/heads/main')")


def test_gcp_preview_reads_and_decrypts_only(gke_prod):
    granted = {(r["member"].split(":")[1].split("@")[0], r["role"]) for t, _, r in gke_prod
               if t in ("gcp:projects/iAMMember:IAMMember", "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")}
    preview = {role for who, role in granted if who == "llm-fleet-preview"}
    assert preview == {"roles/viewer", "roles/iam.securityReviewer", "roles/cloudkms.cryptoKeyDecrypter"}
    assert {role for who, role in granted if who == "llm-fleet-promote"} == {"roles/artifactregistry.writer"}


def test_dev_has_no_promotion_identity():
    resources = render(Settings(repository=REPO, stack="dev", cloud="gke", gcp_project="acme-llm-dev", promote=False))
    accounts = {r["accountId"] for t, _, r in resources if t == "gcp:serviceaccount/account:Account"}
    assert accounts == {"llm-fleet-deploy", "llm-fleet-preview"}


# --- the shipped bootstrap stacks match the stacks they trust ----------------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "eks-prod"])
def test_each_bootstrap_stack_names_its_stacks_project_and_the_environments_the_workflows_use(stack):
    boot = {k.split(":", 1)[1]: v for k, v in
            yaml.safe_load((ROOT / "bootstrap" / f"Pulumi.{stack}.yaml").read_text())["config"].items()}
    cfg = stack_config(stack)
    assert boot["stack"] == stack and boot["cloud"] == cfg["cloud"]
    if cfg["cloud"] == "gke":
        assert boot["gcpProject"] == cfg["gcp"]["project"]  # e.g. prod: acme-llm-prod, where its KMS key lives
    else:
        assert boot["awsRegion"] == cfg["aws"]["region"]  # eks-prod: us-east-1
    # Nothing is promoted into dev (promote.yml offers dev -> staging and staging -> prod only).
    assert boot.get("promote", True) is (stack != "dev")
