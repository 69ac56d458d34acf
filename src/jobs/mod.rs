//! Queue contracts: for each queue, its name, its message type, how to
//! enqueue one and how to decode one. The queue functions (`functions/`)
//! decode with them; the domain and the bot enqueue with them; so the arrows
//! point down, never from the domain up into a function file.

pub mod bot_outbox;
