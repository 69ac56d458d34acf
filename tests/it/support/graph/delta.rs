//! Delta queries on the stand-in: `/groups/delta` and `/users/delta`.
//! (`directory.rs` has the changes tests make between rounds.)
//!
//! Every change to the directory is written to the tenant's [`Journal`];
//! a token is a position in it. A first round (no token) lists every
//! object with its `members@delta`/`owners@delta` in full; a round from a
//! `@odata.deltaLink` lists the objects the journal says changed since its
//! position, and only when a tracked (`$select`ed) property or link did,
//! with the links' net changes (`@removed` on those that went) and
//! `@removed` (`changed` or `deleted`) for deleted objects. As on Graph:
//! `$select` is given on the first request only and carried in the
//! tokens, which are opaque (base64 of the position, the round's end, the
//! offset and the selection); `$deltatoken=latest` answers a deltaLink and
//! no data; the page size is the stand-in's; a group with many links is
//! sent as several objects, each with a slice of them; a round can start
//! with empty pages. A tenant's tokens can be expired
//! (`GraphStandIn::expire_delta_tokens`): then they are answered `410
//! Gone` with a `Location` to start again from, or `400` with the code
//! `syncStateNotFound`.

use std::collections::{BTreeSet, HashMap};

use base64::Engine;
use serde_json::{Value, json};

use super::{Group, Reply, Req, State, Tenant, User};

/// How a tenant's old delta tokens are answered once expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeltaExpiry {
    /// `410 Gone` with a `Location` (Graph's "synchronization reset").
    Gone,
    /// `400` with the code `syncStateNotFound` (a token past its 7 days).
    SyncStateNotFound,
}

/// The stand-in's delta settings (all tenants).
pub(super) struct Settings {
    /// Empty pages a round starts with.
    pub(super) empty_pages: usize,
    /// Most links (members and owners together) one object carries; a
    /// group with more is sent as several objects.
    pub(super) link_chunk: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            empty_pages: 0,
            link_chunk: 1000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Groups,
    Users,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Groups => "groups",
            Kind::Users => "users",
        }
    }
}

enum What {
    Created,
    Props(Vec<&'static str>),
    Link {
        relation: &'static str,
        user: String,
        removed: bool,
    },
    Removed(&'static str),
}

struct Entry {
    kind: Kind,
    id: String,
    what: What,
}

/// A tenant's directory changes, in order.
#[derive(Default)]
pub(super) struct Journal {
    entries: Vec<Entry>,
    /// Tokens of an older epoch are expired.
    epoch: u32,
    expiry: Option<DeltaExpiry>,
}

impl Journal {
    fn push(&mut self, kind: Kind, id: &str, what: What) {
        self.entries.push(Entry {
            kind,
            id: id.to_owned(),
            what,
        });
    }

    pub(super) fn group_created(&mut self, id: &str) {
        self.push(Kind::Groups, id, What::Created);
    }

    pub(super) fn group_changed(&mut self, id: &str, props: &[&'static str]) {
        self.push(Kind::Groups, id, What::Props(props.to_vec()));
    }

    pub(super) fn link(&mut self, group: &str, relation: &'static str, user: &str, removed: bool) {
        let what = What::Link {
            relation,
            user: user.to_owned(),
            removed,
        };
        self.push(Kind::Groups, group, what);
    }

    pub(super) fn user_created(&mut self, id: &str) {
        self.push(Kind::Users, id, What::Created);
    }

    /// `reason`: `changed` (restorable) or `deleted`.
    pub(super) fn group_removed(&mut self, id: &str, reason: &'static str) {
        self.push(Kind::Groups, id, What::Removed(reason));
    }

    /// Every token handed out so far stops working, answered as `how` says.
    pub(super) fn expire(&mut self, how: DeltaExpiry) {
        self.epoch += 1;
        self.expiry = Some(how);
    }
}

// ---------------------------------------------------------------- tokens

/// Where a round stands. A deltaLink's token has no `to` (the round's end
/// is fixed when it is first used); a nextLink's has.
#[derive(Clone, Debug, PartialEq)]
struct Cursor {
    tenant: String,
    kind: Kind,
    epoch: u32,
    /// Journal position the round reports changes from; `None`: a first
    /// round (everything).
    from: Option<usize>,
    /// Journal position the round reports changes up to.
    to: usize,
    /// Objects already sent in this round.
    offset: usize,
    empty_left: usize,
    select: String,
}

impl Cursor {
    fn encode(&self) -> String {
        let from = self.from.map_or("-".to_owned(), |f| f.to_string());
        let kind = match self.kind {
            Kind::Groups => "g",
            Kind::Users => "u",
        };
        let raw = format!(
            "st1|{}|{kind}|{}|{from}|{}|{}|{}|{}",
            self.tenant, self.epoch, self.to, self.offset, self.empty_left, self.select
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    fn decode(token: &str) -> Option<Cursor> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let parts: Vec<&str> = raw.splitn(9, '|').collect();
        let [
            "st1",
            tenant,
            kind,
            epoch,
            from,
            to,
            offset,
            empty_left,
            select,
        ] = parts[..]
        else {
            return None;
        };
        Some(Cursor {
            tenant: tenant.to_owned(),
            kind: match kind {
                "g" => Kind::Groups,
                "u" => Kind::Users,
                _ => return None,
            },
            epoch: epoch.parse().ok()?,
            from: match from {
                "-" => None,
                f => Some(f.parse().ok()?),
            },
            to: to.parse().ok()?,
            offset: offset.parse().ok()?,
            empty_left: empty_left.parse().ok()?,
            select: select.to_owned(),
        })
    }

    fn selects(&self, name: &str) -> bool {
        self.select.is_empty() || self.select.split(',').any(|s| s.trim() == name)
    }
}

// ---------------------------------------------------------------- serving

/// `GET /groups/delta` or `/users/delta`, any page of a round.
pub(super) fn serve(st: &mut State, tenant: &str, req: &Req) -> Reply {
    let kind = if req.segments[0] == "users" {
        Kind::Users
    } else {
        Kind::Groups
    };
    let t = &st.tenants[tenant];
    let (end, epoch) = (t.journal.entries.len(), t.journal.epoch);
    let token = req
        .param("$skiptoken")
        .or_else(|| req.param("$deltatoken"))
        .filter(|t| !t.is_empty());
    let mut cursor = match token {
        Some("latest") => {
            let cursor = Cursor {
                tenant: tenant.to_owned(),
                kind,
                epoch,
                from: Some(end),
                to: end,
                offset: 0,
                empty_left: 0,
                select: req.param("$select").unwrap_or("").to_owned(),
            };
            let link = link(st, kind, "$deltatoken", &cursor);
            return Reply::json(200, json!({"value": [], "@odata.deltaLink": link}));
        }
        None => Cursor {
            tenant: tenant.to_owned(),
            kind,
            epoch,
            from: None,
            to: end,
            offset: 0,
            empty_left: st.delta.empty_pages,
            select: req.param("$select").unwrap_or("").to_owned(),
        },
        Some(token) => match Cursor::decode(token) {
            Some(c) if c.tenant == tenant && c.kind == kind => c,
            _ => return Reply::bad_request("The delta token is not valid."),
        },
    };
    if cursor.epoch != epoch {
        return expired(st, t.journal.expiry, kind);
    }
    if req.param("$deltatoken").is_some() {
        // A new round from a deltaLink: it reports up to now.
        cursor.to = end;
        cursor.empty_left = st.delta.empty_pages;
    }
    if cursor.empty_left > 0 {
        let next = Cursor {
            empty_left: cursor.empty_left - 1,
            ..cursor.clone()
        };
        let link = link(st, kind, "$skiptoken", &next);
        return Reply::json(200, json!({"value": [], "@odata.nextLink": link}));
    }
    let items = round_items(&st.tenants[tenant], &cursor, st.delta.link_chunk);
    let start = cursor.offset.min(items.len());
    let stop = (start + st.page_size).min(items.len());
    let mut body = json!({"value": items[start..stop].to_vec()});
    if stop < items.len() {
        let next = Cursor {
            offset: stop,
            ..cursor.clone()
        };
        body["@odata.nextLink"] = json!(link(st, kind, "$skiptoken", &next));
    } else {
        let next = Cursor {
            from: Some(cursor.to),
            offset: 0,
            empty_left: 0,
            ..cursor.clone()
        };
        body["@odata.deltaLink"] = json!(link(st, kind, "$deltatoken", &next));
    }
    Reply::json(200, body)
}

fn link(st: &State, kind: Kind, param: &str, cursor: &Cursor) -> String {
    format!(
        "{}/v1.0/{}/delta?{param}={}",
        st.origin,
        kind.path(),
        cursor.encode()
    )
}

fn expired(st: &State, how: Option<DeltaExpiry>, kind: Kind) -> Reply {
    match how.unwrap_or(DeltaExpiry::SyncStateNotFound) {
        DeltaExpiry::Gone => Reply::error(
            410,
            "resyncRequired",
            "The delta token is no longer valid; start a full synchronization.",
        )
        .with_header(
            "Location",
            format!("{}/v1.0/{}/delta?$deltatoken=", st.origin, kind.path()),
        ),
        DeltaExpiry::SyncStateNotFound => Reply::error(
            400,
            "syncStateNotFound",
            "The sync state generation is not found or has expired.",
        ),
    }
}

/// Every object of the round, in a stable order (so pages can be cut from
/// it by offset).
fn round_items(t: &Tenant, cursor: &Cursor, chunk: usize) -> Vec<Value> {
    match cursor.from {
        None => match cursor.kind {
            Kind::Groups => t
                .groups
                .iter()
                .flat_map(|g| group_items(g, cursor, all_links(g, cursor), chunk))
                .collect(),
            Kind::Users => t.users.values().map(|u| user_item(u, cursor)).collect(),
        },
        Some(from) => changes(t, cursor, from, chunk),
    }
}

/// What the journal says changed in `[from, cursor.to)`, one entry per
/// object (several for a group with many links).
fn changes(t: &Tenant, cursor: &Cursor, from: usize, chunk: usize) -> Vec<Value> {
    #[derive(Default)]
    struct Seen {
        created: bool,
        props: BTreeSet<&'static str>,
        /// (relation, user) -> removed, the last change wins.
        links: Vec<((&'static str, String), bool)>,
        removed: Option<&'static str>,
    }
    let mut order: Vec<&str> = Vec::new();
    let mut seen: HashMap<&str, Seen> = HashMap::new();
    let to = cursor.to.min(t.journal.entries.len());
    for entry in &t.journal.entries[from.min(to)..to] {
        if entry.kind != cursor.kind {
            continue;
        }
        let s = seen.entry(entry.id.as_str()).or_insert_with(|| {
            order.push(entry.id.as_str());
            Seen::default()
        });
        match &entry.what {
            What::Created => {
                s.created = true;
                s.removed = None;
            }
            What::Props(props) => s.props.extend(props.iter().copied()),
            What::Link {
                relation,
                user,
                removed,
            } => {
                let key = (*relation, user.clone());
                s.links.retain(|(k, _)| k != &key);
                s.links.push((key, *removed));
            }
            What::Removed(reason) => s.removed = Some(reason),
        }
    }
    let mut items = Vec::new();
    for id in order {
        let s = &seen[id];
        let removed = |reason: &str| json!({"id": id, "@removed": {"reason": reason}});
        if let Some(reason) = s.removed {
            items.push(removed(reason));
            continue;
        }
        match cursor.kind {
            Kind::Users => match t.users.get(id) {
                Some(u) if s.created || s.props.iter().any(|p| cursor.selects(p)) => {
                    items.push(user_item(u, cursor))
                }
                Some(_) => {}
                None => items.push(removed("deleted")),
            },
            Kind::Groups => {
                let Some(g) = t.groups.iter().find(|g| g.id == id) else {
                    items.push(removed("deleted"));
                    continue;
                };
                if s.created {
                    items.extend(group_items(g, cursor, all_links(g, cursor), chunk));
                    continue;
                }
                let links: Vec<(&str, String, bool)> = s
                    .links
                    .iter()
                    .filter(|((relation, _), _)| cursor.selects(relation))
                    .map(|((relation, user), removed)| (*relation, user.clone(), *removed))
                    .collect();
                if !links.is_empty() || s.props.iter().any(|p| cursor.selects(p)) {
                    items.extend(group_items(g, cursor, links, chunk));
                }
            }
        }
    }
    items
}

/// Every member and owner of `g`, as a first round lists them.
fn all_links(g: &Group, cursor: &Cursor) -> Vec<(&'static str, String, bool)> {
    let mut links = Vec::new();
    // Graph lists members@delta by default, owners only when selected.
    if cursor.selects("members") {
        links.extend(g.members.iter().map(|m| ("members", m.clone(), false)));
    }
    if !cursor.select.is_empty() && cursor.selects("owners") {
        links.extend(g.owners.iter().map(|o| ("owners", o.clone(), false)));
    }
    links
}

/// The group's selected properties, once per slice of `links`.
fn group_items(
    g: &Group,
    cursor: &Cursor,
    links: Vec<(&'static str, String, bool)>,
    chunk: usize,
) -> Vec<Value> {
    let object = selected(super::group_json(g), cursor);
    if links.is_empty() {
        return vec![object];
    }
    links
        .chunks(chunk)
        .map(|slice| {
            let mut item = object.clone();
            for (relation, user, removed) in slice {
                let mut link = json!({"@odata.type": "#microsoft.graph.user", "id": user});
                if *removed {
                    link["@removed"] = json!({"reason": "deleted"});
                }
                let key = format!("{relation}@delta");
                match item[&key].as_array_mut() {
                    Some(list) => list.push(link),
                    None => item[&key] = json!([link]),
                }
            }
            item
        })
        .collect()
}

fn user_item(u: &User, cursor: &Cursor) -> Value {
    selected(super::user_json(u), cursor)
}

/// Only the selected properties (and `id`), as `$select` gives them.
fn selected(mut value: Value, cursor: &Cursor) -> Value {
    if let Some(object) = value.as_object_mut()
        && !cursor.select.is_empty()
    {
        object.retain(|k, _| k == "id" || cursor.selects(k));
    }
    value
}
