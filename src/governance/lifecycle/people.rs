//! Who is who in a tenant, as far as the inventory needs: a name for the
//! owners it shows and whether a member is a guest. Delta gives a team's
//! people as ids only, so this comes from one `/users/delta` round per sync
//! (`$select=id,userType,displayName`), joined here: never a call per team.
//!
//! A full sync reads every user (an id, a name and a flag each: tens of
//! bytes a user, bounded by [`MAX_PEOPLE`]); an incremental one only those
//! that changed, and looks up in `$batch`es of twenty the few people a
//! change adds whom the round did not see.

use std::collections::HashMap;

use serde_json::Value;

use crate::graph::delta;
use crate::graph::{BatchRequest, Graph, GraphError, MAX_BATCH};
use crate::ids::TenantId;

/// What a users round selects.
pub const SELECT: &str = "id,userType,displayName";

/// A tenant with more users than this is refused loudly rather than read
/// into memory without end.
pub const MAX_PEOPLE: usize = 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub name: String,
    pub guest: bool,
}

impl Known {
    pub fn new(name: impl Into<String>, guest: bool) -> Known {
        Known {
            name: name.into(),
            guest,
        }
    }
}

/// People by lower-case object id.
#[derive(Debug, Default)]
pub struct People {
    known: HashMap<String, Known>,
    /// Users a users round reported (changed, new or gone): after an
    /// incremental round, the teams they are in are named and counted again.
    changed: Vec<String>,
}

impl People {
    pub fn get(&self, id: &str) -> Option<&Known> {
        self.known.get(id)
    }

    pub fn insert(&mut self, id: &str, known: Known) {
        self.known.insert(id.to_ascii_lowercase(), known);
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The users a users round reported.
    pub fn changed(&self) -> &[String] {
        &self.changed
    }

    /// Takes in one page of a users round; returns how many users it held.
    /// A user removed is known as nobody (no name, not a guest).
    pub fn read_page(&mut self, items: &[Value]) -> Result<usize, GraphError> {
        for item in items {
            let Some(id) = item["id"].as_str().map(str::to_ascii_lowercase) else {
                continue;
            };
            let known = if delta::removed(item).is_some() {
                Known::new("", false)
            } else {
                parse(item)
            };
            self.known.insert(id.clone(), known);
            self.changed.push(id);
            if self.known.len() > MAX_PEOPLE {
                return Err(GraphError::Invalid(format!(
                    "a directory of more than {MAX_PEOPLE} users"
                )));
            }
        }
        Ok(items.len())
    }

    /// Looks up (twenty per `$batch`) the users of `ids` not known yet; a
    /// user Graph does not find is known as nobody.
    pub async fn look_up<'a>(
        &mut self,
        graph: &Graph,
        tenant: &TenantId,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<usize, GraphError> {
        let mut missing: Vec<String> = ids
            .into_iter()
            .map(str::to_ascii_lowercase)
            .filter(|id| !self.known.contains_key(id))
            .collect();
        missing.sort();
        missing.dedup();
        for chunk in missing.chunks(MAX_BATCH) {
            let requests = chunk
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let path = format!("/users/{}?$select={SELECT}", urlencode(id));
                    BatchRequest::get(i.to_string(), path)
                })
                .collect();
            let answers = graph.batch(tenant, requests).await?;
            for (id, answer) in chunk.iter().zip(answers) {
                let known = match answer.error() {
                    None => parse(&answer.body),
                    Some(e) if e.is_not_found() => Known::new("", false),
                    Some(e) => return Err(e),
                };
                self.known.insert(id.clone(), known);
            }
        }
        Ok(missing.len())
    }
}

fn parse(user: &Value) -> Known {
    Known {
        name: user["displayName"].as_str().unwrap_or_default().to_owned(),
        guest: user["userType"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("Guest")),
    }
}

fn urlencode(id: &str) -> String {
    crate::http::encode_uri_component(id)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_users_page_names_people_and_tells_guests() {
        let mut people = People::default();
        let page = [
            json!({"id": "A", "displayName": "Ann", "userType": "Member"}),
            json!({"id": "g", "displayName": "Gus", "userType": "Guest"}),
            json!({"id": "x", "@removed": {"reason": "deleted"}}),
            json!({"displayName": "no id"}),
        ];
        assert_eq!(people.read_page(&page).unwrap(), 4);
        assert_eq!(people.get("a"), Some(&Known::new("Ann", false)));
        assert_eq!(people.get("g"), Some(&Known::new("Gus", true)));
        assert_eq!(people.get("x"), Some(&Known::new("", false)));
        assert_eq!(people.changed(), ["a", "g", "x"]);
        assert_eq!(people.len(), 3);
    }
}
