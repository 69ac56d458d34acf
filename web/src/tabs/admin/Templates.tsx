// Administration › Templates: the tenant's templates, and an editor for one
// (name, description, active, audience, approval rule; every other field is
// kept as read), its versions, and its icon upload. Saving makes a new
// version on the server.
import { useState } from "react";
import {
  Button,
  Field,
  Input,
  Radio,
  RadioGroup,
  Switch,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  Textarea,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { ApiError, call, put, reasonOf } from "../../api";
import type { AdminTemplate, Audience, TemplateDetail } from "../../types";
import { AuthedImage, Empty, ErrorBar, Notice, Resource, StateBadge, useLoad, usePageStyles } from "../../ui";

/** The server checks again; this only saves a round trip. */
const ICON_MAX_BYTES = 512 * 1024;
const ICON_TYPES = ["image/png", "image/jpeg"];
const TEMPLATE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

const useStyles = makeStyles({
  icon: { width: "48px", height: "48px", borderRadius: tokens.borderRadiusMedium, objectFit: "cover" },
  mono: { fontFamily: tokens.fontFamilyMonospace },
});

/** Reads the audience in the shapes a template may carry it. */
export function audienceOf(t: AdminTemplate): { everyone: boolean; groups: string[] } {
  const a = t.audience as unknown;
  if (Array.isArray(a)) return { everyone: a.length === 0, groups: a.map(String) };
  if (a && typeof a === "object" && (a as { kind?: string }).kind === "groups") {
    const groups = ((a as { groups?: unknown[] }).groups ?? []).map((g) =>
      g && typeof g === "object" ? String((g as { aadObjectId?: string }).aadObjectId ?? "") : String(g),
    );
    return { everyone: groups.length === 0, groups };
  }
  return { everyone: true, groups: [] };
}

function audienceText(t: AdminTemplate): string {
  const a = audienceOf(t);
  return a.everyone ? "Everyone" : `${a.groups.length} group${a.groups.length === 1 ? "" : "s"}`;
}

function Editor({ id, isNew, onSaved }: { id: string; isNew: boolean; onSaved: () => void }) {
  const loaded = useLoad<TemplateDetail>(isNew ? null : `admin/templates/${encodeURIComponent(id)}`);
  // Kept here: saving reloads the template, which remounts the form.
  const [saved, setSaved] = useState<number>();
  const done = (version: number) => {
    setSaved(version);
    onSaved();
  };
  const notice = saved !== undefined && <Notice intent="success">Saved as version {saved}.</Notice>;
  if (isNew) {
    const blank: TemplateDetail = {
      template: { id, name: "", version: 0, active: true, description: "", audience: { kind: "everyone" }, approval: { kind: "none" } },
      versions: [],
    };
    return <EditorForm detail={blank} onSaved={done} reload={() => undefined} />;
  }
  return (
    <Resource loaded={loaded} label="Loading the template…">
      {(d) => (
        <>
          {notice}
          <EditorForm key={`${d.template.id}-${d.template.version}`} detail={d} onSaved={done} reload={loaded.reload} />
        </>
      )}
    </Resource>
  );
}

function EditorForm({ detail, onSaved, reload }: { detail: TemplateDetail; onSaved: (version: number) => void; reload: () => void }) {
  const p = usePageStyles();
  const s = useStyles();
  const t = detail.template;
  const initialAudience = audienceOf(t);
  const [name, setName] = useState(t.name);
  const [description, setDescription] = useState(t.description ?? "");
  const [active, setActive] = useState(t.active);
  const [everyone, setEveryone] = useState(initialAudience.everyone);
  const [groups, setGroups] = useState(initialAudience.groups.join("\n"));
  const [approval, setApproval] = useState(JSON.stringify(t.approval ?? { kind: "none" }, null, 2));
  const [crmLink, setCrmLink] = useState<string>(typeof t.crmLink === "string" ? t.crmLink : "none");
  const [error, setError] = useState<ApiError | string>();
  const [busy, setBusy] = useState(false);
  const [icon, setIcon] = useState(t.icon ?? null);
  const [iconError, setIconError] = useState<string>();
  const [iconBusy, setIconBusy] = useState(false);
  const fieldError = (f: string) => (error instanceof ApiError && error.field === f ? error.message : undefined);

  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(undefined);
    let parsedApproval: unknown;
    try {
      parsedApproval = JSON.parse(approval);
    } catch {
      setError(new ApiError(400, "The approval rule is not valid JSON.", "approval"));
      return;
    }
    const groupIds = groups
      .split(/[\s,;]+/)
      .map((g) => g.trim())
      .filter(Boolean);
    if (!everyone && groupIds.length === 0) {
      setError(new ApiError(400, "Name at least one Entra group, or choose everyone.", "audience"));
      return;
    }
    const audience: Audience = everyone
      ? { kind: "everyone" }
      : { kind: "groups", groups: groupIds.map((aadObjectId) => ({ aadObjectId, name: "" })) };
    const template: Record<string, unknown> = { ...t, name, description, active, audience, approval: parsedApproval, icon: icon ?? t.icon };
    if (crmLink === "none") delete template.crmLink;
    else template.crmLink = crmLink;
    setBusy(true);
    try {
      const body: Record<string, unknown> = { template };
      if (detail.etag) body.etag = detail.etag;
      const res = await put<{ id: string; version: number }>(`admin/templates/${encodeURIComponent(t.id)}`, body);
      onSaved(res.version);
      reload();
    } catch (err) {
      setError(err instanceof ApiError ? err : reasonOf(err));
      if (err instanceof ApiError && err.status === 409) reload();
    } finally {
      setBusy(false);
    }
  };

  const upload = async (file: File | undefined) => {
    setIconError(undefined);
    if (!file) return;
    if (!ICON_TYPES.includes(file.type)) {
      setIconError("The icon must be a PNG or JPEG image.");
      return;
    }
    if (file.size > ICON_MAX_BYTES) {
      setIconError(`The icon is ${Math.ceil(file.size / 1024)} KiB; at most 512 KiB is accepted.`);
      return;
    }
    setIconBusy(true);
    try {
      const res = await call<{ icon: string }>("POST", `admin/templates/${encodeURIComponent(t.id)}/icon`, {
        raw: { bytes: file, type: file.type },
      });
      setIcon(res.icon);
    } catch (err) {
      setIconError(reasonOf(err));
    } finally {
      setIconBusy(false);
    }
  };

  const general = typeof error === "string" ? error : error && !error.field ? error.message : undefined;
  return (
    <div className={p.section}>
      <form className={p.form} onSubmit={save} aria-labelledby="template-form-title" data-testid="template-form">
        <h2 id="template-form-title">
          {t.version ? `Template ${t.id} (version ${t.version})` : `New template ${t.id}`}
        </h2>
        <Field label="Name" required validationMessage={fieldError("name")}>
          <Input value={name} onChange={(_, d) => setName(d.value)} data-testid="template-name" />
        </Field>
        <Field label="Description" validationMessage={fieldError("description")}>
          <Textarea value={description} onChange={(_, d) => setDescription(d.value)} data-testid="template-description" resize="vertical" />
        </Field>
        <Switch label="Offered in the catalog" checked={active} onChange={(_, d) => setActive(d.checked)} data-testid="template-active" />
        <Field label="Who can use it" validationMessage={fieldError("audience")}>
          <RadioGroup value={everyone ? "everyone" : "groups"} onChange={(_, d) => setEveryone(d.value === "everyone")}>
            <Radio value="everyone" label="Everyone in the organization" data-testid="audience-everyone" />
            <Radio value="groups" label="Members of these Entra groups" data-testid="audience-groups" />
          </RadioGroup>
        </Field>
        {!everyone && (
          <Field label="Entra group ids" hint="One object id per line">
            <Textarea value={groups} onChange={(_, d) => setGroups(d.value)} className={s.mono} data-testid="template-groups" resize="vertical" />
          </Field>
        )}
        <Field
          label="Teams for CRM records"
          hint='Offered by "Create a team for this record" on records of this type; its naming policy may use [CrmRecord]'
          validationMessage={fieldError("crmLink")}
        >
          <RadioGroup value={crmLink} onChange={(_, d) => setCrmLink(d.value)} layout="horizontal" data-testid="template-crm-link">
            <Radio value="none" label="None" />
            <Radio value="account" label="Accounts" />
            <Radio value="contact" label="Contacts" />
            <Radio value="opportunity" label="Opportunities" />
          </RadioGroup>
        </Field>
        <Field
          label="Approval rule (JSON)"
          hint='{"kind":"none"}, {"kind":"manager"}, or approvers by stage'
          validationMessage={fieldError("approval")}
        >
          <Textarea
            value={approval}
            onChange={(_, d) => setApproval(d.value)}
            rows={6}
            className={s.mono}
            data-testid="template-approval"
            resize="vertical"
          />
        </Field>
        {general && <ErrorBar message={general} />}
        <div className={p.row}>
          <Button type="submit" appearance="primary" disabled={busy} data-testid="template-save">
            {busy ? "Saving…" : "Save as a new version"}
          </Button>
        </div>
      </form>
      {t.version > 0 && (
        <section className={p.section} aria-labelledby="icon-title">
          <h3 id="icon-title">Icon</h3>
          <div className={p.row}>
            {icon ? <AuthedImage src={icon} alt={`Icon of ${name}`} className={s.icon} testId="template-icon" /> : <Text>No icon yet.</Text>}
            <Field label="Upload an icon (PNG or JPEG, at most 512 KiB)">
              {(fieldProps) => (
                <input
                  {...fieldProps}
                  type="file"
                  accept="image/png,image/jpeg"
                  disabled={iconBusy}
                  data-testid="icon-upload"
                  onChange={(e) => {
                    void upload(e.target.files?.[0]);
                    e.target.value = "";
                  }}
                />
              )}
            </Field>
          </div>
          {iconError && <ErrorBar message={iconError} />}
        </section>
      )}
      <section className={p.section} aria-labelledby="versions-title">
        <h3 id="versions-title">Versions</h3>
        {detail.versions.length === 0 ? (
          <Empty>No version saved yet.</Empty>
        ) : (
          <Table aria-label="Versions" size="small" data-testid="template-versions">
            <TableHeader>
              <TableRow>
                <TableHeaderCell>Version</TableHeaderCell>
                <TableHeaderCell>Name</TableHeaderCell>
                <TableHeaderCell>Offered</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {detail.versions.map((v) => (
                <TableRow key={v.version} data-testid="template-version" data-version={v.version}>
                  <TableCell>{v.version}</TableCell>
                  <TableCell>{v.name}</TableCell>
                  <TableCell>{v.active ? "Yes" : "Retired"}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </section>
    </div>
  );
}

export default function Templates() {
  const p = usePageStyles();
  const list = useLoad<{ templates: AdminTemplate[] }>("admin/templates");
  const [editing, setEditing] = useState<{ id: string; isNew: boolean }>();
  const [newId, setNewId] = useState("");
  const [newIdError, setNewIdError] = useState<string>();
  return (
    <div className={p.section}>
      <Resource loaded={list} label="Loading templates…">
        {({ templates }) => (
          <>
            {templates.length === 0 ? (
              <Empty>No template yet. Create the first one below.</Empty>
            ) : (
              <div className={p.tableWrap}>
                <Table aria-label="Templates" data-testid="templates-table">
                  <TableHeader>
                    <TableRow>
                      <TableHeaderCell>Template</TableHeaderCell>
                      <TableHeaderCell>Version</TableHeaderCell>
                      <TableHeaderCell>State</TableHeaderCell>
                      <TableHeaderCell>Audience</TableHeaderCell>
                      <TableHeaderCell>Approval</TableHeaderCell>
                      <TableHeaderCell>
                        <span className="visually-hidden">Actions</span>
                      </TableHeaderCell>
                    </TableRow>
                  </TableHeader>
                  <TableBody>
                    {templates.map((t) => (
                      <TableRow key={t.id} data-testid="template-row" data-template-id={t.id}>
                        <TableCell>{t.name}</TableCell>
                        <TableCell>{t.version}</TableCell>
                        <TableCell>{t.active ? <StateBadge state="active" /> : <StateBadge state="archived" label="retired" />}</TableCell>
                        <TableCell>{audienceText(t)}</TableCell>
                        <TableCell>{(t.approval as { kind?: string } | undefined)?.kind ?? "none"}</TableCell>
                        <TableCell>
                          <Button size="small" onClick={() => setEditing({ id: t.id, isNew: false })} data-testid="edit-template" aria-label={`Edit ${t.name}`}>
                            Edit
                          </Button>
                        </TableCell>
                      </TableRow>
                    ))}
                  </TableBody>
                </Table>
              </div>
            )}
            <form
              className={p.row}
              aria-label="New template"
              onSubmit={(e) => {
                e.preventDefault();
                const id = newId.trim();
                if (!TEMPLATE_ID.test(id)) {
                  setNewIdError("Use lowercase letters, digits and dashes.");
                  return;
                }
                if (templates.some((t) => t.id === id)) {
                  setNewIdError("A template with this id exists: edit it instead.");
                  return;
                }
                setNewIdError(undefined);
                setEditing({ id, isNew: true });
              }}
            >
              <Field label="New template id" validationMessage={newIdError}>
                <Input value={newId} onChange={(_, d) => setNewId(d.value)} data-testid="new-template-id" />
              </Field>
              <Button type="submit" data-testid="new-template">
                New template
              </Button>
            </form>
          </>
        )}
      </Resource>
      {editing && (
        <Editor
          key={editing.id}
          id={editing.id}
          isNew={editing.isNew}
          onSaved={() => {
            list.reload();
            if (editing.isNew) setEditing({ id: editing.id, isNew: false });
          }}
        />
      )}
    </div>
  );
}
