// The shell around every tab: the Fluent theme (from Teams, or the
// browser's light/dark preference), the header with the signed-in user and
// the development "switch user", the navigation between tabs outside Teams,
// and the tab itself, loaded on demand so the first tab opened carries only
// its own code.
import { lazy, Suspense, useEffect, type ComponentType } from "react";
import {
  Badge,
  Button,
  FluentProvider,
  Link,
  Text,
  makeStyles,
  teamsDarkTheme,
  teamsHighContrastTheme,
  teamsLightTheme,
  tokens,
} from "@fluentui/react-components";
import { SessionProvider, useSession } from "./session";
import { TABS, hrefOf, navigate, useRoute, type TabId } from "./routes";
import { ErrorBar, Loading, ScreenBoundary } from "./ui";
import { SignIn, TeamsOnly } from "./SignIn";
import { Home } from "./Home";
import type { HostTheme } from "./teams";
import type { Me } from "./types";

const TAB_VIEWS: Record<TabId, React.LazyExoticComponent<ComponentType>> = {
  request: lazy(() => import("./tabs/RequestTab")),
  my: lazy(() => import("./tabs/MyTab")),
  approvals: lazy(() => import("./tabs/ApprovalsTab")),
  dashboard: lazy(() => import("./tabs/DashboardTab")),
  admin: lazy(() => import("./tabs/admin/AdminTab")),
};

const THEMES = { light: teamsLightTheme, dark: teamsDarkTheme, contrast: teamsHighContrastTheme } as const;

const useStyles = makeStyles({
  app: { minHeight: "100vh", backgroundColor: tokens.colorNeutralBackground2 },
  header: {
    display: "flex",
    alignItems: "center",
    gap: tokens.spacingHorizontalL,
    padding: `${tokens.spacingVerticalS} ${tokens.spacingHorizontalXL}`,
    backgroundColor: tokens.colorNeutralBackground1,
    borderBottom: `1px solid ${tokens.colorNeutralStroke2}`,
    flexWrap: "wrap",
  },
  brand: { fontWeight: tokens.fontWeightSemibold, fontSize: tokens.fontSizeBase400 },
  nav: { display: "flex", gap: tokens.spacingHorizontalM, flexWrap: "wrap" },
  navCurrent: { fontWeight: tokens.fontWeightSemibold, textDecorationLine: "underline" },
  user: { marginLeft: "auto", display: "flex", alignItems: "center", gap: tokens.spacingHorizontalS },
  main: { padding: 0 },
  padded: { padding: tokens.spacingHorizontalXL, maxWidth: "900px" },
});

function Header({ me }: { me: Me | null }) {
  const s = useStyles();
  const { mode, switchUser } = useSession();
  const route = useRoute();
  const tabs = me ? TABS.filter((t) => t.allowed(me)) : [];
  return (
    <header className={s.header}>
      <Link
        href={hrefOf("")}
        className={s.brand}
        appearance="subtle"
        onClick={(e) => {
          e.preventDefault();
          navigate("");
        }}
        data-testid="home-link"
      >
        SalesTim
      </Link>
      {mode !== "teams" && tabs.length > 0 && (
        <nav aria-label="Tabs" className={s.nav}>
          {tabs.map((t) => (
            <Link
              key={t.id}
              href={hrefOf(t.id)}
              className={route === t.id ? s.navCurrent : undefined}
              aria-current={route === t.id ? "page" : undefined}
              data-testid={`tab-${t.id}`}
              onClick={(e) => {
                e.preventDefault();
                navigate(t.id);
              }}
            >
              {t.title}
            </Link>
          ))}
        </nav>
      )}
      {me && (
        <div className={s.user}>
          <Text data-testid="current-user">
            {me.user.name} · {me.tenant.name}
          </Text>
          {me.roles.map((r) => (
            <Badge key={r} appearance="outline" size="small">
              {r}
            </Badge>
          ))}
          {mode === "dev" && (
            <Button size="small" onClick={switchUser} data-testid="switch-user">
              Switch user
            </Button>
          )}
        </div>
      )}
    </header>
  );
}

function TabView({ me, route }: { me: Me; route: TabId | "" | null }) {
  const s = useStyles();
  useEffect(() => {
    const info = TABS.find((t) => t.id === route);
    document.title = info ? `${info.title} · SalesTim` : "SalesTim";
  }, [route]);
  if (route === null) {
    return (
      <div className={s.padded}>
        <h1>Not found</h1>
        <ErrorBar message="There is no such page." />
      </div>
    );
  }
  if (route === "") return <Home me={me} />;
  const info = TABS.find((t) => t.id === route)!;
  if (!info.allowed(me)) {
    return (
      <div className={s.padded}>
        <h1>{info.title}</h1>
        <ErrorBar message="You do not have access to this." />
      </div>
    );
  }
  const View = TAB_VIEWS[route];
  return (
    <ScreenBoundary key={route}>
      <Suspense fallback={<Loading />}>
        <View />
      </Suspense>
    </ScreenBoundary>
  );
}

function Body() {
  const s = useStyles();
  const { state, retry } = useSession();
  const route = useRoute();
  const me = state.kind === "ready" ? state.me : null;
  return (
    <>
      <Header me={me} />
      <main className={s.main} id="main">
        {state.kind === "starting" && <Loading label="Signing in…" />}
        {state.kind === "picker" && <SignIn directory={state.directory} />}
        {state.kind === "teamsOnly" && <TeamsOnly />}
        {state.kind === "failed" && (
          <div className={s.padded}>
            <h1>Could not sign in</h1>
            <ErrorBar
              title={state.interaction ? "Your consent or a new sign-in is needed" : undefined}
              message={state.message}
              onRetry={retry}
            />
          </div>
        )}
        {state.kind === "ready" && <TabView me={state.me} route={route} />}
      </main>
    </>
  );
}

function Themed() {
  const s = useStyles();
  const { theme } = useSession();
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    document.documentElement.style.colorScheme = theme === "light" ? "light" : "dark";
  }, [theme]);
  return (
    <FluentProvider theme={THEMES[theme satisfies HostTheme]} className={s.app}>
      <Body />
    </FluentProvider>
  );
}

export function App() {
  return (
    <SessionProvider>
      <Themed />
    </SessionProvider>
  );
}
