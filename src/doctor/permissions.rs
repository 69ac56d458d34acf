//! Which Microsoft Graph application permissions each feature needs, from
//! the calls the code makes (`src/graph`, `src/governance`, `src/tabs`)
//! and the permission table of each API's Graph documentation page: the
//! least privileged permission first, then the higher ones the page also
//! accepts (several accept `Group.ReadWrite.All` or `Directory.*` "for
//! backward compatibility"). A token satisfies a need when its `roles`
//! hold any of them; a missing need is named by its least privileged
//! permission. Not tried against a live tenant here.
//!
//! App-only tokens carry the granted application permissions in their
//! `roles` claim. Microsoft does not promise that its tokens stay readable
//! JWTs: a token that does not decode is reported, not guessed at.

use std::collections::BTreeSet;

use base64::Engine;
use serde_json::Value;

use crate::config::Settings;

/// One thing a feature does, and the permissions that allow it.
pub struct Need {
    pub what: &'static str,
    /// The least privileged first.
    pub any_of: &'static [&'static str],
}

pub struct Feature {
    pub name: &'static str,
    pub needs: &'static [Need],
    /// Whether the settings turn it on.
    pub enabled: fn(&Settings) -> bool,
}

const GROUP_WRITE: &[&str] = &["Group.ReadWrite.All", "Directory.ReadWrite.All"];
const GROUP_READ: &[&str] = &[
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const MEMBERS_READ: &[&str] = &[
    "GroupMember.Read.All",
    "Group.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const USERS_READ: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

fn always(_: &Settings) -> bool {
    true
}

/// The one table: feature → the Graph permissions it needs.
pub const FEATURES: &[Feature] = &[
    Feature {
        name: "provisioning",
        enabled: always,
        needs: &[
            Need {
                what: "create the group, its settings and picture (POST /groups, /groups/{id}/settings, photo)",
                any_of: GROUP_WRITE,
            },
            Need {
                what: "make the team from the group (POST /teams)",
                any_of: &[
                    "Team.Create",
                    "Teamwork.Migrate.All",
                    "Group.ReadWrite.All",
                    "Directory.ReadWrite.All",
                ],
            },
            Need {
                what: "add members and owners (POST /teams/{id}/members/add)",
                any_of: &["TeamMember.ReadWrite.All"],
            },
            Need {
                what: "create channels (POST /teams/{id}/channels)",
                any_of: &[
                    "Channel.Create",
                    "Teamwork.Migrate.All",
                    "Group.ReadWrite.All",
                    "Directory.ReadWrite.All",
                ],
            },
            Need {
                what: "install apps (POST /teams/{id}/installedApps)",
                any_of: &[
                    "TeamsAppInstallation.ReadWriteForTeam.All",
                    "TeamsAppInstallation.ReadWriteAndConsentForTeam.All",
                ],
            },
            Need {
                what: "add website tabs (POST /teams/{id}/channels/{id}/tabs)",
                any_of: &[
                    "TeamsTab.Create",
                    "TeamsTab.ReadWrite.All",
                    "Group.ReadWrite.All",
                    "Directory.ReadWrite.All",
                ],
            },
            Need {
                what: "read the requester and the people named (GET /users/{id})",
                any_of: USERS_READ,
            },
        ],
    },
    Feature {
        name: "requests",
        enabled: always,
        needs: &[Need {
            what: "requester attributes and manager (GET /users/{id}, /users/{id}/manager)",
            any_of: USERS_READ,
        }],
    },
    Feature {
        name: "tab access by group",
        enabled: always,
        needs: &[Need {
            what: "group roles in the tabs (POST /users/{id}/checkMemberGroups)",
            any_of: MEMBERS_READ,
        }],
    },
    Feature {
        name: "inventory sync",
        enabled: always,
        needs: &[
            Need {
                what: "groups and their owners and members (GET /groups/delta, /groups/{id}/members)",
                any_of: GROUP_READ,
            },
            Need {
                what: "users and guests (GET /users/delta)",
                any_of: USERS_READ,
            },
        ],
    },
    Feature {
        name: "activity report",
        enabled: always,
        needs: &[Need {
            what: "team activity (GET /reports/getTeamsTeamActivityDetail)",
            any_of: &["Reports.Read.All"],
        }],
    },
    Feature {
        name: "lifecycle actions",
        enabled: always,
        needs: &[
            Need {
                what: "archive and unarchive (POST /teams/{id}/archive)",
                any_of: &[
                    "TeamSettings.ReadWrite.All",
                    "Group.ReadWrite.All",
                    "Directory.ReadWrite.All",
                ],
            },
            Need {
                what: "delete, restore, renew, owners and members (/groups, /directory/deletedItems)",
                any_of: GROUP_WRITE,
            },
            Need {
                what: "the tenant's expiry policy (GET /groupLifecyclePolicies)",
                any_of: &["Directory.Read.All", "Directory.ReadWrite.All"],
            },
        ],
    },
    Feature {
        name: "change notifications",
        enabled: |s| s.public_hostname.is_some(),
        needs: &[Need {
            what: "the tenant-wide /groups subscription (POST /subscriptions)",
            any_of: GROUP_READ,
        }],
    },
];

/// What each enabled feature lacks: (feature, least privileged permissions
/// missing), features lacking nothing left out.
pub fn missing(
    settings: &Settings,
    roles: &BTreeSet<String>,
) -> Vec<(&'static str, Vec<&'static str>)> {
    FEATURES
        .iter()
        .filter(|f| (f.enabled)(settings))
        .filter_map(|f| {
            let mut lacking: Vec<&'static str> = f
                .needs
                .iter()
                .filter(|n| !n.any_of.iter().any(|p| roles.contains(*p)))
                .map(|n| n.any_of[0])
                .collect();
            lacking.dedup();
            (!lacking.is_empty()).then_some((f.name, lacking))
        })
        .collect()
}

/// The enabled features' names.
pub fn enabled(settings: &Settings) -> Vec<&'static str> {
    FEATURES
        .iter()
        .filter(|f| (f.enabled)(settings))
        .map(|f| f.name)
        .collect()
}

/// The `roles` claim of an access token, read without checking its
/// signature (it is our own token, fresh from Entra; only Graph verifies
/// it). `None` when the token is not a readable JWT.
pub fn roles_of(access_token: &str) -> Option<BTreeSet<String>> {
    let payload = access_token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    if !claims.is_object() {
        return None;
    }
    // Entra leaves the claim out when no application permission is granted.
    Some(
        claims["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunMode;

    fn settings(public_hostname: bool) -> Settings {
        let host = public_hostname.then(|| "app.example".to_owned());
        Settings::from_lookup(RunMode::Local, |k| {
            (k == "SALESTIM_PUBLIC_HOSTNAME")
                .then(|| host.clone())
                .flatten()
        })
        .unwrap()
    }

    fn roles(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn jwt(claims: &Value) -> String {
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            b64(br#"{"alg":"RS256","typ":"JWT"}"#),
            b64(claims.to_string().as_bytes())
        )
    }

    const GRANTED: &[&str] = &[
        "Group.ReadWrite.All",
        "Team.Create",
        "TeamMember.ReadWrite.All",
        "Channel.Create",
        "TeamsAppInstallation.ReadWriteForTeam.All",
        "TeamsTab.Create",
        "User.Read.All",
        "Reports.Read.All",
        "TeamSettings.ReadWrite.All",
        "Directory.Read.All",
    ];

    #[test]
    fn a_full_grant_lacks_nothing_and_a_missing_one_is_named_by_feature() {
        let s = settings(true);
        assert!(missing(&s, &roles(GRANTED)).is_empty());
        let fewer: Vec<&str> = GRANTED
            .iter()
            .copied()
            .filter(|p| !matches!(*p, "Reports.Read.All" | "TeamMember.ReadWrite.All"))
            .collect();
        assert_eq!(
            missing(&s, &roles(&fewer)),
            [
                ("provisioning", vec!["TeamMember.ReadWrite.All"]),
                ("activity report", vec!["Reports.Read.All"]),
            ]
        );
    }

    #[test]
    fn a_higher_permission_stands_in_for_the_least_one() {
        // Group.ReadWrite.All covers Group.Read.All and GroupMember.Read.All.
        let s = settings(true);
        let lacking = missing(&s, &roles(&["Group.ReadWrite.All"]));
        assert!(
            lacking
                .iter()
                .all(|(_, perms)| !perms.contains(&"Group.Read.All")
                    && !perms.contains(&"GroupMember.Read.All")),
            "{lacking:?}"
        );
        assert!(!lacking.iter().any(|(f, _)| *f == "tab access by group"));
    }

    #[test]
    fn change_notifications_need_the_public_host() {
        assert!(enabled(&settings(true)).contains(&"change notifications"));
        assert!(!enabled(&settings(false)).contains(&"change notifications"));
        let lacking = missing(&settings(false), &roles(&[]));
        assert!(!lacking.iter().any(|(f, _)| *f == "change notifications"));
    }

    #[test]
    fn roles_are_read_from_the_token() {
        let token = jwt(&serde_json::json!({"tid": "t", "roles": ["A.Read", "B.Write"]}));
        assert_eq!(roles_of(&token), Some(roles(&["A.Read", "B.Write"])));
        let none = jwt(&serde_json::json!({"tid": "t"}));
        assert_eq!(roles_of(&none), Some(BTreeSet::new()));
        assert_eq!(roles_of("opaque-token"), None);
        assert_eq!(roles_of("a.!!!.c"), None);
    }
}
