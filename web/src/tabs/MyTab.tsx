// Tab 2, "My teams and requests": the user's teams with their lifecycle
// state, expiry and pending reviews (renew or let expire where the user is
// an owner), and the user's requests with their state; links open in Teams.
import { useEffect, useState } from "react";
import {
  Badge,
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
} from "@fluentui/react-components";
import { post, reasonOf } from "../api";
import type { MyRequest, MyTeam } from "../types";
import { Empty, ErrorBar, Notice, OutLink, Resource, StateBadge, formatDate, useLoad, usePageStyles } from "../ui";

interface MyData {
  teams: MyTeam[];
  requests: MyRequest[];
}

function TeamsTable({ initial }: { initial: MyTeam[] }) {
  const p = usePageStyles();
  const [teams, setTeams] = useState(initial);
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const [confirm, setConfirm] = useState<MyTeam>();
  useEffect(() => setTeams(initial), [initial]);

  const act = async (team: MyTeam, action: "renew" | "let-expire") => {
    setBusy(team.id);
    setError(undefined);
    setDone(undefined);
    try {
      const updated = await post<MyTeam>(`teams/${encodeURIComponent(team.id)}/${action}`, {});
      setTeams((ts) => ts.map((t) => (t.id === team.id ? updated : t)));
      setDone(action === "renew" ? `${team.name} is renewed.` : `${team.name} will expire.`);
    } catch (e) {
      setError(reasonOf(e));
    } finally {
      setBusy(undefined);
    }
  };

  if (teams.length === 0) return <Empty>You do not own or belong to any governed team yet.</Empty>;
  return (
    <>
      {error && <ErrorBar message={error} />}
      {done && <Notice intent="success">{done}</Notice>}
      <div className={p.tableWrap}>
        <Table aria-label="My teams" data-testid="teams-table">
          <TableHeader>
            <TableRow>
              <TableHeaderCell>Team</TableHeaderCell>
              <TableHeaderCell>State</TableHeaderCell>
              <TableHeaderCell>Expires</TableHeaderCell>
              <TableHeaderCell>Pending reviews</TableHeaderCell>
              <TableHeaderCell>Actions</TableHeaderCell>
            </TableRow>
          </TableHeader>
          <TableBody>
            {teams.map((t) => (
              <TableRow key={t.id} data-testid="team-row" data-team-id={t.id}>
                <TableCell>
                  {t.webUrl ? (
                    <OutLink url={t.webUrl} testId="team-link">
                      {t.name}
                    </OutLink>
                  ) : (
                    t.name
                  )}
                  {t.isOwner && (
                    <>
                      {" "}
                      <Badge appearance="outline" size="small">
                        owner
                      </Badge>
                    </>
                  )}
                </TableCell>
                <TableCell>
                  <StateBadge state={t.lifecycle} />
                </TableCell>
                <TableCell>{formatDate(t.expiresAt)}</TableCell>
                <TableCell>
                  {t.pending.length === 0
                    ? "—"
                    : t.pending.map((r) => (
                        <Badge key={r} color="warning" appearance="tint" data-testid="pending-review">
                          {r}
                        </Badge>
                      ))}
                </TableCell>
                <TableCell>
                  <div className={p.row}>
                    {t.canRenew && (
                      <Button size="small" disabled={busy === t.id} onClick={() => act(t, "renew")} data-testid="renew-button">
                        Renew
                      </Button>
                    )}
                    {t.isOwner && t.expiresAt && (
                      <Button size="small" disabled={busy === t.id} onClick={() => setConfirm(t)} data-testid="let-expire-button">
                        Let expire
                      </Button>
                    )}
                  </div>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </div>
      <Dialog open={confirm !== undefined} onOpenChange={(_, d) => !d.open && setConfirm(undefined)}>
        <DialogSurface>
          <DialogBody>
            <DialogTitle>Let {confirm?.name} expire?</DialogTitle>
            <DialogContent>
              The team will not be renewed and follows its lifecycle policy when it expires on {formatDate(confirm?.expiresAt)}.
            </DialogContent>
            <DialogActions>
              <Button onClick={() => setConfirm(undefined)}>Cancel</Button>
              <Button
                appearance="primary"
                data-testid="confirm-let-expire"
                onClick={() => {
                  const t = confirm!;
                  setConfirm(undefined);
                  void act(t, "let-expire");
                }}
              >
                Let it expire
              </Button>
            </DialogActions>
          </DialogBody>
        </DialogSurface>
      </Dialog>
    </>
  );
}

function RequestsTable({ requests }: { requests: MyRequest[] }) {
  const p = usePageStyles();
  if (requests.length === 0) return <Empty>You have not requested a team yet.</Empty>;
  return (
    <div className={p.tableWrap}>
      <Table aria-label="My requests" data-testid="requests-table">
        <TableHeader>
          <TableRow>
            <TableHeaderCell>Team</TableHeaderCell>
            <TableHeaderCell>Template</TableHeaderCell>
            <TableHeaderCell>State</TableHeaderCell>
            <TableHeaderCell>Requested</TableHeaderCell>
            <TableHeaderCell>Details</TableHeaderCell>
          </TableRow>
        </TableHeader>
        <TableBody>
          {requests.map((r) => (
            <TableRow key={r.id} data-testid="request-row" data-request-id={r.id}>
              <TableCell>
                {r.webUrl ? (
                  <OutLink url={r.webUrl} testId="request-link">
                    {r.name}
                  </OutLink>
                ) : (
                  r.name
                )}
              </TableCell>
              <TableCell>{r.templateName}</TableCell>
              <TableCell>
                <StateBadge state={r.state} label={r.label} />
              </TableCell>
              <TableCell>{formatDate(r.createdAt, true)}</TableCell>
              <TableCell>
                <Text size={200}>{r.reason ?? "—"}</Text>
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </div>
  );
}

export default function MyTab() {
  const p = usePageStyles();
  const my = useLoad<MyData>("my");
  return (
    <div className={p.page}>
      <h1>My teams and requests</h1>
      <Resource loaded={my} label="Loading your teams…">
        {(data) => (
          <>
            <section className={p.section} aria-labelledby="my-teams">
              <h2 id="my-teams">My teams</h2>
              <TeamsTable initial={data.teams} />
            </section>
            <section className={p.section} aria-labelledby="my-requests">
              <h2 id="my-requests">My requests</h2>
              <RequestsTable requests={data.requests} />
            </section>
          </>
        )}
      </Resource>
    </div>
  );
}
