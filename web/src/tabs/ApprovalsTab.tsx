// Tab 3, "Approvals": the requests the user may decide now, with approve or
// reject and a comment. The decision carries the request's ETag, as the
// card does; a 409 (decided by someone else, or changed) shows the reason
// and reloads the list.
import { useState } from "react";
import {
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Field,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  Textarea,
} from "@fluentui/react-components";
import { ApiError, post, reasonOf } from "../api";
import type { Decided, PendingApproval } from "../types";
import { Empty, ErrorBar, Notice, Resource, StateBadge, formatDate, useLoad, usePageStyles } from "../ui";

type Decision = "approve" | "reject";

export default function ApprovalsTab() {
  const p = usePageStyles();
  const list = useLoad<{ pending: PendingApproval[] }>("approvals");
  const [deciding, setDeciding] = useState<{ item: PendingApproval; decision: Decision }>();
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [dialogError, setDialogError] = useState<string>();
  const [outcome, setOutcome] = useState<{ name: string; decided: Decided }>();
  const [conflict, setConflict] = useState<string>();

  const open = (item: PendingApproval, decision: Decision) => {
    setDeciding({ item, decision });
    setComment("");
    setDialogError(undefined);
  };

  const decide = async () => {
    if (!deciding) return;
    setBusy(true);
    setDialogError(undefined);
    try {
      const decided = await post<Decided>(`approvals/${encodeURIComponent(deciding.item.id)}`, {
        decision: deciding.decision,
        comment,
        etag: deciding.item.etag,
      });
      setOutcome({ name: deciding.item.finalName, decided });
      setConflict(undefined);
      setDeciding(undefined);
      list.reload();
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        setConflict(e.message);
        setOutcome(undefined);
        setDeciding(undefined);
        list.reload();
      } else {
        setDialogError(reasonOf(e));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className={p.page}>
      <h1>Approvals</h1>
      {conflict && (
        <div data-testid="approval-conflict">
          <ErrorBar title="Someone else decided first" message={conflict} />
        </div>
      )}
      {outcome && (
        <Notice intent="success">
          {outcome.name}: <StateBadge state={outcome.decided.state} label={outcome.decided.label} />
        </Notice>
      )}
      <Resource loaded={list} label="Loading requests…">
        {({ pending }) =>
          pending.length === 0 ? (
            <Empty>Nothing is waiting for your decision.</Empty>
          ) : (
            <div className={p.tableWrap}>
              <Table aria-label="Requests waiting for a decision" data-testid="approvals-table">
                <TableHeader>
                  <TableRow>
                    <TableHeaderCell>Team</TableHeaderCell>
                    <TableHeaderCell>Requested by</TableHeaderCell>
                    <TableHeaderCell>Stage</TableHeaderCell>
                    <TableHeaderCell>Why</TableHeaderCell>
                    <TableHeaderCell>Decision</TableHeaderCell>
                  </TableRow>
                </TableHeader>
                <TableBody>
                  {pending.map((a) => (
                    <TableRow key={a.id} data-testid="approval-row" data-request-id={a.id}>
                      <TableCell>
                        <Text weight="semibold">{a.finalName}</Text>
                        <br />
                        <Text size={200}>
                          {a.templateName}
                          {a.description ? ` — ${a.description}` : ""}
                        </Text>
                      </TableCell>
                      <TableCell>
                        {a.requester.name}
                        <br />
                        <Text size={200}>{formatDate(a.createdAt, true)}</Text>
                      </TableCell>
                      <TableCell>
                        {a.stage} of {a.stages}
                      </TableCell>
                      <TableCell>{a.justification || "—"}</TableCell>
                      <TableCell>
                        <div className={p.row}>
                          <Button appearance="primary" size="small" onClick={() => open(a, "approve")} data-testid="approve-button">
                            Approve
                          </Button>
                          <Button size="small" onClick={() => open(a, "reject")} data-testid="reject-button">
                            Reject
                          </Button>
                        </div>
                      </TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            </div>
          )
        }
      </Resource>
      <Dialog open={deciding !== undefined} onOpenChange={(_, d) => !d.open && !busy && setDeciding(undefined)}>
        <DialogSurface data-testid="decision-dialog">
          <DialogBody>
            <DialogTitle>
              {deciding?.decision === "approve" ? "Approve" : "Reject"} {deciding?.item.finalName}
            </DialogTitle>
            <DialogContent>
              <Field label="Comment" hint={deciding?.decision === "reject" ? "Tell the requester why." : "Optional."}>
                <Textarea value={comment} onChange={(_, d) => setComment(d.value)} data-testid="decision-comment" resize="vertical" />
              </Field>
              {dialogError && <ErrorBar message={dialogError} />}
            </DialogContent>
            <DialogActions>
              <Button onClick={() => setDeciding(undefined)} disabled={busy}>
                Cancel
              </Button>
              <Button appearance="primary" onClick={decide} disabled={busy} data-testid="confirm-decision">
                {busy ? "Sending…" : deciding?.decision === "approve" ? "Approve" : "Reject"}
              </Button>
            </DialogActions>
          </DialogBody>
        </DialogSurface>
      </Dialog>
    </div>
  );
}
