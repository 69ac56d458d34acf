//! Operator commands (`handler tenant …`, `handler template …`,
//! `handler policy …`, `handler billing …`, `handler crm …` in [`crm`]): the same
//! domain calls the admin tab will make, printed for a terminal. Parsing
//! stays in `main.rs`; this is what each command does.

pub mod crm;

use std::path::Path;

use crate::app::App;
use crate::billing::CheckoutRequest;
use crate::billing::binding::CustomerId;
use crate::billing::checkout::StripeApi;
use crate::governance::lifecycle::{self, findings::Action, policy::Policies, policy::PolicyKind};
use crate::governance::naming::NamingPolicy;
use crate::governance::people::Person;
use crate::governance::templates::{self, Template};
use crate::governance::tenants::{TenantError, TenantSettings};
use crate::ids::TenantId;

/// What `handler tenant set` may change; `None` leaves a value alone.
#[derive(Debug, Default)]
pub struct TenantChanges {
    pub name: Option<String>,
    /// Admin consent granted (`true`) or revoked (`false`).
    pub consent: Option<bool>,
    /// A whole settings document (JSON), applied first.
    pub policies: Option<TenantSettings>,
    pub naming: Option<NamingPolicy>,
    pub reminder_hours: Option<u32>,
    pub escalate_hours: Option<u32>,
    pub escalate_to: Option<Person>,
    pub no_escalation: bool,
    pub default_expiry_days: Option<u32>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn naming_file(path: &Path) -> Result<NamingPolicy, String> {
    read_json(path)
}

pub fn policies_file(path: &Path) -> Result<TenantSettings, String> {
    read_json(path)
}

pub async fn tenant_set(
    app: &App,
    id: &TenantId,
    changes: TenantChanges,
) -> Result<String, String> {
    let tenant = app
        .tenants
        .update(id, |t, now| {
            if let Some(name) = &changes.name {
                t.display_name = name.trim().to_owned();
            }
            if let Some(p) = &changes.policies {
                t.settings = p.clone();
            }
            if let Some(naming) = &changes.naming {
                t.settings.naming = naming.clone();
            }
            if let Some(h) = changes.reminder_hours {
                t.settings.reminder_after_hours = h;
            }
            if changes.no_escalation {
                t.settings.escalate_after_hours = None;
                t.settings.escalate_to = None;
            }
            if let Some(h) = changes.escalate_hours {
                t.settings.escalate_after_hours = Some(h);
            }
            if let Some(p) = &changes.escalate_to {
                t.settings.escalate_to = Some(p.clone());
            }
            if let Some(d) = changes.default_expiry_days {
                t.settings.default_expiry_days = Some(d);
            }
            if let Some(granted) = changes.consent {
                t.onboarding.admin_consent = granted;
                t.onboarding.consented_at = granted.then_some(now);
            }
            Ok(())
        })
        .await
        .map_err(|e| match e {
            TenantError::Invalid(problems) => {
                format!("not saved:\n  - {}", problems.join("\n  - "))
            }
            e => e.to_string(),
        })?;
    Ok(serde_json::to_string_pretty(&tenant).expect("serialisable"))
}

async fn known(app: &App, id: &TenantId) -> Result<(), String> {
    match app.tenants.exists(id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("no tenant {id}; add it with `handler tenant add`")),
        Err(e) => Err(e.to_string()),
    }
}

/// What `template put` does with the template's picture.
pub enum IconChange<'a> {
    /// Keep the one the template has (none for a new template).
    Keep,
    /// A PNG or JPEG file.
    Set(&'a Path),
    Remove,
}

/// Saves a template from a JSON file. It is checked before anything is
/// written; an icon is stored under a name made from its content, so a
/// later version's icon never changes what an earlier version (that a
/// request was made against) shows.
pub async fn template_put(
    app: &App,
    tenant: &TenantId,
    id: &str,
    file: &Path,
    icon: IconChange<'_>,
) -> Result<String, String> {
    known(app, tenant).await?;
    let mut template: Template = read_json(file)?;
    let not_saved = |problems: Vec<String>| format!("not saved:\n  - {}", problems.join("\n  - "));
    let current = templates::get(app.docs.as_ref(), tenant, id)
        .await
        .map_err(|e| e.to_string())?;
    template.icon = match icon {
        IconChange::Keep => current.and_then(|c| c.template.icon),
        IconChange::Remove => None,
        IconChange::Set(_) => None,
    };
    let problems = template.problems();
    if !problems.is_empty() {
        return Err(not_saved(problems));
    }
    if let IconChange::Set(path) = icon {
        template.icon = Some(store_icon(app, tenant, id, path).await?);
    }
    let saved = templates::save(app.docs.as_ref(), tenant, id, &template)
        .await
        .map_err(|e| match e {
            templates::TemplateError::Invalid(problems) => not_saved(problems),
            e => e.to_string(),
        })?;
    Ok(format!("saved template {id} version {}", saved.version))
}

/// Stores a PNG or JPEG (checked: see [`templates::icons`]).
async fn store_icon(app: &App, tenant: &TenantId, id: &str, path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    templates::icons::store(app.blobs.as_ref(), tenant, id, bytes)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub async fn template_list(app: &App, tenant: &TenantId) -> Result<String, String> {
    known(app, tenant).await?;
    let all = templates::list(app.docs.as_ref(), tenant)
        .await
        .map_err(|e| e.to_string())?;
    Ok(all
        .iter()
        .map(|t| {
            format!(
                "{}\tv{}\t{}\t{}",
                t.id,
                t.template.version,
                if t.template.active {
                    "active"
                } else {
                    "retired"
                },
                t.template.name
            )
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

pub async fn template_show(app: &App, tenant: &TenantId, id: &str) -> Result<String, String> {
    known(app, tenant).await?;
    let t = templates::get(app.docs.as_ref(), tenant, id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or(format!("no template {id} in tenant {tenant}"))?;
    Ok(serde_json::to_string_pretty(&t.template).expect("serialisable"))
}

/// Retires (or with `active`, brings back) a template: a new version.
pub async fn template_activate(
    app: &App,
    tenant: &TenantId,
    id: &str,
    active: bool,
) -> Result<String, String> {
    known(app, tenant).await?;
    let mut t = templates::get(app.docs.as_ref(), tenant, id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or(format!("no template {id} in tenant {tenant}"))?
        .template;
    t.active = active;
    let saved = templates::save(app.docs.as_ref(), tenant, id, &t)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "template {id} is {} (version {})",
        if active { "active" } else { "retired" },
        saved.version
    ))
}

/// Who an operator command acts as, for the audit trail.
fn operator() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("operator:{user}")
}

/// `handler billing checkout`: a Checkout Session for the tenant, recorded,
/// and its URL to send to the tenant's admin.
pub async fn billing_checkout(
    app: &App,
    tenant: &TenantId,
    price: &str,
    seats: u32,
) -> Result<String, String> {
    let s = &app.settings;
    let key = s
        .stripe_api_key
        .clone()
        .ok_or("STRIPE_API_KEY is not set (a Stripe secret key, sk_...)")?;
    let (Some(success), Some(cancel)) = (
        &s.stripe_checkout_success_url,
        &s.stripe_checkout_cancel_url,
    ) else {
        return Err("set SALESTIM_PUBLIC_HOSTNAME, or STRIPE_CHECKOUT_SUCCESS_URL and STRIPE_CHECKOUT_CANCEL_URL, for the pages Stripe Checkout returns to".into());
    };
    let stripe = StripeApi::new(app.http.clone(), s.stripe_api_base.clone(), key);
    let actor = operator();
    let session = app
        .billing
        .start_checkout(
            &stripe,
            &CheckoutRequest {
                tenant,
                price,
                seats,
                success_url: success.as_str(),
                cancel_url: cancel.as_str(),
                actor: &actor,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "checkout session {} for tenant {tenant} ({seats} x {price}):\n{}",
        session.id, session.url
    ))
}

/// `handler billing bind`: binds a Stripe customer to a tenant for good.
pub async fn billing_bind(app: &App, tenant: &TenantId, customer: &str) -> Result<String, String> {
    let customer = CustomerId::parse(customer).map_err(|e| e.to_string())?;
    let report = app
        .billing
        .bind_customer(tenant, &customer, &operator())
        .await
        .map_err(|e| e.to_string())?;
    let e = &report.entitlement;
    Ok(format!(
        "{} {customer} to tenant {tenant}; {} waiting event(s) applied; entitlement: {} ({}{})",
        if report.already {
            "already bound"
        } else {
            "bound"
        },
        report.applied,
        if e.active { "active" } else { "inactive" },
        e.reason,
        if e.active {
            format!(", {} seats", e.seats)
        } else {
            String::new()
        }
    ))
}

/// `handler policy show`: the tenant's current lifecycle policies.
pub async fn policy_show(app: &App, tenant: &TenantId) -> Result<String, String> {
    known(app, tenant).await?;
    match lifecycle::store::current(app.docs.as_ref(), tenant)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(stored) => serde_json::to_string_pretty(&stored).map_err(|e| e.to_string()),
        None => Ok(format!(
            "{tenant} has no lifecycle policies yet; `handler policy apply {tenant} --file p.json` stores the first version"
        )),
    }
}

/// What `policy diff` and `policy apply` read: the proposed policies, the
/// current version, and the review of the two.
struct Proposal {
    policies: Policies,
    current: u32,
    text: String,
    /// The tenant's template ids, which overrides are checked against.
    template_ids: Vec<String>,
}

async fn propose(app: &App, tenant: &TenantId, file: &Path) -> Result<Proposal, String> {
    known(app, tenant).await?;
    let proposed: Policies = read_json(file)?;
    let docs = app.docs.as_ref();
    let stored = lifecycle::store::current(docs, tenant)
        .await
        .map_err(|e| e.to_string())?;
    let (current, before) = stored.map(|s| (s.version, s.policies)).unwrap_or_default();
    let template_ids: Vec<String> = templates::list(docs, tenant)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|t| t.id)
        .collect();
    let mut text = String::new();
    let problems = proposed.problems(&template_ids);
    if !problems.is_empty() {
        return Err(format!("not saved:\n  - {}", problems.join("\n  - ")));
    }
    let changes = lifecycle::policy::diff(&before, &proposed);
    let show =
        |v: &Option<serde_json::Value>| v.as_ref().map_or("(none)".to_owned(), |v| v.to_string());
    text.push_str(&format!(
        "policies: version {current} -> {} ({} change{})\n",
        current + 1,
        changes.len(),
        if changes.len() == 1 { "" } else { "s" }
    ));
    for c in &changes {
        text.push_str(&format!(
            "  {}: {} -> {}\n",
            c.path,
            show(&c.before),
            show(&c.after)
        ));
    }
    let tenant_naming = app
        .tenants
        .get(tenant)
        .await
        .map_err(|e| e.to_string())?
        .map(|t| t.settings.naming)
        .unwrap_or_default();
    let review = lifecycle::review::review(
        docs,
        tenant,
        &tenant_naming,
        lifecycle::review::Version {
            number: current,
            policies: &before,
        },
        lifecycle::review::Version {
            number: current + 1,
            policies: &proposed,
        },
        app.clock.now(),
    )
    .await
    .map_err(|e| e.to_string())?;
    text.push_str(&format!("teams whose findings change: {}\n", review.len()));
    let outline = |findings: &[(PolicyKind, Action, bool)]| {
        if findings.is_empty() {
            return "nothing".to_owned();
        }
        findings
            .iter()
            .map(|(policy, action, enforced)| {
                let mode = if *enforced { "" } else { ", dry-run" };
                format!("{} ({action:?}{mode})", policy.name())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    const LISTED: usize = 200;
    for change in review.iter().take(LISTED) {
        text.push_str(&format!(
            "  {} ({}): {} -> {}\n",
            change.team_name,
            change.team_id,
            outline(&change.before),
            outline(&change.after)
        ));
    }
    if review.len() > LISTED {
        text.push_str(&format!("  … and {} more\n", review.len() - LISTED));
    }
    Ok(Proposal {
        policies: proposed,
        current,
        text,
        template_ids,
    })
}

/// `handler policy diff`: what storing the file would change, stored nowhere.
pub async fn policy_diff(app: &App, tenant: &TenantId, file: &Path) -> Result<String, String> {
    Ok(propose(app, tenant, file).await?.text)
}

/// `handler policy apply`: the diff, then the file stored as the next
/// version, unless someone stored another meanwhile.
pub async fn policy_apply(app: &App, tenant: &TenantId, file: &Path) -> Result<String, String> {
    let proposal = propose(app, tenant, file).await?;
    let saved = lifecycle::store::save(
        app.docs.as_ref(),
        app.clock.as_ref(),
        tenant,
        &proposal.policies,
        Some(proposal.current),
        &proposal.template_ids,
        "operator:handler policy apply",
    )
    .await
    .map_err(|e| e.to_string())?;
    let line = match saved {
        lifecycle::store::Saved::Version(v) => format!("saved lifecycle policies version {v}"),
        lifecycle::store::Saved::Unchanged(v) => {
            format!("nothing to save: version {v} already holds these policies")
        }
    };
    Ok(format!("{}{line}", proposal.text))
}

/// Who `handler team` acts as, in the audit trail and the actions.
const TEAM_ACTOR: &str = "operator:handler team";

/// `handler team waive`: exempts a team from one policy for `days`, with a
/// reason, audited; the next sweep resolves the policy's finding for it.
pub async fn team_waive(
    app: &App,
    tenant: &TenantId,
    team_id: &str,
    policy: &str,
    days: u32,
    reason: &str,
) -> Result<String, String> {
    use crate::governance::lifecycle::machine::Waiver;
    use crate::platform::documents::check_id;

    known(app, tenant).await?;
    let kind: PolicyKind = serde_json::from_value(serde_json::json!(policy)).map_err(|_| {
        format!("no policy {policy:?}: minimumOwners, expiry, inactivity, guestReview, permanentMembers or namingDrift")
    })?;
    check_id(team_id).map_err(|_| format!("no team {team_id:?}"))?;
    let now = app.clock.now();
    let waiver = Waiver::new(
        kind,
        now + time::Duration::days(i64::from(days)),
        reason,
        TEAM_ACTOR,
        now,
    )?;
    let waived = crate::governance::teams::modify(app.docs.as_ref(), tenant, team_id, |team| {
        team.waivers.retain(|w| w.until > now && w.policy != kind);
        team.waivers.push(waiver.clone());
        Ok::<_, crate::platform::PlatformError>(())
    })
    .await
    .map_err(|e| e.to_string())?
    .ok_or_else(|| format!("no team {team_id} in {tenant}'s inventory"))?;
    let name = waived.team.display_name;
    let entry = crate::governance::audit::AuditEntry {
        at: now,
        actor: TEAM_ACTOR.into(),
        action: "team.waived".into(),
        details: serde_json::json!({"groupId": team_id, "displayName": name, "policy": kind.name(), "until": waiver.until.unix_timestamp(), "reason": waiver.reason}),
    };
    crate::governance::audit::record(app.docs.as_ref(), tenant, &entry)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "{name} ({team_id}) is exempt from {} until {}",
        kind.name(),
        waiver.until.date()
    ))
}

/// `handler team restore|unarchive`: queues the governance action (checked
/// against the team's lifecycle state first; the same command the same day
/// queues nothing more).
pub async fn team_bring_back(
    app: &App,
    tenant: &TenantId,
    team_id: &str,
    restore: bool,
    reason: &str,
) -> Result<String, String> {
    use crate::governance::lifecycle::actions::{self, ActionRequest, Requested};
    use crate::governance::lifecycle::machine::Cause;
    use crate::jobs::governance_action::Action;

    known(app, tenant).await?;
    let (action, what) = if restore {
        (Action::Restore, "restore")
    } else {
        (Action::Unarchive, "unarchive")
    };
    // One request a day per state the team is in: a refusal (wrong state)
    // does not stand in the way once the team is in the right one.
    let since = match crate::governance::teams::get(app.docs.as_ref(), tenant, team_id).await {
        Ok(team) => format!(
            "{:?}-{}",
            team.lifecycle,
            team.lifecycle_since.map_or(0, |t| t.unix_timestamp())
        ),
        Err(crate::governance::teams::TeamError::NotFound) => {
            return Err(format!("no team {team_id} in {tenant}'s inventory"));
        }
        Err(e) => return Err(e.to_string()),
    };
    let ask = ActionRequest {
        team_id: team_id.to_owned(),
        key: format!(
            "operator:{what}:{team_id}:{}:{since}",
            app.clock.now().date()
        ),
        action,
        cause: Cause {
            actor: TEAM_ACTOR.into(),
            policy: None,
            reason: reason.to_owned(),
        },
    };
    let requested = actions::request(
        app.docs.as_ref(),
        app.clock.as_ref(),
        app.queues.as_ref(),
        tenant,
        ask,
    )
    .await
    .map_err(|e| e.to_string())?;
    match requested {
        Requested::Queued(job) => Ok(format!("{what} of {} ({team_id}) queued", job.team_name)),
        Requested::Already(job) => Ok(format!(
            "{what} of {team_id} was asked for already today: {:?}",
            job.state
        )),
        Requested::Refused(job) => Err(format!(
            "cannot {what} {team_id}: {}",
            job.failure.unwrap_or_default()
        )),
    }
}

/// Who `handler sweep --apply` acts as, in the findings and the audit trail.
const ACTOR: &str = "operator:handler-sweep";

/// `handler sweep`: one tenant's sweep. The inventory is synced first when
/// the deployment has Graph credentials (else the kept inventory is read as
/// it is, and the output says so); then every team is evaluated against the
/// current policies. A dry run (the default) records nothing and acts on
/// nothing; `apply` records the findings and makes the due moves of the
/// enforced ones, as `SweepTenant` does (dry-run policies still only find).
/// `json`: the findings as JSON, the same data as the table.
pub async fn sweep(
    app: &App,
    tenant: &TenantId,
    json: bool,
    apply: bool,
) -> Result<String, String> {
    use crate::governance::lifecycle::evaluate::Sweep;
    use crate::governance::lifecycle::sync::{Inventory, Outcome};

    known(app, tenant).await?;
    let record = app
        .tenants
        .get(tenant)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no tenant {tenant}"))?;
    let synced = match app.graph.as_ref() {
        Some(graph) if record.onboarding.admin_consent => {
            let inventory = Inventory {
                docs: app.docs.as_ref(),
                clock: app.clock.as_ref(),
                graph,
                budget: app.settings.graph_limits.sweep_budget,
            };
            match inventory
                .sync(tenant, None)
                .await
                .map_err(|e| e.to_string())?
            {
                Outcome::Synced(round) => {
                    let activity = crate::governance::lifecycle::activity::refresh(
                        app.docs.as_ref(),
                        graph,
                        tenant,
                        app.clock.now(),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                    format!("{}; {}", round.summary(tenant), activity.summary())
                }
                Outcome::Busy(until) => format!(
                    "inventory of {tenant}: another sync holds it until {until}; read as kept"
                ),
                Outcome::AlreadyDone(period) => format!("inventory of {tenant}: {period} synced"),
            }
        }
        Some(_) => format!("inventory of {tenant}: no admin consent; read as kept"),
        None => format!("inventory of {tenant}: no Graph credentials here; read as kept"),
    };
    // A spinner with the count on an operator's terminal; nothing when the
    // output is read by a program.
    let bar = (!json && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} evaluated {pos} teams")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let progress = |n: u32| {
        if let Some(bar) = &bar {
            bar.set_position(u64::from(n));
        }
    };
    let evaluation = Sweep {
        docs: app.docs.as_ref(),
        tenant,
        tenant_naming: &record.settings.naming,
        now: app.clock.now(),
        record: apply.then_some(ACTOR),
        keep: true,
        progress: Some(&progress),
    }
    .run()
    .await
    .map_err(|e| e.to_string());
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let evaluation = evaluation?;
    let enforced = if apply {
        Some(
            crate::bot::lifecycle::enforce_tenant(app, tenant, app.clock.now(), ACTOR)
                .await
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    if json {
        return serde_json::to_string_pretty(&serde_json::json!({
            "tenantId": tenant,
            "policyVersion": evaluation.policy_version,
            "teams": evaluation.teams,
            "findings": evaluation.findings,
            "applied": enforced.map(|e| serde_json::json!({
                "due": e.due, "cards": e.cards, "actions": e.actions, "failed": e.failed,
            })),
        }))
        .map_err(|e| e.to_string());
    }
    let mut out = format!("{synced}\n");
    if evaluation.policy_version == 0 {
        out.push_str(&format!(
            "{tenant} has no lifecycle policies: nothing to evaluate (`handler policy apply`)\n"
        ));
        return Ok(out);
    }
    match &enforced {
        None => out.push_str(&format!(
            "dry run: policies v{} over {} teams: {} findings; nothing recorded, nothing done\n",
            evaluation.policy_version,
            evaluation.teams,
            evaluation.findings.len()
        )),
        Some(e) => out.push_str(&format!(
            "applied: {}; {}\n",
            evaluation.summary(),
            e.summary()
        )),
    }
    let mut by_policy: std::collections::BTreeMap<PolicyKind, Vec<&lifecycle::findings::Finding>> =
        Default::default();
    for f in &evaluation.findings {
        by_policy.entry(f.policy).or_default().push(f);
    }
    for (policy, mut found) in by_policy {
        found.sort_by(|a, b| a.team_name.cmp(&b.team_name));
        out.push_str(&format!("\n{} ({}):\n", policy.name(), found.len()));
        for f in found {
            let mode = if f.enforced { "enforced" } else { "dry-run" };
            let facts = f
                .facts
                .iter()
                .map(|fact| {
                    format!(
                        "{} {} ({}, {})",
                        fact.name,
                        fact.value,
                        fact.source,
                        fact.read_at.date()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            out.push_str(&format!(
                "  {} ({})\n    {}\n    threshold: {}; facts: {}\n    next: {:?} on {} [{mode}]{}\n",
                f.team_name,
                f.team_id,
                f.decision,
                f.threshold,
                facts,
                f.action,
                f.due.date(),
                f.then.as_ref().map_or(String::new(), |t| format!("; then {t}")),
            ));
            // A failed action is loud: shown with the finding it belongs to.
            let failed = crate::governance::lifecycle::actions::failed_for_team(
                app.docs.as_ref(),
                tenant,
                &f.team_id,
            )
            .await
            .map_err(|e| e.to_string())?;
            for job in failed
                .iter()
                .filter(|j| j.cause.policy.map(|(p, _)| p) == Some(policy))
            {
                out.push_str(&format!(
                    "    FAILED {:?}: {}\n",
                    job.action,
                    job.failure.as_deref().unwrap_or("no reason kept")
                ));
            }
        }
    }
    Ok(out)
}
