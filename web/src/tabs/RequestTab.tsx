// Tab 1, "Request a team": the template catalog the user may pick from,
// the request form with a live preview of the final name (the naming policy
// applied by the server as the person types) and of the approval path, and
// the confirmation with the request's state.
import { useEffect, useRef, useState } from "react";
import {
  Button,
  Card,
  CardHeader,
  Field,
  Input,
  Spinner,
  Text,
  Textarea,
  makeStyles,
  mergeClasses,
  tokens,
} from "@fluentui/react-components";
import { ApiError, post, reasonOf } from "../api";
import type { CatalogTemplate, Preview, Submitted } from "../types";
import { AuthedImage, Empty, ErrorBar, Notice, Resource, StateBadge, useLoad, usePageStyles } from "../ui";

const PREVIEW_DELAY_MS = 350;

const useStyles = makeStyles({
  grid: { display: "grid", gridTemplateColumns: "repeat(auto-fill, minmax(240px, 1fr))", gap: tokens.spacingHorizontalM },
  chosen: { outline: `2px solid ${tokens.colorBrandStroke1}` },
  icon: { width: "32px", height: "32px", borderRadius: tokens.borderRadiusMedium },
  preview: {
    padding: tokens.spacingVerticalM,
    backgroundColor: tokens.colorNeutralBackground1,
    borderRadius: tokens.borderRadiusMedium,
    border: `1px solid ${tokens.colorNeutralStroke2}`,
    display: "flex",
    flexDirection: "column",
    gap: tokens.spacingVerticalS,
  },
  finalName: { fontSize: tokens.fontSizeBase500, fontWeight: tokens.fontWeightSemibold },
  columns: { display: "flex", gap: tokens.spacingHorizontalXXL, flexWrap: "wrap", alignItems: "flex-start" },
});

function approvalSummary(t: CatalogTemplate): string {
  switch (t.approval.kind) {
    case "none":
      return "No approval needed";
    case "owners":
      return "Approved by the template's owners";
    case "manager":
      return "Approved by your manager";
    case "stages": {
      const n = t.approval.stages?.length ?? 0;
      return `${n} approval stage${n === 1 ? "" : "s"}`;
    }
    default:
      return "Approval needed";
  }
}

function ids(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

interface FormState {
  displayName: string;
  description: string;
  justification: string;
  owners: string;
  members: string;
}

const EMPTY_FORM: FormState = { displayName: "", description: "", justification: "", owners: "", members: "" };

function usePreview(templateId: string | undefined, displayName: string, description: string) {
  const [preview, setPreview] = useState<Preview>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!templateId || !displayName.trim()) {
      setPreview(undefined);
      setError(undefined);
      setBusy(false);
      return;
    }
    const abort = new AbortController();
    setBusy(true);
    const timer = setTimeout(() => {
      post<Preview>("requests/preview", { templateId, displayName, description }, abort.signal)
        .then((p) => {
          setPreview(p);
          setError(undefined);
          setBusy(false);
        })
        .catch((e: unknown) => {
          if (abort.signal.aborted) return;
          setError(reasonOf(e));
          setBusy(false);
        });
    }, PREVIEW_DELAY_MS);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }, [templateId, displayName, description]);
  return { preview, error, busy };
}

function RequestForm({ template, onDone }: { template: CatalogTemplate; onDone: (s: Submitted) => void }) {
  const p = usePageStyles();
  const s = useStyles();
  const [form, setForm] = useState<FormState>(EMPTY_FORM);
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState<ApiError | string>();
  const { preview, error: previewError, busy } = usePreview(template.id, form.displayName, form.description);
  const set = (k: keyof FormState) => (_: unknown, d: { value: string }) => setForm((f) => ({ ...f, [k]: d.value }));
  const fieldError = (name: string) => (error instanceof ApiError && error.field === name ? error.message : undefined);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSubmitting(true);
    setError(undefined);
    try {
      const done = await post<Submitted>("requests", {
        templateId: template.id,
        displayName: form.displayName,
        description: form.description,
        justification: form.justification,
        // The name the person was shown: the server refuses another one.
        finalName: preview?.finalName,
        owners: ids(form.owners),
        members: ids(form.members),
      });
      onDone(done);
    } catch (err) {
      setError(err instanceof ApiError ? err : reasonOf(err));
      setSubmitting(false);
    }
  };

  const generalError = error === undefined ? undefined : typeof error === "string" ? error : error.field ? undefined : error.message;
  return (
    <div className={s.columns}>
      <form className={p.form} onSubmit={submit} aria-labelledby="request-form-title" data-testid="request-form">
        <h2 id="request-form-title">New team from “{template.name}”</h2>
        <Field label="Team name" required validationMessage={fieldError("displayName")}>
          <Input value={form.displayName} onChange={set("displayName")} data-testid="input-display-name" maxLength={256} />
        </Field>
        <Field label="Description" validationMessage={fieldError("description")}>
          <Textarea value={form.description} onChange={set("description")} data-testid="input-description" resize="vertical" />
        </Field>
        {template.fields.justification && (
          <Field label="Why is this team needed?" required validationMessage={fieldError("justification")}>
            <Textarea value={form.justification} onChange={set("justification")} data-testid="input-justification" resize="vertical" />
          </Field>
        )}
        <Field label="Other owners" hint="Entra object ids, separated by spaces or commas" validationMessage={fieldError("owners")}>
          <Input value={form.owners} onChange={set("owners")} data-testid="input-owners" />
        </Field>
        <Field label="Members" hint="Entra object ids, separated by spaces or commas" validationMessage={fieldError("members")}>
          <Input value={form.members} onChange={set("members")} data-testid="input-members" />
        </Field>
        {generalError && <ErrorBar message={generalError} />}
        <div className={p.row}>
          <Button
            appearance="primary"
            type="submit"
            disabled={
              submitting ||
              busy ||
              !form.displayName.trim() ||
              (template.fields.justification && !form.justification.trim()) ||
              (preview !== undefined && !preview.valid)
            }
            data-testid="submit-request"
          >
            {submitting ? "Submitting…" : "Submit request"}
          </Button>
        </div>
      </form>
      <section className={s.preview} aria-labelledby="preview-title" aria-live="polite">
        <h2 id="preview-title">Preview</h2>
        {!form.displayName.trim() && <Text>Type a team name to see its final name.</Text>}
        {busy && <Spinner size="tiny" label="Checking the name…" />}
        {previewError && <ErrorBar message={previewError} />}
        {preview && form.displayName.trim() && (
          <>
            <Text className={s.finalName} data-testid="name-preview">
              {preview.finalName}
            </Text>
            <Text size={200}>Mail nickname: {preview.mailNickname}</Text>
            {!preview.valid && (
              <Text weight="semibold">This name does not follow the naming policy:</Text>
            )}
            {!preview.valid && (
              <ul data-testid="name-problems">
                {preview.problems.map((pr) => (
                  <li key={pr}>{pr}</li>
                ))}
              </ul>
            )}
            <h3>Approval</h3>
            {preview.approvalPath.length === 0 ? (
              <Text data-testid="approval-path">No approval needed: the team is created right away.</Text>
            ) : (
              <ol data-testid="approval-path">
                {preview.approvalPath.map((st) => (
                  <li key={st.stage}>
                    Stage {st.stage}: {st.approvers.map((a) => a.name).join(", ") || "—"}
                  </li>
                ))}
              </ol>
            )}
          </>
        )}
      </section>
    </div>
  );
}

export default function RequestTab() {
  const p = usePageStyles();
  const s = useStyles();
  const catalog = useLoad<{ templates: CatalogTemplate[] }>("catalog");
  const [chosen, setChosen] = useState<CatalogTemplate>();
  const [done, setDone] = useState<Submitted>();
  const formRef = useRef<HTMLDivElement>(null);

  if (done) {
    return (
      <div className={p.page}>
        <h1>Request a team</h1>
        <section className={p.section} data-testid="request-confirmation" aria-labelledby="done-title">
          <h2 id="done-title">Your request is in</h2>
          <Notice intent="success">
            <Text weight="semibold">{done.finalName}</Text> — <StateBadge state={done.state} label={done.label} />
          </Notice>
          <div className={p.row}>
            <Button
              onClick={() => {
                setDone(undefined);
                setChosen(undefined);
              }}
              data-testid="request-another"
            >
              Request another team
            </Button>
          </div>
        </section>
      </div>
    );
  }

  return (
    <div className={p.page}>
      <h1>Request a team</h1>
      <section className={p.section} aria-labelledby="catalog-title">
        <h2 id="catalog-title">Templates</h2>
        <Resource loaded={catalog} label="Loading templates…">
          {({ templates }) =>
            templates.length === 0 ? (
              <Empty>No template is offered to you yet. Ask your administrator.</Empty>
            ) : (
              <div className={s.grid} role="list" aria-label="Templates">
                {templates.map((t) => (
                  <Card
                    key={t.id}
                    role="listitem"
                    className={mergeClasses(chosen?.id === t.id && s.chosen)}
                    data-testid="template-card"
                    data-template-id={t.id}
                  >
                    <CardHeader
                      image={t.icon ? <AuthedImage src={t.icon} alt="" className={s.icon} /> : undefined}
                      header={<Text weight="semibold">{t.name}</Text>}
                      description={<Text size={200}>{approvalSummary(t)}</Text>}
                    />
                    <Text>{t.description}</Text>
                    <Button
                      appearance={chosen?.id === t.id ? "primary" : "secondary"}
                      aria-pressed={chosen?.id === t.id}
                      aria-label={`${chosen?.id === t.id ? "Chosen" : "Use this template"}: ${t.name}`}
                      data-testid="choose-template"
                      onClick={() => {
                        setChosen(t);
                        setTimeout(() => formRef.current?.scrollIntoView({ behavior: "smooth" }), 0);
                      }}
                    >
                      {chosen?.id === t.id ? "Chosen" : "Use this template"}
                    </Button>
                  </Card>
                ))}
              </div>
            )
          }
        </Resource>
      </section>
      <div ref={formRef}>{chosen && <RequestForm key={chosen.id} template={chosen} onDone={setDone} />}</div>
    </div>
  );
}
