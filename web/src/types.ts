// The JSON shapes of the tabs' HTTP API (/api/tab/…, /api/dev/signin,
// /api/support/identity), as the contract between the handler and this app
// describes them. Only what the screens read is typed; the rest stays open.

export type Role = "admin" | "catalogManager" | "policyManager" | "auditor" | "approver" | "member";

export interface Person {
  id: string;
  name: string;
}

export interface Me {
  tenant: { id: string; name: string };
  user: { id: string; name: string; email: string };
  roles: Role[];
  can: {
    request: boolean;
    approve: boolean;
    dashboard: boolean;
    admin: boolean;
    templates: boolean;
    policies: boolean;
    roles: boolean;
    billing: boolean;
  };
}

export interface DevUser {
  id: string;
  name: string;
  email: string;
  roles: Role[];
}

export interface DevDirectory {
  tenant: { id: string; name: string };
  users: DevUser[];
}

export interface DevToken {
  token: string;
  expiresIn: number;
}

export interface Approval {
  kind: "none" | "owners" | "manager" | "stages";
  stages?: { approvers: Person[] }[];
}

export interface CatalogTemplate {
  id: string;
  name: string;
  description: string;
  version: number;
  icon: string | null;
  approval: Approval;
  fields: { justification: boolean };
}

export interface Preview {
  finalName: string;
  mailNickname: string;
  valid: boolean;
  problems: string[];
  approvalPath: { stage: number; approvers: Person[] }[];
}

export interface Submitted {
  id: string;
  state: string;
  label: string;
  finalName: string;
}

export interface MyTeam {
  id: string;
  name: string;
  lifecycle: string;
  expiresAt: string | null;
  webUrl: string | null;
  isOwner: boolean;
  canRenew: boolean;
  pending: string[];
}

export interface MyRequest {
  id: string;
  name: string;
  templateName: string;
  state: string;
  label: string;
  createdAt: string;
  webUrl: string | null;
  reason: string | null;
}

export interface PendingApproval {
  id: string;
  etag: string;
  finalName: string;
  templateName: string;
  requester: Person;
  createdAt: string;
  stage: number;
  stages: number;
  description: string;
  justification: string;
}

export interface Decided {
  id: string;
  state: string;
  label: string;
}

export interface Sweep {
  at: string;
  teams: number;
  graphRequests: number;
  throttled: number;
  budget: number;
  complete: boolean;
}

export interface DayPoint {
  day: string;
  teams: number;
  findings: number;
  actions: number;
}

export interface Dashboard {
  teamsByState: Record<string, number>;
  findingsByPolicy: Record<string, number>;
  sweeps: Sweep[];
  series: DayPoint[];
}

export interface AuditEntry {
  at: string;
  actor: string;
  actorName: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

export interface AuditPage {
  entries: AuditEntry[];
  next: string | null;
}

export interface TenantSettings {
  reminderAfterHours: number;
  escalateAfterHours: number;
  defaultExpiryDays: number;
  naming: Record<string, unknown>;
}

export interface AdminSettings {
  tenant: { id: string; name: string };
  consent: { granted: boolean; at: string | null };
  credentials: { kind: string; healthy: boolean; detail: string };
  settings: TenantSettings;
}

/** A template as the admin API returns it: the fields the form edits are
 * typed, every other field is kept as read and sent back unchanged. */
export interface AdminTemplate {
  id: string;
  name: string;
  version: number;
  active: boolean;
  description?: string;
  audience?: Audience;
  approval?: Approval;
  icon?: string | null;
  [other: string]: unknown;
}

/** Who sees a template in the catalog: everyone, or members of Entra groups. */
/** An Entra group as the API names it. */
export interface GroupRef {
  aadObjectId: string;
  name: string;
}

export type Audience = { kind: "everyone" } | { kind: "groups"; groups: GroupRef[] };

export interface TemplateVersion {
  version: number;
  name: string;
  active: boolean;
}

export interface TemplateDetail {
  template: AdminTemplate;
  versions: TemplateVersion[];
  etag?: string;
}

export interface Policies {
  version: number;
  policies: Record<string, unknown>;
}

export interface PolicyChange {
  path: string;
  before: unknown;
  after: unknown;
}

export interface RoleAssignment {
  principal: { kind: "user" | "group"; id: string; name?: string };
  role: Role;
}

export interface Billing {
  status: string;
  plan: string | null;
  seats: number | null;
  currentPeriodEnd: string | null;
  customerBound: boolean;
}

export interface SupportIdentity {
  app_id: string;
  user_id: string;
  intercom_user_jwt: string;
  email?: string;
  name?: string;
  user_hash?: string;
  api_base?: string;
}

/** How a new team is recorded on its CRM record. */
export type WriteBack = { kind: "note" } | { kind: "off" } | { kind: "field"; field: string };

/** A CRM connection as the admin API shows it (never a secret). */
export interface CrmConnection {
  crm: "dynamics" | "salesforce";
  label: string;
  target: {
    orgUrl?: string;
    search?: string;
    impersonate?: boolean;
    ownApp?: boolean;
    clientId?: string | null;
    instanceUrl?: string;
    loginUrl?: string;
    user?: string | null;
  };
  writeBack: WriteBack;
  revision: number;
  changedAt: string | null;
  changedBy: string;
  health: { state: "working" } | { state: "broken"; reason: string; since: string };
  checked: { at: string; ok: boolean; message: string } | null;
}

export interface CrmAdmin {
  connections: CrmConnection[];
  available: { dynamics: boolean; salesforce: boolean };
  salesforceRedirectUri: string | null;
}
