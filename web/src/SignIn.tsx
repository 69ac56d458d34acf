// Outside Teams: the development sign-in of `handler local` (pick a demo
// user of the local tenant), or, where it does not exist, a note that the
// app lives in Microsoft Teams.
import { useState } from "react";
import { Badge, Button, Card, CardHeader, Text, makeStyles, tokens } from "@fluentui/react-components";
import { reasonOf } from "./api";
import { useSession } from "./session";
import type { DevDirectory } from "./types";
import { ErrorBar, Notice, usePageStyles } from "./ui";

const useStyles = makeStyles({
  list: { display: "grid", gridTemplateColumns: "repeat(auto-fill, minmax(280px, 1fr))", gap: tokens.spacingHorizontalM },
  roles: { display: "flex", gap: tokens.spacingHorizontalXS, flexWrap: "wrap" },
});

export function SignIn({ directory }: { directory: DevDirectory }) {
  const p = usePageStyles();
  const s = useStyles();
  const { signIn } = useSession();
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<string>();
  return (
    <div className={p.page}>
      <h1>Sign in to {directory.tenant.name}</h1>
      <Notice intent="info">
        Development sign-in: pick a demo user of the local tenant. Inside Microsoft Teams you are signed in with your
        own account.
      </Notice>
      {error && <ErrorBar message={error} />}
      {directory.users.length === 0 && <Text>There are no demo users.</Text>}
      <div className={s.list} role="list" aria-label="Demo users">
        {directory.users.map((u) => (
          <Card key={u.id} role="listitem">
            <CardHeader header={<Text weight="semibold">{u.name}</Text>} description={<Text size={200}>{u.email}</Text>} />
            <div className={s.roles}>
              {u.roles.map((r) => (
                <Badge key={r} appearance="tint">
                  {r}
                </Badge>
              ))}
            </div>
            <Button
              appearance="primary"
              data-testid="signin-user"
              data-user-id={u.id}
              disabled={busy !== undefined}
              aria-label={`Sign in as ${u.name}`}
              onClick={async () => {
                setBusy(u.id);
                setError(undefined);
                try {
                  await signIn(u.id);
                } catch (e) {
                  setError(reasonOf(e));
                  setBusy(undefined);
                }
              }}
            >
              {busy === u.id ? "Signing in…" : "Sign in"}
            </Button>
          </Card>
        ))}
      </div>
    </div>
  );
}

export function TeamsOnly() {
  const p = usePageStyles();
  return (
    <div className={p.page} data-testid="teams-only">
      <h1>Open this app in Microsoft Teams</h1>
      <Text>SalesTim runs inside Microsoft Teams, where it signs you in with your work account.</Text>
    </div>
  );
}
