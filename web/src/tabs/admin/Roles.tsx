// Administration › Roles: who holds which role in the tenant (users or
// Entra groups), with add and remove. The whole list is written at once;
// the server refuses to remove the last admin.
import { useState } from "react";
import {
  Button,
  Field,
  Input,
  Select,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
} from "@fluentui/react-components";
import { put, reasonOf } from "../../api";
import { useSession } from "../../session";
import type { Role, RoleAssignment } from "../../types";
import { Empty, ErrorBar, Notice, Resource, useLoad, usePageStyles } from "../../ui";

const ROLES: Role[] = ["admin", "catalogManager", "policyManager", "auditor", "approver", "member"];
const ROLE_NAMES: Record<Role, string> = {
  admin: "Tenant admin",
  catalogManager: "Catalog manager",
  policyManager: "Policy manager",
  auditor: "Auditor",
  approver: "Approver",
  member: "Member",
};

function RolesEditor({ assignments, reload }: { assignments: RoleAssignment[]; reload: () => void }) {
  const p = usePageStyles();
  const { refreshMe } = useSession();
  const [kind, setKind] = useState<"user" | "group">("user");
  const [id, setId] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const [busy, setBusy] = useState(false);

  const write = async (next: RoleAssignment[], message: string) => {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      await put("admin/roles", { assignments: next });
      setDone(message);
      reload();
      await refreshMe();
    } catch (e) {
      setError(reasonOf(e));
    } finally {
      setBusy(false);
    }
  };

  const add = (e: React.FormEvent) => {
    e.preventDefault();
    const principal = id.trim();
    if (!principal) {
      setError("Enter the object id of a user or group.");
      return;
    }
    if (assignments.some((a) => a.principal.id === principal && a.principal.kind === kind && a.role === role)) {
      setError("This assignment exists already.");
      return;
    }
    void write([...assignments, { principal: { kind, id: principal }, role }], `${ROLE_NAMES[role]} given to ${principal}.`).then(() =>
      setId(""),
    );
  };

  return (
    <div className={p.section}>
      {error && <ErrorBar message={error} />}
      {done && <Notice intent="success">{done}</Notice>}
      {assignments.length === 0 ? (
        <Empty>No role is assigned.</Empty>
      ) : (
        <div className={p.tableWrap}>
          <Table aria-label="Role assignments" data-testid="roles-table">
            <TableHeader>
              <TableRow>
                <TableHeaderCell>Who</TableHeaderCell>
                <TableHeaderCell>Kind</TableHeaderCell>
                <TableHeaderCell>Role</TableHeaderCell>
                <TableHeaderCell>
                  <span className="visually-hidden">Actions</span>
                </TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {assignments.map((a, i) => (
                <TableRow key={`${a.principal.kind}-${a.principal.id}-${a.role}`} data-testid="role-row" data-principal-id={a.principal.id} data-role={a.role}>
                  <TableCell>
                    {a.principal.name || a.principal.id}
                    {a.principal.name && (
                      <>
                        <br />
                        <Text size={200}>{a.principal.id}</Text>
                      </>
                    )}
                  </TableCell>
                  <TableCell>{a.principal.kind}</TableCell>
                  <TableCell>{ROLE_NAMES[a.role] ?? a.role}</TableCell>
                  <TableCell>
                    <Button
                      size="small"
                      disabled={busy}
                      data-testid="remove-role"
                      aria-label={`Remove ${ROLE_NAMES[a.role] ?? a.role} from ${a.principal.name || a.principal.id}`}
                      onClick={() =>
                        write(
                          assignments.filter((_, j) => j !== i),
                          `${ROLE_NAMES[a.role] ?? a.role} removed from ${a.principal.name || a.principal.id}.`,
                        )
                      }
                    >
                      Remove
                    </Button>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </div>
      )}
      <h3 id="add-role-title">Add an assignment</h3>
      <form className={p.row} onSubmit={add} aria-labelledby="add-role-title" data-testid="add-role-form">
        <Field label="Kind">
          <Select value={kind} onChange={(_, d) => setKind(d.value as "user" | "group")} data-testid="role-kind">
            <option value="user">User</option>
            <option value="group">Entra group</option>
          </Select>
        </Field>
        <Field label="Object id">
          <Input value={id} onChange={(_, d) => setId(d.value)} data-testid="role-principal" />
        </Field>
        <Field label="Role">
          <Select value={role} onChange={(_, d) => setRole(d.value as Role)} data-testid="role-select">
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {ROLE_NAMES[r]}
              </option>
            ))}
          </Select>
        </Field>
        <Button type="submit" appearance="primary" disabled={busy} data-testid="add-role">
          Add
        </Button>
      </form>
    </div>
  );
}

export default function Roles() {
  const loaded = useLoad<{ assignments: RoleAssignment[] }>("admin/roles");
  return (
    <Resource loaded={loaded} label="Loading roles…">
      {(d) => <RolesEditor assignments={d.assignments} reload={loaded.reload} />}
    </Resource>
  );
}
