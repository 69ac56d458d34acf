//! The `handler` binary: command-line parsing only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use salestim::app::App;
use salestim::config::{RunMode, Settings, read_local_settings};
use salestim::ids::TenantId;
use salestim::server::{self, LocalLayout};

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
}

#[derive(Subcommand)]
enum TenantAction {
    /// Register a tenant by its Entra tenant id.
    Add {
        tenant_id: String,
        #[arg(long)]
        name: String,
    },
    /// Show a tenant and its subscription.
    Show { tenant_id: String },
    /// List every tenant.
    List,
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
                server::init_tracing(RunMode::Host);
                let settings = Settings::from_env(RunMode::Host).map_err(|e| e.to_string())?;
                server::run_under_host(settings)
                    .await
                    .map_err(|e| format!("{e:#}"))
            }
            Some(Command::Local {
                functions_dir,
                host_json,
                settings,
            }) => {
                server::init_tracing(RunMode::Local);
                let settings = local_settings(&settings)?;
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
                server::init_tracing(RunMode::Local);
                let app = App::build(local_settings(&settings)?)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                tenant_command(&app, action).await
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

async fn tenant_command(app: &App, action: TenantAction) -> Result<(), String> {
    let parse = |id: &str| TenantId::parse(id).map_err(|e| e.to_string());
    match action {
        TenantAction::Add { tenant_id, name } => {
            let id = parse(&tenant_id)?;
            app.tenants
                .add(&id, &name)
                .await
                .map_err(|e| e.to_string())?;
            println!("added tenant {id} ({name})");
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
        TenantAction::List => {
            for (id, tenant) in app.tenants.list().await.map_err(|e| e.to_string())? {
                println!("{id}\t{}", tenant.display_name);
            }
        }
    }
    Ok(())
}
