#!/usr/bin/env python3
"""Builds the Teams app package: appPackage/manifest.json with its
placeholders filled from settings, plus the two icons, zipped.

Settings (environment): TEAMS_APP_ID (the app's GUID in the Teams admin
centre), MicrosoftAppId (the bot's id), SALESTIM_TAB_CLIENT_ID (the app
registration the tabs' SSO tokens are for; default MicrosoftAppId),
SALESTIM_PUBLIC_HOSTNAME (where the function app is reached, e.g.
salestim.example.com), and optionally SALESTIM_APP_VERSION (default 1.0.0).

The five personal tabs open https://<host>/api/tabs/<page>, the pages the
handler's `Tabs` function serves (src/tabs/files.rs, TAB_PAGES).

Usage: scripts/teams_package.py OUT.zip [--manifest-only OUT.json]
"""
import json
import os
import re
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def setting(name, check, default=None):
    value = os.environ.get(name, default)
    if not value:
        sys.exit(f"teams package: setting {name} is required")
    if not check.match(value):
        sys.exit(f"teams package: setting {name} is malformed: {value!r}")
    return value


def manifest():
    values = {
        "TEAMS_APP_ID": setting("TEAMS_APP_ID", GUID),
        "BOT_APP_ID": setting("MicrosoftAppId", GUID),
        "TAB_CLIENT_ID": setting(
            "SALESTIM_TAB_CLIENT_ID", GUID, os.environ.get("MicrosoftAppId")
        ).lower(),
        "PUBLIC_HOSTNAME": setting("SALESTIM_PUBLIC_HOSTNAME", HOST),
        "VERSION": setting("SALESTIM_APP_VERSION", VERSION, "1.0.0"),
    }
    with open(os.path.join(ROOT, "appPackage", "manifest.json"), encoding="utf-8") as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    left = re.findall(r"\{\{\w+\}\}", text)
    if left:
        sys.exit(f"teams package: unfilled placeholders {sorted(set(left))}")
    return json.loads(text)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    filled = manifest()
    if len(argv) == 4 and argv[2] == "--manifest-only":
        with open(argv[3], "w", encoding="utf-8") as f:
            json.dump(filled, f, indent=2)
    with zipfile.ZipFile(argv[1], "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(filled, indent=2))
        for icon in ("color.png", "outline.png"):
            z.write(os.path.join(ROOT, "appPackage", icon), icon)
    print(f"{argv[1]}: Teams app package for {filled['validDomains'][0]}")


if __name__ == "__main__":
    main(sys.argv)
