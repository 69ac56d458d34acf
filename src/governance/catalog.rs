//! The tenant's team catalog, as people search it from a messaging
//! extension: the teams in the inventory and the templates they can be
//! requested from. Matching is case-insensitive on name and description;
//! name matches come first, then description matches, each by name.

use futures::TryStreamExt;

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
    Team(Box<TeamRecord>),
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

/// Deepest result one search may page to (Teams pages 25 at a time; nobody
/// scrolls a catalog ten thousand entries deep). Keeps the ranking's memory
/// bounded however large the tenant.
pub const MAX_SKIP: usize = 10_000;

/// Ranks entries as they come and keeps only what the page can show: the
/// best `skip + count` by (rank, name), and how many matched in all.
struct Ranker {
    needle: String,
    keep: usize,
    kept: Vec<(u8, String, Entry)>,
    matched: usize,
}

impl Ranker {
    fn new(text: &str, skip: usize, count: usize) -> Self {
        let needle = text
            .trim()
            .chars()
            .take(MAX_SEARCH_CHARS)
            .collect::<String>()
            .to_lowercase();
        Ranker {
            needle,
            keep: skip.min(MAX_SKIP) + count.clamp(1, MAX_PAGE),
            kept: Vec::new(),
            matched: 0,
        }
    }

    fn offer(&mut self, e: Entry) {
        let name = e.name().to_lowercase();
        let rank = if self.needle.is_empty() || name.starts_with(&self.needle) {
            0
        } else if name.contains(&self.needle) {
            1
        } else if e.description().to_lowercase().contains(&self.needle) {
            2
        } else {
            return;
        };
        self.matched += 1;
        self.kept.push((rank, name, e));
        if self.kept.len() >= 2 * self.keep {
            self.cut();
        }
    }

    fn cut(&mut self) {
        self.kept.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        self.kept.truncate(self.keep);
    }

    fn page(mut self, skip: usize, count: usize) -> Page {
        self.cut();
        let count = count.clamp(1, MAX_PAGE);
        let skip = skip.min(MAX_SKIP);
        Page {
            more: self.matched > skip.saturating_add(count),
            entries: self
                .kept
                .into_iter()
                .skip(skip)
                .take(count)
                .map(|(_, _, e)| e)
                .collect(),
        }
    }
}

/// Ranks `entries` for `text` and cuts the page at `skip`/`count`.
pub fn rank(entries: Vec<Entry>, text: &str, skip: usize, count: usize) -> Page {
    let mut ranker = Ranker::new(text, skip, count);
    for e in entries {
        ranker.offer(e);
    }
    ranker.page(skip, count)
}

/// Searches the tenant's teams that `viewer` may see (every public team,
/// the private ones they own or belong to) and its active templates. The
/// teams are read page by page; memory holds one page and the best
/// `skip + count` matches.
pub async fn search(
    docs: &dyn Documents,
    tenant: &TenantId,
    viewer: Option<&str>,
    text: &str,
    skip: usize,
    count: usize,
) -> PlatformResult<Page> {
    let mut ranker = Ranker::new(text, skip, count);
    let mut all = std::pin::pin!(teams::all(docs, tenant));
    while let Some(team) = all.try_next().await? {
        if team.visible_to(viewer) {
            ranker.offer(Entry::Team(Box::new(team)));
        }
    }
    for t in templates::list_active(docs, tenant).await? {
        ranker.offer(Entry::Template(Box::new(t)));
    }
    Ok(ranker.page(skip, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::teams::Renewal;
    use crate::governance::templates::Template;

    fn team(name: &str, description: &str) -> Entry {
        Entry::Team(Box::new(TeamRecord {
            group_id: name.to_lowercase(),
            display_name: name.into(),
            description: description.into(),
            web_url: None,
            owners: vec![],
            template_id: None,
            expires_at: None,
            renewal_days: None,
            renewal: Renewal::Pending,
            visibility: crate::governance::teams::Visibility::Public,
            ..TeamRecord::default()
        }))
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
        let many: Vec<_> = (0..500).map(|i| team(&format!("T{i:03}"), "")).collect();
        let deep = rank(many, "t", 480, 25);
        assert_eq!(names(&deep).first(), Some(&"T480"));
        assert_eq!(deep.entries.len(), 20);
        assert_eq!(rank(all.clone(), "", 0, 1000).entries.len(), MAX_PAGE);
        assert_eq!(rank(all, "", usize::MAX, 0).entries.len(), 0);
    }
}
