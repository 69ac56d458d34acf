//! People as the governance domain knows them: an Entra object id (the
//! stable identity) and a display name (for cards).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub aad_object_id: String,
    pub name: String,
}

impl Person {
    pub fn new(aad_object_id: impl Into<String>, name: impl Into<String>) -> Self {
        Person {
            aad_object_id: aad_object_id.into().to_ascii_lowercase(),
            name: name.into(),
        }
    }

    /// Whether `aad_object_id` is this person (object ids compare without case).
    pub fn is(&self, aad_object_id: &str) -> bool {
        self.aad_object_id.eq_ignore_ascii_case(aad_object_id)
    }

    /// The Teams user MRI (`8:orgid:<object id>`), as card `refresh.userIds`
    /// lists users.
    pub fn mri(&self) -> String {
        format!("8:orgid:{}", self.aad_object_id)
    }

    /// The actor written to the audit trail.
    pub fn actor(&self) -> String {
        format!("user:{}", self.aad_object_id)
    }
}
