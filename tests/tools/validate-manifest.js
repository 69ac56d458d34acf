// Validates a Teams app manifest offline against the schema that
// @microsoft/app-manifest bundles for the manifest's own version (its
// validators would otherwise download the schema named in $schema).
// Usage: node validate-manifest.js manifest.json   (exit 1 with the errors)
const fs = require("fs");
const path = require("path");
const { ManifestUtil } = require("@microsoft/app-manifest");

async function main() {
  const manifest = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const version = manifest.manifestVersion;
  const schemaPath = path.join(path.dirname(require.resolve("@microsoft/app-manifest/package.json")),
    "build", "json-schemas", "teams", `v${version}`, "MicrosoftTeams.schema.json");
  if (!fs.existsSync(schemaPath)) {
    console.error(`no bundled schema for manifestVersion ${version}`);
    process.exit(1);
  }
  const schema = JSON.parse(fs.readFileSync(schemaPath, "utf8"));
  const errors = await ManifestUtil.validateManifestAgainstSchema(manifest, schema);
  if (errors.length > 0) {
    console.error(errors.join("\n"));
    process.exit(1);
  }
  console.log(`valid against the v${version} schema`);
}

main().catch((e) => { console.error(e); process.exit(1); });
