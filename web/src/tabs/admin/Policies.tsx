// Administration › Policies: the tenant's naming and lifecycle policies as
// JSON, with the server's diff shown before anything is applied, and the
// version read sent back so a concurrent change is refused (409) instead of
// overwritten.
import { useState } from "react";
import {
  Button,
  Field,
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
import { ApiError, post, put, reasonOf } from "../../api";
import { useMe } from "../../session";
import type { Policies as PoliciesDoc, PolicyChange } from "../../types";
import { Empty, ErrorBar, Notice, Resource, useLoad, usePageStyles } from "../../ui";

const useStyles = makeStyles({
  editor: { fontFamily: tokens.fontFamilyMonospace, minHeight: "320px" },
  value: { fontFamily: tokens.fontFamilyMonospace, fontSize: tokens.fontSizeBase200, wordBreak: "break-all" },
});

const show = (v: unknown) => (v === undefined ? "—" : JSON.stringify(v));

function PolicyEditor({ doc, reload }: { doc: PoliciesDoc; reload: () => void }) {
  const p = usePageStyles();
  const s = useStyles();
  const me = useMe();
  const [text, setText] = useState(JSON.stringify(doc.policies, null, 2));
  const [changes, setChanges] = useState<PolicyChange[]>();
  const [previewed, setPreviewed] = useState<Record<string, unknown>>();
  const [error, setError] = useState<string>();
  const [applied, setApplied] = useState<number>();
  const [busy, setBusy] = useState(false);
  const canEdit = me.can.policies;

  const preview = async () => {
    setError(undefined);
    setApplied(undefined);
    let policies: Record<string, unknown>;
    try {
      policies = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      setError(`The policies are not valid JSON: ${e instanceof SyntaxError ? e.message : "parse error"}`);
      return;
    }
    setBusy(true);
    try {
      const diff = await post<{ changes: PolicyChange[] }>("admin/policies/diff", { policies });
      setChanges(diff.changes);
      setPreviewed(policies);
    } catch (e) {
      setError(reasonOf(e));
    } finally {
      setBusy(false);
    }
  };

  const apply = async () => {
    if (!previewed) return;
    setBusy(true);
    setError(undefined);
    try {
      const res = await put<{ version: number }>("admin/policies", { policies: previewed, version: doc.version });
      setApplied(res.version);
      setChanges(undefined);
      setPreviewed(undefined);
      reload();
    } catch (e) {
      setError(reasonOf(e));
      if (e instanceof ApiError && e.status === 409) {
        setChanges(undefined);
        setPreviewed(undefined);
        reload();
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className={p.section}>
      <Text>Version {doc.version}</Text>
      <Field label="Policies (JSON)">
        <Textarea
          value={text}
          onChange={(_, d) => {
            setText(d.value);
            setChanges(undefined);
            setPreviewed(undefined);
          }}
          className={s.editor}
          readOnly={!canEdit}
          data-testid="policies-editor"
          resize="vertical"
        />
      </Field>
      {error && <ErrorBar message={error} />}
      {applied !== undefined && <Notice intent="success">Applied as version {applied}.</Notice>}
      {canEdit && (
        <div className={p.row}>
          <Button onClick={preview} disabled={busy} data-testid="policies-preview">
            Preview changes
          </Button>
          <Button appearance="primary" onClick={apply} disabled={busy || !previewed || changes?.length === 0} data-testid="policies-apply">
            Apply
          </Button>
        </div>
      )}
      {changes && (
        <section className={p.section} aria-labelledby="changes-title">
          <h3 id="changes-title">Changes</h3>
          {changes.length === 0 ? (
            <Empty>No change: the policies are the same.</Empty>
          ) : (
            <Table aria-label="Policy changes" size="small" data-testid="policy-changes">
              <TableHeader>
                <TableRow>
                  <TableHeaderCell>Setting</TableHeaderCell>
                  <TableHeaderCell>Before</TableHeaderCell>
                  <TableHeaderCell>After</TableHeaderCell>
                </TableRow>
              </TableHeader>
              <TableBody>
                {changes.map((c) => (
                  <TableRow key={c.path} data-testid="policy-change">
                    <TableCell className={s.value}>{c.path}</TableCell>
                    <TableCell className={s.value}>{show(c.before)}</TableCell>
                    <TableCell className={s.value}>{show(c.after)}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
        </section>
      )}
    </div>
  );
}

export default function Policies() {
  const loaded = useLoad<PoliciesDoc>("admin/policies");
  return (
    <Resource loaded={loaded} label="Loading policies…">
      {(doc) => <PolicyEditor key={doc.version} doc={doc} reload={loaded.reload} />}
    </Resource>
  );
}
