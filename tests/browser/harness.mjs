// The browser tests' harness: starts the built `handler local` on a free
// port with a fresh data folder, drives the Debian Chromium through
// playwright-core, and measures what the closing figures need (time to the
// first meaningful element, gzipped JS and CSS a tab loads), runs axe-core
// on each page and keeps a screenshot of it under target/browser/.
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const tools = createRequire(path.join(ROOT, "tests/tools/package.json"));
const { chromium } = tools("playwright-core");
const AXE_SOURCE = fs.readFileSync(tools.resolve("axe-core/axe.min.js"), "utf8");

const TARGET = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, "target");
export const SHOTS = path.join(TARGET, "browser");
const CHROMIUM = process.env.SALESTIM_CHROMIUM || "/usr/bin/chromium";

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** `handler local` on a free port, with its own data folder and the web
 * app from web/dist; resolves once /api/health answers. */
export async function startHandler() {
  // SALESTIM_BROWSER_HANDLER: another build (e.g. target/release/handler,
  // what ./scripts/local runs) for the figures.
  const bin = process.env.SALESTIM_BROWSER_HANDLER
    ? path.resolve(ROOT, process.env.SALESTIM_BROWSER_HANDLER)
    : path.join(TARGET, "debug", "handler");
  if (!fs.existsSync(bin) && !process.env.SALESTIM_BROWSER_HANDLER) {
    console.log("browser: building the handler (cargo build --bin handler)");
    const built = spawnSync("cargo", ["build", "--locked", "--bin", "handler"], { cwd: ROOT, stdio: "inherit" });
    if (built.status !== 0) throw new Error("cargo build failed");
  }
  if (!fs.existsSync(path.join(ROOT, "web/dist/index.html"))) {
    throw new Error("web/dist is not built: run ./scripts/web build");
  }
  const port = await freePort();
  const data = fs.mkdtempSync(path.join(os.tmpdir(), "salestim-browser-"));
  const log = fs.openSync(path.join(data, "handler.log"), "w");
  // Only what the handler needs: no Azure, bot or SSO settings from the
  // developer's shell, so the development sign-in is on.
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    FUNCTIONS_CUSTOMHANDLER_PORT: String(port),
    SALESTIM_DATA_DIR: data,
    SALESTIM_TABS_DIR: path.join(ROOT, "web/dist"),
    RUST_LOG: "info",
  };
  const child = spawn(bin, ["local", "--settings", path.join(data, "absent.settings.json")], {
    cwd: ROOT,
    env,
    stdio: ["ignore", log, log],
  });
  let exited = null;
  child.once("exit", (code, signal) => (exited = { code, signal }));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`handler local exited (${JSON.stringify(exited)}):\n${tail(data)}`);
    try {
      const res = await fetch(`${base}/api/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`handler local did not answer /api/health:\n${tail(data)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    data,
    log: () => tail(data),
    async stop() {
      if (!exited) {
        child.kill("SIGINT");
        await new Promise((r) => (exited ? r() : child.once("exit", r)));
      }
      fs.rmSync(data, { recursive: true, force: true });
    },
  };
}

function tail(data) {
  try {
    return fs.readFileSync(path.join(data, "handler.log"), "utf8").split("\n").slice(-40).join("\n");
  } catch {
    return "(no log)";
  }
}

export async function launch() {
  // playwright-core gives each launch a fresh --user-data-dir of its own.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A fresh context (its own cache and storage) and page, with the page's
 * errors collected: an uncaught exception or a CSP violation fails the test. */
export async function newPage(browser, base) {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  page.problems = problems;
  page.setDefaultTimeout(15_000);
  return page;
}

export const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

/** The development sign-in as `name` (the picker shows on any page until
 * a user is chosen). */
export async function signInAs(page, name) {
  await page.locator(`[data-testid="signin-user"][aria-label="Sign in as ${name}"]`).click();
  await page.locator('[data-testid="current-user"]', { hasText: name }).waitFor();
}

/** axe-core on the page as it is now; throws on a serious or critical
 * violation (Fluent's focus-trap dummies excluded, see web/README.md). */
export async function checkAccessibility(page, label) {
  await settled(page);
  // Evaluated through the DevTools protocol, which the page's CSP does not
  // govern (the page itself admits no inline script).
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run({ exclude: [["[data-tabster-dummy]"]] }, { resultTypes: ["violations"] }),
  );
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length > 0) {
    const lines = bad.map((v) => `  ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
    throw new Error(`accessibility (${label}):\n${lines.join("\n")}`);
  }
  return results.violations.length;
}

/** Until no finite animation runs: Fluent's motions (a dialog fading in or
 * out, with the page behind it aria-hidden meanwhile) would otherwise be
 * checked half-way. Spinners loop forever and are not waited for. */
export async function settled(page) {
  await page.waitForFunction(() =>
    document
      .getAnimations()
      .every((a) => a.playState !== "running" || a.effect?.getComputedTiming().iterations === Infinity),
  );
}

export async function screenshot(page, name) {
  await settled(page);
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return path.relative(ROOT, file);
}

/** A cold load of `url` as `userId` (token already held, as Teams hands one
 * at once): milliseconds from navigation start to `selector` being in the
 * page and visible, and the gzipped bytes of JS and CSS fetched. */
export async function measureColdLoad(browser, base, url, token, selector) {
  const page = await newPage(browser, base);
  await page.addInitScript(
    ({ token, selector }) => {
      sessionStorage.setItem("salestim.devToken", JSON.stringify({ token, expiresAt: Date.now() + 3_600_000 }));
      const seen = () => {
        const el = document.querySelector(selector);
        if (el && el.getClientRects().length > 0 && window.__firstRender === undefined) {
          window.__firstRender = performance.now();
          return true;
        }
        return false;
      };
      new MutationObserver((_, observer) => {
        if (seen()) observer.disconnect();
      }).observe(document, { childList: true, subtree: true });
    },
    { token, selector },
  );
  const assets = [];
  page.on("response", (res) => {
    const type = res.request().resourceType();
    if (type === "script" || type === "stylesheet") assets.push(res);
  });
  await page.goto(url);
  await page.locator(selector).first().waitFor();
  const ms = await page.evaluate(() => window.__firstRender);
  let bytes = 0;
  const plain = [];
  for (const res of assets) {
    const sizes = await res.request().sizes();
    bytes += sizes.responseBodySize;
    if (res.headers()["content-encoding"] !== "gzip") plain.push(res.url());
  }
  const problems = page.problems;
  await page.context().close();
  if (plain.length > 0) throw new Error(`not served gzipped: ${plain.join(", ")}`);
  if (problems.length > 0) throw new Error(problems.join("\n"));
  return { ms, bytes, files: assets.length };
}

export async function devToken(base, userId) {
  const res = await fetch(`${base}/api/dev/signin`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId }),
  });
  if (!res.ok) throw new Error(`dev sign-in for ${userId}: ${res.status} ${await res.text()}`);
  return (await res.json()).token;
}

export async function demoUsers(base) {
  const res = await fetch(`${base}/api/dev/signin`);
  if (!res.ok) throw new Error(`GET /api/dev/signin: ${res.status} ${await res.text()}`);
  const { users } = await res.json();
  return Object.fromEntries(users.map((u) => [u.name, u]));
}
