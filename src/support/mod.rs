//! Support: the Intercom Messenger in the tabs, with identity verification
//! (Intercom's `intercom_user_jwt`), so that a conversation is tied to the
//! signed-in user and nobody can talk to support as someone else.

pub mod intercom;
