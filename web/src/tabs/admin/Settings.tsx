// Administration › Settings: the tenant's consent and credential health,
// and the reminder, escalation, expiry and naming settings.
import { useState } from "react";
import { Badge, Button, Field, Input, Text, Textarea } from "@fluentui/react-components";
import { ApiError, put, reasonOf } from "../../api";
import type { AdminSettings, TenantSettings } from "../../types";
import { ErrorBar, Notice, Resource, formatDate, useLoad, usePageStyles } from "../../ui";

function SettingsForm({ initial }: { initial: TenantSettings }) {
  const p = usePageStyles();
  const [reminder, setReminder] = useState(String(initial.reminderAfterHours));
  const [escalate, setEscalate] = useState(String(initial.escalateAfterHours));
  const [expiry, setExpiry] = useState(String(initial.defaultExpiryDays));
  const [naming, setNaming] = useState(JSON.stringify(initial.naming ?? {}, null, 2));
  const [error, setError] = useState<ApiError | string>();
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const fieldError = (name: string) => (error instanceof ApiError && error.field === name ? error.message : undefined);

  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setSaved(false);
    let parsedNaming: Record<string, unknown>;
    try {
      parsedNaming = JSON.parse(naming) as Record<string, unknown>;
    } catch {
      setError(new ApiError(400, "The naming policy is not valid JSON.", "naming"));
      return;
    }
    const settings: TenantSettings = {
      reminderAfterHours: Number(reminder),
      escalateAfterHours: Number(escalate),
      defaultExpiryDays: Number(expiry),
      naming: parsedNaming,
    };
    setBusy(true);
    try {
      await put("admin/settings", settings);
      setSaved(true);
    } catch (err) {
      setError(err instanceof ApiError ? err : reasonOf(err));
    } finally {
      setBusy(false);
    }
  };
  const general = typeof error === "string" ? error : error && !error.field ? error.message : undefined;
  return (
    <form className={p.form} onSubmit={save} aria-labelledby="settings-form-title" data-testid="settings-form">
      <h2 id="settings-form-title">Reminders and expiry</h2>
      <Field label="Remind approvers after (hours)" validationMessage={fieldError("reminderAfterHours")}>
        <Input type="number" min={1} value={reminder} onChange={(_, d) => setReminder(d.value)} data-testid="settings-reminder" />
      </Field>
      <Field label="Escalate after (hours)" validationMessage={fieldError("escalateAfterHours")}>
        <Input type="number" min={1} value={escalate} onChange={(_, d) => setEscalate(d.value)} data-testid="settings-escalate" />
      </Field>
      <Field label="Default expiry (days)" validationMessage={fieldError("defaultExpiryDays")}>
        <Input type="number" min={1} value={expiry} onChange={(_, d) => setExpiry(d.value)} data-testid="settings-expiry" />
      </Field>
      <Field label="Naming policy (JSON)" validationMessage={fieldError("naming")}>
        <Textarea value={naming} onChange={(_, d) => setNaming(d.value)} rows={8} data-testid="settings-naming" resize="vertical" />
      </Field>
      {general && <ErrorBar message={general} />}
      {saved && <Notice intent="success">Settings saved.</Notice>}
      <div className={p.row}>
        <Button type="submit" appearance="primary" disabled={busy} data-testid="settings-save">
          {busy ? "Saving…" : "Save settings"}
        </Button>
      </div>
    </form>
  );
}

export default function Settings() {
  const p = usePageStyles();
  const loaded = useLoad<AdminSettings>("admin/settings");
  return (
    <Resource loaded={loaded} label="Loading settings…">
      {(s) => (
        <div className={p.section}>
          <section className={p.section} aria-labelledby="health-title">
            <h2 id="health-title">{s.tenant.name}: health</h2>
            <div className={p.row} data-testid="consent-status">
              <Text weight="semibold">Admin consent</Text>
              {s.consent.granted ? (
                <Badge color="success">Granted {s.consent.at ? formatDate(s.consent.at) : ""}</Badge>
              ) : (
                <Badge color="danger">Not granted</Badge>
              )}
            </div>
            <div className={p.row} data-testid="credential-status">
              <Text weight="semibold">Credentials ({s.credentials.kind})</Text>
              {s.credentials.healthy ? <Badge color="success">Healthy</Badge> : <Badge color="danger">Needs attention</Badge>}
              <Text size={200}>{s.credentials.detail}</Text>
            </div>
          </section>
          <SettingsForm initial={s.settings} />
        </div>
      )}
    </Resource>
  );
}
