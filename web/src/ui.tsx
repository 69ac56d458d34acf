// Pieces every screen uses: loading a resource with its three states, the
// loading / empty / error views, state badges, dates, and links that leave
// the app the way the host wants.
import { Component, useCallback, useEffect, useState, type ErrorInfo, type ReactNode } from "react";
import {
  Badge,
  Button,
  Link,
  MessageBar,
  MessageBarActions,
  MessageBarBody,
  MessageBarTitle,
  Spinner,
  Text,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { fetchBlob, get, reasonOf } from "./api";
import { openLink } from "./teams";

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
  reload: () => void;
}

/** GETs an API path, again whenever the path changes or `reload` is called. */
export function useLoad<T>(path: string | null): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(path !== null);
  const [round, setRound] = useState(0);
  useEffect(() => {
    if (path === null) return;
    const abort = new AbortController();
    setLoading(true);
    setError(undefined);
    get<T>(path, abort.signal)
      .then((d) => {
        setData(d);
        setLoading(false);
      })
      .catch((e: unknown) => {
        if (abort.signal.aborted) return;
        setError(reasonOf(e));
        setLoading(false);
      });
    return () => abort.abort();
  }, [path, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { data, error, loading, reload };
}

const useStyles = makeStyles({
  center: { display: "flex", justifyContent: "center", padding: tokens.spacingVerticalXXL },
  empty: {
    padding: tokens.spacingVerticalL,
    color: tokens.colorNeutralForeground3,
    textAlign: "center",
  },
});

export function Loading({ label = "Loading…" }: { label?: string }) {
  const s = useStyles();
  return (
    <div className={s.center} data-testid="loading">
      <Spinner label={label} />
    </div>
  );
}

export function ErrorBar({ message, onRetry, title }: { message: string; onRetry?: () => void; title?: string }) {
  return (
    <MessageBar intent="error" data-testid="error" role="alert">
      <MessageBarBody>
        {title && <MessageBarTitle>{title}</MessageBarTitle>}
        {message}
      </MessageBarBody>
      {onRetry && (
        <MessageBarActions>
          <Button size="small" onClick={onRetry} data-testid="retry">
            Retry
          </Button>
        </MessageBarActions>
      )}
    </MessageBar>
  );
}

export function Notice({ intent, children }: { intent: "success" | "info" | "warning"; children: ReactNode }) {
  return (
    <MessageBar intent={intent} data-testid={`notice-${intent}`}>
      <MessageBarBody>{children}</MessageBarBody>
    </MessageBar>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  const s = useStyles();
  return (
    <div className={s.empty} data-testid="empty">
      <Text>{children}</Text>
    </div>
  );
}

/** Renders the three states of a load; `children` gets the data. */
export function Resource<T>({ loaded, children, label }: { loaded: Loaded<T>; children: (data: T) => ReactNode; label?: string }) {
  if (loaded.error) return <ErrorBar message={loaded.error} onRetry={loaded.reload} />;
  if (loaded.data === undefined) return <Loading label={label} />;
  return (
    <>
      {loaded.loading && <Spinner size="tiny" label="Refreshing…" data-testid="refreshing" />}
      {children(loaded.data)}
    </>
  );
}

type BadgeColor = "brand" | "danger" | "important" | "informative" | "severe" | "subtle" | "success" | "warning";

const STATE_COLORS: Record<string, BadgeColor> = {
  active: "success",
  provisioned: "success",
  approved: "success",
  completed: "success",
  warned: "warning",
  expiring: "warning",
  submitted: "informative",
  pending: "informative",
  provisioning: "brand",
  archived: "subtle",
  expired: "subtle",
  deleted: "danger",
  rejected: "danger",
  failed: "danger",
};

export function StateBadge({ state, label }: { state: string; label?: string }) {
  const color = STATE_COLORS[state.toLowerCase()] ?? "informative";
  return (
    <Badge appearance="tint" color={color} data-testid="state-badge" data-state={state}>
      {label ?? state}
    </Badge>
  );
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(value: string | null | undefined, withTime = false): string {
  if (!value) return "—";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  return (withTime ? dateTimeFormat : dateFormat).format(d);
}

/** A link out of the app: `app.openLink` in Teams, a new tab outside. */
export function OutLink({ url, children, testId }: { url: string; children: ReactNode; testId?: string }) {
  return (
    <Link
      href={url}
      target="_blank"
      rel="noopener noreferrer"
      data-testid={testId}
      onClick={(e) => {
        e.preventDefault();
        openLink(url);
      }}
    >
      {children}
    </Link>
  );
}

export const usePageStyles = makeStyles({
  page: {
    display: "flex",
    flexDirection: "column",
    gap: tokens.spacingVerticalL,
    padding: `${tokens.spacingVerticalL} ${tokens.spacingHorizontalXL}`,
    maxWidth: "1200px",
  },
  section: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
  row: { display: "flex", gap: tokens.spacingHorizontalM, alignItems: "center", flexWrap: "wrap" },
  form: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "640px" },
  tableWrap: { overflowX: "auto" },
});

/** Catches what a screen throws while rendering, or a chunk that no longer
 * loads (the app was updated while the page stayed open), so the page
 * shows a short reason and a way out instead of going blank. */
export class ScreenBoundary extends Component<{ children: ReactNode }, { failed: boolean }> {
  override state = { failed: false };

  static getDerivedStateFromError(): { failed: boolean } {
    return { failed: true };
  }

  override componentDidCatch(error: unknown, info: ErrorInfo): void {
    console.error("screen failed", error instanceof Error ? error.message : String(error), info.componentStack?.length ?? 0);
  }

  override render(): ReactNode {
    if (!this.state.failed) return this.props.children;
    return (
      <div style={{ padding: 24 }}>
        <ErrorBar message="This page could not be shown. Reload it to get the latest version." onRetry={() => window.location.reload()} />
      </div>
    );
  }
}

/** An image the API serves behind the bearer (a template icon): fetched
 * with the token and shown from a blob URL; nothing while it loads or when
 * it cannot be read. */
export function AuthedImage({ src, alt, className, testId }: { src: string; alt: string; className?: string; testId?: string }) {
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    const abort = new AbortController();
    let made: string | undefined;
    fetchBlob(src, abort.signal)
      .then((blob) => {
        made = URL.createObjectURL(blob);
        setUrl(made);
      })
      .catch(() => setUrl(undefined));
    return () => {
      abort.abort();
      if (made) URL.revokeObjectURL(made);
    };
  }, [src]);
  return url ? <img src={url} alt={alt} className={className} data-testid={testId} /> : null;
}
