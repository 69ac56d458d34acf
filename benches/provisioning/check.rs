//! Whether the stand-in's tenant holds exactly the teams asked for, each
//! complete as the "project" template says: name and mail name, owners and
//! members, the three channels (one private), both tabs, the app, the
//! picture, guests off.

use std::collections::BTreeSet;

use salestim::governance::naming::mail_nickname;

use crate::graph::{TeamSnapshot, WEBSITE_TAB_APP};
use crate::{CRM_APP, DESCRIPTION, MEMBER, OWNER, REQUESTER, TYPED_MEMBER};

/// Every way `team` differs from what the template makes.
fn team_problems(team: &TeamSnapshot) -> Vec<String> {
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    let name = &team.display_name;
    expect(team.is_team, "is a group without a team".into());
    expect(
        team.mail_nickname == mail_nickname(name),
        format!("mail name {:?}", team.mail_nickname),
    );
    expect(
        team.description == DESCRIPTION,
        format!("description {:?}", team.description),
    );
    expect(
        team.visibility == "Private",
        format!("visibility {}", team.visibility),
    );
    let owners: BTreeSet<&str> = team.owners.iter().map(String::as_str).collect();
    expect(
        owners == BTreeSet::from([REQUESTER, OWNER]),
        format!("owners {owners:?}"),
    );
    let members: BTreeSet<&str> = team.members.iter().map(String::as_str).collect();
    expect(
        members == BTreeSet::from([REQUESTER, OWNER, MEMBER, TYPED_MEMBER]),
        format!("members {members:?}"),
    );
    let channel = |n: &str| team.channels.iter().find(|c| c.display_name == n);
    expect(
        team.channels.len() == 3,
        format!("{} channels", team.channels.len()),
    );
    for (n, kind, description) in [
        ("General", "standard", ""),
        ("Planning", "standard", "Plans and milestones"),
        ("Leadership", "private", ""),
    ] {
        expect(
            channel(n).is_some_and(|c| c.membership_type == kind && c.description == description),
            format!(
                "channel {n} ({kind}, {description:?}): {:?}",
                channel(n).map(|c| (&c.membership_type, &c.description))
            ),
        );
    }
    for (c, tab, url) in [
        ("General", "Wiki", "https://wiki.contoso.test/projects"),
        ("Planning", "Board", "https://board.contoso.test/"),
    ] {
        let tabs = channel(c).map(|c| c.tabs.clone()).unwrap_or_default();
        expect(
            tabs.len() == 1 && tabs[0] == (tab.into(), url.into(), WEBSITE_TAB_APP.into()),
            format!("tabs of {c}: {tabs:?}"),
        );
    }
    let crm = team.installed_apps.iter().filter(|a| *a == CRM_APP).count();
    expect(crm == 1, format!("apps {:?}", team.installed_apps));
    expect(
        team.photo.as_ref().is_some_and(|p| p.0 == "image/png"),
        format!("photo {:?}", team.photo),
    );
    expect(
        team.allow_guests == Some(false),
        format!("guests {:?}", team.allow_guests),
    );
    problems
}

/// Everything wrong with the tenant's groups, given the team names asked for.
pub fn problems(teams: &[TeamSnapshot], wanted: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for team in teams {
        let name = &team.display_name;
        if !wanted.contains(name) {
            problems.push(format!("unexpected group {name:?}"));
        }
        if !seen.insert(name.clone()) {
            problems.push(format!("{name:?} exists twice"));
        }
        problems.extend(
            team_problems(team)
                .into_iter()
                .map(|p| format!("{name:?}: {p}")),
        );
    }
    problems.extend(
        wanted
            .difference(&seen)
            .map(|name| format!("{name:?}: no such team on Graph")),
    );
    problems
}
