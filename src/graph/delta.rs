//! Delta queries (`/groups/delta`, `/users/delta`): a round of pages that
//! ends in a `@odata.deltaLink`, kept to read only what changed next time.
//!
//! A [`DeltaWalk`] hands the caller one page at a time and keeps only the
//! next link, so a tenant of any size costs one page of memory. It follows
//! `@odata.nextLink` through empty pages (Graph sends some) until the
//! `@odata.deltaLink`. A token Graph no longer knows is not an error but an
//! outcome, [`Step::Expired`]: directory tokens live seven days, and Graph
//! asks for a full resync with `410 Gone` (plus a `Location` to start
//! again from) or a 4xx whose code is `syncStateNotFound`
//! (learn.microsoft.com/graph/delta-query-overview, "Synchronization
//! reset" and "Token duration"); either way the caller starts a full round.
//! Every page goes through [`Graph::get`], so throttling and tokens are the
//! outbound stack's business.
//!
//! The helpers below read what delta adds to an object: `@removed`
//! (`changed`: restorable for 30 days; `deleted`: gone) and the
//! `<relation>@delta` link lists (ids only, `@removed` on a link that
//! went). Both are parsed leniently: a sample of Graph's group
//! notifications writes `"@removed":"deleted"` as a plain string.

use serde_json::Value;

use super::{Graph, GraphError};
use crate::ids::TenantId;

/// A round gives up beyond this many pages (a loop over outside data is
/// bounded; Graph's directory pages hold 100 to 200 objects).
pub const MAX_PAGES: usize = 200_000;

/// Graph no longer knows the round's token: start a full round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired {
    pub status: u16,
    /// Graph's error code (`syncStateNotFound`, `resyncRequired`, ...).
    pub code: String,
}

/// What the next call of [`DeltaWalk::next`] gives.
#[derive(Debug)]
pub enum Step {
    /// One page of objects (possibly empty); more follow.
    Page(Vec<Value>),
    /// The round is over: the link to read the next changes from.
    Done { delta_link: String },
    /// The token expired: nothing of this round can be trusted.
    Expired(Expired),
}

enum State {
    Next(String),
    /// The last page was handed out; its deltaLink comes next.
    Finished(String),
    Over,
}

/// One round of a delta query, page by page.
pub struct DeltaWalk<'a> {
    graph: &'a Graph,
    tenant: &'a TenantId,
    state: State,
    pages: usize,
}

impl<'a> DeltaWalk<'a> {
    /// A round from `link`: the first request of a full round
    /// (`/groups/delta?$select=…`) or a kept `@odata.deltaLink`.
    pub fn start(graph: &'a Graph, tenant: &'a TenantId, link: impl Into<String>) -> Self {
        DeltaWalk {
            graph,
            tenant,
            state: State::Next(link.into()),
            pages: 0,
        }
    }

    /// Pages requested so far.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// The link of the next page to request, while there is one (`None`
    /// once the last page was handed out): where a round stopped between
    /// pages continues, as a nextLink stays valid as long as its round's
    /// token does.
    pub fn next_link(&self) -> Option<&str> {
        match &self.state {
            State::Next(link) => Some(link),
            State::Finished(_) | State::Over => None,
        }
    }

    /// The next page, or how the round ended. After `Done` or `Expired`
    /// the walk is over (asking again is an `Invalid` error).
    pub async fn next(&mut self) -> Result<Step, GraphError> {
        let link = match std::mem::replace(&mut self.state, State::Over) {
            State::Next(link) => link,
            State::Finished(delta_link) => return Ok(Step::Done { delta_link }),
            State::Over => return Err(GraphError::Invalid("a finished delta round".into())),
        };
        if self.pages >= MAX_PAGES {
            return Err(GraphError::Invalid(format!(
                "a delta round of more than {MAX_PAGES} pages"
            )));
        }
        self.pages += 1;
        let page = match self.graph.get(self.tenant, &link).await {
            Ok(page) => page,
            Err(e) => {
                return match expired(&e) {
                    Some(expired) => Ok(Step::Expired(expired)),
                    None => Err(e),
                };
            }
        };
        let (items, next) = read_page(page)?;
        self.state = next;
        Ok(Step::Page(items))
    }
}

/// A page's objects and what follows it.
fn read_page(mut page: Value) -> Result<(Vec<Value>, State), GraphError> {
    let items = match page.get_mut("value").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => return Err(GraphError::Decode("a delta page without `value`".into())),
    };
    let link = |name: &str| page[name].as_str().map(str::to_owned);
    let next = match (link("@odata.nextLink"), link("@odata.deltaLink")) {
        (Some(next), _) => State::Next(next),
        (None, Some(delta)) => State::Finished(delta),
        (None, None) => {
            return Err(GraphError::Decode(
                "a delta page with neither nextLink nor deltaLink".into(),
            ));
        }
    };
    Ok((items, next))
}

/// Whether `e` is Graph asking for a full resync.
pub fn expired(e: &GraphError) -> Option<Expired> {
    match e {
        GraphError::Http { status, code, .. }
            if *status == 410
                || code.eq_ignore_ascii_case("syncStateNotFound")
                || code.eq_ignore_ascii_case("resyncRequired") =>
        {
            Some(Expired {
                status: *status,
                code: code.clone(),
            })
        }
        _ => None,
    }
}

/// Why an object or a link was removed (`@removed.reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Soft-deleted: restorable (from `directory/deletedItems`).
    Changed,
    /// Deleted for good.
    Deleted,
}

/// `Some` when the object (or link) carries `@removed`; a reason other
/// than `changed` counts as gone for good.
pub fn removed(item: &Value) -> Option<Reason> {
    let removed = item.get("@removed")?;
    let reason = match removed {
        Value::String(s) => s.as_str(),
        other => other["reason"].as_str().unwrap_or_default(),
    };
    Some(if reason.eq_ignore_ascii_case("changed") {
        Reason::Changed
    } else {
        Reason::Deleted
    })
}

/// One entry of a `<relation>@delta` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Lower case, as the inventory compares object ids.
    pub id: String,
    pub removed: bool,
    /// A user (not a nested group, device or service principal); an entry
    /// without `@odata.type` is taken as a user.
    pub is_user: bool,
}

/// The entries of `<relation>@delta` (`members`, `owners`); empty when the
/// object has none (no change, or nobody).
pub fn links(item: &Value, relation: &str) -> Vec<Link> {
    item[format!("{relation}@delta")]
        .as_array()
        .map_or_else(Vec::new, |entries| {
            entries.iter().filter_map(link).collect()
        })
}

/// One directory object as a link: a `<relation>@delta` entry, or an item
/// of a `/groups/{id}/members` page. `None` without an id.
pub fn link(entry: &Value) -> Option<Link> {
    let id = entry["id"].as_str()?.to_ascii_lowercase();
    let is_user = entry["@odata.type"]
        .as_str()
        .is_none_or(|t| t.eq_ignore_ascii_case("#microsoft.graph.user"));
    Some(Link {
        id,
        removed: removed(entry).is_some(),
        is_user,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_page_says_what_follows_it() {
        let (items, next) = read_page(json!({"value": [{"id": "a"}],
            "@odata.nextLink": "https://g/v1.0/groups/delta?$skiptoken=x"}))
        .unwrap();
        assert_eq!(items.len(), 1);
        assert!(matches!(next, State::Next(l) if l.ends_with("$skiptoken=x")));
        let (items, next) = read_page(
            json!({"value": [], "@odata.deltaLink": "https://g/v1.0/groups/delta?$deltatoken=y"}),
        )
        .unwrap();
        assert!(items.is_empty());
        assert!(matches!(next, State::Finished(l) if l.ends_with("$deltatoken=y")));
        assert!(read_page(json!({"value": []})).is_err());
        assert!(read_page(json!({"@odata.deltaLink": "x"})).is_err());
    }

    #[test]
    fn gone_and_sync_state_not_found_ask_for_a_resync_other_errors_do_not() {
        let gone = GraphError::Http {
            status: 410,
            code: "resyncRequired".into(),
            message: String::new(),
        };
        assert_eq!(expired(&gone).unwrap().status, 410);
        let not_found = GraphError::Http {
            status: 400,
            code: "SyncStateNotFound".into(),
            message: String::new(),
        };
        assert_eq!(expired(&not_found).unwrap().code, "SyncStateNotFound");
        for other in [
            GraphError::Http {
                status: 400,
                code: "BadRequest".into(),
                message: String::new(),
            },
            GraphError::Throttled {
                status: 429,
                attempts: 6,
            },
        ] {
            assert!(expired(&other).is_none(), "{other}");
        }
    }

    #[test]
    fn removals_and_links_are_read_leniently() {
        assert_eq!(removed(&json!({"id": "a"})), None);
        assert_eq!(
            removed(&json!({"@removed": {"reason": "changed"}})),
            Some(Reason::Changed)
        );
        assert_eq!(
            removed(&json!({"@removed": {"reason": "deleted"}})),
            Some(Reason::Deleted)
        );
        assert_eq!(
            removed(&json!({"@removed": "deleted"})),
            Some(Reason::Deleted)
        );
        assert_eq!(removed(&json!({"@removed": {}})), Some(Reason::Deleted));
        let item = json!({"id": "g", "members@delta": [
            {"@odata.type": "#microsoft.graph.user", "id": "AA"},
            {"id": "bb", "@removed": {"reason": "deleted"}},
            {"@odata.type": "#microsoft.graph.group", "id": "cc"},
            {"@odata.type": "#microsoft.graph.user"}
        ]});
        let members = links(&item, "members");
        assert_eq!(
            members,
            vec![
                Link {
                    id: "aa".into(),
                    removed: false,
                    is_user: true
                },
                Link {
                    id: "bb".into(),
                    removed: true,
                    is_user: true
                },
                Link {
                    id: "cc".into(),
                    removed: false,
                    is_user: false
                },
            ]
        );
        assert!(links(&item, "owners").is_empty());
    }
}
