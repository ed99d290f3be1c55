//! `clients add`, `clients ls`, `clients rm`: applications' bundles that `redis sync` renews.

use crate::cli::error::Result;
use rctl::ClientOutput;
use serde::Serialize;

use super::args::SignFormat;
use super::client_args::*;
use super::output::{Format, date, escape_control, serialize, table};
use super::{Context, with_state, with_state_read};

pub(super) fn command_name(cmd: &ClientsCommand) -> &'static str {
    match cmd {
        ClientsCommand::Add(_) => "clients add",
        ClientsCommand::Ls(_) => "clients ls",
        ClientsCommand::Rm(_) => "clients rm",
    }
}

pub(super) fn clients(ctx: &Context, cmd: ClientsCommand) -> Result<()> {
    match cmd {
        ClientsCommand::Add(args) => clients_add(ctx, *args),
        ClientsCommand::Ls(args) => clients_ls(ctx, args),
        ClientsCommand::Rm(args) => {
            with_state(ctx, |state| state.clients().remove(&args.name))?;
            outln!("Client {:?} has been removed; its files stay.", args.name)?;
            Ok(())
        }
    }
}

fn clients_add(ctx: &Context, args: ClientsAddArgs) -> Result<()> {
    ctx.outside_state(&args.out)?;
    let format = match args.format {
        SignFormat::Redis => {
            rctl::RedisBundle::check_outputs_for(&args.out, args.overwrite, true)?;
            rctl::ClientFormat::Redis
        }
        SignFormat::Pkcs12 => rctl::ClientFormat::Pkcs12 {
            passphrase_file: args
                .format_options
                .pkcs12_passphrase_file
                .clone()
                .ok_or_else(|| {
                    crate::cli::error::usage(
                        "--format=pkcs12 needs --pkcs12-passphrase-file=FILE".to_string(),
                    )
                })?,
        },
        SignFormat::KubernetesSecret => rctl::ClientFormat::KubernetesSecret {
            namespace: args.format_options.namespace.clone(),
        },
    };
    let mut client =
        ClientOutput::new(args.name, args.user, args.db_user, &args.out)?.with_format(format)?;
    if args.format != SignFormat::Redis {
        let path = &client.outputs()[0];
        rctl::check_file_output(path)?;
        if !args.overwrite && path.exists() {
            return Err(rctl::Error::OutputExists(path.clone()).into());
        }
    }
    if let Some(ttl) = args.ttl {
        client = client.with_ttl(ttl);
    }
    if let Some(owner) = args.owner {
        client = client.with_owner(owner);
    }
    if let Some(command) = &args.exec {
        client = client.with_exec(command)?;
    }
    if let Some(node) = args.node.clone() {
        client = client.with_node(node);
    }
    // Another host's files are that host's to write: its sync issues them.
    if args.node.is_some() && args.node != rctl::this_node() {
        with_state(ctx, |state| state.clients().register(&client))?;
        outln!(
            "Client {:?} registered for node {}: its 'rctl redis sync' there issues it.",
            client.name.as_str(),
            args.node.as_ref().map(|n| n.as_str()).unwrap_or_default()
        )?;
        return Ok(());
    }
    let (bundle, files) = with_state(ctx, |state| state.clients().add(&client, args.overwrite))?;
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    outln!(
        "Client {:?} registered: wrote {} (Redis user {:?}, until {}); 'rctl redis sync' renews it.",
        client.name.as_str(),
        names.join(", "),
        client.db_user.as_str(),
        date(bundle.issued().not_after)
    )?;
    Ok(())
}

#[derive(Serialize)]
struct ClientRow {
    name: String,
    user: String,
    db_user: String,
    path: String,
    format: &'static str,
    not_after: Option<String>,
    exec: Option<String>,
    status: String,
    node: Option<String>,
}

fn clients_ls(ctx: &Context, args: ClientsLsArgs) -> Result<()> {
    let mut clients = with_state_read(ctx, |state| state.clients().plans(None))?;
    if let Some(node) = &args.list.node {
        clients.retain(|(c, _)| c.node.as_ref() == Some(node));
    }
    let rows: Vec<ClientRow> = clients
        .iter()
        .map(|(c, plan)| ClientRow {
            name: c.name.to_string(),
            user: c.user.to_string(),
            db_user: c.db_user.to_string(),
            path: c.out.display().to_string(),
            format: c.format.name(),
            not_after: rctl::clients::renewal::on_disk(c).map(|r| date(r.not_after)),
            exec: c.exec.clone(),
            node: c.node.as_ref().map(ToString::to_string),
            status: match (&plan.renew, plan.write_cas) {
                (Some(why), _) => format!("renew: {why}"),
                (None, true) => "trust bundle to rewrite".to_string(),
                (None, false) => "in line".to_string(),
            },
        })
        .collect();
    let text = match args.list.format {
        Format::Text => {
            let rows: Vec<[String; 8]> = rows
                .iter()
                .map(|r| {
                    [
                        r.name.clone(),
                        r.user.clone(),
                        r.db_user.clone(),
                        escape_control(&r.path),
                        r.format.to_string(),
                        r.not_after.clone().unwrap_or_else(|| "-".to_string()),
                        r.status.clone(),
                        r.node.clone().unwrap_or_else(|| "-".to_string()),
                    ]
                })
                .collect();
            table(
                [
                    "NAME",
                    "USER",
                    "DB USER",
                    "PATH",
                    "FORMAT",
                    "NOT AFTER",
                    "STATUS",
                    "NODE",
                ],
                &rows,
            )
        }
        other => serialize(&rows, other == Format::Json)?,
    };
    out!("{text}")?;
    Ok(())
}
