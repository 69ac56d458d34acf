// Tab 4, "Governance dashboard" (admins and auditors): teams by lifecycle
// state, findings by policy, the sweeps with their Graph budget, charts over
// time (their code loads only here), and the audit trail with filters and a
// CSV export.
import { lazy, Suspense, useState } from "react";
import {
  Button,
  Card,
  Field,
  Input,
  ProgressBar,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { download, get, query, reasonOf } from "../api";
import type { AuditEntry, AuditPage, Dashboard } from "../types";
import { Empty, ErrorBar, Loading, Resource, StateBadge, formatDate, useLoad, usePageStyles } from "../ui";

const Charts = lazy(() => import("./Charts"));

const useStyles = makeStyles({
  counters: { display: "grid", gridTemplateColumns: "repeat(auto-fill, minmax(150px, 1fr))", gap: tokens.spacingHorizontalM },
  number: { fontSize: tokens.fontSizeHero700, fontWeight: tokens.fontWeightSemibold, lineHeight: tokens.lineHeightHero700 },
  filters: { display: "flex", gap: tokens.spacingHorizontalM, flexWrap: "wrap", alignItems: "flex-end" },
  details: { fontFamily: tokens.fontFamilyMonospace, fontSize: tokens.fontSizeBase200, wordBreak: "break-all" },
});

function Counters({ title, counts, testId, badges }: { title: string; counts: Record<string, number>; testId: string; badges?: boolean }) {
  const s = useStyles();
  const p = usePageStyles();
  const entries = Object.entries(counts);
  return (
    <section className={p.section} aria-labelledby={`${testId}-title`}>
      <h2 id={`${testId}-title`}>{title}</h2>
      {entries.length === 0 ? (
        <Empty>Nothing to count yet.</Empty>
      ) : (
        <div className={s.counters}>
          {entries.map(([k, n]) => (
            <Card key={k} data-testid={testId} data-key={k}>
              <Text className={s.number}>{n}</Text>
              {badges ? <StateBadge state={k} /> : <Text>{k}</Text>}
            </Card>
          ))}
        </div>
      )}
    </section>
  );
}

function Sweeps({ sweeps }: { sweeps: Dashboard["sweeps"] }) {
  const p = usePageStyles();
  return (
    <section className={p.section} aria-labelledby="sweeps-title">
      <h2 id="sweeps-title">Sweeps</h2>
      {sweeps.length === 0 ? (
        <Empty>No sweep has run yet.</Empty>
      ) : (
        <div className={p.tableWrap}>
          <Table aria-label="Sweeps" data-testid="sweeps-table">
            <TableHeader>
              <TableRow>
                <TableHeaderCell>When</TableHeaderCell>
                <TableHeaderCell>Teams</TableHeaderCell>
                <TableHeaderCell>Graph requests / budget</TableHeaderCell>
                <TableHeaderCell>Throttled</TableHeaderCell>
                <TableHeaderCell>Complete</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {sweeps.map((sw) => {
                const share = sw.budget > 0 ? Math.min(1, sw.graphRequests / sw.budget) : 0;
                return (
                  <TableRow key={sw.at} data-testid="sweep-row">
                    <TableCell>{formatDate(sw.at, true)}</TableCell>
                    <TableCell>{sw.teams}</TableCell>
                    <TableCell>
                      <Text>
                        {sw.graphRequests} / {sw.budget}
                      </Text>
                      <ProgressBar
                        value={share}
                        color={share > 0.9 ? "error" : share > 0.7 ? "warning" : "brand"}
                        aria-label={`Graph budget used: ${Math.round(share * 100)}%`}
                      />
                    </TableCell>
                    <TableCell>{sw.throttled}</TableCell>
                    <TableCell>{sw.complete ? "Yes" : <StateBadge state="warned" label="Partial" />}</TableCell>
                  </TableRow>
                );
              })}
            </TableBody>
          </Table>
        </div>
      )}
    </section>
  );
}

interface Filters {
  actor: string;
  action: string;
  from: string;
  to: string;
}

const NO_FILTERS: Filters = { actor: "", action: "", from: "", to: "" };
const PAGE = 50;

function Audit() {
  const p = usePageStyles();
  const s = useStyles();
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const first = useLoad<AuditPage>(`audit${query({ ...filters, limit: PAGE })}`);
  const [more, setMore] = useState<{ key: string; entries: AuditEntry[]; next: string | null }>();
  const [moreError, setMoreError] = useState<string>();
  const [exportError, setExportError] = useState<string>();
  const [exporting, setExporting] = useState(false);
  const key = JSON.stringify(filters);
  const extra = more?.key === key ? more : undefined;
  const entries = [...(first.data?.entries ?? []), ...(extra?.entries ?? [])];
  const next = extra ? extra.next : first.data?.next ?? null;

  const loadMore = async () => {
    if (!next) return;
    setMoreError(undefined);
    try {
      const page = await get<AuditPage>(`audit${query({ ...filters, limit: PAGE, before: next })}`);
      setMore({ key, entries: [...(extra?.entries ?? []), ...page.entries], next: page.next });
    } catch (e) {
      setMoreError(reasonOf(e));
    }
  };

  const exportCsv = async () => {
    setExporting(true);
    setExportError(undefined);
    try {
      await download(`audit.csv${query({ ...filters })}`, "audit.csv");
    } catch (e) {
      setExportError(reasonOf(e));
    } finally {
      setExporting(false);
    }
  };

  const set = (k: keyof Filters) => (_: unknown, d: { value: string }) => setDraft((f) => ({ ...f, [k]: d.value }));
  return (
    <section className={p.section} aria-labelledby="audit-title">
      <h2 id="audit-title">Audit trail</h2>
      <form
        className={s.filters}
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
        }}
        aria-label="Audit filters"
      >
        <Field label="Actor (object id or name)">
          <Input value={draft.actor} onChange={set("actor")} data-testid="audit-actor" />
        </Field>
        <Field label="Action starts with">
          <Input value={draft.action} onChange={set("action")} data-testid="audit-action" />
        </Field>
        <Field label="From">
          <Input type="date" value={draft.from} onChange={set("from")} data-testid="audit-from" />
        </Field>
        <Field label="To">
          <Input type="date" value={draft.to} onChange={set("to")} data-testid="audit-to" />
        </Field>
        <Button type="submit" appearance="primary" data-testid="audit-apply">
          Filter
        </Button>
        <Button onClick={exportCsv} disabled={exporting} data-testid="audit-export">
          {exporting ? "Exporting…" : "Export CSV"}
        </Button>
      </form>
      {exportError && <ErrorBar message={exportError} />}
      <Resource loaded={first} label="Loading the audit trail…">
        {() =>
          entries.length === 0 ? (
            <Empty>No audit entry matches.</Empty>
          ) : (
            <>
              <div className={p.tableWrap}>
                <Table aria-label="Audit trail" data-testid="audit-table" size="small">
                  <TableHeader>
                    <TableRow>
                      <TableHeaderCell>When</TableHeaderCell>
                      <TableHeaderCell>Who</TableHeaderCell>
                      <TableHeaderCell>Action</TableHeaderCell>
                      <TableHeaderCell>Target</TableHeaderCell>
                      <TableHeaderCell>Details</TableHeaderCell>
                    </TableRow>
                  </TableHeader>
                  <TableBody>
                    {entries.map((e, i) => (
                      <TableRow key={`${e.at}-${i}`} data-testid="audit-row">
                        <TableCell>{formatDate(e.at, true)}</TableCell>
                        <TableCell>{e.actorName || e.actor}</TableCell>
                        <TableCell>{e.action}</TableCell>
                        <TableCell>{e.target}</TableCell>
                        <TableCell>
                          <span className={s.details}>{Object.keys(e.details ?? {}).length ? JSON.stringify(e.details) : "—"}</span>
                        </TableCell>
                      </TableRow>
                    ))}
                  </TableBody>
                </Table>
              </div>
              {moreError && <ErrorBar message={moreError} />}
              {next && (
                <div>
                  <Button onClick={loadMore} data-testid="audit-more">
                    Load more
                  </Button>
                </div>
              )}
            </>
          )
        }
      </Resource>
    </section>
  );
}

export default function DashboardTab() {
  const p = usePageStyles();
  const dash = useLoad<Dashboard>("dashboard");
  return (
    <div className={p.page}>
      <h1>Governance dashboard</h1>
      <Resource loaded={dash} label="Loading the dashboard…">
        {(d) => (
          <>
            <Counters title="Teams by lifecycle state" counts={d.teamsByState} testId="counter-state" badges />
            <Counters title="Findings by policy" counts={d.findingsByPolicy} testId="counter-policy" />
            <section className={p.section} aria-labelledby="charts-title">
              <h2 id="charts-title">Over time</h2>
              {d.series.length === 0 ? (
                <Empty>No history yet.</Empty>
              ) : (
                <Suspense fallback={<Loading label="Loading charts…" />}>
                  <Charts series={d.series} sweeps={d.sweeps} />
                </Suspense>
              )}
            </section>
            <Sweeps sweeps={d.sweeps} />
          </>
        )}
      </Resource>
      <Audit />
    </div>
  );
}

