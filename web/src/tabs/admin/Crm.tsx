// Administration › CRM: the tenant's Dynamics 365 and Salesforce
// connections. A broken one is shown first, as the finding it is (what the
// CRM said and since when), with what to do. Dynamics 365 is connected
// with the environment's URL (SalesTim's app, or the organisation's own
// app registration); Salesforce through its sign-in page (it cannot be
// framed: inside Teams it opens in the browser). Secrets are sent once and
// never shown again.
import { useState } from "react";
import { Badge, Button, Checkbox, Dropdown, Field, Input, Option, Text } from "@fluentui/react-components";
import { ApiError, del, post, put, reasonOf } from "../../api";
import { inTeams, openLink } from "../../teams";
import type { CrmAdmin, CrmConnection, WriteBack } from "../../types";
import { ErrorBar, Notice, Resource, formatDate, useLoad, usePageStyles } from "../../ui";

function writeBackLabel(w: WriteBack): string {
  if (w.kind === "note") return "A note on the record";
  if (w.kind === "field") return `The field ${w.field}`;
  return "Nothing";
}

/** The write-back chooser: a note, a named field, or nothing. */
function WriteBackField({ value, onChange, testId }: { value: WriteBack; onChange: (w: WriteBack) => void; testId: string }) {
  const p = usePageStyles();
  return (
    <div className={p.row}>
      <Field label="Record new teams on the CRM record as">
        <Dropdown
          value={value.kind === "note" ? "A note" : value.kind === "field" ? "A link field" : "Nothing"}
          selectedOptions={[value.kind]}
          onOptionSelect={(_, d) => onChange(d.optionValue === "field" ? { kind: "field", field: "" } : ({ kind: d.optionValue } as WriteBack))}
          data-testid={`${testId}-kind`}
        >
          <Option value="note">A note</Option>
          <Option value="field">A link field</Option>
          <Option value="off">Nothing</Option>
        </Dropdown>
      </Field>
      {value.kind === "field" && (
        <Field label="Field name (logical / API name)">
          <Input value={value.field} onChange={(_, d) => onChange({ kind: "field", field: d.value })} data-testid={`${testId}-field`} />
        </Field>
      )}
    </div>
  );
}

function ConnectionCard({ c, onChanged }: { c: CrmConnection; onChanged: () => void }) {
  const p = usePageStyles();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const act = async (what: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await what();
      onChanged();
    } catch (e) {
      setError(reasonOf(e));
    } finally {
      setBusy(false);
    }
  };
  const where = c.target.orgUrl ?? c.target.instanceUrl ?? "";
  return (
    <section className={p.section} aria-label={`${c.label} connection`} data-testid={`crm-connection-${c.crm}`}>
      <h3>{c.label}</h3>
      {c.health.state === "broken" && (
        <div data-testid={`crm-finding-${c.crm}`}>
          <ErrorBar
            title="This connection needs you"
            message={`Since ${formatDate(c.health.since, true)}, ${c.label} refuses SalesTim: ${c.health.reason}. People searching in Teams are asked to contact you. Reconnect it (or fix the application user), then check it.`}
          />
        </div>
      )}
      <div className={p.row}>
        <Text weight="semibold">Where</Text>
        <Text>{where}</Text>
        {c.health.state === "working" ? <Badge color="success">Working</Badge> : <Badge color="danger">Broken</Badge>}
      </div>
      {c.target.orgUrl && (
        <Text size={200}>
          Search: {c.target.search}; {c.target.impersonate ? "as each Teams user" : "as SalesTim"};{" "}
          {c.target.ownApp ? `your app registration ${c.target.clientId}` : "SalesTim's app"}
        </Text>
      )}
      <Text size={200}>New teams are recorded as: {writeBackLabel(c.writeBack)}</Text>
      {c.checked && (
        <Text size={200} data-testid={`crm-checked-${c.crm}`}>
          Last check {formatDate(c.checked.at, true)}: {c.checked.ok ? "worked" : "failed"} ({c.checked.message})
        </Text>
      )}
      {error && <ErrorBar message={error} />}
      <div className={p.row}>
        <Button disabled={busy} onClick={() => act(() => post(`admin/crm/${c.crm}/check`))} data-testid={`crm-check-${c.crm}`}>
          Check
        </Button>
        <Button disabled={busy} onClick={() => act(() => del(`admin/crm/${c.crm}`))} data-testid={`crm-remove-${c.crm}`}>
          Remove
        </Button>
      </div>
    </section>
  );
}

function DynamicsForm({ onSaved, ownAppOnly }: { onSaved: () => void; ownAppOnly: boolean }) {
  const p = usePageStyles();
  const [orgUrl, setOrgUrl] = useState("");
  const [impersonate, setImpersonate] = useState(true);
  const [ownApp, setOwnApp] = useState(ownAppOnly);
  const [clientId, setClientId] = useState("");
  const [clientSecret, setClientSecret] = useState("");
  const [writeBack, setWriteBack] = useState<WriteBack>({ kind: "note" });
  const [error, setError] = useState<ApiError | string>();
  const [busy, setBusy] = useState(false);
  const fieldError = (name: string) => (error instanceof ApiError && error.field === name ? error.message : undefined);
  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await put("admin/crm/dynamics", {
        orgUrl,
        impersonate,
        writeBack,
        ...(ownApp ? { clientId, clientSecret } : {}),
      });
      setClientSecret("");
      onSaved();
    } catch (err) {
      setError(err instanceof ApiError ? err : reasonOf(err));
    } finally {
      setBusy(false);
    }
  };
  const general = typeof error === "string" ? error : error && !error.field ? error.message : undefined;
  return (
    <form className={p.form} onSubmit={save} aria-labelledby="dynamics-title" data-testid="crm-dynamics-form">
      <h3 id="dynamics-title">Connect Dynamics 365</h3>
      <Text size={200}>
        Add SalesTim as an application user with a security role in the environment first (Power Platform admin center › Environment › Settings › Application users).
      </Text>
      <Field label="Environment URL" required validationMessage={fieldError("orgUrl")}>
        <Input value={orgUrl} placeholder="https://contoso.crm.dynamics.com" onChange={(_, d) => setOrgUrl(d.value)} data-testid="crm-dynamics-url" />
      </Field>
      <Checkbox checked={impersonate} onChange={(_, d) => setImpersonate(Boolean(d.checked))} label="Search as each Teams user (Dynamics applies their security roles)" />
      <Checkbox
        checked={ownApp}
        disabled={ownAppOnly}
        onChange={(_, d) => setOwnApp(Boolean(d.checked))}
        label="Sign in with our own app registration"
      />
      {ownApp && (
        <>
          <Field label="Client id" validationMessage={fieldError("clientId")}>
            <Input value={clientId} onChange={(_, d) => setClientId(d.value)} data-testid="crm-dynamics-client-id" />
          </Field>
          <Field label="Client secret" validationMessage={fieldError("clientSecret")}>
            <Input type="password" value={clientSecret} onChange={(_, d) => setClientSecret(d.value)} data-testid="crm-dynamics-client-secret" />
          </Field>
        </>
      )}
      <WriteBackField value={writeBack} onChange={setWriteBack} testId="crm-dynamics-writeback" />
      {fieldError("writeBack.field") && <ErrorBar message={fieldError("writeBack.field") ?? ""} />}
      {general && <ErrorBar message={general} />}
      <div className={p.row}>
        <Button type="submit" appearance="primary" disabled={busy} data-testid="crm-dynamics-save">
          {busy ? "Connecting…" : "Connect and check"}
        </Button>
      </div>
    </form>
  );
}

function SalesforceForm({ onStarted }: { onStarted: () => void }) {
  const p = usePageStyles();
  const [loginUrl, setLoginUrl] = useState("");
  const [writeBack, setWriteBack] = useState<WriteBack>({ kind: "note" });
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [opened, setOpened] = useState(false);
  const start = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const { authorizeUrl } = await post<{ authorizeUrl: string }>("admin/crm/salesforce/connect", {
        loginUrl: loginUrl || undefined,
        writeBack,
      });
      if (inTeams()) openLink(authorizeUrl);
      else window.open(authorizeUrl, "_blank", "noopener");
      setOpened(true);
      onStarted();
    } catch (e) {
      setError(reasonOf(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className={p.form} aria-labelledby="salesforce-title" data-testid="crm-salesforce-form">
      <h3 id="salesforce-title">Connect Salesforce</h3>
      <Field label="Sign-in URL (leave empty for login.salesforce.com)">
        <Input value={loginUrl} placeholder="https://contoso.my.salesforce.com" onChange={(_, d) => setLoginUrl(d.value)} data-testid="crm-salesforce-login" />
      </Field>
      <WriteBackField value={writeBack} onChange={setWriteBack} testId="crm-salesforce-writeback" />
      {error && <ErrorBar message={error} />}
      {opened && <Notice intent="info">Sign in to Salesforce in the window that opened and allow SalesTim, then reload this page.</Notice>}
      <div className={p.row}>
        <Button appearance="primary" disabled={busy} onClick={start} data-testid="crm-salesforce-connect">
          Sign in to Salesforce
        </Button>
      </div>
    </section>
  );
}

export default function Crm() {
  const p = usePageStyles();
  const loaded = useLoad<CrmAdmin>("admin/crm");
  return (
    <Resource loaded={loaded} label="Loading CRM connections…">
      {(s) => {
        const has = (crm: string) => s.connections.some((c) => c.crm === crm);
        // Broken connections first: they are the findings.
        const ordered = [...s.connections].sort((a, b) => Number(b.health.state === "broken") - Number(a.health.state === "broken"));
        return (
          <div className={p.section}>
            <h2>CRM connections</h2>
            {ordered.length === 0 && (
              <Text data-testid="crm-none">
                No CRM is connected: people cannot search records in Teams yet. Connect Dynamics 365 or Salesforce below.
              </Text>
            )}
            {ordered.map((c) => (
              <ConnectionCard key={c.crm} c={c} onChanged={loaded.reload} />
            ))}
            {!has("dynamics") && <DynamicsForm onSaved={loaded.reload} ownAppOnly={!s.available.dynamics} />}
            {!has("salesforce") &&
              (s.available.salesforce ? (
                <SalesforceForm onStarted={loaded.reload} />
              ) : (
                <Text size={200} data-testid="crm-salesforce-unavailable">
                  Salesforce needs this deployment's connected app (SALESFORCE_CLIENT_ID).
                </Text>
              ))}
          </div>
        );
      }}
    </Resource>
  );
}
