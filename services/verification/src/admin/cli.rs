//! `verification admin …`: parses the operator's command, calls [`Admin`], and prints only the
//! new id or key (one line), or a JSON object with `--json`.

use clap::{Args, Subcommand};

use super::{Admin, NewBrowserSession};
use crate::domain::EntityKind;
use crate::error::VerificationError;

/// Flags shared by every admin command.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Database URL, as for `serve`.
    #[arg(
        long,
        env = "VERIFICATION_DATABASE_URL",
        default_value = "sqlite://verification.db",
        global = true
    )]
    pub database_url: String,
    /// Print a JSON object instead of the bare value.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// Operator commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an organization; prints its id.
    CreateOrg {
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// Create an API key; prints the key (shown once, stored hashed).
    CreateApiKey {
        /// Organization id.
        #[arg(long)]
        org: String,
    },
    /// Revoke an API key; prints `revoked`.
    RevokeApiKey {
        /// The key.
        key: String,
    },
    /// Create a browser session (started now); prints its id.
    CreateBrowserSession {
        /// Organization id.
        #[arg(long)]
        org: String,
        /// RFB address (`ws://`, `wss://`, `tcp://host:port`).
        #[arg(long)]
        vnc_url: Option<String>,
        /// DevTools address.
        #[arg(long)]
        cdp_url: Option<String>,
        /// The incumbent's routed address.
        #[arg(long)]
        browser_address: Option<String>,
        /// Initial status.
        #[arg(long, default_value = "running")]
        status: String,
        /// Lifetime minutes from start or last activity.
        #[arg(long)]
        timeout_minutes: Option<i64>,
        /// The task or workflow run occupying it.
        #[arg(long)]
        runnable_id: Option<String>,
    },
    /// Create a task; prints its id.
    CreateTask {
        /// Organization id.
        #[arg(long)]
        org: String,
        /// Its browser session.
        #[arg(long)]
        browser_session: Option<String>,
        /// The workflow run it belongs to.
        #[arg(long)]
        workflow_run: Option<String>,
        /// Initial status.
        #[arg(long, default_value = "running")]
        status: String,
    },
    /// Create a workflow run; prints its id.
    CreateWorkflowRun {
        /// Organization id.
        #[arg(long)]
        org: String,
        /// Its browser session.
        #[arg(long)]
        browser_session: Option<String>,
        /// Initial status.
        #[arg(long, default_value = "running")]
        status: String,
    },
    /// Set an entity's status (KIND: browser_session, task, workflow_run); prints the status.
    SetStatus {
        /// browser_session, task or workflow_run.
        kind: String,
        /// The entity id.
        id: String,
        /// The new status.
        status: String,
    },
    /// Register a browser session's addresses; prints the id.
    UpdateBrowserSession {
        /// The browser session id.
        id: String,
        /// RFB address.
        #[arg(long)]
        vnc_url: Option<String>,
        /// DevTools address.
        #[arg(long)]
        cdp_url: Option<String>,
        /// The incumbent's routed address.
        #[arg(long)]
        browser_address: Option<String>,
    },
}

/// Runs one admin command and returns the line to print.
pub async fn run(args: AdminArgs) -> Result<String, VerificationError> {
    let admin = Admin::connect(&args.database_url).await?;
    let (field, value) = execute(&admin, args.command).await?;
    Ok(if args.json {
        let mut object = serde_json::Map::new();
        object.insert(field.to_owned(), serde_json::Value::String(value));
        serde_json::Value::Object(object).to_string()
    } else {
        value
    })
}

async fn execute(
    admin: &Admin,
    command: AdminCommand,
) -> Result<(&'static str, String), VerificationError> {
    Ok(match command {
        AdminCommand::CreateOrg { name } => ("id", admin.create_org(&name).await?),
        AdminCommand::CreateApiKey { org } => ("key", admin.create_api_key(&org).await?),
        AdminCommand::RevokeApiKey { key } => {
            admin.revoke_api_key(&key).await?;
            ("result", "revoked".into())
        }
        AdminCommand::CreateBrowserSession {
            org,
            vnc_url,
            cdp_url,
            browser_address,
            status,
            timeout_minutes,
            runnable_id,
        } => {
            let new = NewBrowserSession {
                status,
                timeout_minutes,
                vnc_url,
                cdp_url,
                browser_address,
                runnable_id,
                ..NewBrowserSession::new(org)
            };
            ("id", admin.create_browser_session(new).await?)
        }
        AdminCommand::CreateTask {
            org,
            browser_session,
            workflow_run,
            status,
        } => {
            let id = admin
                .create_task(
                    &org,
                    browser_session.as_deref(),
                    workflow_run.as_deref(),
                    &status,
                )
                .await?;
            ("id", id)
        }
        AdminCommand::CreateWorkflowRun {
            org,
            browser_session,
            status,
        } => (
            "id",
            admin
                .create_workflow_run(&org, browser_session.as_deref(), &status)
                .await?,
        ),
        AdminCommand::SetStatus { kind, id, status } => {
            admin
                .set_status(EntityKind::parse(&kind)?, &id, &status)
                .await?;
            ("status", status)
        }
        AdminCommand::UpdateBrowserSession {
            id,
            vnc_url,
            cdp_url,
            browser_address,
        } => {
            admin
                .update_browser_session(
                    &id,
                    vnc_url.as_deref(),
                    cdp_url.as_deref(),
                    browser_address.as_deref(),
                )
                .await?;
            ("id", id)
        }
    })
}
