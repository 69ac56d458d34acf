// Tab 5, "Administration": one section per admin task, each shown only to
// the roles that may use it (the server checks again) and each loaded on
// demand.
import { lazy, Suspense, useState, type ComponentType } from "react";
import { Tab, TabList } from "@fluentui/react-components";
import { useMe } from "../../session";
import type { Me } from "../../types";
import { Loading, usePageStyles } from "../../ui";

type SectionId = "settings" | "templates" | "policies" | "roles" | "crm" | "billing";

const SECTIONS: { id: SectionId; title: string; allowed: (me: Me) => boolean; view: React.LazyExoticComponent<ComponentType> }[] = [
  { id: "settings", title: "Settings", allowed: (me) => me.can.admin && me.roles.includes("admin"), view: lazy(() => import("./Settings")) },
  { id: "templates", title: "Templates", allowed: (me) => me.can.templates, view: lazy(() => import("./Templates")) },
  { id: "policies", title: "Policies", allowed: (me) => me.can.policies, view: lazy(() => import("./Policies")) },
  { id: "roles", title: "Roles", allowed: (me) => me.can.roles, view: lazy(() => import("./Roles")) },
  { id: "crm", title: "CRM", allowed: (me) => me.can.admin && me.roles.includes("admin"), view: lazy(() => import("./Crm")) },
  { id: "billing", title: "Billing", allowed: (me) => me.can.billing, view: lazy(() => import("./Billing")) },
];

export default function AdminTab() {
  const p = usePageStyles();
  const me = useMe();
  const sections = SECTIONS.filter((s) => s.allowed(me));
  const [current, setCurrent] = useState<SectionId | undefined>(sections[0]?.id);
  const section = sections.find((s) => s.id === current) ?? sections[0];
  return (
    <div className={p.page}>
      <h1>Administration</h1>
      <TabList
        selectedValue={section?.id}
        onTabSelect={(_, d) => setCurrent(d.value as SectionId)}
        aria-label="Administration sections"
      >
        {sections.map((s) => (
          <Tab key={s.id} value={s.id} data-testid={`admin-section-${s.id}`}>
            {s.title}
          </Tab>
        ))}
      </TabList>
      {section && (
        <div role="tabpanel" aria-label={section.title}>
          <Suspense fallback={<Loading />}>
            <section.view />
          </Suspense>
        </div>
      )}
    </div>
  );
}
