//! Impersonation, reads, write-back, the check and record links.

use salestim::crm::dataverse::SearchMode;
use salestim::crm::{
    Connector, CrmError, CrmKind, RecordId, RecordRef, RecordType, TeamLink, WriteBack,
};

use super::*;

#[tokio::test]
async fn impersonation_acts_as_the_viewer_and_each_sees_their_own() {
    let (dv, shared, _) = environment(SearchMode::Auto).await;
    let alices = dv.add_account("Acme North", "Lyon");
    let bobs = dv.add_account("Acme South", "Nice");
    dv.set_owner(&alices, ALICE, "Alice");
    dv.set_owner(&bobs, BOB, "Bob");
    dv.scope_to_owner(true);
    let crm = connect(&shared, &config(&dv, SearchMode::Auto, true));
    assert!(crm.per_user());
    let alice = Viewer {
        aad_object_id: Some(ALICE),
    };
    let page = crm.search(alice, &text("acme"), &first(5)).await.unwrap();
    assert_eq!(titles(&page), ["Acme North"]);
    assert_eq!(dv.requests().pop().unwrap().caller.as_deref(), Some(ALICE));
    let bob = Viewer {
        aad_object_id: Some(BOB),
    };
    let page = crm.search(bob, &text("acme"), &first(5)).await.unwrap();
    assert_eq!(titles(&page), ["Acme South"]);
    let id = RecordId::parse(&alices).unwrap();
    assert!(
        crm.record(bob, RecordType::Account, &id)
            .await
            .unwrap()
            .is_none()
    );
    let record = crm
        .record(alice, RecordType::Account, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.owner.as_deref(), Some("Alice"));

    let shared_view = connect(&shared, &config(&dv, SearchMode::Auto, false));
    assert!(!shared_view.per_user());
    let page = shared_view
        .search(alice, &text("acme"), &first(5))
        .await
        .unwrap();
    assert_eq!(titles(&page), ["Acme North", "Acme South"]);
    assert_eq!(dv.requests().pop().unwrap().caller, None);
}

#[tokio::test]
async fn a_record_is_read_with_its_labels_and_an_unknown_one_is_none() {
    let (dv, _shared, crm) = environment(SearchMode::Auto).await;
    let id = dv.add_account("Tailspin", "Denver");
    let record = crm
        .record(NOBODY, RecordType::Account, &RecordId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (record.title.as_str(), record.subtitle.as_str()),
        ("Tailspin", "Denver")
    );
    let labels: Vec<(&str, &str)> = record
        .fields
        .iter()
        .map(|f| (f.label.as_str(), f.value.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("Phone", "+1 555 0100"),
            ("Website", "https://example.com"),
            ("Industry", "Consulting")
        ]
    );
    let seen = dv.requests().pop().unwrap();
    assert_eq!(seen.path, format!("/accounts({id})"));
    assert!(
        seen.query
            .iter()
            .any(|(k, v)| k == "$select" && v.starts_with("name,"))
    );
    let unknown = RecordId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    assert!(
        crm.record(NOBODY, RecordType::Account, &unknown)
            .await
            .unwrap()
            .is_none()
    );
    let salesforce = RecordId::parse("0015g00000ABCde").unwrap();
    assert!(
        crm.record(NOBODY, RecordType::Account, &salesforce)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_team_is_written_back_as_a_note_or_into_the_named_column() {
    let (dv, _shared, crm) = environment(SearchMode::Auto).await;
    let id = dv.add_account("Wingtip", "Austin");
    dv.add_column("account", "new_teamurl");
    let record = RecordRef {
        crm: CrmKind::Dynamics,
        record_type: RecordType::Account,
        id: RecordId::parse(&id).unwrap(),
    };
    let team = TeamLink {
        display_name: "Wingtip deal room",
        web_url: "https://teams.microsoft.com/l/team/19%3Aabc%40thread.tacv2",
    };
    crm.link_team(&record, &team, &WriteBack::Note)
        .await
        .unwrap();
    let notes = dv.notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].regarding, ("account".to_owned(), id.clone()));
    assert!(notes[0].subject.contains("Wingtip deal room"));
    assert!(notes[0].notetext.contains(team.web_url));

    crm.link_team(&record, &team, &WriteBack::Field("new_teamurl".into()))
        .await
        .unwrap();
    assert_eq!(dv.value("account", &id, "new_teamurl"), team.web_url);

    let refused = crm
        .link_team(&record, &team, &WriteBack::Field("name\":\"x".into()))
        .await;
    assert!(matches!(refused, Err(CrmError::Refused(_))));
    let unknown_column = crm
        .link_team(&record, &team, &WriteBack::Field("new_missing".into()))
        .await;
    assert!(
        matches!(unknown_column, Err(CrmError::Refused(_))),
        "{unknown_column:?}"
    );
    // An update never creates the record it meant to update.
    let gone = RecordRef {
        id: RecordId::parse(&uuid::Uuid::new_v4().to_string()).unwrap(),
        ..record.clone()
    };
    assert!(
        crm.link_team(&gone, &team, &WriteBack::Field("new_teamurl".into()))
            .await
            .is_err()
    );
    assert_eq!(
        dv.value("account", gone.id.as_str(), "new_teamurl"),
        serde_json::Value::Null
    );

    let before = dv.requests().len();
    crm.link_team(&record, &team, &WriteBack::Off)
        .await
        .unwrap();
    assert_eq!(dv.requests().len(), before);
    assert_eq!(dv.notes().len(), 1);
}

#[tokio::test]
async fn check_says_who_the_app_is_in_the_environment() {
    let (_dv, _shared, crm) = environment(SearchMode::Auto).await;
    let who = crm.check().await.unwrap();
    assert!(who.starts_with("UserId a0a0a0a0-"), "{who}");
    assert!(who.contains("organization c0c0c0c0-"), "{who}");
}

#[tokio::test]
async fn links_of_the_org_are_records_and_others_are_not() {
    let (dv, _shared, crm) = environment(SearchMode::Auto).await;
    let id = uuid::Uuid::new_v4().to_string();
    let org = dv.org_url.as_str().trim_end_matches('/');
    let link = |s: String| crm.parse_link(&url::Url::parse(&s).unwrap());
    assert_eq!(
        link(format!(
            "{org}/main.aspx?appid=abc&pagetype=entityrecord&etn=opportunity&id={id}"
        )),
        Some((RecordType::Opportunity, RecordId::parse(&id).unwrap()))
    );
    assert_eq!(
        link(format!("{org}/main.aspx?id={id}&etn=contact")).map(|l| l.0),
        Some(RecordType::Contact)
    );
    for other in [
        format!(
            "http://localhost:{}/main.aspx?etn=account&id={id}",
            dv.org_url.port().unwrap()
        ),
        format!("http://127.0.0.1:1/main.aspx?etn=account&id={id}"),
        format!("{org}/apps/main.aspx?etn=account&id={id}"),
        format!("{org}/main.aspx?etn=incident&id={id}"),
        format!("{org}/main.aspx?etn=account&id=not-a-guid"),
    ] {
        assert_eq!(link(other.clone()), None, "{other}");
    }
}
