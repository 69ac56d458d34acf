//! Every Adaptive Card the code can produce is valid Adaptive Card 1.5
//! (the official schema, recorded in tests/fixtures with its licence).

use salestim::teams::cards;
use serde_json::{Value, json};

use crate::support::app::repo_root;

fn validator() -> jsonschema::Validator {
    let mut schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/fixtures/adaptive-card-1.5.0.json"))
            .unwrap(),
    )
    .unwrap();
    // The file names itself with draft-04's `id`; draft-06 says `$id`.
    let id = schema.as_object_mut().unwrap().remove("id").unwrap();
    schema["$id"] = id;
    jsonschema::draft6::new(&schema).expect("the schema compiles")
}

fn every_card() -> Vec<(&'static str, Value)> {
    vec![
        ("welcome", cards::welcome()),
        ("help", cards::help(None)),
        (
            "help for unknown text",
            cards::help(Some("what's the \"weather\" <b>today</b>")),
        ),
        ("notice", cards::notice("Title", "Text")),
    ]
}

#[test]
fn every_card_validates_against_the_adaptive_card_1_5_schema() {
    let validator = validator();
    for (name, card) in every_card() {
        let errors: Vec<String> = validator
            .iter_errors(&card)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        assert_eq!(card["version"], "1.5", "{name}");
    }
}

#[test]
fn the_validator_catches_a_broken_card() {
    let validator = validator();
    let broken = [
        json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock"}]}),
        json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Marquee", "text": "x"}]}),
        json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "FactSet", "facts": [{"title": "only a title"}]}]}),
    ];
    for card in broken {
        assert!(!validator.is_valid(&card), "{card}");
    }
}
