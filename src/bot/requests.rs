//! A team request's way through the platform, wherever it is made (the
//! bot's form, the message action, the Request tab) or decided (the
//! approval card, the Approvals tab): the same domain calls, then the same
//! follow-up: the approvers of the waiting stage get their card, the
//! requester hears of the decision in their chat with the bot, and an
//! approved request goes to provisioning.

use crate::app::App;
use crate::bot::notify::{notify_requester, notify_stage};
use crate::error::AppError;
use crate::functions::provision_team;
use crate::governance::directory;
use crate::governance::people::Person;
use crate::governance::requests::{self, RequestError, RequestForm, RequestState, TeamRequest};
use crate::governance::templates;
use crate::governance::tenants::TenantSettings;
use crate::graph::GraphError;
use crate::ids::TenantId;

/// What the form came to.
pub enum Submitted {
    Done(Box<TeamRequest>),
    /// Saved as a draft, to show its final name.
    Previewed(Box<TeamRequest>),
    /// The form comes back with these reasons.
    Refused(Vec<String>),
}

fn directory_problem(e: &GraphError) -> String {
    tracing::warn!(error = %e, "the directory could not be read for a team request");
    if e.is_transient() {
        "Your directory could not be reached just now; try again in a minute.".to_owned()
    } else {
        "SalesTim cannot read your directory: an administrator needs to grant it consent."
            .to_owned()
    }
}

/// What to do with a form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Work out the request it would make; save nothing (a live preview).
    Check,
    /// Save it as a draft, to show its final name.
    Preview,
    Submit,
}

/// Checks, previews or submits `user`'s form; `origin` is the
/// conversation it came from, when it came from one (the bot answers
/// there).
pub async fn submit_form(
    app: &App,
    tenant: &TenantId,
    user: &Person,
    form: &RequestForm,
    draft: Option<&str>,
    mode: Mode,
    origin: Option<String>,
) -> Result<Submitted, AppError> {
    let settings = app
        .tenants
        .get(tenant)
        .await?
        .map(|t| t.settings)
        .unwrap_or_default();
    let graph = app.graph.as_ref();
    // A template the requester is not offered is refused like a missing one,
    // whichever way the form came (the tab's catalog or the bot's form).
    if !offered(app, tenant, user, &form.template_id).await {
        return Ok(Submitted::Refused(vec![
            "That template is not offered to you; choose another one.".to_owned(),
        ]));
    }
    let mut form = form.clone();
    for list in [&mut form.owners, &mut form.members] {
        match directory::resolve(graph, tenant, list).await {
            Ok(Ok(ids)) => *list = ids,
            Ok(Err(reasons)) => return Ok(Submitted::Refused(reasons)),
            Err(e) => return Ok(Submitted::Refused(vec![directory_problem(&e)])),
        }
    }
    let info = match requester_info(app, tenant, &settings, user, &form).await {
        Ok(info) => info,
        Err(e) => return Ok(Submitted::Refused(vec![directory_problem(&e)])),
    };
    let (docs, clock) = (app.docs.as_ref(), app.clock.as_ref());
    let mut preview = mode != Mode::Submit;
    let mut outcome = if mode == Mode::Check {
        requests::check(docs, clock, tenant, &settings, user, &form, &info).await
    } else if preview {
        requests::preview(docs, clock, tenant, &settings, user, &form, &info, draft).await
    } else {
        requests::submit(
            docs, clock, tenant, &settings, user, &form, &info, draft, origin,
        )
        .await
    };
    if let Err(RequestError::NameNotSeen(name)) = &outcome {
        // The final name is shown first; submitting the preview confirms it.
        tracing::info!(%name, "final name not seen yet: previewing instead of submitting");
        preview = true;
        outcome =
            requests::preview(docs, clock, tenant, &settings, user, &form, &info, draft).await;
    }
    match outcome {
        Ok(request) if preview => Ok(Submitted::Previewed(Box::new(request))),
        Ok(request) => {
            tracing::info!(request = %request.id, template = %request.template_id, state = ?request.state, "team request submitted");
            after_decision(app, tenant, &request).await?;
            Ok(Submitted::Done(Box::new(request)))
        }
        Err(RequestError::Invalid(reasons)) => {
            tracing::info!(?reasons, "team request refused");
            Ok(Submitted::Refused(reasons))
        }
        Err(RequestError::NotFound | RequestError::AlreadyDecided(_)) => {
            Ok(Submitted::Refused(vec![
                "That draft is no longer open; submit the form again.".to_owned(),
            ]))
        }
        Err(RequestError::Platform(e)) => Err(e.into()),
        Err(e) => Err(AppError::Internal(anyhow::anyhow!(
            "submitting a request: {e}"
        ))),
    }
}

async fn requester_info(
    app: &App,
    tenant: &TenantId,
    settings: &TenantSettings,
    user: &Person,
    form: &RequestForm,
) -> Result<requests::RequesterInfo, GraphError> {
    let template = match templates::get(app.docs.as_ref(), tenant, form.template_id.trim()).await {
        Ok(Some(t)) => t,
        // The domain says what is wrong with the template.
        _ => return Ok(requests::RequesterInfo::default()),
    };
    let needs = requests::needs(&template, settings);
    directory::requester_info(app.graph.as_ref(), tenant, user, needs).await
}

/// What follows a submission or a decision: the next stage's approvers
/// get the card, a decided request's requester gets its status, and an
/// approved one goes to provisioning.
pub async fn after_decision(
    app: &App,
    tenant: &TenantId,
    request: &TeamRequest,
) -> Result<(), AppError> {
    match request.state {
        RequestState::Submitted => notify_stage(app, tenant, request, "").await,
        // Queued first: the team matters more than the news of it.
        RequestState::Approved => {
            provision_team::start(app, tenant, &request.id).await?;
            notify_requester(app, tenant, request).await
        }
        RequestState::Rejected => notify_requester(app, tenant, request).await,
        _ => Ok(()),
    }
}

/// Whether `user` is offered template `id` (an unknown id is the domain's
/// to refuse, with its own reason).
async fn offered(app: &App, tenant: &TenantId, user: &Person, id: &str) -> bool {
    let Ok(Some(t)) = templates::get(app.docs.as_ref(), tenant, id.trim()).await else {
        return true;
    };
    match directory::in_audience(
        app.graph.as_ref(),
        tenant,
        &user.aad_object_id,
        &t.template.audience,
    )
    .await
    {
        Ok(yes) => yes,
        Err(e) => {
            tracing::warn!(error = %e, "the template's audience could not be checked; not offered");
            false
        }
    }
}

/// An approver's decision on the waiting stage of a request, followed up
/// (the next stage told, the requester told, provisioning started).
pub async fn decide(
    app: &App,
    tenant: &TenantId,
    id: &str,
    approver: &Person,
    approved: bool,
    comment: &str,
) -> Result<Result<TeamRequest, RequestError>, AppError> {
    let (docs, clock) = (app.docs.as_ref(), app.clock.as_ref());
    let outcome = requests::decide(docs, clock, tenant, id, approver, approved, comment).await;
    if let Ok(request) = &outcome {
        tracing::info!(request = %request.id, state = ?request.state, "team request decided");
        after_decision(app, tenant, request).await?;
    }
    Ok(outcome)
}
