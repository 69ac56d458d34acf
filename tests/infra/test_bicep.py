"""Invariants of the Bicep in infra/, read with checkov's own Bicep parser
(pycep), since the bicep CLI cannot be installed here:

- every file parses (checkov skips a file it cannot parse, silently passing it);
- every region's app gets the same app setting names, with the same values
  except the regional ones (REGION_NAME, AzureWebJobsStorage__accountName);
- no app setting carries a key: secrets are Key Vault references, Redis and
  Cosmos DB have no key or password, storage is identity-based;
- the Traffic Manager probe asks for the Health function's route
  (functions/Health/function.json under host.json's routePrefix);
- each app's identity holds exactly the data roles its settings imply, on
  the resources those settings name, and nothing else holds any;
- the Cosmos DB containers are the app's (src/platform/documents);
- the environment files set only parameters main.bicep declares, and all
  the required ones.

pycep gives identifiers and string literals alike as plain strings; the
helpers below treat a string as an identifier when it is exactly a declared
name, and look inside `${...}` for the rest.

Run: tests/tools/.venv/bin/python -m unittest discover -s tests/infra
"""

from __future__ import annotations

import json
import re
import unittest
from collections import Counter
from pathlib import Path

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

# Settings that differ between regions; everything else must be shared.
REGIONAL = {"REGION_NAME", "AzureWebJobsStorage__accountName"}
# Secret settings: only ever a Key Vault reference (or empty).
SECRETS = {
    "MicrosoftAppPassword",
    "GRAPH_CLIENT_SECRET",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_KEY",
    "SALESFORCE_CLIENT_SECRET",
    "INTERCOM_IDENTITY_SECRET",
    "SALESTIM_TAB_CLIENT_SECRET",
}
# Never in a deployed app: keys, test switches, and what Flex Consumption
# sets itself (functionAppConfig) or rejects.
FORBIDDEN = {
    "AzureWebJobsStorage",
    "COSMOS_KEY",
    "SALESTIM_LOCAL_KEK",
    "SALESTIM_BOT_AUTH_DISABLED",
    "SALESTIM_DEV_SIGNIN",
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
}

BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
KV_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
KV_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
COSMOS_DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"

STORAGE = "Microsoft.Storage/storageAccounts"
COSMOS = "Microsoft.DocumentDB/databaseAccounts"
VAULT = "Microsoft.KeyVault/vaults"
REDIS_DB = "Microsoft.Cache/redisEnterprise/databases"

# Resource types that grant access to a principal.
GRANT_TYPES = {
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments",
    "Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments",
}

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INTERP = re.compile(r"\$\{([^}]*)\}")


def parse(path: Path) -> dict:
    return BicepParser().parse(text=path.read_text())


def names(tree: dict) -> set[str]:
    """Every name a file declares."""
    return {
        n
        for section in ("parameters", "variables", "resources", "modules")
        for n in tree.get(section, {})
    }


def identifiers(node, declared: set[str]) -> set[str]:
    """The declared names an expression refers to."""
    found: set[str] = set()
    if isinstance(node, str):
        if node in declared:
            found.add(node)
        for inner in INTERP.findall(node):
            found |= set(IDENT.findall(inner)) & declared
        # pycep renders some loop sources as the repr of their expression.
        if node.startswith("{"):
            found |= set(IDENT.findall(node)) & declared
    elif isinstance(node, dict):
        for value in node.values():
            found |= identifiers(value, declared)
    elif isinstance(node, list):
        for value in node:
            found |= identifiers(value, declared)
    return found


def accessor(node) -> list:
    """`a.b.c` as ['a', 'b', 'c'] (an index `a[i]` as ('a', 'i')); None otherwise."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict) and "operator" in node:
        op = node["operator"]
        operands = op["operands"]
        if op["type"] == "property_accessor":
            left, right = accessor(operands["operand_1"]), accessor(operands["operand_2"])
            if left is not None and right is not None:
                return left + right
        if op["type"] == "index_accessor":
            return [(operands["operand_1"], operands["operand_2"])]
    return None


def render(node, tree: dict) -> str:
    """An expression as text, with string variables expanded (to find
    `@Microsoft.KeyVault(` or a password inside interpolations)."""
    variables = tree.get("variables", {})
    if isinstance(node, str):
        if node in variables:
            return render(variables[node]["value"], tree)

        def expand(m):
            inner = m.group(1).strip()
            if inner in variables and isinstance(variables[inner]["value"], str):
                return render(variables[inner]["value"], tree)
            return m.group(0)

        return INTERP.sub(expand, node)
    if isinstance(node, dict):
        return "{" + ",".join(f"{k}:{render(v, tree)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ",".join(render(v, tree) for v in node) + "]"
    return json.dumps(node)


def body(resource: dict) -> dict:
    """A resource's or module's declaration body, past any loop or condition."""
    config = resource["config"]
    while "config" in config and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return config


def read_param_file(path: Path) -> dict[str, str]:
    """`param name = value` entries of a .bicepparam file (values as text)."""
    params: dict[str, str] = {}
    current = None
    for line in path.read_text().splitlines():
        m = re.match(r"param\s+(\w+)\s*=\s*(.*)$", line)
        if m:
            current = m.group(1)
            params[current] = m.group(2)
        elif current and not line.startswith("//"):
            params[current] += "\n" + line
    return params


class Bicep(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.files = sorted(INFRA.rglob("*.bicep"))
        cls.trees = {}
        for path in cls.files:
            try:
                cls.trees[path.relative_to(INFRA).as_posix()] = parse(path)
            except Exception as e:  # noqa: BLE001 - reported by test_every_file_parses
                cls.trees[path.relative_to(INFRA).as_posix()] = e
        cls.main = cls.trees["main.bicep"]
        cls.region = cls.trees["modules/region.bicep"]

    # -- helpers over main.bicep and region.bicep ---------------------------

    def module(self, path: str) -> tuple[str, dict]:
        found = [
            (name, m)
            for name, m in self.main["modules"].items()
            if m["detail"]["path"] == path
        ]
        self.assertEqual(len(found), 1, f"main.bicep must use {path} exactly once")
        return found[0]

    def shared_settings(self) -> dict:
        value = self.main["variables"]["sharedAppSettings"]["value"]
        self.assertIsInstance(value, dict, "sharedAppSettings must be an object literal")
        return value

    def regional_settings(self) -> dict:
        value = self.region["variables"]["regionalAppSettings"]["value"]
        self.assertIsInstance(value, dict)
        return value

    def settings_per_region(self, regions: list[str]) -> dict[str, dict[str, str]]:
        """Each region's app settings as text: the shared ones, then the
        regional ones, each a region.bicep parameter whose value main.bicep
        gives per loop item (rendered with the region put in)."""
        shared = {k: render(v, self.main) for k, v in self.shared_settings().items()}
        _, call = self.module("modules/region.bicep")
        item = call["config"]["loop_type"]["detail"]["item_name"]
        params = body(call)["params"]
        out = {}
        for region in regions:
            regional = {}
            for key, param in self.regional_settings().items():
                self.assertIn(param, params, f"{key} must be a parameter main.bicep gives")
                text = render(params[param], self.main)
                regional[key] = region if text == item else re.sub(
                    rf"\b{item}\b", region, text)
            out[region] = {**shared, **regional}
        return out

    def regions_of(self, env: str) -> list[str]:
        params = read_param_file(INFRA / "env" / f"{env}.bicepparam")
        return re.findall(r"'([a-z0-9]+)'", params["regions"])

    # -- the tests -----------------------------------------------------------

    def test_every_file_parses(self):
        self.assertIn("main.bicep", self.trees)
        for name, tree in self.trees.items():
            self.assertNotIsInstance(tree, Exception, f"{name} does not parse: {tree}")

    def test_every_checkov_skip_has_a_reason(self):
        for path in self.files:
            for line in path.read_text().splitlines():
                if "checkov:skip" in line:
                    self.assertRegex(
                        line,
                        r"^\s*// checkov:skip=CKV2?_[A-Z]+_\d+:\S.{20,}",
                        f"{path.name}: a skip needs a check id and a reason",
                    )

    def test_every_region_gets_the_same_settings(self):
        # main.bicep deploys region.bicep once per region of `regions` and
        # passes the one shared object unchanged.
        _, regional_module = self.module("modules/region.bicep")
        loop = regional_module["config"]["loop_type"]
        self.assertEqual(loop["detail"]["array_name"], "regions")
        loop_vars = {loop["detail"]["item_name"], loop["detail"].get("index_name")} - {None}
        params = body(regional_module)["params"]
        self.assertEqual(params["sharedAppSettings"], "sharedAppSettings")
        shared_refs = identifiers(
            self.main["variables"]["sharedAppSettings"]["value"], names(self.main)
        )
        self.assertFalse(shared_refs & loop_vars)

        # region.bicep: the site's settings are exactly shared + regional,
        # and the regional ones are only the two that name the region.
        self.assertEqual(
            self.region["variables"]["appSettings"]["value"],
            {"function": {"type": "union", "parameters": {
                "arg_1": "sharedAppSettings", "arg_2": "regionalAppSettings"}}},
        )
        self.assertEqual(set(self.regional_settings()), REGIONAL)
        self.assertFalse(set(self.shared_settings()) & REGIONAL)
        site = body(self.region["resources"]["site"])
        app_settings = site["properties"]["siteConfig"]["appSettings"]
        self.assertEqual(app_settings["loop_type"]["detail"]["object_name"], "appSettings")
        self.assertEqual(accessor(app_settings["config"]["name"]), ["setting", "key"])
        self.assertEqual(accessor(app_settings["config"]["value"]), ["setting", "value"])
        # No other way to set app settings.
        for name, tree in self.trees.items():
            for rname, res in tree.get("resources", {}).items():
                self.assertNotEqual(
                    res["type"], "Microsoft.Web/sites/config", f"{name}: {rname} sets site config"
                )

        # Rendered per environment: same names, same non-regional values.
        for env in ("prod", "dev"):
            per_region = self.settings_per_region(self.regions_of(env))
            first, *rest = per_region.values()
            for other in rest:
                self.assertEqual(set(first), set(other), env)
                for key in set(first) - REGIONAL:
                    self.assertEqual(first[key], other[key], f"{env}: {key}")
            regions = list(per_region)
            self.assertEqual(len({s["REGION_NAME"] for s in per_region.values()}), len(regions))

    def test_no_setting_holds_a_key(self):
        settings = self.settings_per_region(["r"])["r"]
        self.assertFalse(set(settings) & FORBIDDEN, "forbidden settings")
        self.assertFalse([k for k in settings if k.startswith("WEBSITE_CONTENT")])
        known = set(json.loads((ROOT / "local.settings.json.example").read_text())["Values"])
        self.assertFalse(set(settings) - known - {"AzureWebJobsStorage__accountName"},
                         "settings the app does not know (local.settings.json.example)")
        for key in SECRETS:
            self.assertIn(key, settings)
            # `contains(secretNames, key) ? '<Key Vault reference>' : ''`
            value = self.shared_settings()[key]
            self.assertIsInstance(value, dict, f"{key} must be a Key Vault reference")
            self.assertEqual(value.get("operator", {}).get("type"), "conditional", key)
            ops = value["operator"]["operands"]
            self.assertEqual(ops["condition"], {"function": {"type": "contains", "parameters": {
                "container": "secretNames", "item_to_find": key}}}, key)
            self.assertIn("@Microsoft.KeyVault(", render(ops["true_value"], self.main), key)
            self.assertEqual(ops["false_value"], "", key)
        for key, value in settings.items():
            if key not in SECRETS:
                self.assertNotIn("@Microsoft.KeyVault(", value, key)
        redis = settings["REDIS_URL"]
        self.assertTrue(redis.startswith("rediss://") and redis.endswith(":10000"), redis)
        self.assertNotIn("@", redis, "REDIS_URL must not carry a password")

    def test_probe_path_is_the_health_route(self):
        route = json.loads((ROOT / "functions/Health/function.json").read_text())
        trigger = next(b for b in route["bindings"] if b["type"] == "httpTrigger")
        self.assertIn("get", trigger["methods"])
        prefix = json.loads((ROOT / "host.json").read_text())["extensions"]["http"]["routePrefix"]
        expected = "/" + "/".join(p for p in (prefix, trigger["route"]) if p)

        _, tm = self.module("modules/trafficmanager.bicep")
        given = body(tm)["params"]["probePath"]
        path = render(given, self.main)
        self.assertEqual(path, expected)

        tm_tree = self.trees["modules/trafficmanager.bicep"]
        profile = body(tm_tree["resources"]["profile"])
        monitor = profile["properties"]["monitorConfig"]
        self.assertEqual(monitor["path"], "probePath")
        self.assertEqual(monitor["protocol"], "HTTPS")
        self.assertEqual(monitor["expectedStatusCodeRanges"], [{"min": 200, "max": 299}])
        endpoints = profile["properties"]["endpoints"]
        self.assertEqual(endpoints["loop_type"]["detail"]["array_name"], "endpoints")
        headers = endpoints["config"]["properties"]["customHeaders"]
        self.assertEqual([h["name"] for h in headers], ["Host"])
        self.assertEqual(accessor(headers[0]["value"]), ["endpoint", "hostName"])

        # One endpoint per region, each its own region's app and host name.
        given = body(tm)["params"]["endpoints"]
        self.assertEqual(given["loop_type"]["detail"]["array_name"], "regions")
        index = given["loop_type"]["detail"]["index_name"]
        apps, _ = self.module("modules/region.bicep")
        self.assertEqual(accessor(given["config"]["siteId"]), [(apps, index), "outputs", "siteId"])
        self.assertEqual(accessor(given["config"]["hostName"]), [(apps, index), "outputs", "hostName"])
        outputs = self.region["outputs"]
        self.assertEqual(accessor(outputs["siteId"]["value"]), ["site", "id"])
        self.assertEqual(
            accessor(outputs["hostName"]["value"]), ["site", "properties", "defaultHostName"]
        )

    def grants(self) -> Counter:
        """Every grant in infra/ as (target type, role), checked to go to the
        app's own identity in region.bicep."""
        found: Counter = Counter()
        for file, tree in self.trees.items():
            resources = tree.get("resources", {})
            for name, res in resources.items():
                kind = res["type"]
                if kind not in GRANT_TYPES and not re.search(
                    r"roleAssignments|accessPolic", kind, re.I
                ):
                    continue
                self.assertEqual(file, "modules/region.bicep", f"{file}: {name} grants access")
                self.assertIn(kind, GRANT_TYPES, f"{name}: unknown kind of grant {kind}")
                b = body(res)
                props = b["properties"]
                if kind == "Microsoft.Authorization/roleAssignments":
                    target = b["scope"]
                    role_var = props["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
                    role = tree["variables"][role_var]["value"]
                    principal = props["principalId"]
                    self.assertEqual(props["principalType"], "ServicePrincipal", name)
                    guid = b["name"]["function"]["parameters"]
                    self.assertEqual(accessor(guid["base_string"]), [target, "id"], name)
                    self.assertEqual(guid["extra_string_2"], role_var, name)
                elif kind.endswith("sqlRoleAssignments"):
                    target = b["parent"]
                    m = re.fullmatch(r"\$\{(\w+)\.id\}/sqlRoleDefinitions/\$\{(\w+)\}",
                                     props["roleDefinitionId"])
                    self.assertIsNotNone(m, name)
                    self.assertEqual(m.group(1), target, name)
                    role = tree["variables"][m.group(2)]["value"]
                    principal = props["principalId"]
                    self.assertEqual(accessor(props["scope"]), [target, "id"], name)
                else:
                    target = b["parent"]
                    role = props["accessPolicyName"]
                    principal = props["user"]["objectId"]
                self.assertEqual(
                    accessor(principal), ["site", "identity", "principalId"],
                    f"{name}: grants to someone other than the app",
                )
                found[(resources[target]["type"], target, role)] += 1
        return found

    def test_app_identity_has_exactly_the_roles_its_settings_imply(self):
        settings = self.settings_per_region(["r"])["r"]
        shared = self.shared_settings()
        _, region_call = self.module("modules/region.bicep")
        params = body(region_call)["params"]
        resources = self.region["resources"]

        def target_named_by(param: str, module_symbol: str, resource_type: str) -> str:
            """The region.bicep resource (of resource_type) named by `param`,
            after checking main.bicep feeds that param from `module_symbol`."""
            self.assertEqual(accessor(params[param])[0], module_symbol, param)
            found = [n for n, r in resources.items()
                     if r["type"] == resource_type and body(r).get("name") == param]
            self.assertEqual(len(found), 1, f"one {resource_type} named by {param}")
            return found[0]

        def module_of(setting: str) -> str:
            refs = identifiers(shared[setting], set(self.main["modules"]))
            self.assertEqual(len(refs), 1, f"{setting} names one module's resource")
            return refs.pop()

        implied: Counter = Counter()
        if "AzureWebJobsStorage__accountName" in settings:
            self.assertEqual(self.regional_settings()["AzureWebJobsStorage__accountName"],
                             "storageAccountName")
            storage = [n for n, r in resources.items()
                       if r["type"] == STORAGE and body(r)["name"] == "storageAccountName"]
            self.assertEqual(len(storage), 1)
            implied[(STORAGE, storage[0], BLOB_DATA_OWNER)] += 1
            implied[(STORAGE, storage[0], QUEUE_DATA_CONTRIBUTOR)] += 1
        if "COSMOS_ENDPOINT" in settings and "COSMOS_KEY" not in settings:
            cosmos = target_named_by("cosmosAccountName", module_of("COSMOS_ENDPOINT"), COSMOS)
            implied[(COSMOS, cosmos, COSMOS_DATA_CONTRIBUTOR)] += 1
        vault = None
        if "KEYVAULT_KEY_ID" in settings:
            vault = target_named_by("keyVaultName", module_of("KEYVAULT_KEY_ID"), VAULT)
            implied[(VAULT, vault, KV_CRYPTO_USER)] += 1
        if any("@Microsoft.KeyVault(" in v for v in settings.values()):
            # Every reference names the vault main.bicep deploys (keyVaultName).
            prefix = self.main["variables"]["kvRefPrefix"]["value"]
            self.assertTrue(prefix.startswith("@Microsoft.KeyVault(VaultName=${keyVaultName};"))
            for key in SECRETS:
                true_value = shared[key]["operator"]["operands"]["true_value"]
                self.assertTrue(true_value.startswith("${kvRefPrefix}"), key)
            self.assertEqual(body(self.main["modules"][module_of("KEYVAULT_KEY_ID")])
                             ["params"]["vaultName"], "keyVaultName")
            vault = vault or target_named_by("keyVaultName", "keyVault", VAULT)
            implied[(VAULT, vault, KV_SECRETS_USER)] += 1
        if "REDIS_URL" in settings and "@" not in settings["REDIS_URL"]:
            cluster = target_named_by("redisName", module_of("REDIS_URL"),
                                      "Microsoft.Cache/redisEnterprise")
            db = [n for n, r in resources.items()
                  if r["type"] == REDIS_DB and body(r).get("parent") == cluster]
            self.assertEqual(len(db), 1)
            implied[(REDIS_DB, db[0], "default")] += 1

        self.assertEqual(self.grants(), implied)

        # The one conditional grant, Secrets User, is on exactly when some
        # secret setting is a Key Vault reference (secretNames not empty).
        for name, res in resources.items():
            condition = res["config"].get("condition")
            if res["type"] in GRANT_TYPES and condition:
                self.assertEqual(name, "secretsUser", f"{name} is conditional")
                self.assertEqual(
                    identifiers(params[condition], names(self.main)), {"secretNames"}
                )

    def test_cosmos_containers_are_the_apps(self):
        source = (ROOT / "src/platform/documents/mod.rs").read_text()
        app = set(re.findall(r'Container::\w+ => "(\w+)"', source))
        self.assertGreaterEqual(len(app), 8)
        tree = self.trees["modules/cosmos.bicep"]
        containers = [r for r in tree["resources"].values()
                      if r["type"].endswith("sqlDatabases/containers")]
        self.assertEqual(len(containers), 1, "one container declaration, over containerNames")
        res = containers[0]
        self.assertEqual(res["config"]["loop_type"]["detail"]["array_name"], "containerNames")
        resource = body(res)["properties"]["resource"]
        self.assertEqual(resource["partitionKey"]["paths"], ["/tenantId"])
        # -1: TTL on (the app relies on per-document `ttl` in every container).
        self.assertEqual(resource["defaultTtl"],
                         {"operator": {"type": "minus", "operands": {"integer_value": 1}}})
        self.assertEqual(set(tree["variables"]["containerNames"]["value"]), app)

        account = body(tree["resources"]["account"])["properties"]
        self.assertEqual(account["consistencyPolicy"]["defaultConsistencyLevel"], "Session")
        self.assertIs(account["enableAutomaticFailover"], True)
        self.assertIs(account["disableLocalAuth"], True)
        locations = account["locations"]
        self.assertEqual(locations["loop_type"]["detail"]["array_name"], "regions")
        self.assertEqual(locations["config"]["failoverPriority"],
                         locations["loop_type"]["detail"]["index_name"])

    def test_environment_files_set_declared_parameters(self):
        declared = self.main["parameters"]
        required = {n for n, p in declared.items() if "default" not in p}
        for env, regions in (("prod", 2), ("dev", 1)):
            path = INFRA / "env" / f"{env}.bicepparam"
            text = path.read_text()
            self.assertIn("using '../main.bicep'", text)
            params = read_param_file(path)
            self.assertFalse(set(params) - set(declared), f"{env}: unknown parameters")
            self.assertFalse(required - set(params), f"{env}: required parameters missing")
            self.assertEqual(len(self.regions_of(env)), regions, env)
            secret_keys = set(re.findall(r"^\s*(\w+):", params.get("secretNames", ""), re.M))
            self.assertFalse(secret_keys - SECRETS, f"{env}: secretNames keys")
            self.assertNotRegex(text, r"whsec_|sk_live|sk_test|rk_live|AccountKey=", env)


if __name__ == "__main__":
    unittest.main()
