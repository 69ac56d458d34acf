//! The demo tenant's data under `handler local` with the development
//! sign-in, so a newcomer who opens the tabs sees every screen at work
//! with no Azure account: the demo tenant ("Contoso (demo)"), the demo
//! users' role assignments (the roles [`super::dev::DEMO_USERS`] are there
//! to show), three templates (one approved by the demo approver, one in two
//! stages, one with no approval), lifecycle policies (dry run, so nothing
//! acts), and a few teams in the inventory, evaluated against the policies
//! so that the dashboard has findings to show.
//!
//! Idempotent and additive: each part is written only when the tenant has
//! none of it, so what a developer changed in the tabs survives a restart.
//! Never under the Functions host (the development sign-in does not exist
//! there).

use serde_json::json;
use time::Duration;

use super::dev::{self, DEMO_TENANT_NAME, DEMO_USERS};
use crate::app::App;
use crate::governance::lifecycle::evaluate::Sweep;
use crate::governance::lifecycle::machine::LifecycleState;
use crate::governance::lifecycle::policy::Policies;
use crate::governance::lifecycle::store as policies;
use crate::governance::people::Person;
use crate::governance::roles::{self, Assignment, Principal, PrincipalKind, Role};
use crate::governance::teams::{self, Renewal, TeamRecord};
use crate::governance::templates::{self, ApprovalRule, Template};
use crate::governance::tenants::TenantError;

const ACTOR: &str = "system:demo";

fn person(role: Role) -> Person {
    let u = DEMO_USERS
        .iter()
        .find(|u| u.roles.contains(&role))
        .expect("the demo directory has one user per role");
    Person::new(u.id, u.name)
}

/// Writes what the demo tenant lacks.
pub async fn seed(app: &App) -> anyhow::Result<()> {
    let tenant = dev::demo_tenant();
    let docs = app.docs.as_ref();
    let now = app.clock.now();
    // A SalesTim trial, so that approved requests go on to provisioning.
    match app
        .tenants
        .add_with_trial(&tenant, DEMO_TENANT_NAME, Some(365))
        .await
    {
        Ok(_) | Err(TenantError::Exists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let (assigned, _) = roles::get(docs, &tenant).await?;
    if assigned.assignments.is_empty() {
        let assignments: Vec<Assignment> = DEMO_USERS
            .iter()
            .flat_map(|u| u.roles.iter().map(move |r| (u, *r)))
            .filter(|(_, r)| r.is_assignable())
            .map(|(u, role)| Assignment {
                principal: Principal {
                    kind: PrincipalKind::User,
                    id: u.id.to_owned(),
                    name: u.name.to_owned(),
                },
                role,
            })
            .collect();
        roles::replace(docs, &tenant, now, ACTOR, &assignments, None).await?;
    }
    if templates::list(docs, &tenant).await?.is_empty() {
        let approver = person(Role::Approver);
        let admin = person(Role::Admin);
        let project = Template {
            name: "Project".into(),
            description: "A team for a project: planning, files and a channel per workstream."
                .into(),
            code: "PRJ".into(),
            naming: Some(serde_json::from_value(
                json!({"prefix": [{"text": "PRJ - "}]}),
            )?),
            approval: ApprovalRule::Named {
                approvers: vec![approver.clone()],
            },
            ..Template::default()
        };
        let deal = Template {
            name: "Sales deal".into(),
            description:
                "A deal team for an opportunity, approved by sales management, then the admins."
                    .into(),
            code: "DEAL".into(),
            naming: Some(serde_json::from_value(
                json!({"prefix": [{"text": "DEAL - "}]}),
            )?),
            approval: ApprovalRule::Stages {
                stages: vec![vec![approver], vec![admin]],
            },
            ..Template::default()
        };
        let community = Template {
            name: "Community".into(),
            description: "An open community of practice: no approval needed.".into(),
            code: "COM".into(),
            ..Template::default()
        };
        for (id, t) in [
            ("project", project),
            ("sales-deal", deal),
            ("community", community),
        ] {
            templates::save(docs, &tenant, id, &t).await?;
        }
    }
    if policies::current(docs, &tenant).await?.is_none() {
        let set: Policies = serde_json::from_value(json!({"defaults": {
            "minimumOwners": {"minOwners": 2},
            "expiry": {"lifetimeDays": 365, "warnDays": 30},
            "inactivity": {"inactiveDays": 90},
            "guestReview": {},
        }}))?;
        let ids: Vec<String> = templates::list(docs, &tenant)
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect();
        policies::save(docs, app.clock.as_ref(), &tenant, &set, None, &ids, ACTOR).await?;
    }
    let mut any_team = std::pin::pin!(teams::all(docs, &tenant));
    if futures::TryStreamExt::try_next(&mut any_team)
        .await?
        .is_none()
    {
        let member = person(Role::Member);
        let owner = person(Role::Admin);
        let made = |id: &str,
                    name: &str,
                    owners: Vec<Person>,
                    template: &str,
                    days_left: i64,
                    state: LifecycleState| {
            let mut t = TeamRecord {
                group_id: id.to_owned(),
                display_name: name.to_owned(),
                description: format!("{name} (demo team)"),
                template_id: Some(template.to_owned()),
                expires_at: Some(now + Duration::days(days_left)),
                renewal_days: Some(365),
                renewal: Renewal::Pending,
                member_ids: owners.iter().map(|o| o.aad_object_id.clone()).collect(),
                owners,
                lifecycle: state,
                lifecycle_since: Some(now - Duration::days(3)),
                first_seen_at: Some(now - Duration::days(200)),
                ..TeamRecord::default()
            };
            t.entra_created_at = t.first_seen_at;
            t
        };
        let demo = [
            made(
                "d3e70000-0000-4000-8000-000000000001",
                "PRJ - Apollo",
                vec![member.clone(), owner.clone()],
                "project",
                200,
                LifecycleState::Active,
            ),
            made(
                "d3e70000-0000-4000-8000-000000000002",
                "PRJ - Hermes",
                vec![member.clone()],
                "project",
                12,
                LifecycleState::Warned,
            ),
            made(
                "d3e70000-0000-4000-8000-000000000003",
                "DEAL - Fabrikam renewal",
                vec![owner.clone()],
                "sales-deal",
                90,
                LifecycleState::Active,
            ),
            made(
                "d3e70000-0000-4000-8000-000000000004",
                "COM - Rust guild",
                vec![member.clone(), owner.clone()],
                "community",
                -20,
                LifecycleState::Archived,
            ),
        ];
        for team in &demo {
            teams::put(docs, &tenant, team).await?;
        }
        let naming = app
            .tenants
            .get(&tenant)
            .await?
            .map(|t| t.settings.naming)
            .unwrap_or_default();
        Sweep {
            docs,
            tenant: &tenant,
            tenant_naming: &naming,
            now,
            record: Some(ACTOR),
            keep: false,
            progress: None,
        }
        .run()
        .await?;
    }
    tracing::info!(tenant_id = %tenant, "demo tenant ready for the development sign-in: open http://127.0.0.1:{}/", app.settings.port);
    Ok(())
}
