// Administration › Billing: the subscription's status, "Subscribe" (a
// Stripe Checkout Session the handler creates with the tenant bound to it)
// and "Manage billing" (a Stripe Customer Portal session). Stripe's pages
// cannot be framed: inside Teams they open in the browser.
import { useState } from "react";
import { Badge, Button, Field, Input, Text } from "@fluentui/react-components";
import { post, reasonOf } from "../../api";
import { inTeams, openLink } from "../../teams";
import type { Billing as BillingDoc } from "../../types";
import { ErrorBar, Resource, formatDate, useLoad, usePageStyles } from "../../ui";

/** Only Stripe's own https pages are followed. */
function isStripeUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === "https:" && (u.hostname === "stripe.com" || u.hostname.endsWith(".stripe.com"));
  } catch {
    return false;
  }
}

function go(url: string) {
  if (inTeams()) openLink(url);
  else window.location.assign(url);
}

function BillingView({ doc }: { doc: BillingDoc }) {
  const p = usePageStyles();
  const [seats, setSeats] = useState(String(doc.seats ?? 10));
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const start = async (path: "admin/billing/checkout" | "admin/billing/portal", body: unknown) => {
    setBusy(true);
    setError(undefined);
    try {
      const { url } = await post<{ url: string }>(path, body);
      if (!isStripeUrl(url)) throw new Error("unexpected");
      go(url);
    } catch (e) {
      setError(e instanceof Error && e.message === "unexpected" ? "The billing page's address was not expected." : reasonOf(e));
    } finally {
      setBusy(false);
    }
  };

  const subscribed = doc.customerBound && doc.status !== "none" && doc.status !== "canceled";
  return (
    <div className={p.section}>
      <dl data-testid="billing-status">
        <dt>
          <Text weight="semibold">Status</Text>
        </dt>
        <dd>
          <Badge appearance="tint" color={doc.status === "active" || doc.status === "trialing" ? "success" : "warning"}>
            {doc.status}
          </Badge>
        </dd>
        <dt>
          <Text weight="semibold">Plan</Text>
        </dt>
        <dd>{doc.plan ?? "—"}</dd>
        <dt>
          <Text weight="semibold">Seats</Text>
        </dt>
        <dd>{doc.seats ?? "—"}</dd>
        <dt>
          <Text weight="semibold">Current period ends</Text>
        </dt>
        <dd>{formatDate(doc.currentPeriodEnd)}</dd>
      </dl>
      {error && <ErrorBar message={error} />}
      {!subscribed && (
        <form
          className={p.row}
          onSubmit={(e) => {
            e.preventDefault();
            const n = Number(seats);
            if (!Number.isInteger(n) || n < 1) {
              setError("Seats must be a whole number of at least 1.");
              return;
            }
            void start("admin/billing/checkout", { seats: n });
          }}
        >
          <Field label="Seats">
            <Input type="number" min={1} value={seats} onChange={(_, d) => setSeats(d.value)} data-testid="billing-seats" />
          </Field>
          <Button type="submit" appearance="primary" disabled={busy} data-testid="billing-subscribe">
            Subscribe
          </Button>
        </form>
      )}
      {doc.customerBound && (
        <div className={p.row}>
          <Button onClick={() => start("admin/billing/portal", {})} disabled={busy} data-testid="billing-portal">
            Manage billing
          </Button>
        </div>
      )}
    </div>
  );
}

export default function Billing() {
  const loaded = useLoad<BillingDoc>("admin/billing");
  return (
    <Resource loaded={loaded} label="Loading billing…">
      {(doc) => <BillingView doc={doc} />}
    </Resource>
  );
}
