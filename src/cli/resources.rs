//! tctl's resource commands: `create -f` (roles, users), `get`, `rm`.

use crate::cli::error::Result;
use rctl::validate_name;

use super::args::*;
use super::io::*;
use super::output;
use super::{Context, with_state, with_state_read};

/// The most a resource file may hold: 100,000 user documents take about 15 MiB (a file, or a
/// generator's output through `<(…)`).
const RESOURCE_LIMIT: u64 = 256 * 1024 * 1024;

/// The most a resource on standard input may hold (a role's file, checked by the library).
const STDIN_LIMIT: u64 = rctl::state::user_resource::ROLE_LIMIT;

pub(super) fn create(ctx: &Context, args: CreateArgs) -> Result<()> {
    let (text, source) = if args.file.as_os_str() == "-" {
        (
            read_stdin("the resource", STDIN_LIMIT)?,
            "stdin".to_string(),
        )
    } else {
        let source = args.file.display().to_string();
        let text = read_text_file(&args.file, RESOURCE_LIMIT)?;
        (text, source)
    };
    let (role, ignored) = match rctl::state::user_resource::classify(&text, &source)? {
        rctl::state::user_resource::ResourceFile::Users => {
            return create_users(ctx, &args, &text, &source);
        }
        rctl::state::user_resource::ResourceFile::Role { role, ignored } => (role, ignored),
    };
    let replaced = with_state(ctx, |state| {
        state.roles().create(&role, args.force, args.target)
    })?;
    if !ignored.is_empty() {
        errln!(
            "note: {source}: ignored Teleport fields rctl does not use: {}",
            ignored.join(", ")
        );
    }
    let verb = if replaced { "updated" } else { "created" };
    outln!("role {:?} has been {verb}", role.name())?;
    Ok(())
}

/// `create -f` of Teleport user documents: every user checked, then their generated passwords
/// shown (once), then all of them saved in one change. The documents are read twice (checked,
/// then converted as the state takes them), never held as users beside the state's copy.
fn create_users(ctx: &Context, args: &CreateArgs, text: &str, source: &str) -> Result<()> {
    if args.target.is_some() {
        return Err(crate::cli::error::usage(
            "--target is for roles".to_string(),
        ));
    }
    // Made here, so that a rerun after an etcd conflict saves the passwords shown.
    let mut passwords = Vec::new();
    let mut ignored = std::collections::BTreeSet::new();
    for user in rctl::state::user_resource::user_documents(text, source)? {
        let (_, left_out) = user?;
        ignored.extend(left_out);
        passwords.push(rctl::Password::generate());
    }
    let mut shown = false;
    let saved = with_state(ctx, |state| {
        let mut failure = None;
        let users = rctl::state::user_resource::user_documents(text, source)?
            .zip(&passwords)
            .map_while(|(user, password)| match user {
                Ok((user, _)) => Some(
                    user.with_password(password.clone())
                        .with_replication_asked(args.force),
                ),
                Err(e) => {
                    failure = Some(e);
                    None
                }
            });
        let pending = state.users().prepare_many(users);
        if let Some(e) = failure {
            return Err(e);
        }
        let pending = pending?;
        if !shown {
            let mut text =
                String::from("Redis passwords, shown once (rctl keeps only their SHA-256):\n");
            for ((user, _), password) in pending.users().iter().zip(&passwords) {
                text.push_str(&format!("{}\t{}\n", user.name, password.expose()));
            }
            emit_secret(&text)?;
            shown = true;
        }
        Ok(state.users().save(pending)?.len())
    })?;
    if !ignored.is_empty() {
        let ignored: Vec<String> = ignored.into_iter().collect();
        errln!(
            "note: {source}: ignored Teleport fields rctl does not use: {}",
            ignored.join(", ")
        );
    }
    outln!("{saved} user(s) have been created.")?;
    Ok(())
}

/// `roles`, `role`, `roles/NAME`, `users`, ... into a kind and an optional name.
pub(super) fn parse_resource(
    resource: &str,
    name: Option<String>,
) -> Result<(&'static str, Option<String>)> {
    let (kind, inline) = match resource.split_once('/') {
        Some((k, n)) => (k, Some(n.to_string())),
        None => (resource, None),
    };
    let kind = match kind {
        "roles" | "role" => "role",
        "users" | "user" => "user",
        other => {
            return Err(crate::cli::error::usage(format!(
                "unknown resource kind {:?}; rctl has roles and users",
                rctl_shorten(other)
            )));
        }
    };
    if inline.is_some() && name.is_some() {
        return Err(crate::cli::error::usage(
            "give the name once: roles/NAME or roles NAME".to_string(),
        ));
    }
    let name = inline.or(name);
    if let Some(n) = &name {
        validate_name(kind, n)?;
    }
    Ok((kind, name))
}

pub(super) fn get(ctx: &Context, args: GetArgs) -> Result<()> {
    let (kind, name) = parse_resource(&args.resource, args.name)?;
    if kind == "role" {
        let roles = with_state_read(ctx, |state| match &name {
            Some(n) => state.roles().get(n).map(|r| vec![r]),
            None => state.roles().list(),
        })?;
        out!(
            "{}",
            output::roles(&roles, args.format.unwrap_or(output::Format::Yaml))?
        )?;
    } else {
        let users = with_state_read(ctx, |state| match &name {
            Some(n) => state.users().get(n).map(|u| vec![u]),
            None => state.users().list(),
        })?;
        out!(
            "{}",
            output::users(&users, args.format.unwrap_or(output::Format::Text))?
        )?;
    }
    Ok(())
}

pub(super) fn rm(ctx: &Context, args: RmArgs) -> Result<()> {
    let (kind, name) = parse_resource(&args.resource, None)?;
    let Some(name) = name else {
        return Err(crate::cli::error::usage(
            "name the resource: rctl rm roles/NAME".to_string(),
        ));
    };
    if kind != "role" {
        return Err(crate::cli::error::usage(
            "remove users with 'rctl users rm NAME'".to_string(),
        ));
    }
    with_state(ctx, |state| state.roles().remove(&name))?;
    outln!("role {name:?} has been deleted")?;
    Ok(())
}
