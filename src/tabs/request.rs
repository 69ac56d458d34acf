//! The Request a team tab: the template catalog as the caller's audience
//! sees it, a live preview of the final name and approval path (nothing is
//! saved), and the submission, through the same flow as the bot's form
//! ([`crate::bot::requests`]): the draft is saved, its final name must be
//! the one the person was shown, then it is submitted and the approvers get
//! their card.

use serde::Deserialize;
use serde_json::{Value, json};
use warp::http::StatusCode;

use super::access::Caller;
use super::input::{invalid, json, ok, reply};
use crate::app::App;
use crate::bot::requests::{self as flow, Mode, Submitted};
use crate::error::AppError;
use crate::governance::requests::{
    MAX_NAME_CHARS, MAX_TEXT_CHARS, RequestForm, Stage, TeamRequest,
};
use crate::governance::templates::{self, ApprovalRule, ICON_CONTAINER, StoredTemplate};
use crate::http::{HttpRequest, HttpResponse};

/// Most people one form adds as owners, and as members.
const MAX_PEOPLE: usize = 20;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Form {
    template_id: String,
    display_name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    justification: String,
    #[serde(default)]
    owners: Vec<String>,
    #[serde(default)]
    members: Vec<String>,
    /// The final name the person was shown (submission only).
    #[serde(default)]
    final_name: Option<String>,
}

fn person_json(p: &crate::governance::people::Person) -> Value {
    json!({"id": p.aad_object_id, "name": p.name})
}

fn approval_json(rule: &ApprovalRule) -> Value {
    match rule {
        ApprovalRule::None => json!({"kind": "none", "stages": []}),
        ApprovalRule::Manager => json!({"kind": "manager", "stages": []}),
        ApprovalRule::Named { approvers } => json!({"kind": "stages", "stages": [
            {"approvers": approvers.iter().map(person_json).collect::<Vec<_>>()}
        ]}),
        ApprovalRule::Stages { stages } => {
            json!({"kind": "stages", "stages": stages.iter().map(|s| json!({
            "approvers": s.iter().map(person_json).collect::<Vec<_>>()
        })).collect::<Vec<_>>()})
        }
    }
}

fn path_json(stages: &[Stage]) -> Vec<Value> {
    stages
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"stage": i + 1, "approvers": s.approvers.iter().map(person_json).collect::<Vec<_>>()}))
        .collect()
}

/// The active template `id` when the caller is in its audience.
async fn offered(app: &App, caller: &Caller, id: &str) -> Result<StoredTemplate, AppError> {
    match templates::get(app.docs.as_ref(), &caller.tenant, id.trim()).await? {
        Some(t) if t.template.active && t.template.audience.includes(&caller.groups) => Ok(t),
        _ => Err(invalid("templateId", "no such template is offered to you")),
    }
}

/// `GET catalog`.
pub async fn catalog(
    app: App,
    caller: Caller,
    _req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let all = templates::list_active(app.docs.as_ref(), &caller.tenant).await?;
    let offered: Vec<Value> = all
        .iter()
        .filter(|t| t.template.audience.includes(&caller.groups))
        .map(|t| {
            json!({
                "id": t.id, "name": t.template.name, "description": t.template.description,
                "version": t.template.version,
                "icon": t.template.icon.as_ref().map(|_| format!("/api/tab/catalog/{}/icon", t.id)),
                "approval": approval_json(&t.template.approval),
                "fields": {"justification": true},
            })
        })
        .collect();
    Ok(ok(&json!({ "templates": offered })))
}

/// `GET catalog/{id}/icon`: the template's picture, for templates the
/// caller is offered.
pub async fn icon(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let id = req.head.params.get("id").cloned().unwrap_or_default();
    let template = offered(&app, &caller, &id)
        .await
        .map_err(|_| AppError::NotFound)?;
    let Some(name) = template.template.icon else {
        return Err(AppError::NotFound);
    };
    let Some(blob) = app.blobs.get(ICON_CONTAINER, &name).await? else {
        return Err(AppError::NotFound);
    };
    let content_type = match blob.content_type.as_str() {
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        _ => return Err(AppError::NotFound),
    };
    let mut res = HttpResponse::empty(StatusCode::OK);
    res.body = blob.data;
    res.headers.insert(
        "content-type",
        warp::http::HeaderValue::from_static(content_type),
    );
    // Icon names are made from their content: an icon never changes.
    res.headers.insert(
        "cache-control",
        warp::http::HeaderValue::from_static("private, max-age=86400, immutable"),
    );
    res.headers.insert(
        "x-content-type-options",
        warp::http::HeaderValue::from_static("nosniff"),
    );
    Ok(res)
}

fn checked(form: &Form) -> Result<RequestForm, AppError> {
    let name = form.display_name.trim();
    if name.is_empty() {
        return Err(invalid("displayName", "give the team a name"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            "displayName",
            format!("at most {MAX_NAME_CHARS} characters"),
        ));
    }
    for (field, text) in [
        ("description", &form.description),
        ("justification", &form.justification),
    ] {
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(invalid(
                field,
                format!("at most {MAX_TEXT_CHARS} characters"),
            ));
        }
    }
    for (field, people) in [("owners", &form.owners), ("members", &form.members)] {
        if people.len() > MAX_PEOPLE {
            return Err(invalid(field, format!("at most {MAX_PEOPLE} people")));
        }
        if let Some(bad) = people
            .iter()
            .find(|p| uuid::Uuid::parse_str(p.trim()).is_err())
        {
            return Err(invalid(
                field,
                format!(
                    "\"{}\" is not an Entra object id",
                    bad.chars().take(64).collect::<String>()
                ),
            ));
        }
    }
    Ok(RequestForm {
        template_id: form.template_id.trim().to_owned(),
        display_name: name.to_owned(),
        description: form.description.trim().to_owned(),
        justification: form.justification.trim().to_owned(),
        owners: form
            .owners
            .iter()
            .map(|p| p.trim().to_ascii_lowercase())
            .collect(),
        members: form
            .members
            .iter()
            .map(|p| p.trim().to_ascii_lowercase())
            .collect(),
        // The Request tab makes teams from templates, not from CRM records.
        crm_record: None,
    })
}

/// `POST requests/preview`: the final name and approval path; saves nothing.
pub async fn preview(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let form: Form = json(&req)?;
    let form = checked(&form)?;
    offered(&app, &caller, &form.template_id).await?;
    let answer = match flow::submit_form(
        &app,
        &caller.tenant,
        &caller.user,
        &form,
        None,
        Mode::Check,
        None,
    )
    .await?
    {
        Submitted::Previewed(r) | Submitted::Done(r) => json!({
            "finalName": r.display_name, "mailNickname": r.mail_nickname, "valid": true,
            "problems": [], "approvalPath": path_json(&r.stages),
        }),
        Submitted::Refused(problems) => json!({
            "finalName": "", "mailNickname": "", "valid": false, "problems": problems, "approvalPath": [],
        }),
    };
    Ok(ok(&answer))
}

fn submitted_json(r: &TeamRequest) -> Value {
    json!({"id": r.id, "state": format!("{:?}", r.state), "label": r.state.label(), "finalName": r.display_name})
}

/// The 409 for a final name the person was not shown.
fn not_seen(name: &str) -> AppError {
    AppError::Conflict(format!(
        "with the naming policy the team will be named \"{name}\"; check the name and submit again"
    ))
}

/// `POST requests`: saves the draft, checks its final name is the one the
/// person saw, and submits it.
pub async fn submit(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let body: Form = json(&req)?;
    let form = checked(&body)?;
    offered(&app, &caller, &form.template_id).await?;
    let (tenant, user) = (&caller.tenant, &caller.user);
    let draft =
        match flow::submit_form(&app, tenant, user, &form, None, Mode::Preview, None).await? {
            Submitted::Previewed(d) | Submitted::Done(d) => d,
            Submitted::Refused(problems) => return Err(invalid("displayName", problems.join(" "))),
        };
    let seen = body.final_name.as_deref().map(str::trim);
    let named_as_seen = match seen {
        Some(seen) => seen == draft.display_name,
        None => draft.display_name == draft.requested_name,
    };
    if !named_as_seen {
        return Err(not_seen(&draft.display_name));
    }
    match flow::submit_form(
        &app,
        tenant,
        user,
        &form,
        Some(&draft.id),
        Mode::Submit,
        None,
    )
    .await?
    {
        Submitted::Done(r) => {
            tracing::info!(tenant_id = %tenant, request = %r.id, "team request submitted from the Request tab");
            Ok(reply(StatusCode::CREATED, &submitted_json(&r)))
        }
        Submitted::Previewed(r) => Err(not_seen(&r.display_name)),
        Submitted::Refused(problems) => Err(invalid("displayName", problems.join(" "))),
    }
}
