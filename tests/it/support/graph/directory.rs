//! The directory changes tests make on the stand-in between delta rounds,
//! as an admin or Teams would make them: teams and plain groups made
//! outside SalesTim, renames, members and owners added or removed, guests
//! invited, groups deleted; and the delta knobs (expired tokens, empty
//! pages, groups split over several objects). Each change is written to the
//! tenant's journal, where `delta.rs` finds it.

use serde_json::Value;

use super::delta::DeltaExpiry;
use super::{GraphStandIn, Tenant};

impl GraphStandIn {
    /// A team made outside SalesTim (in Teams, by an admin): its group with
    /// the `Team` provisioning option, owners among the members as Teams
    /// keeps them.
    pub fn add_team(&self, tenant: &str, name: &str, owners: &[&str], members: &[&str]) -> String {
        self.add_directory_group(tenant, name, owners, members, true)
    }

    /// A Microsoft 365 group without a team (delta lists it all the same).
    pub fn add_plain_group(
        &self,
        tenant: &str,
        name: &str,
        owners: &[&str],
        members: &[&str],
    ) -> String {
        self.add_directory_group(tenant, name, owners, members, false)
    }

    fn add_directory_group(
        &self,
        tenant: &str,
        name: &str,
        owners: &[&str],
        members: &[&str],
        team: bool,
    ) -> String {
        let mut st = self.state();
        let team = team.then(|| {
            let mut team = super::new_team(&mut st, &Value::Null);
            team.succeeded = true;
            team
        });
        let t = st.tenants.get_mut(tenant).expect("add_tenant first");
        let id = uuid::Uuid::new_v4().to_string();
        let nick: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        let mut group = super::new_group(
            id.clone(),
            name,
            format!("{nick}-{}", &id[..8]),
            "",
            "Private",
        );
        for owner in owners {
            group.owners.push((*owner).to_owned());
        }
        for member in owners.iter().chain(members) {
            if !group.members.iter().any(|m| m == member) {
                group.members.push((*member).to_owned());
            }
        }
        group.team = team;
        t.journal.group_created(&id);
        t.groups.push(group);
        id
    }

    /// A guest invited to the tenant (`userType` Guest).
    pub fn add_guest(&self, tenant: &str, id: &str, display_name: &str) {
        self.add_user(tenant, id, display_name, None, None, None);
        let mut st = self.state();
        let t = st.tenants.get_mut(tenant).expect("add_tenant first");
        t.users.get_mut(id).expect("just added").user_type = "Guest";
    }

    pub fn rename_group(&self, tenant: &str, id: &str, name: &str) {
        self.with_group(tenant, id, |t, g| {
            t.groups[g].display_name = name.to_owned();
            t.journal.group_changed(id, &["displayName"]);
        });
    }

    pub fn add_member(&self, tenant: &str, group: &str, user: &str) {
        self.set_link(tenant, group, "members", user, true);
    }

    pub fn remove_member(&self, tenant: &str, group: &str, user: &str) {
        self.set_link(tenant, group, "owners", user, false);
        self.set_link(tenant, group, "members", user, false);
    }

    /// An owner, and a member too as Teams makes them.
    pub fn add_owner(&self, tenant: &str, group: &str, user: &str) {
        self.set_link(tenant, group, "members", user, true);
        self.set_link(tenant, group, "owners", user, true);
    }

    pub fn remove_owner(&self, tenant: &str, group: &str, user: &str) {
        self.set_link(tenant, group, "owners", user, false);
    }

    fn set_link(&self, tenant: &str, group: &str, relation: &'static str, user: &str, on: bool) {
        self.with_group(tenant, group, |t, g| {
            let list = match relation {
                "owners" => &mut t.groups[g].owners,
                _ => &mut t.groups[g].members,
            };
            let has = list.iter().any(|u| u == user);
            if on && !has {
                list.push(user.to_owned());
            } else if !on && has {
                list.retain(|u| u != user);
            } else {
                return;
            }
            t.journal.link(group, relation, user, !on);
        });
    }

    /// Deletes a group: restorable for 30 days (delta says `changed`), or
    /// for good (`deleted`).
    pub fn delete_group(&self, tenant: &str, id: &str, permanently: bool) {
        self.with_group(tenant, id, |t, g| {
            t.groups.remove(g);
            let reason = if permanently { "deleted" } else { "changed" };
            t.journal.group_removed(id, reason);
        });
    }

    /// Every delta token of the tenant handed out so far stops working
    /// (as after seven days, or a tenant migration), answered as `how` says.
    pub fn expire_delta_tokens(&self, tenant: &str, how: DeltaExpiry) {
        let mut st = self.state();
        let t = st.tenants.get_mut(tenant).expect("add_tenant first");
        t.journal.expire(how);
    }

    /// Every delta round starts with `n` empty pages.
    pub fn set_delta_empty_pages(&self, n: usize) {
        self.state().delta.empty_pages = n;
    }

    /// A group with more than `n` links is sent as several objects.
    pub fn set_delta_link_chunk(&self, n: usize) {
        self.state().delta.link_chunk = n.max(1);
    }

    fn with_group(&self, tenant: &str, id: &str, change: impl FnOnce(&mut Tenant, usize)) {
        let mut st = self.state();
        let t = st.tenants.get_mut(tenant).expect("add_tenant first");
        let g = t
            .groups
            .iter()
            .position(|g| g.id == id)
            .expect("a group of the tenant");
        change(t, g);
    }
}
