// The landing page at /api/tabs/: one card per tab the user may use.
import { Card, CardHeader, Link, Text, makeStyles, tokens } from "@fluentui/react-components";
import { TABS, hrefOf, navigate } from "./routes";
import type { Me } from "./types";
import { usePageStyles } from "./ui";

const useStyles = makeStyles({
  grid: { display: "grid", gridTemplateColumns: "repeat(auto-fill, minmax(260px, 1fr))", gap: tokens.spacingHorizontalL },
});

export function Home({ me }: { me: Me }) {
  const p = usePageStyles();
  const s = useStyles();
  const tabs = TABS.filter((t) => t.allowed(me));
  return (
    <div className={p.page}>
      <h1>Welcome, {me.user.name}</h1>
      <div className={s.grid}>
        {tabs.map((t) => (
          <Card key={t.id} data-testid={`home-${t.id}`}>
            <CardHeader
              header={
                <Link
                  href={hrefOf(t.id)}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(t.id);
                  }}
                >
                  <Text weight="semibold">{t.title}</Text>
                </Link>
              }
              description={<Text>{t.blurb}</Text>}
            />
          </Card>
        ))}
      </div>
    </div>
  );
}
