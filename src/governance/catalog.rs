//! The tenant's team catalog, as people search it from a messaging
//! extension: the teams in the inventory and the templates they can be
//! requested from. Matching is case-insensitive on name and description;
//! name matches come first, then description matches, each by name.

use super::teams::{self, TeamRecord};
use super::templates::{self, StoredTemplate};
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::documents::Documents;

/// Longest search text considered; the rest is ignored.
pub const MAX_SEARCH_CHARS: usize = 100;
/// Most results one page may ask for (Teams shows about 25).
pub const MAX_PAGE: usize = 25;

#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    Team(TeamRecord),
    Template(Box<StoredTemplate>),
}

impl Entry {
    pub fn name(&self) -> &str {
        match self {
            Entry::Team(t) => &t.display_name,
            Entry::Template(t) => &t.template.name,
        }
    }

    pub fn description(&self) -> &str {
        match self {
            Entry::Team(t) => &t.description,
            Entry::Template(t) => &t.template.description,
        }
    }
}

/// One page of results and whether more follow.
#[derive(Debug, PartialEq)]
pub struct Page {
    pub entries: Vec<Entry>,
    pub more: bool,
}

/// Ranks `entries` for `text` and cuts the page at `skip`/`count`.
pub fn rank(entries: Vec<Entry>, text: &str, skip: usize, count: usize) -> Page {
    let needle: String = text
        .trim()
        .chars()
        .take(MAX_SEARCH_CHARS)
        .collect::<String>()
        .to_lowercase();
    let mut ranked: Vec<(u8, String, Entry)> = entries
        .into_iter()
        .filter_map(|e| {
            let name = e.name().to_lowercase();
            let rank = if needle.is_empty() || name.starts_with(&needle) {
                0
            } else if name.contains(&needle) {
                1
            } else if e.description().to_lowercase().contains(&needle) {
                2
            } else {
                return None;
            };
            Some((rank, name, e))
        })
        .collect();
    ranked.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let count = count.clamp(1, MAX_PAGE);
    let more = ranked.len() > skip.saturating_add(count);
    Page {
        entries: ranked
            .into_iter()
            .skip(skip)
            .take(count)
            .map(|(_, _, e)| e)
            .collect(),
        more,
    }
}

/// Searches the tenant's teams and active templates.
pub async fn search(
    docs: &dyn Documents,
    tenant: &TenantId,
    text: &str,
    skip: usize,
    count: usize,
) -> PlatformResult<Page> {
    let mut entries: Vec<Entry> = teams::list(docs, tenant)
        .await?
        .into_iter()
        .map(Entry::Team)
        .collect();
    entries.extend(
        templates::list_active(docs, tenant)
            .await?
            .into_iter()
            .map(|t| Entry::Template(Box::new(t))),
    );
    Ok(rank(entries, text, skip, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::teams::Renewal;
    use crate::governance::templates::Template;

    fn team(name: &str, description: &str) -> Entry {
        Entry::Team(TeamRecord {
            group_id: name.to_lowercase(),
            display_name: name.into(),
            description: description.into(),
            web_url: None,
            owners: vec![],
            template_id: None,
            expires_at: None,
            renewal_days: None,
            renewal: Renewal::Pending,
        })
    }

    fn template(name: &str) -> Entry {
        Entry::Template(Box::new(StoredTemplate {
            id: name.to_lowercase(),
            template: Template {
                name: name.into(),
                version: 1,
                active: true,
                ..Template::default()
            },
        }))
    }

    fn names(page: &Page) -> Vec<&str> {
        page.entries.iter().map(Entry::name).collect()
    }

    #[test]
    fn prefix_matches_come_before_inner_and_description_matches() {
        let all = vec![
            team("Sales EMEA", ""),
            team("Falcon", "sales pipeline review"),
            team("Inside sales", ""),
            template("Sales project"),
            team("Marketing", ""),
        ];
        let page = rank(all, "  SALES ", 0, 10);
        assert_eq!(
            names(&page),
            ["Sales EMEA", "Sales project", "Inside sales", "Falcon"]
        );
        assert!(!page.more);
    }

    #[test]
    fn pages_follow_skip_and_count_and_say_when_more_follow() {
        let all: Vec<_> = (0..30).map(|i| team(&format!("Team {i:02}"), "")).collect();
        let first = rank(all.clone(), "", 0, 10);
        assert_eq!(names(&first)[0], "Team 00");
        assert!(first.more);
        let last = rank(all.clone(), "", 20, 10);
        assert_eq!(
            names(&last),
            (20..30).map(|i| format!("Team {i}")).collect::<Vec<_>>()
        );
        assert!(!last.more);
        assert!(rank(all.clone(), "", 40, 10).entries.is_empty());
        assert_eq!(rank(all.clone(), "", 0, 1000).entries.len(), MAX_PAGE);
        assert_eq!(rank(all, "", usize::MAX, 0).entries.len(), 0);
    }
}
