// The five tabs in headless Chromium against `handler local` (run by
// scripts/test after the cargo tests; alone: `node tests/browser/run.mjs`).
// Each tab is opened through the development sign-in as the demo user whose
// role it serves, its main action is done end to end, a screenshot is kept
// under target/browser/, and axe-core must find no serious or critical
// violation. Then each tab is loaded cold once more to print the figures:
// time to its first meaningful element and the gzipped JS+CSS it fetched.
// SALESTIM_BROWSER_HANDLER=target/release/handler measures the release build.
import {
  byTestId,
  checkAccessibility,
  demoUsers,
  devToken,
  launch,
  measureColdLoad,
  newPage,
  screenshot,
  signInAs,
  startHandler,
} from "./harness.mjs";

const ALEX = "Alex Wilber"; // member
const NESTOR = "Nestor Wilke"; // approver
const MEGAN = "Megan Bowen"; // catalog manager
const ADELE = "Adele Vance"; // admin
const ISAIAH = "Isaiah Langer"; // auditor

/** Each tab's first meaningful element: what a person came for. */
const FIRST_RENDER = {
  request: '[data-testid="template-card"]',
  my: '[data-testid="requests-table"], [data-testid="teams-table"], [data-testid="empty"]',
  approvals: '[data-testid="approvals-table"], [data-testid="empty"]',
  dashboard: '[data-testid="counter-state"]',
  admin: '[data-testid^="admin-section-"]',
};
const FIGURES_AS = { request: ALEX, my: ALEX, approvals: NESTOR, dashboard: ISAIAH, admin: ADELE };

const unique = Date.now().toString(36).slice(-5);

/** The tab page signed in as `name`, checked, screenshotted. */
async function open(ctx, tab, name) {
  const page = await newPage(ctx.browser, ctx.base);
  ctx.current = page;
  await page.goto(`/api/tabs/${tab}`);
  await signInAs(page, name);
  return page;
}

async function finish(ctx, page, shot) {
  const file = await screenshot(page, shot);
  await checkAccessibility(page, shot);
  if (page.problems.length > 0) throw new Error(page.problems.join("\n"));
  ctx.shots.push(file);
  await page.context().close();
}

const steps = [
  [
    "request: a member requests a team from the catalog, with the live name preview and the approval path",
    async (ctx) => {
      const page = await open(ctx, "request", ALEX);
      const card = page.locator('[data-testid="template-card"]', { hasText: "Project" }).first();
      await card.locator('[data-testid="choose-template"]').click();
      const name = `Browser ${unique}`;
      await byTestId(page, "input-display-name").fill(name);
      await byTestId(page, "input-description").fill("Made by the browser test");
      const preview = byTestId(page, "name-preview");
      await page.waitForFunction(
        ({ sel, name }) => document.querySelector(sel)?.textContent?.includes(name),
        { sel: '[data-testid="name-preview"]', name },
      );
      await byTestId(page, "approval-path").waitFor();
      if (await byTestId(page, "input-justification").count()) {
        await byTestId(page, "input-justification").fill("Needed for the browser test");
      }
      ctx.finalName = (await preview.textContent()).trim();
      await screenshot(page, "request-form");
      await checkAccessibility(page, "request (form with preview)");
      await byTestId(page, "submit-request").click();
      await byTestId(page, "request-confirmation").waitFor();
      await finish(ctx, page, "request");
    },
  ],
  [
    "my: the member sees the request waiting for approval, and renews a team that is about to expire",
    async (ctx) => {
      const page = await open(ctx, "my", ALEX);
      const warned = page.locator('[data-testid="team-row"]', {
        has: page.locator('[data-testid="state-badge"][data-state="warned"]'),
      });
      const team = await warned.first().getAttribute("data-team-id");
      const teamRow = `[data-testid="team-row"][data-team-id="${team}"]`;
      const expiresBefore = await page.locator(`${teamRow} td`).nth(2).textContent();
      const name = (await page.locator(`${teamRow} td`).first().textContent()).trim();
      await page.locator(`${teamRow} [data-testid="renew-button"]`).click();
      await page.locator('[data-testid="notice-success"]', { hasText: "renewed" }).waitFor();
      // A later expiry, and nothing left to renew.
      await page.waitForFunction(
        ({ row, before }) => {
          const cells = document.querySelectorAll(`${row} td`);
          return cells.length > 2 && cells[2].textContent !== before && !document.querySelector(`${row} [data-testid="renew-button"]`);
        },
        { row: teamRow, before: expiresBefore },
      );
      if (!name) throw new Error("the renewed team's row has no name");
      const row = page.locator('[data-testid="request-row"]', { hasText: ctx.finalName });
      await row.waitFor();
      ctx.requestId = await row.getAttribute("data-request-id");
      ctx.stateBefore = await row.locator('[data-testid="state-badge"]').getAttribute("data-state");
      await finish(ctx, page, "my");
    },
  ],
  [
    "approvals: the approver sees the request and approves it with a comment",
    async (ctx) => {
      const page = await open(ctx, "approvals", NESTOR);
      const row = page.locator(`[data-testid="approval-row"][data-request-id="${ctx.requestId}"]`);
      await row.waitFor();
      await screenshot(page, "approvals-pending");
      await checkAccessibility(page, "approvals (pending)");
      await row.locator('[data-testid="approve-button"]').click();
      await byTestId(page, "decision-dialog").waitFor();
      await checkAccessibility(page, "approvals (decision dialog)");
      await byTestId(page, "decision-comment").fill("Looks good");
      await byTestId(page, "confirm-decision").click();
      await row.waitFor({ state: "detached" });
      // The dialog's closing motion keeps the page aria-hidden until it ends.
      await byTestId(page, "decision-dialog").waitFor({ state: "detached" });
      await page.waitForFunction(() => !document.getElementById("root")?.hasAttribute("aria-hidden"));
      await finish(ctx, page, "approvals");
      // The requester sees the decision.
      const mine = await open(ctx, "my", ALEX);
      const badge = mine.locator(`[data-testid="request-row"][data-request-id="${ctx.requestId}"] [data-testid="state-badge"]`);
      await mine.waitForFunction(
        ({ sel, before }) => {
          const el = document.querySelector(sel);
          return el && el.getAttribute("data-state") !== before;
        },
        { sel: `[data-testid="request-row"][data-request-id="${ctx.requestId}"] [data-testid="state-badge"]`, before: ctx.stateBefore },
      );
      ctx.stateAfter = await badge.getAttribute("data-state");
      await mine.context().close();
    },
  ],
  [
    "dashboard: the auditor sees the counters and the audit trail",
    async (ctx) => {
      const page = await open(ctx, "dashboard", ISAIAH);
      await byTestId(page, "counter-state").first().waitFor();
      await byTestId(page, "audit-row").first().waitFor();
      const counters = await byTestId(page, "counter-state").count();
      const rows = await byTestId(page, "audit-row").count();
      if (counters < 1 || rows < 1) throw new Error(`counters ${counters}, audit rows ${rows}`);
      // Filtered to one person: the approver's decision just made is there.
      await byTestId(page, "audit-actor").fill(ctx.users[NESTOR].id);
      await byTestId(page, "audit-apply").click();
      await page.waitForFunction(
        ({ name, id }) => {
          const rows = [...document.querySelectorAll('[data-testid="audit-row"]')];
          return rows.length > 0 && rows.every((r) => r.textContent.includes(name) || r.textContent.includes(id));
        },
        { name: NESTOR, id: ctx.users[NESTOR].id },
      );
      await finish(ctx, page, "dashboard");
    },
  ],
  [
    "admin: the catalog manager changes a template and sees its new version",
    async (ctx) => {
      const page = await open(ctx, "admin", MEGAN);
      await byTestId(page, "admin-section-templates").click();
      const row = page.locator('[data-testid="template-row"]', { hasText: "Project" }).first();
      await row.locator('[data-testid="edit-template"]').click();
      await byTestId(page, "template-version").first().waitFor();
      const versions = await page.$$eval('[data-testid="template-version"]', (els) =>
        els.map((e) => Number(e.getAttribute("data-version"))),
      );
      const latest = Math.max(...versions);
      await byTestId(page, "template-description").fill(`Changed by the browser test ${unique}`);
      await byTestId(page, "template-save").click();
      await page.locator(`[data-testid="template-version"][data-version="${latest + 1}"]`).waitFor();
      await finish(ctx, page, "admin-templates");
    },
  ],
  [
    "admin: the admin gives the member the auditor role, and the member then has the dashboard",
    async (ctx) => {
      const before = await open(ctx, "", ALEX);
      if (await byTestId(before, "tab-dashboard").count()) throw new Error("the member has the dashboard before");
      await before.context().close();

      const page = await open(ctx, "admin", ADELE);
      await byTestId(page, "admin-section-roles").click();
      await byTestId(page, "add-role-form").waitFor();
      await byTestId(page, "role-kind").selectOption("user");
      await byTestId(page, "role-principal").fill(ctx.users[ALEX].id);
      await byTestId(page, "role-select").selectOption("auditor");
      await byTestId(page, "add-role").click();
      const added = page.locator(`[data-testid="role-row"][data-principal-id="${ctx.users[ALEX].id}"][data-role="auditor"]`);
      await added.waitFor();
      // The row names whom it is for (the id, when the server has no name).
      const who = await added.textContent();
      if (!who.includes(ctx.users[ALEX].id) && !who.includes(ALEX)) throw new Error(`the new row does not say whom: ${who}`);
      await finish(ctx, page, "admin-roles");

      const after = await open(ctx, "", ALEX);
      await byTestId(after, "tab-dashboard").waitFor();
      await byTestId(after, "tab-dashboard").click();
      await byTestId(after, "counter-state").first().waitFor();
      await after.context().close();
    },
  ],
  [
    "admin: the admin opens the CRM section, sees nothing connected, and a host that is not Dynamics' is refused",
    async (ctx) => {
      const page = await open(ctx, "admin", ADELE);
      await byTestId(page, "admin-section-crm").click();
      await byTestId(page, "crm-none").waitFor();
      // Plain `handler local` has no connected app: Salesforce says what it needs.
      const unavailable = byTestId(page, "crm-salesforce-unavailable");
      await unavailable.waitFor();
      if (!(await unavailable.textContent()).includes("needs this deployment's connected app")) {
        throw new Error(`the Salesforce text: ${await unavailable.textContent()}`);
      }
      if (await byTestId(page, "crm-salesforce-form").count()) throw new Error("the Salesforce form is shown");
      // Nor an Entra app: the organisation's own app registration is asked for.
      await byTestId(page, "crm-dynamics-url").fill("https://contoso.example.com");
      await byTestId(page, "crm-dynamics-client-id").fill("5c1b2e7a-3d4f-4a6b-9c8d-7e6f5a4b3c2d");
      await byTestId(page, "crm-dynamics-client-secret").fill("a-secret-that-goes-nowhere");
      await byTestId(page, "crm-dynamics-save").click();
      const form = byTestId(page, "crm-dynamics-form");
      await form.getByText("contoso.example.com is not a Dynamics 365 host").waitFor();
      if ((await byTestId(page, "crm-dynamics-url").getAttribute("aria-invalid")) !== "true") {
        throw new Error("the environment URL is not marked invalid");
      }
      if (await byTestId(page, "crm-connection-dynamics").count()) throw new Error("a connection appeared");
      await finish(ctx, page, "admin-crm");
    },
  ],
];

async function main() {
  const started = Date.now();
  const handler = await startHandler();
  const browser = await launch();
  const ctx = { base: handler.base, browser, shots: [] };
  let failed = 0;
  try {
    ctx.users = await demoUsers(handler.base);
    for (const [name, step] of steps) {
      const t = Date.now();
      try {
        await step(ctx);
        console.log(`browser: ok    ${name} (${Date.now() - t} ms)`);
      } catch (e) {
        failed += 1;
        console.log(`browser: FAIL  ${name}\n${String(e.stack || e).replace(/^/gm, "    ")}`);
        if (ctx.current && !ctx.current.isClosed()) {
          console.log(`browser: the page then: ${await screenshot(ctx.current, "failed").catch(() => "(no screenshot)")}`);
        }
        // Later steps build on this one.
        break;
      }
    }
    if (failed === 0) {
      console.log("browser: figures (cold load in a fresh context, token held; gzip as served)");
      console.log("  tab         first render   JS+CSS gzip   files");
      for (const [tab, selector] of Object.entries(FIRST_RENDER)) {
        const token = await devToken(handler.base, ctx.users[FIGURES_AS[tab]].id);
        const m = await measureColdLoad(browser, handler.base, `/api/tabs/${tab}`, token, selector);
        console.log(
          `  ${tab.padEnd(11)} ${`${Math.round(m.ms)} ms`.padStart(12)}   ${`${(m.bytes / 1024).toFixed(1)} KiB`.padStart(11)}   ${String(m.files).padStart(5)}`,
        );
      }
      console.log(`browser: screenshots: ${ctx.shots.join(", ")}`);
    }
  } catch (e) {
    failed += 1;
    console.log(`browser: FAIL  ${String(e.stack || e)}`);
  } finally {
    await browser.close();
    if (failed > 0) console.log(`browser: the handler's last log lines:\n${handler.log()}`);
    await handler.stop();
  }
  console.log(`browser: ${failed === 0 ? "all passed" : `${failed} failed`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(failed === 0 ? 0 : 1);
}

main();
