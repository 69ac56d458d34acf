//! Names, crowds and versions: two requests for the same name at once, a
//! name taken outside SalesTim while a job runs, a team of more people than
//! Graph binds when it creates a group, a template changed after the
//! request was made, and a picture too big to travel in a `$batch`.

use super::*;

/// Runs a job to its end, failing the test on a run that errs for good.
async fn run_to_end(w: &World, request: &str) -> Outcome {
    for _ in 0..10 {
        match run_once(w, request, None).await {
            Ok(outcome) => return outcome,
            Err(provisioning::ProvisionError::Transient(why)) => {
                eprintln!("transient, run again: {why}");
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the job did not end in 10 runs");
}

fn group_of(outcome: &Outcome) -> String {
    let Outcome::Provisioned(r) = outcome else {
        panic!("{outcome:?}")
    };
    r.outcome.as_ref().unwrap().group_id.clone().unwrap()
}

#[tokio::test]
async fn two_requests_for_the_same_name_at_once_make_two_teams() {
    let w = world().await;
    let first = approved_request(&w, "Falcon").await;
    let second = approved_request(&w, "Falcon").await;
    // Both jobs choose their name before either has made its group, so
    // Graph shows the name free to both.
    for r in [&first, &second] {
        let stopped = run_once(&w, &r.id, Some(1)).await;
        assert!(
            matches!(stopped, Err(provisioning::ProvisionError::Interrupted)),
            "{stopped:?}"
        );
    }
    let (a, b) = (
        run_to_end(&w, &first.id).await,
        run_to_end(&w, &second.id).await,
    );
    assert_ne!(group_of(&a), group_of(&b), "each request has its own team");
    let teams = w.graph.teams(w.tenant.as_str());
    let mut nicknames: Vec<&str> = teams.iter().map(|t| t.mail_nickname.as_str()).collect();
    nicknames.sort();
    assert_eq!(nicknames, ["PRJ-FalconFR", "PRJ-FalconFR-2"]);
    for team in &teams {
        // Every step ran once per team, not twice on one of them.
        assert_eq!(team.channels.len(), 3, "{:?}", team.channels);
        assert_eq!(
            team.installed_apps.iter().filter(|a| *a == CRM_APP).count(),
            1
        );
    }
}

#[tokio::test]
async fn a_name_taken_outside_salestim_meanwhile_is_not_adopted() {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    let stopped = run_once(&w, &request.id, Some(1)).await;
    assert!(matches!(
        stopped,
        Err(provisioning::ProvisionError::Interrupted)
    ));
    // Someone makes a group with the chosen mail name before the job goes on.
    let theirs = w
        .graph
        .add_group(w.tenant.as_str(), "Falcon fans", "PRJ-FalconFR");
    let outcome = run_to_end(&w, &request.id).await;
    let ours = group_of(&outcome);
    assert_ne!(ours, theirs);
    let teams = w.graph.teams(w.tenant.as_str());
    let other = teams.iter().find(|t| t.group_id == theirs).unwrap();
    assert!(!other.is_team && other.channels.is_empty() && other.members.is_empty());
    let team = teams.iter().find(|t| t.group_id == ours).unwrap();
    assert_eq!(team.mail_nickname, "PRJ-FalconFR-2");
    assert_eq!(team.display_name, "PRJ-Falcon (FR)");
}

#[tokio::test]
async fn a_team_of_more_people_than_graph_binds_at_creation_gets_them_all() {
    let w = world().await;
    let crowd: Vec<String> = (0..24)
        .map(|n| format!("00000000-0000-4000-8000-{n:012}"))
        .collect();
    for (n, id) in crowd.iter().enumerate() {
        w.graph.add_user(
            w.tenant.as_str(),
            id,
            &format!("Member {n}"),
            None,
            None,
            None,
        );
    }
    let template = Template {
        members: crowd
            .iter()
            .enumerate()
            .map(|(n, id)| Person::new(id, format!("Member {n}")))
            .collect(),
        ..project_template()
    };
    let request = approved_request_from(&w, "crowd", template, "Falcon").await;
    let outcome = run_to_end(&w, &request.id).await;
    let group = group_of(&outcome);
    let team = w
        .graph
        .teams(w.tenant.as_str())
        .into_iter()
        .find(|t| t.group_id == group)
        .unwrap();
    let mut owners = team.owners.clone();
    owners.sort();
    assert_eq!(owners, [BOB, DAVE]);
    for who in crowd.iter().map(String::as_str).chain([BOB, DAVE, CAROL]) {
        assert!(team.members.iter().any(|m| m == who), "{who} is a member");
    }
    assert_eq!(team.members.len(), 27, "{:?}", team.members);
}

#[tokio::test]
async fn a_template_changed_after_the_request_makes_the_team_the_request_was_made_against() {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    assert_eq!(request.template_version, 1);
    // The operator changes the template while the request waits.
    let changed = Template {
        approval: ApprovalRule::None,
        channels: vec![ChannelSpec {
            name: "Renamed".into(),
            description: String::new(),
            private: false,
        }],
        tabs: Vec::new(),
        ..project_template()
    };
    let saved = templates::save(w.bot.app.app.docs.as_ref(), &w.tenant, "open", &changed)
        .await
        .unwrap();
    assert_eq!(saved.version, 2);
    let outcome = run_to_end(&w, &request.id).await;
    let group = group_of(&outcome);
    let team = only_team(&w);
    assert_eq!(team.group_id, group);
    assert_project_team(&team);
    assert!(!team.channels.iter().any(|c| c.display_name == "Renamed"));
}

#[tokio::test]
async fn a_picture_too_big_for_a_batch_is_set_on_its_own() {
    let w = world().await;
    let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
    big.resize(1536 * 1024, 7);
    let icon = format!("{}/big", w.tenant);
    w.bot
        .app
        .app
        .blobs
        .put(ICON_CONTAINER, &icon, big.clone().into(), "image/png")
        .await
        .unwrap();
    let template = Template {
        icon: Some(icon),
        ..project_template()
    };
    let request = approved_request_from(&w, "big", template, "Falcon").await;
    w.graph.reset_counts();
    let outcome = run_to_end(&w, &request.id).await;
    group_of(&outcome);
    let team = only_team(&w);
    assert_eq!(team.photo, Some(("image/png".to_owned(), big.len())));
    let puts: Vec<bool> = w
        .graph
        .requests()
        .iter()
        .filter(|s| s.method == "PUT" && s.path.ends_with("/photo/$value"))
        .map(|s| s.batched)
        .collect();
    assert_eq!(puts, [false], "one PUT of its own, outside any batch");
}
