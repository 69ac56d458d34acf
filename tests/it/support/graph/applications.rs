//! What the stand-in's tokens say, and the app registrations a tenant
//! holds.
//!
//! Tokens are shaped as Entra's app-only access tokens for Graph: a JWT
//! whose claims carry `aud`, `iss`, `tid`, `appid`, `idtyp: "app"` and, when
//! any application permission is granted, `roles` (Entra leaves the claim
//! out otherwise). The signature is random bytes: only Graph checks it, and
//! the stand-in knows its tokens by their whole text. A tenant grants
//! [`GRANTED`] unless a test says otherwise ([`super::GraphStandIn::set_roles`]).
//! Simplification: the permission is checked against the tenant's grant at
//! the time of the request, not the one the token was issued under.
//!
//! `GET /applications(appId='{appId}')` answers an app registration held by
//! the tenant (`passwordCredentials`, `keyCredentials`, `$select`
//! honoured), 403 `Authorization_RequestDenied` without
//! `Application.Read.All` (or `Application.ReadWrite.All`), 404
//! `Request_ResourceNotFound` for an app the tenant does not hold.

use base64::Engine;
use serde_json::{Value, json};

use super::{CLIENT_ID, Reply, Req, State, select};

/// The application permissions the stand-in's app is granted in a tenant,
/// as a tenant admin consents to them for the permissions the README
/// lists (and `Application.Read.All`, to read its own registration).
pub const GRANTED: &[&str] = &[
    "Application.Read.All",
    "Channel.Create",
    "ChannelMember.ReadWrite.All",
    "Directory.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "Reports.Read.All",
    "Team.Create",
    "TeamMember.ReadWrite.All",
    "TeamSettings.ReadWrite.All",
    "TeamsAppInstallation.ReadWriteForTeam.All",
    "TeamsTab.Create",
    "User.Read.All",
];

/// The roles a tenant's tokens carry.
pub(super) fn roles(st: &State, tenant: &str) -> Vec<String> {
    match st.tenants.get(tenant).and_then(|t| t.roles.clone()) {
        Some(roles) => roles,
        None => GRANTED.iter().map(|r| r.to_string()).collect(),
    }
}

/// A new access token for `tenant`, JWT-shaped, remembered by the stand-in.
pub(super) fn issue(st: &mut State, tenant: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let roles = roles(st, tenant);
    let mut claims = json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now, "nbf": now, "exp": now + 3599,
        "appid": CLIENT_ID,
        "idtyp": "app",
        "tid": tenant,
        "oid": uuid::Uuid::new_v4().to_string(),
        "uti": uuid::Uuid::new_v4().simple().to_string(),
        "ver": "1.0",
    });
    if !roles.is_empty() {
        claims["roles"] = json!(roles);
    }
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "stand-in"});
    let signature: [u8; 32] = rand::random();
    let token = format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(&signature)
    );
    st.tokens.insert(token.clone(), tenant.to_owned());
    token
}

/// `GET /applications(appId='…')`, `segment` being that whole segment.
pub(super) fn get(st: &State, tenant: &str, req: &Req, segment: &str) -> Option<Reply> {
    let app_id = segment
        .strip_prefix("applications(appId='")?
        .strip_suffix("')")?
        .to_ascii_lowercase();
    let granted = roles(st, tenant);
    if !granted
        .iter()
        .any(|r| r == "Application.Read.All" || r == "Application.ReadWrite.All")
    {
        return Some(Reply::error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    let Some(app) = st
        .tenants
        .get(tenant)
        .and_then(|t| t.applications.get(&app_id))
    else {
        return Some(Reply::error(
            404,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{app_id}' does not exist or one of its queried reference-property objects are not present."
            ),
        ));
    };
    let mut body = select(app.clone(), req);
    body["@odata.context"] = json!(format!("{}/v1.0/$metadata#applications/$entity", st.origin));
    Some(Reply::json(200, body))
}

/// A registration as Graph lists it: ids, and no credential's value.
pub(super) fn registration(app_id: &str) -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "appId": app_id,
        "displayName": "SalesTim (stand-in)",
        "signInAudience": "AzureADMultipleOrgs",
        "passwordCredentials": [],
        "keyCredentials": [],
    })
}

/// A client secret as Graph lists it: its first three characters as the
/// `hint`, never its text.
pub(super) fn password_credential(display_name: &str, secret: &str, end: &str) -> Value {
    json!({
        "customKeyIdentifier": null,
        "displayName": display_name,
        "endDateTime": end,
        "hint": secret.chars().take(3).collect::<String>(),
        "keyId": uuid::Uuid::new_v4().to_string(),
        "secretText": null,
        "startDateTime": "2025-01-01T00:00:00Z",
    })
}

/// A certificate as Graph lists it (`key` is null unless `$select`ed).
pub(super) fn key_credential(display_name: &str, end: &str) -> Value {
    json!({
        "customKeyIdentifier": "3A7F0C",
        "displayName": display_name,
        "endDateTime": end,
        "key": null,
        "keyId": uuid::Uuid::new_v4().to_string(),
        "startDateTime": "2025-01-01T00:00:00Z",
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    })
}
