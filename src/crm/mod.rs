//! CRM records in Teams: one [`Connector`] trait, two real implementations
//! (Dynamics 365 / Dataverse's Web API in [`dataverse`], Salesforce's REST
//! API in [`salesforce`]), behind one record shape ([`Record`]) the cards
//! and the naming policy read.
//!
//! A connector is made per call from a tenant's stored connection
//! ([`connections`]: its settings and its sealed credentials) and the
//! parts every connector shares ([`Shared`]: the one outbound HTTP stack,
//! the token cache, the counters). It knows its CRM's query language, its
//! paging, its errors and its record links; what it answers is cached by
//! [`search`], per tenant and, where the CRM's own permissions differ by
//! user, per user.
//!
//! Everything a caller types reaches a connector as a [`SearchText`]
//! (bounded, no control characters), and each connector escapes it for its
//! own language (OData string literals, SOSL reserved characters): nothing
//! typed is ever pasted into a query unescaped.

pub mod connect;
pub mod connections;
pub mod dataverse;
pub mod salesforce;
pub mod search;
pub mod service;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::outbound::send::Observer;
use crate::outbound::{RetryPolicy, TokenCache, TokenError};
use crate::platform::PlatformError;

/// Dataverse search accepts at most 100 characters; Salesforce's
/// `parameterizedSearch` more, but one limit for both keeps the refusal
/// the same whichever CRM a tenant has.
pub const MAX_SEARCH_CHARS: usize = 100;
/// A page of results holds at most this many records (Teams asks for 25 by
/// default; the CRMs cap their own pages higher).
pub const MAX_PAGE: usize = 25;

/// Which CRM a connection is to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CrmKind {
    Dynamics,
    Salesforce,
}

impl CrmKind {
    pub const ALL: [CrmKind; 2] = [CrmKind::Dynamics, CrmKind::Salesforce];

    /// As users know it ("Open in Dynamics 365").
    pub fn label(self) -> &'static str {
        match self {
            CrmKind::Dynamics => "Dynamics 365",
            CrmKind::Salesforce => "Salesforce",
        }
    }

    /// As settings, ids and commands spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            CrmKind::Dynamics => "dynamics",
            CrmKind::Salesforce => "salesforce",
        }
    }

    pub fn parse(s: &str) -> Option<CrmKind> {
        CrmKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The record types a search covers and a template can be made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RecordType {
    Account,
    Contact,
    Opportunity,
}

impl RecordType {
    pub const ALL: [RecordType; 3] = [
        RecordType::Account,
        RecordType::Contact,
        RecordType::Opportunity,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RecordType::Account => "Account",
            RecordType::Contact => "Contact",
            RecordType::Opportunity => "Opportunity",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Account => "account",
            RecordType::Contact => "contact",
            RecordType::Opportunity => "opportunity",
        }
    }

    pub fn parse(s: &str) -> Option<RecordType> {
        RecordType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// A record's id as its CRM writes it: a GUID in Dataverse, a 15- or
/// 18-character id in Salesforce. Parsed once at the edge (a card's data,
/// a link), so an id can go into a URL path or a query as it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordId(String);

impl RecordId {
    /// Either CRM's id shape; `None` for anything else.
    pub fn parse(s: &str) -> Option<RecordId> {
        let s = s.trim().trim_start_matches('{').trim_end_matches('}');
        if let Ok(guid) = uuid::Uuid::parse_str(s)
            && s.len() == 36
        {
            return Some(RecordId(guid.hyphenated().to_string()));
        }
        let salesforce = matches!(s.len(), 15 | 18) && s.chars().all(|c| c.is_ascii_alphanumeric());
        salesforce.then(|| RecordId(s.to_owned()))
    }

    /// Parsed for one CRM: Dataverse ids are GUIDs, Salesforce's are not.
    pub fn parse_for(kind: CrmKind, s: &str) -> Option<RecordId> {
        let id = RecordId::parse(s)?;
        let guid = id.0.len() == 36;
        match kind {
            CrmKind::Dynamics if guid => Some(id),
            CrmKind::Salesforce if !guid => Some(id),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RecordId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        RecordId::parse(&s).ok_or_else(|| "not a CRM record id".to_owned())
    }
}

impl From<RecordId> for String {
    fn from(id: RecordId) -> String {
        id.0
    }
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which record, in which CRM: what a card's button, a request and a
/// provisioning step carry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordRef {
    pub crm: CrmKind,
    pub record_type: RecordType,
    pub id: RecordId,
}

/// One labelled value of a record, as a card shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub label: String,
    pub value: String,
}

/// A CRM record, whichever CRM and type: what a card shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub crm: CrmKind,
    pub record_type: RecordType,
    pub id: RecordId,
    /// The account's, contact's or opportunity's name.
    pub title: String,
    /// A line under it: the account's city, the contact's job title and
    /// company, the opportunity's account and stage.
    #[serde(default)]
    pub subtitle: String,
    /// Key fields (amount, close date, email…), with labels, in order.
    #[serde(default)]
    pub fields: Vec<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The record in the CRM's own UI.
    pub url: String,
}

impl Record {
    pub fn reference(&self) -> RecordRef {
        RecordRef {
            crm: self.crm,
            record_type: self.record_type,
            id: self.id.clone(),
        }
    }
}

/// What a user typed into the search box, checked once: trimmed, at most
/// [`MAX_SEARCH_CHARS`], no control characters. Each connector escapes it
/// for its own query language.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SearchText(String);

/// Why a search text is refused (before any CRM is asked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextRefused {
    #[error("the search text is longer than {MAX_SEARCH_CHARS} characters")]
    TooLong,
    #[error("the search text holds control characters")]
    Control,
}

impl SearchText {
    /// Checks without reading past the limit: an attacker-sized text costs
    /// no more than a long-enough one.
    pub fn parse(raw: &str) -> Result<SearchText, TextRefused> {
        let text = raw.trim();
        if text.chars().take(MAX_SEARCH_CHARS + 1).count() > MAX_SEARCH_CHARS {
            return Err(TextRefused::TooLong);
        }
        if text.chars().any(char::is_control) {
            return Err(TextRefused::Control);
        }
        Ok(SearchText(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An empty box: the connector lists recent records instead.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Which page Teams asked for (`queryOptions.skip`/`count`), and the
/// CRM's own marker for it when an earlier page left one (an
/// `@odata.nextLink`, a `nextRecordsUrl`), so the page costs one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub skip: usize,
    /// 1..=[`MAX_PAGE`].
    pub count: usize,
    pub continuation: Option<String>,
}

/// One page of records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub records: Vec<Record>,
    /// The CRM's marker for the page after this one (used verbatim), when
    /// there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Who is searching: with a connection that acts as each user (Dataverse's
/// `CallerObjectId`), their Entra object id; results are then cached per
/// user.
#[derive(Clone, Copy, Debug, Default)]
pub struct Viewer<'a> {
    pub aad_object_id: Option<&'a str>,
}

/// The team to record on a record's side.
#[derive(Clone, Debug)]
pub struct TeamLink<'a> {
    pub display_name: &'a str,
    /// The team in Teams (its deep link).
    pub web_url: &'a str,
}

/// How a team is recorded on the record's side: a note on the record
/// (every CRM allows one), a URL field the admin names, or nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "field")]
pub enum WriteBack {
    #[default]
    Note,
    /// The field's logical name (Dataverse) or API name (Salesforce).
    Field(String),
    Off,
}

/// What went wrong, as the user's card and the admin's finding need it.
#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    /// The stored credential no longer works (revoked, expired, secret
    /// rotated on the CRM's side): the user is told to ask their admin,
    /// the admin gets a finding; never retried.
    #[error("the CRM connection's credential is no longer accepted: {0}")]
    Revoked(String),
    /// The CRM answers but our app is not set up in it (Dataverse's
    /// application user is missing, the API is not enabled for the org).
    #[error("the CRM is not set up for SalesTim: {0}")]
    NotSetUp(String),
    /// The CRM's limit is reached (Dataverse's service protection beyond
    /// the wait we accept, Salesforce's daily `REQUEST_LIMIT_EXCEEDED`):
    /// a clear message, no retry storm.
    #[error("the CRM's request limit is reached: {message}")]
    Limited {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The CRM refused the request itself (a field the admin named does
    /// not exist, say).
    #[error("the CRM refused the request: {0}")]
    Refused(String),
    /// No answer, or a failure of the CRM worth trying again later.
    #[error("the CRM is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl CrmError {
    /// A token endpoint's refusal: a bad or revoked grant is for the admin;
    /// a failing endpoint is worth another try later.
    pub fn from_token(e: TokenError) -> CrmError {
        if e.transient {
            CrmError::Unavailable(format!("token endpoint: {e}"))
        } else {
            CrmError::Revoked(e.to_string())
        }
    }

    /// The admin must act (the user's card says "ask your admin").
    pub fn needs_admin(&self) -> bool {
        matches!(self, CrmError::Revoked(_) | CrmError::NotSetUp(_))
    }
}

/// One CRM, as a tenant's connection reaches it.
#[async_trait]
pub trait Connector: Send + Sync {
    fn kind(&self) -> CrmKind;

    /// Whether what a search finds depends on who searches (so results
    /// are cached per user).
    fn per_user(&self) -> bool;

    /// Records whose name matches `text` across [`RecordType::ALL`]; an
    /// empty text lists recently changed records.
    async fn search(
        &self,
        viewer: Viewer<'_>,
        text: &SearchText,
        page: &PageRequest,
    ) -> Result<Page, CrmError>;

    /// One record; `None` when the CRM has no such record (or the viewer
    /// may not see it).
    async fn record(
        &self,
        viewer: Viewer<'_>,
        record_type: RecordType,
        id: &RecordId,
    ) -> Result<Option<Record>, CrmError>;

    /// Records the team on the record's side as `how` says; what was
    /// written, for the provisioning log.
    async fn link_team(
        &self,
        record: &RecordRef,
        team: &TeamLink<'_>,
        how: &WriteBack,
    ) -> Result<String, CrmError>;

    /// Checks the connection end to end (a token, one small read); who
    /// the CRM says we are.
    async fn check(&self) -> Result<String, CrmError>;

    /// The record a URL of this connection's org points to.
    fn parse_link(&self, url: &Url) -> Option<(RecordType, RecordId)>;
}

/// Our Entra ID app, as Dataverse's client credentials use it by default
/// (the same multi-tenant app Graph uses, consented in the customer's
/// tenant and added as an application user to their environment).
#[derive(Clone)]
pub struct EntraApp {
    pub client_id: String,
    pub client_secret: SecretString,
}

/// Our Salesforce connected app (a multi-org SaaS has one): the web-server
/// flow's client.
#[derive(Clone)]
pub struct SalesforceApp {
    pub client_id: String,
    pub client_secret: SecretString,
    /// `https://login.salesforce.com` unless the org signs in elsewhere
    /// (a sandbox's `https://test.salesforce.com`, a My Domain).
    pub login_url: Url,
    /// Where Salesforce sends the admin back with the code (our
    /// `/api/crm/salesforce/callback`).
    pub redirect_uri: Url,
}

/// What the CRM calls cost (figures for benches and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrmStats {
    /// HTTP requests to a CRM's API, retries included (token requests
    /// excluded).
    pub requests: u64,
    /// Token requests (client credentials, refresh grants).
    pub tokens: u64,
    /// Answers that said "slow down".
    pub throttled: u64,
}

#[derive(Default)]
pub struct Counters {
    requests: AtomicU64,
    tokens: AtomicU64,
    throttled: AtomicU64,
}

impl Counters {
    pub fn stats(&self) -> CrmStats {
        CrmStats {
            requests: self.requests.load(Ordering::Relaxed),
            tokens: self.tokens.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }

    pub fn token_fetched(&self) {
        self.tokens.fetch_add(1, Ordering::Relaxed);
    }
}

impl Observer for Counters {
    fn sent(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    fn throttled(&self, _retry_after: Option<Duration>) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }
}

/// What every connector shares: built once by the app.
#[derive(Clone)]
pub struct Shared {
    pub http: reqwest::Client,
    pub tokens: Arc<TokenCache>,
    pub counters: Arc<Counters>,
    /// Dataverse: where client-credential tokens are asked for
    /// (`CRM_AUTHORITY_HOST`, e.g. `https://login.microsoftonline.com`),
    /// for our app and a customer's own app registration alike: a
    /// deployment in another cloud has no Entra app of its own to take it
    /// from.
    pub authority_host: Url,
    /// Dataverse: our Entra app (when the deployment has one).
    pub entra: Option<EntraApp>,
    /// Salesforce: our connected app (when the deployment has one).
    pub salesforce: Option<SalesforceApp>,
    /// Attempts and waits for CRM calls; a `Retry-After` beyond its cap is
    /// a [`CrmError::Limited`], not a wait.
    pub retry: RetryPolicy,
}

impl Shared {
    pub fn stats(&self) -> CrmStats {
        self.counters.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_take_either_crms_shape_and_nothing_else() {
        let guid = "3F2504E0-4F89-11D3-9A0C-0305E82C3301";
        assert_eq!(
            RecordId::parse(guid).unwrap().as_str(),
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
        );
        assert!(RecordId::parse(&format!("{{{guid}}}")).is_some());
        assert!(RecordId::parse("0065g00000ABCdeAAA").is_some());
        assert!(RecordId::parse("0015g00000ABCde").is_some());
        for bad in [
            "",
            "0065g00000ABCde'",
            "../accounts",
            "0065g00000ABCdeAA",
            "a b",
        ] {
            assert!(RecordId::parse(bad).is_none(), "{bad}");
        }
        assert!(RecordId::parse_for(CrmKind::Salesforce, guid).is_none());
        assert!(RecordId::parse_for(CrmKind::Dynamics, "0065g00000ABCdeAAA").is_none());
    }

    #[test]
    fn search_text_is_bounded_and_plain() {
        assert_eq!(SearchText::parse("  acme  ").unwrap().as_str(), "acme");
        assert!(SearchText::parse(&"x".repeat(MAX_SEARCH_CHARS)).is_ok());
        assert_eq!(
            SearchText::parse(&"x".repeat(MAX_SEARCH_CHARS + 1)),
            Err(TextRefused::TooLong)
        );
        assert_eq!(SearchText::parse("a\u{0}b"), Err(TextRefused::Control));
        // Quotes and reserved characters are allowed: they are escaped by
        // each connector, not refused.
        assert!(SearchText::parse("O'Brien & {Sons}*").is_ok());
    }
}
