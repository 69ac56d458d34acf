//! The `handler` binary: command-line parsing only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use salestim::app::App;
use salestim::config::{RunMode, Settings, read_local_settings};
use salestim::governance::people::Person;
use salestim::ids::TenantId;
use salestim::server::{self, LocalLayout};
use salestim::{admin, doctor};

#[derive(Parser)]
#[command(
    name = "handler",
    version,
    about = "SalesTim: Teams governance, as an Azure Functions custom handler"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole app on this machine: HTTP functions on
    /// http://127.0.0.1:7071/api/..., timers and queues included, every Azure
    /// service on its embedded default unless settings name one.
    Local {
        /// The folder holding one <Name>/function.json per function.
        #[arg(long, default_value = "functions")]
        functions_dir: PathBuf,
        #[arg(long, default_value = "host.json")]
        host_json: PathBuf,
        /// Settings file whose "Values" fill in settings not in the environment.
        #[arg(long, default_value = "local.settings.json")]
        settings: PathBuf,
    },
    /// Manage the customer tenants (operators).
    Tenant {
        #[command(subcommand)]
        action: TenantAction,
        #[arg(long, default_value = "local.settings.json", global = true)]
        settings: PathBuf,
    },
    /// Manage a tenant's team templates (operators).
    Template {
        #[command(subcommand)]
        action: TemplateAction,
        #[arg(long, default_value = "local.settings.json", global = true)]
        settings: PathBuf,
    },
    /// A tenant's lifecycle policies as code (operators): show the current
    /// version, review a file against it, store it as the next version.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
        #[arg(long, default_value = "local.settings.json", global = true)]
        settings: PathBuf,
    },
    /// One team's lifecycle, by hand (operators): exempt it from a policy
    /// for a while, or bring it back (restore a soft-deleted team within
    /// Entra's 30 days, unarchive an archived one).
    Team {
        #[command(subcommand)]
        action: TeamAction,
        #[arg(long, default_value = "local.settings.json", global = true)]
        settings: PathBuf,
    },
    /// One tenant's governance sweep (operators): the inventory synced when
    /// Graph is configured, every team evaluated against the current
    /// lifecycle policies, the findings printed by policy and team. A dry
    /// run unless --apply: nothing is recorded or done.
    Sweep {
        tenant_id: String,
        /// Record the findings and carry out the enforced policies' due
        /// moves (cards, Graph actions), as the scheduled sweep does.
        #[arg(long)]
        apply: bool,
        /// The findings as JSON (the same data as the table).
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "local.settings.json")]
        settings: PathBuf,
    },
    /// Preflight (operators): settings, stores, keys, each onboarded
    /// tenant's Graph permissions, the bot's token and the app
    /// registrations' expiry, as one table; exits non-zero on any fail.
    ///
    /// Every setting read by the handler's own parser (absent ones named
    /// with the local default that replaces them); each store reachable
    /// with the configured identity; the key-encryption key wrapping and
    /// unwrapping a random data key; for each tenant with admin consent a
    /// fresh Graph token whose roles hold the permissions the enabled
    /// features need (what is missing listed by feature); the bot's
    /// Connector token; the app registrations' client secret and
    /// certificates (fail when expired, warn within 30 days; reading them
    /// needs Application.Read.All in the home tenant). Each row is ok, warn
    /// or fail with its reason; no secret or token is printed.
    Doctor {
        /// Judge the settings as the Functions host in Azure runs them
        /// (implied by FUNCTIONS_CUSTOMHANDLER_PORT in the environment):
        /// local fallbacks are failures or warnings.
        #[arg(long)]
        azure: bool,
        /// The checks as JSON (the same data as the table).
        #[arg(long)]
        json: bool,
        /// The tenant holding the app registrations, to read their
        /// credentials' expiry (default: MicrosoftAppTenantId).
        #[arg(long)]
        home_tenant: Option<String>,
        /// Seconds each network check may take.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        #[arg(long, default_value = "local.settings.json")]
        settings: PathBuf,
    },
    /// A tenant's CRM connections (operators; the admin tab's CRM section
    /// does the same for the tenant's admins).
    Crm {
        #[command(subcommand)]
        action: CrmAction,
        #[arg(long, default_value = "local.settings.json", global = true)]
        settings: PathBuf,
    },
    /// Stripe checkout and customer binding (operators).
    Billing {
        #[command(subcommand)]
        action: BillingAction,
        #[arg(long, default_value = "local.settings.json", global = true)]
        settings: PathBuf,
    },
}

#[derive(Subcommand)]
enum PolicyAction {
    /// Print the current version as JSON.
    Show { tenant_id: String },
    /// What storing the file would change: the policy fields, and the teams
    /// whose findings would change. Stores nothing.
    Diff {
        tenant_id: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// The diff, then the file stored as the next version (refused if
    /// another version was stored meanwhile, or if it has problems).
    Apply {
        tenant_id: String,
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum TeamAction {
    /// Exempt a team from one lifecycle policy for some days, with a reason
    /// (its findings under that policy are resolved at the next sweep).
    Waive {
        tenant_id: String,
        team_id: String,
        /// minimumOwners, expiry, inactivity, guestReview, permanentMembers
        /// or namingDrift.
        policy: String,
        #[arg(long)]
        days: u32,
        #[arg(long)]
        reason: String,
    },
    /// Restore a soft-deleted team (Entra keeps it 30 days).
    Restore {
        tenant_id: String,
        team_id: String,
        #[arg(long)]
        reason: String,
    },
    /// Unarchive an archived team.
    Unarchive {
        tenant_id: String,
        team_id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum CrmAction {
    /// The tenant's connections, their health and last check (no secret).
    List { tenant_id: String },
    /// Connect (or rotate) the tenant's Dynamics 365 environment, then check
    /// it. SalesTim's own Entra app signs in unless --client-id names the
    /// customer's app registration (its secret read from CRM_CLIENT_SECRET).
    Dynamics {
        tenant_id: String,
        /// The environment's URL, e.g. https://contoso.crm.dynamics.com.
        #[arg(long)]
        org_url: String,
        /// auto (Dataverse search when the environment has it), relevance or filter.
        #[arg(long, default_value = "auto")]
        search: String,
        /// Search as each Teams user (Dataverse applies their security roles).
        #[arg(long)]
        impersonate: bool,
        /// How a new team is recorded on its record: note, off or field:<name>.
        #[arg(long, default_value = "note")]
        write_back: String,
        #[arg(long)]
        client_id: Option<String>,
    },
    /// Start connecting the tenant's Salesforce org: prints the link a
    /// Salesforce admin opens to allow SalesTim.
    Salesforce {
        tenant_id: String,
        /// https://login.salesforce.com unless the org signs in elsewhere.
        #[arg(long)]
        login_url: Option<String>,
        #[arg(long, default_value = "note")]
        write_back: String,
    },
    /// Check a connection end to end (clears its finding when it works).
    Check { tenant_id: String, crm: String },
    /// How a new team is recorded on its record: note, off or field:<name>.
    WriteBack {
        tenant_id: String,
        crm: String,
        write_back: String,
    },
    /// Remove a connection and its sealed credential.
    Remove { tenant_id: String, crm: String },
}

#[derive(Subcommand)]
enum BillingAction {
    /// Create a Stripe Checkout Session for a tenant and print its URL; whoever
    /// pays through it becomes the tenant's Stripe customer.
    Checkout {
        tenant_id: String,
        /// The Stripe Price id (price_...) of the plan.
        #[arg(long)]
        plan: String,
        #[arg(long, default_value_t = 1)]
        seats: u32,
    },
    /// Bind a Stripe customer (cus_...) to a tenant, for deals invoiced by
    /// sales; events that waited for the customer are applied at once.
    Bind {
        tenant_id: String,
        customer_id: String,
    },
}

#[derive(Subcommand)]
enum TemplateAction {
    /// Create or replace a template from a JSON file (checked, versioned).
    Put {
        tenant_id: String,
        template_id: String,
        #[arg(long)]
        file: PathBuf,
        /// A PNG or JPEG set as the picture of every team made from it
        /// (without it, the template keeps the picture it has).
        #[arg(long, conflicts_with = "no_icon")]
        icon: Option<PathBuf>,
        /// Teams made from this version get no picture.
        #[arg(long)]
        no_icon: bool,
    },
    /// List a tenant's templates.
    List { tenant_id: String },
    /// Print a template as JSON.
    Show {
        tenant_id: String,
        template_id: String,
    },
    /// Stop offering a template (requests made from it keep it).
    Retire {
        tenant_id: String,
        template_id: String,
    },
    /// Offer a retired template again.
    Activate {
        tenant_id: String,
        template_id: String,
    },
}

#[derive(Subcommand)]
enum TenantAction {
    /// Register a tenant by its Entra tenant id.
    Add {
        tenant_id: String,
        #[arg(long)]
        name: String,
        /// Let it use the product for this many days (1-365) before it has
        /// a subscription (a SalesTim trial; local testing, evaluations).
        #[arg(long)]
        trial_days: Option<u32>,
        /// The tenant's first admin (an Entra object id): the one who can
        /// then assign every other role in the Administration tab.
        #[arg(long)]
        admin: Option<String>,
    },
    /// Show a tenant and its subscription.
    Show { tenant_id: String },
    /// List every tenant.
    List,
    /// Change a tenant's onboarding state and policies.
    Set {
        tenant_id: String,
        #[arg(long)]
        name: Option<String>,
        /// Whether a tenant admin granted the app consent.
        #[arg(long, value_parser = ["granted", "revoked"])]
        consent: Option<String>,
        /// A JSON file with the whole policies document (naming, reminders, escalation, expiry).
        #[arg(long)]
        policies: Option<PathBuf>,
        /// A JSON file with the tenant's naming policy.
        #[arg(long)]
        naming: Option<PathBuf>,
        /// Remind approvers of a request waiting this many hours.
        #[arg(long)]
        reminder_hours: Option<u32>,
        /// Escalate a request still waiting this many hours...
        #[arg(long)]
        escalate_hours: Option<u32>,
        /// ...to this person (Entra object id)...
        #[arg(long)]
        escalate_to: Option<String>,
        /// ...shown with this name.
        #[arg(long, default_value = "")]
        escalate_name: String,
        /// Turn escalation off.
        #[arg(long)]
        no_escalation: bool,
        /// Expiry, in days, of teams whose template names none.
        #[arg(long)]
        default_expiry_days: Option<u32>,
    },
}

fn local_settings(path: &std::path::Path) -> Result<Settings, String> {
    let file = read_local_settings(path).map_err(|e| e.to_string())?;
    Settings::from_lookup(RunMode::Local, |k| {
        std::env::var(k).ok().or_else(|| file.get(k).cloned())
    })
    .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            None => {
                let settings = Settings::from_env(RunMode::Host).map_err(|e| e.to_string())?;
                server::init_tracing(RunMode::Host, &settings);
                server::run_under_host(settings)
                    .await
                    .map_err(|e| format!("{e:#}"))
            }
            Some(Command::Local {
                functions_dir,
                host_json,
                settings,
            }) => {
                let settings = local_settings(&settings)?;
                server::init_tracing(RunMode::Local, &settings);
                server::run_local(
                    settings,
                    LocalLayout {
                        functions_dir,
                        host_json,
                    },
                )
                .await
                .map_err(|e| format!("{e:#}"))
            }
            Some(Command::Tenant { action, settings }) => {
                server::init_command_tracing();
                let app = App::build(local_settings(&settings)?)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                tenant_command(&app, action).await
            }
            Some(Command::Template { action, settings }) => {
                server::init_command_tracing();
                let app = App::build(local_settings(&settings)?)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                template_command(&app, action).await
            }
            Some(Command::Team { action, settings }) => {
                server::init_command_tracing();
                let app = App::build(local_settings(&settings)?)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                // It queues governance actions: their queues exist first.
                server::ensure_queues(&app)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                team_command(&app, action).await
            }
            Some(Command::Policy { action, settings }) => {
                server::init_command_tracing();
                let app = App::build(local_settings(&settings)?)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                policy_command(&app, action).await
            }
            Some(Command::Sweep {
                tenant_id,
                apply,
                json,
                settings,
            }) => {
                server::init_command_tracing();
                let app = App::build(local_settings(&settings)?)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                if apply {
                    // It queues cards and governance actions.
                    server::ensure_queues(&app)
                        .await
                        .map_err(|e| format!("{e:#}"))?;
                }
                let tenant = TenantId::parse(&tenant_id).map_err(|e| e.to_string())?;
                println!("{}", admin::sweep(&app, &tenant, json, apply).await?);
                Ok(())
            }
            Some(Command::Doctor {
                azure,
                json,
                home_tenant,
                timeout,
                settings,
            }) => {
                server::init_command_tracing();
                let file = read_local_settings(&settings).map_err(|e| e.to_string())?;
                // The Functions host sets its port in the environment; in
                // local.settings.json it is `handler local`'s port.
                let under_host = std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT")
                    .is_ok_and(|p| !p.trim().is_empty());
                let options = doctor::Options {
                    azure: azure || under_host,
                    home_tenant,
                    timeout: std::time::Duration::from_secs(timeout.max(1)),
                };
                let report = doctor::run(
                    |k| std::env::var(k).ok().or_else(|| file.get(k).cloned()),
                    &options,
                )
                .await;
                println!("{}", if json { report.json() } else { report.table() });
                match report.failures() {
                    0 => Ok(()),
                    n => Err(format!("doctor: {n} checks failed")),
                }
            }
            Some(Command::Crm { action, settings }) => {
                server::init_command_tracing();
                let app = App::build(local_settings(&settings)?)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                crm_command(&app, action).await
            }
            Some(Command::Billing { action, settings }) => {
                server::init_command_tracing();
                let app = App::build(local_settings(&settings)?)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                billing_command(&app, action).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("handler: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn policy_command(app: &App, action: PolicyAction) -> Result<(), String> {
    let parse = |id: &str| TenantId::parse(id).map_err(|e| e.to_string());
    let out = match action {
        PolicyAction::Show { tenant_id } => admin::policy_show(app, &parse(&tenant_id)?).await?,
        PolicyAction::Diff { tenant_id, file } => {
            admin::policy_diff(app, &parse(&tenant_id)?, &file).await?
        }
        PolicyAction::Apply { tenant_id, file } => {
            admin::policy_apply(app, &parse(&tenant_id)?, &file).await?
        }
    };
    println!("{out}");
    Ok(())
}

async fn team_command(app: &App, action: TeamAction) -> Result<(), String> {
    let parse = |id: &str| TenantId::parse(id).map_err(|e| e.to_string());
    let out = match action {
        TeamAction::Waive {
            tenant_id,
            team_id,
            policy,
            days,
            reason,
        } => admin::team_waive(app, &parse(&tenant_id)?, &team_id, &policy, days, &reason).await?,
        TeamAction::Restore {
            tenant_id,
            team_id,
            reason,
        } => admin::team_bring_back(app, &parse(&tenant_id)?, &team_id, true, &reason).await?,
        TeamAction::Unarchive {
            tenant_id,
            team_id,
            reason,
        } => admin::team_bring_back(app, &parse(&tenant_id)?, &team_id, false, &reason).await?,
    };
    println!("{out}");
    Ok(())
}

async fn crm_command(app: &App, action: CrmAction) -> Result<(), String> {
    use admin::crm::{kind_arg, search_arg, write_back_arg};
    let parse = |id: &str| TenantId::parse(id).map_err(|e| e.to_string());
    let out = match action {
        CrmAction::List { tenant_id } => admin::crm::list(app, &parse(&tenant_id)?).await?,
        CrmAction::Dynamics {
            tenant_id,
            org_url,
            search,
            impersonate,
            write_back,
            client_id,
        } => {
            admin::crm::dynamics(
                app,
                &parse(&tenant_id)?,
                &org_url,
                search_arg(&search)?,
                impersonate,
                write_back_arg(&write_back)?,
                client_id,
            )
            .await?
        }
        CrmAction::Salesforce {
            tenant_id,
            login_url,
            write_back,
        } => {
            admin::crm::salesforce(
                app,
                &parse(&tenant_id)?,
                login_url.as_deref(),
                write_back_arg(&write_back)?,
            )
            .await?
        }
        CrmAction::Check { tenant_id, crm } => {
            admin::crm::check(app, &parse(&tenant_id)?, kind_arg(&crm)?).await?
        }
        CrmAction::WriteBack {
            tenant_id,
            crm,
            write_back,
        } => {
            admin::crm::set_write_back(
                app,
                &parse(&tenant_id)?,
                kind_arg(&crm)?,
                write_back_arg(&write_back)?,
            )
            .await?
        }
        CrmAction::Remove { tenant_id, crm } => {
            admin::crm::remove(app, &parse(&tenant_id)?, kind_arg(&crm)?).await?
        }
    };
    println!("{out}");
    Ok(())
}

async fn billing_command(app: &App, action: BillingAction) -> Result<(), String> {
    let parse = |id: &str| TenantId::parse(id).map_err(|e| e.to_string());
    let out = match action {
        BillingAction::Checkout {
            tenant_id,
            plan,
            seats,
        } => admin::billing_checkout(app, &parse(&tenant_id)?, &plan, seats).await?,
        BillingAction::Bind {
            tenant_id,
            customer_id,
        } => admin::billing_bind(app, &parse(&tenant_id)?, &customer_id).await?,
    };
    println!("{out}");
    Ok(())
}

async fn template_command(app: &App, action: TemplateAction) -> Result<(), String> {
    let parse = |id: &str| TenantId::parse(id).map_err(|e| e.to_string());
    let out = match action {
        TemplateAction::Put {
            tenant_id,
            template_id,
            file,
            icon,
            no_icon,
        } => {
            let icon = match (&icon, no_icon) {
                (Some(path), _) => admin::IconChange::Set(path),
                (None, true) => admin::IconChange::Remove,
                (None, false) => admin::IconChange::Keep,
            };
            admin::template_put(app, &parse(&tenant_id)?, &template_id, &file, icon).await?
        }
        TemplateAction::List { tenant_id } => {
            admin::template_list(app, &parse(&tenant_id)?).await?
        }
        TemplateAction::Show {
            tenant_id,
            template_id,
        } => admin::template_show(app, &parse(&tenant_id)?, &template_id).await?,
        TemplateAction::Retire {
            tenant_id,
            template_id,
        } => admin::template_activate(app, &parse(&tenant_id)?, &template_id, false).await?,
        TemplateAction::Activate {
            tenant_id,
            template_id,
        } => admin::template_activate(app, &parse(&tenant_id)?, &template_id, true).await?,
    };
    println!("{out}");
    Ok(())
}

async fn tenant_command(app: &App, action: TenantAction) -> Result<(), String> {
    let parse = |id: &str| TenantId::parse(id).map_err(|e| e.to_string());
    match action {
        TenantAction::Add {
            tenant_id,
            name,
            trial_days,
            admin,
        } => {
            let id = parse(&tenant_id)?;
            // Checked before anything is written.
            let first_admin = admin
                .map(|oid| {
                    let admin = salestim::governance::roles::Assignment::user(
                        &oid,
                        salestim::governance::roles::Role::Admin,
                    );
                    salestim::governance::roles::validate(std::slice::from_ref(&admin))
                        .map(|_| admin.principal)
                        .map_err(|e| format!("--admin: {e}"))
                })
                .transpose()?;
            let tenant = app
                .tenants
                .add_with_trial(&id, &name, trial_days)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(principal) = first_admin {
                let oid = principal.id.clone();
                salestim::governance::roles::add_first_admin(
                    app.docs.as_ref(),
                    &id,
                    app.clock.now(),
                    principal,
                    "operator:handler tenant add",
                )
                .await
                .map_err(|e| e.to_string())?;
                println!("{oid} is the tenant's first admin");
            }
            let rfc3339 = &time::format_description::well_known::Rfc3339;
            match tenant.trial_until.and_then(|t| t.format(rfc3339).ok()) {
                Some(until) => {
                    println!("added tenant {id} ({name}), on a SalesTim trial until {until}")
                }
                None => println!("added tenant {id} ({name})"),
            }
        }
        TenantAction::Show { tenant_id } => {
            let id = parse(&tenant_id)?;
            let tenant = app
                .tenants
                .get(&id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or(format!("no tenant {id}"))?;
            let entitlement = app
                .billing
                .entitlement(&id)
                .await
                .map_err(|e| e.to_string())?;
            let subscription = app
                .billing
                .subscription(&id)
                .await
                .map_err(|e| e.to_string())?;
            let out = serde_json::json!({"tenantId": id, "tenant": tenant, "entitlement": entitlement, "subscription": subscription});
            println!(
                "{}",
                serde_json::to_string_pretty(&out).expect("serialisable")
            );
        }
        TenantAction::Set {
            tenant_id,
            name,
            consent,
            policies,
            naming,
            reminder_hours,
            escalate_hours,
            escalate_to,
            escalate_name,
            no_escalation,
            default_expiry_days,
        } => {
            let id = parse(&tenant_id)?;
            let changes = admin::TenantChanges {
                name,
                consent: consent.map(|c| c == "granted"),
                policies: policies.as_deref().map(admin::policies_file).transpose()?,
                naming: naming.as_deref().map(admin::naming_file).transpose()?,
                reminder_hours,
                escalate_hours,
                escalate_to: escalate_to.map(|id| Person::new(id, escalate_name)),
                no_escalation,
                default_expiry_days,
            };
            println!("{}", admin::tenant_set(app, &id, changes).await?);
        }
        TenantAction::List => {
            use futures::TryStreamExt;
            let mut all = std::pin::pin!(app.tenants.all());
            while let Some((id, tenant)) = all.try_next().await.map_err(|e| e.to_string())? {
                println!("{id}\t{}", tenant.display_name);
            }
        }
    }
    Ok(())
}
