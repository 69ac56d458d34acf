//! Records read by id, teams written back, the connection checked, links
//! of the org told from others.

use super::*;

#[tokio::test]
async fn a_record_is_read_by_id_and_a_missing_one_is_none() {
    let Org { sf, connector, .. } = org().await;
    let acme = sf.add_account("Acme", "Lyon");
    let deal = sf.add_opportunity("Acme renewal", &acme, "Negotiation");
    let id = RecordId::parse(&deal).unwrap();

    let record = connector
        .record(Viewer::default(), RecordType::Opportunity, &id)
        .await
        .unwrap()
        .expect("the opportunity");
    assert_eq!(record.title, "Acme renewal");
    assert_eq!(record.subtitle, "Acme · Negotiation");
    let labels: Vec<_> = record
        .fields
        .iter()
        .map(|f| (f.label.as_str(), f.value.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("Amount", "50000.0"),
            ("Close date", "2026-06-30"),
            ("Probability", "20%")
        ]
    );
    let q = sf.seen().last().unwrap().q.clone().unwrap();
    assert!(
        q.ends_with(&format!("FROM Opportunity WHERE Id = '{deal}' LIMIT 1")),
        "{q}"
    );

    let missing = RecordId::parse("0065g0000099999AAA").unwrap();
    assert_eq!(
        connector
            .record(Viewer::default(), RecordType::Opportunity, &missing)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        connector
            .record(Viewer::default(), RecordType::Account, &id)
            .await
            .unwrap(),
        None,
        "an opportunity's id is no account"
    );
}

#[tokio::test]
async fn a_team_is_written_back_as_a_note_or_into_a_named_field() {
    let Org { sf, connector, .. } = org().await;
    let acme = sf.add_account("Acme", "Lyon");
    let deal = sf.add_opportunity("Acme renewal", &acme, "Negotiation");
    sf.add_custom_field("Opportunity", "Teams_Link__c");
    let record = RecordRef {
        crm: CrmKind::Salesforce,
        record_type: RecordType::Opportunity,
        id: RecordId::parse(&deal).unwrap(),
    };
    let name = "Deal room: Acme renewal — a very long team name that runs past eighty characters";
    let team = TeamLink {
        display_name: name,
        web_url: TEAM_URL,
    };

    let written = connector
        .link_team(&record, &team, &WriteBack::Note)
        .await
        .unwrap();
    let notes = sf.notes();
    assert_eq!(notes.len(), 1);
    assert!(written.contains(&notes[0].id), "{written}");
    assert_eq!(notes[0].parent_id, deal);
    assert!(notes[0].title.chars().count() <= 80);
    assert!(notes[0].title.contains("Deal room"));
    assert_eq!(notes[0].body, format!("{name}\n{TEAM_URL}"));

    let field = WriteBack::Field("Teams_Link__c".into());
    connector.link_team(&record, &team, &field).await.unwrap();
    assert_eq!(sf.field(&deal, "Teams_Link__c"), TEAM_URL);

    let unknown = WriteBack::Field("Nope__c".into());
    let err = connector
        .link_team(&record, &team, &unknown)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CrmError::Refused(m) if m.contains("INVALID_FIELD")),
        "{err:?}"
    );

    let requests = sf.api_requests();
    let hostile = WriteBack::Field("Name\": \"x".into());
    assert!(matches!(
        connector.link_team(&record, &team, &hostile).await,
        Err(CrmError::Refused(_))
    ));
    connector
        .link_team(&record, &team, &WriteBack::Off)
        .await
        .unwrap();
    assert_eq!(
        sf.api_requests(),
        requests,
        "neither asked Salesforce anything"
    );
    assert_eq!(sf.notes().len(), 1);
}

#[tokio::test]
async fn the_check_names_the_user_and_the_requests_left_today() {
    let Org { sf, connector, .. } = org().await;
    let line = connector.check().await.unwrap();
    assert!(line.contains(ADMIN_USERNAME), "{line}");
    // The userinfo and the limits requests count against the day too.
    assert!(
        line.contains("14998 of 15000 daily API requests left"),
        "{line}"
    );
    assert_eq!(sf.requests_to("/services/oauth2/userinfo"), 1);
    assert_eq!(sf.requests_to("/services/data/v62.0/limits/"), 1);
}

#[tokio::test]
async fn links_of_the_org_are_read_and_others_refused() {
    let Org { sf, connector, .. } = org().await;
    let acme = sf.add_account("Acme", "Lyon");
    let parse = |s: String| connector.parse_link(&Url::parse(&s).unwrap());

    assert_eq!(
        parse(format!("{}/lightning/r/Account/{acme}/view", sf.origin)),
        Some((RecordType::Account, RecordId::parse(&acme).unwrap()))
    );
    assert_eq!(
        parse(format!("{}/{acme}", sf.origin)).map(|(t, _)| t),
        Some(RecordType::Account),
        "a Classic link"
    );
    for other in [
        format!("{}/lightning/r/Account/{acme}/view", sf.moved_origin),
        format!("https://other.lightning.force.com/lightning/r/Account/{acme}/view"),
        format!("{}/lightning/r/Contact/{acme}/view", sf.origin),
        format!("{}/lightning/r/Account/{acme}'/view", sf.origin),
    ] {
        assert_eq!(parse(other.clone()), None, "{other}");
    }
    assert_eq!(API_VERSION, DEFAULT_API_VERSION);
}
