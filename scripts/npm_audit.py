#!/usr/bin/env python3
"""Audits the npm packages that the tests and benches install, against
npm-audit.toml: the npm side of what cargo-deny does for the crates.

Every package-lock.json in the repository is checked (found with git, so a
folder added tomorrow is covered without editing this file). Offline, from the
lockfile alone, every time:
  * sources: an entry resolved from anywhere but the registry (git, tarball
    URL, local file or link) is refused;
  * integrity: every entry carries a sha512 hash, which `npm ci` checks each
    downloaded tarball against;
  * licences: the entry's SPDX expression must be satisfiable with the
    allowed licences (or the package is an exception with its reason);
  * install scripts: a package that runs code at `npm ci` time must be listed.

Advisories need the registry's audit endpoint (`npm audit`, a POST). It is
tried with a short timeout; when it cannot be reached (these machines reach
the registry for GETs only: it answers 405) that is said in one line and the
offline checks still decide. When it answers, every advisory not excepted in
npm-audit.toml fails the run with its GHSA id.

Usage: scripts/npm_audit.py [--offline] [--self-test]
  --offline    skip the `npm audit` attempt (also SALESTIM_NPM_AUDIT=offline)
  --self-test  check that each rule refuses a fabricated lockfile or audit
               report, and accepts a clean one; touches nothing else
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUDIT_TIMEOUT_S = 60
GHSA = re.compile(r"GHSA(-[23456789cfghjmpqrvwx]{4}){3}")


class Policy:
    def __init__(self, doc):
        self.registry = doc.get("registry", "https://registry.npmjs.org/")
        self.licenses = set(doc.get("allow-licenses", []))
        self.license_exceptions = {
            (e["package"], e["version"]): e["license"]
            for e in doc.get("license-exceptions", [])
        }
        self.install_scripts = {e["package"] for e in doc.get("install-scripts", [])}
        self.advisory_exceptions = {
            (e["id"], e["package"]) for e in doc.get("advisory-exceptions", [])
        }

    @staticmethod
    def load(path):
        with open(path, "rb") as f:
            return Policy(tomllib.load(f))


# --- SPDX expressions -------------------------------------------------------

TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z0-9.+:-]+)")


class NotSpdx(ValueError):
    pass


def spdx_allowed(expr, allowed):
    """True when the expression can be met with allowed licences only (an OR
    needs one allowed side, an AND both). Raises NotSpdx for anything that is
    not an expression, such as a URL or 'SEE LICENSE IN ...'."""
    tokens, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m:
            raise NotSpdx(expr)
        tokens.append(m.group(1))
        pos = m.end()
    if not tokens:
        raise NotSpdx(expr)

    def parse_or(i):
        value, i = parse_and(i)
        while i < len(tokens) and tokens[i].upper() == "OR":
            right, i = parse_and(i + 1)
            value = value or right
        return value, i

    def parse_and(i):
        value, i = parse_atom(i)
        while i < len(tokens) and tokens[i].upper() == "AND":
            right, i = parse_atom(i + 1)
            value = value and right
        return value, i

    def parse_atom(i):
        if i >= len(tokens):
            raise NotSpdx(expr)
        if tokens[i] == "(":
            value, i = parse_or(i + 1)
            if i >= len(tokens) or tokens[i] != ")":
                raise NotSpdx(expr)
            return value, i + 1
        if tokens[i] in (")",) or tokens[i].upper() in ("AND", "OR", "WITH"):
            raise NotSpdx(expr)
        licence = tokens[i]
        if ":" in licence or not re.fullmatch(r"[A-Za-z0-9.+-]+", licence):
            raise NotSpdx(expr)
        i += 1
        if i < len(tokens) and tokens[i].upper() == "WITH":
            if i + 1 >= len(tokens):
                raise NotSpdx(expr)
            licence = f"{licence} WITH {tokens[i + 1]}"
            i += 2
        return licence in allowed, i

    value, end = parse_or(0)
    if end != len(tokens):
        raise NotSpdx(expr)
    return value


def licence_field(entry):
    """The lockfile's licence as one string (old packages give an object or a
    list of objects)."""
    value = entry.get("license", entry.get("licenses"))
    if isinstance(value, dict):
        value = value.get("type")
    if isinstance(value, list):
        types = [v.get("type") if isinstance(v, dict) else v for v in value]
        value = " OR ".join(f"({t})" for t in types if isinstance(t, str))
    return value if isinstance(value, str) and value.strip() else None


# --- the offline lockfile checks ----------------------------------------------


def package_name(path, entry):
    if "name" in entry:
        return entry["name"]
    return path.rsplit("node_modules/", 1)[-1]


def check_lockfile(lock_path, policy):
    """Problems found in one lockfile, as lines naming the package."""
    rel = os.path.relpath(lock_path, ROOT)
    try:
        with open(lock_path, encoding="utf-8") as f:
            lock = json.load(f)
    except (OSError, ValueError) as e:
        return [f"{rel}: unreadable lockfile: {e}"]
    packages = lock.get("packages")
    if lock.get("lockfileVersion", 1) < 2 or not isinstance(packages, dict):
        return [f"{rel}: lockfileVersion 2 or 3 needed (npm 7+), with a 'packages' map"]
    problems = []
    for path, entry in sorted(packages.items()):
        if path == "" or not isinstance(entry, dict):
            continue
        name = package_name(path, entry)
        who = f"{rel}: {name}@{entry.get('version', '?')}"
        if entry.get("link") or not path.startswith("node_modules/") and "/node_modules/" not in path:
            problems.append(f"{who}: a local folder, not a registry package")
            continue
        resolved = entry.get("resolved")
        if resolved is not None and not resolved.startswith(policy.registry):
            problems.append(f"{who}: resolved from {resolved}, not {policy.registry}")
        if not str(entry.get("integrity", "")).startswith("sha512-"):
            problems.append(f"{who}: no sha512 integrity in the lockfile")
        if entry.get("hasInstallScript") and name not in policy.install_scripts:
            problems.append(f"{who}: runs an install script (not listed in npm-audit.toml)")
        licence = licence_field(entry)
        exception = policy.license_exceptions.get((name, entry.get("version")))
        if exception is not None and licence == exception:
            continue
        if licence is None:
            problems.append(f"{who}: no licence")
            continue
        try:
            if not spdx_allowed(licence, policy.licenses):
                problems.append(f"{who}: licence {licence!r} is not allowed")
        except NotSpdx:
            problems.append(f"{who}: licence {licence!r} is not an SPDX expression")
    return problems


# --- advisories (online, when the registry lets us) ---------------------------


def advisory_problems(report, rel, policy):
    """Problems in an `npm audit --json` report: each advisory not excepted."""
    problems = []
    vulnerabilities = report.get("vulnerabilities")
    if not isinstance(vulnerabilities, dict):
        return [f"{rel}: npm audit report without 'vulnerabilities'"]
    for name, vuln in sorted(vulnerabilities.items()):
        for via in vuln.get("via", []):
            if not isinstance(via, dict):
                continue  # a package that is only vulnerable through another
            m = GHSA.search(str(via.get("url", "")))
            advisory = m.group(0) if m else f"npm-{via.get('source')}"
            package = via.get("name", name)
            if (advisory, package) in policy.advisory_exceptions:
                continue
            problems.append(
                f"{rel}: advisory {advisory} ({via.get('severity', '?')}) on "
                f"{package} {via.get('range', '')}: {via.get('title', '')}"
            )
    return problems


def run_npm_audit(folder):
    """The audit report of one folder, or None with the reason it cannot be had."""
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed"
    try:
        out = subprocess.run(
            [npm, "audit", "--json", "--omit=dev", "--package-lock-only",
             "--fetch-retries=0", "--fetch-timeout=15000", "--no-fund"],
            cwd=folder, capture_output=True, text=True, timeout=AUDIT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return None, f"no answer within {AUDIT_TIMEOUT_S} s"
    try:
        report = json.loads(out.stdout)
    except ValueError:
        return None, f"npm audit printed no report (exit {out.returncode})"
    if "vulnerabilities" not in report:
        reason = report.get("message") or report.get("error", {}).get("summary") or "no report"
        return None, str(reason).splitlines()[0][:200]
    return report, None


# --- driver --------------------------------------------------------------------


def lockfiles():
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard",
             "--", "*package-lock.json"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = []
        for base, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in ("node_modules", "target", ".git")]
            out += [os.path.relpath(os.path.join(base, f), ROOT) for f in files
                    if f == "package-lock.json"]
    return sorted(os.path.join(ROOT, p) for p in out if "node_modules/" not in p)


def audit(policy, locks, online):
    problems = []
    for lock in locks:
        problems += check_lockfile(lock, policy)
        rel = os.path.relpath(lock, ROOT)
        if not online:
            continue
        report, why_not = run_npm_audit(os.path.dirname(lock))
        if report is None:
            print(f"npm audit: {rel}: advisories not checked: {why_not}")
        else:
            problems += advisory_problems(report, rel, policy)
    return problems


def self_test():
    """Each rule refuses what it is for, naming the package or the advisory."""
    policy = Policy({
        "allow-licenses": ["MIT", "Apache-2.0", "ISC"],
        "license-exceptions": [{"package": "odd", "version": "1.0.0", "license": "see URL", "reason": "t"}],
        "install-scripts": [{"package": "builds-native", "reason": "t"}],
        "advisory-exceptions": [{"id": "GHSA-2222-3333-4444", "package": "old", "reason": "t"}],
    })
    sha = "sha512-" + "A" * 86 + "=="
    good = {
        "node_modules/a": {"version": "1.0.0", "integrity": sha, "license": "MIT"},
        "node_modules/a/node_modules/b": {"version": "2.0.0", "integrity": sha, "license": "(MIT OR GPL-3.0)"},
        "node_modules/odd": {"version": "1.0.0", "integrity": sha, "license": "see URL"},
        "node_modules/builds-native": {"version": "1.0.0", "integrity": sha, "license": "ISC", "hasInstallScript": True},
        "node_modules/c": {"version": "1.0.0", "integrity": sha, "license": "Apache-2.0",
                           "resolved": "https://registry.npmjs.org/c/-/c-1.0.0.tgz"},
    }
    bad = {
        "node_modules/from-git": {"version": "1.0.0", "integrity": sha, "license": "MIT",
                                  "resolved": "git+ssh://git@example.com/x.git#abc"},
        "node_modules/no-hash": {"version": "1.0.0", "integrity": "sha1-AAAA", "license": "MIT"},
        "node_modules/copyleft": {"version": "1.0.0", "integrity": sha, "license": "MIT AND GPL-3.0-only"},
        "node_modules/not-spdx": {"version": "1.0.0", "integrity": sha, "license": "SEE LICENSE IN x"},
        "node_modules/odd": {"version": "1.0.1", "integrity": sha, "license": "see URL"},
        "node_modules/runs-code": {"version": "1.0.0", "integrity": sha, "license": "MIT", "hasInstallScript": True},
        "local": {"version": "1.0.0", "link": True},
    }
    with tempfile.TemporaryDirectory() as tmp:
        def lock(packages):
            path = os.path.join(tmp, "package-lock.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"lockfileVersion": 3, "packages": {"": {"name": "t"}, **packages}}, f)
            return path

        assert check_lockfile(lock(good), policy) == [], check_lockfile(lock(good), policy)
        found = "\n".join(check_lockfile(lock(bad), policy))
        for needle in ("from-git@1.0.0: resolved from git+ssh", "no-hash@1.0.0: no sha512",
                       "copyleft@1.0.0: licence 'MIT AND GPL-3.0-only' is not allowed",
                       "not-spdx@1.0.0: licence 'SEE LICENSE IN x' is not an SPDX",
                       "odd@1.0.1: licence 'see URL' is not an SPDX",
                       "runs-code@1.0.0: runs an install script", "local@1.0.0: a local folder"):
            assert needle in found, f"self-test: expected {needle!r} in:\n{found}"
        assert len(found.splitlines()) == 7, found

    report = {"vulnerabilities": {
        "old": {"via": [{"source": 1, "name": "old", "url": "https://github.com/advisories/GHSA-2222-3333-4444",
                         "severity": "high", "range": "<2", "title": "accepted"}]},
        "lodash": {"via": [{"source": 1097140, "name": "lodash", "severity": "high", "range": "<4.17.21",
                            "url": "https://github.com/advisories/GHSA-35jh-r3h4-6jhm", "title": "Command Injection"}]},
        "uses-lodash": {"via": ["lodash"]},
    }}
    found = advisory_problems(report, "t/package-lock.json", policy)
    assert len(found) == 1 and "advisory GHSA-35jh-r3h4-6jhm (high) on lodash" in found[0], found
    for expr, want in (("MIT", True), ("(MIT OR Apache-2.0) AND ISC", True), ("MIT AND GPL-2.0", False),
                       ("GPL-2.0 OR (ISC AND MIT)", True), ("Apache-2.0 WITH LLVM-exception", False)):
        assert spdx_allowed(expr, policy.licenses) is want, expr
    for expr in ("", "MIT OR", "(MIT", "https://x/LICENSE", "MIT Apache-2.0"):
        try:
            spdx_allowed(expr, policy.licenses)
        except NotSpdx:
            continue
        raise AssertionError(f"self-test: {expr!r} taken as an SPDX expression")
    print("npm audit self-test: each rule refuses its fabricated case (sources, integrity, "
          "licence, install script, advisory) and a clean lockfile passes")


def main(argv):
    if "--self-test" in argv:
        self_test()
        return 0
    online = "--offline" not in argv and os.environ.get("SALESTIM_NPM_AUDIT") != "offline"
    policy = Policy.load(os.path.join(ROOT, "npm-audit.toml"))
    locks = lockfiles()
    problems = audit(policy, locks, online)
    for p in problems:
        print(f"npm audit: {p}", file=sys.stderr)
    if problems:
        print(f"npm audit: {len(problems)} problem(s); fix them or add a justified "
              "exception to npm-audit.toml", file=sys.stderr)
        return 1
    count = sum(1 for _ in locks)
    print(f"npm audit: {count} lockfile(s) ok: {', '.join(os.path.relpath(l, ROOT) for l in locks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
