//! `users ...`.

use crate::cli::error::Result;
use rctl::{NewUser, Password, UserUpdate};

use super::args::*;
use super::io::*;
use super::output;
use super::{Context, with_state, with_state_read};

/// Shows a generated password (once: `shown` keeps it, so that an operation run again after a
/// conflict saves the same one instead of generating another).
fn show_generated(
    shown: &mut Option<Password>,
    user: &str,
    generated: Option<&Password>,
) -> rctl::Result<()> {
    if let Some(p) = generated {
        emit_secret(&output::password_once(user, p))?;
        *shown = Some(p.clone());
    }
    Ok(())
}

pub(super) fn users(ctx: &Context, cmd: UsersCommand) -> Result<()> {
    match cmd {
        UsersCommand::Add(args) => users_add(ctx, args)?,
        UsersCommand::Ls(args) if args.format == output::Format::Json => {
            // Written as read: 1,000,000 users in the memory of one.
            let mut stream = output::UserJsonStream::new();
            let mut out = super::io::StreamOut::new();
            with_state_read(ctx, |state| {
                state
                    .users()
                    .each(&mut |user| out.write(&stream.user(user)?))
            })?;
            out.write(stream.end())?;
            out.finish()?;
        }
        UsersCommand::Ls(args) => {
            let users = with_state_read(ctx, |state| state.users().list())?;
            out!("{}", output::users(&users, args.format)?)?;
        }
        UsersCommand::Update(args) => users_update(ctx, args)?,
        UsersCommand::ResetPassword(args) => {
            let password = if args.password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let name = args.name;
            let mut shown = None;
            with_state(ctx, |state| {
                let password = shown.clone().or_else(|| password.clone());
                let pending = state.users().prepare_password_reset(&name, password)?;
                show_generated(&mut shown, &name, pending.generated_password())?;
                state.users().save(pending).map(drop)
            })?;
            outln!("Password of user {:?} has been reset.", name)?;
        }
        UsersCommand::Rm(args) => {
            // tctl: `users rm a,b`. All must exist, or none is removed.
            let names = list("NAME", &args.name)?;
            for n in &names {
                n.parse::<rctl::UserName>()?;
            }
            if args.no_sync {
                with_state(ctx, |state| state.users().remove_many(&names))?;
            } else {
                let options = rctl::servers::live::SyncOptions::default();
                let synced = rctl::fleet::remove_users(
                    || ctx.open(),
                    &names,
                    &options,
                    super::locks::print_server,
                )?;
                super::locks::report_sync(&synced)?;
            }
            for n in &names {
                outln!("User {:?} has been deleted.", n)?;
            }
        }
    }
    Ok(())
}

/// `users add`: the generated password is shown before the user is saved, and the user is
/// saved only if it could be shown.
fn users_add(ctx: &Context, args: UsersAddArgs) -> Result<()> {
    let roles = list("--roles", &args.roles.join(","))?;
    let mut new = NewUser::new(args.name, roles)
        .with_replication_asked(args.force)
        .with_db_users(repeated_list("--db-users", &args.db_users)?)
        .with_db_names(repeated_list("--db-names", &args.db_names)?);
    if args.password_stdin {
        new = new.with_password(read_password()?);
    }
    // The generated password is shown before the user is saved, and the user is saved
    // only if it could be shown. Run again after a conflict (etcd), the same password
    // is saved and not shown twice.
    let mut shown = None;
    let (user, cert_login) = with_state(ctx, |state| {
        let new = match &shown {
            Some(p) => new.clone().with_password(Password::clone(p)),
            None => new.clone(),
        };
        let cert_login = state.settings().cert_login()?;
        let pending = state.users().prepare(new)?;
        show_generated(
            &mut shown,
            &pending.user().name,
            pending.generated_password(),
        )?;
        let (user, _) = state.users().save(pending)?.remove(0);
        Ok((user, cert_login))
    })?;
    outln!(
        "User {:?} has been created with roles {}.",
        user.name,
        user.roles.join(",")
    )?;
    if cert_login {
        errln!(
            "note: certificate login is on: a certificate for Redis user {:?} logs in without this password; only {:?} itself or people whose roles name it in db_users can get one",
            user.name,
            user.name
        );
    }
    Ok(())
}

/// `users update --set-roles|--set-db-users|--set-db-names`.
fn users_update(ctx: &Context, args: UsersUpdateArgs) -> Result<()> {
    let mut update = UserUpdate::new();
    update.roles = optional_list("--set-roles", args.set_roles)?;
    update.replication_asked = args.force;
    update.db_users = optional_list("--set-db-users", args.set_db_users)?;
    update.db_names = optional_list("--set-db-names", args.set_db_names)?;
    if update.roles.is_none() && update.db_users.is_none() && update.db_names.is_none() {
        return Err(crate::cli::error::usage(
            "nothing to update: give --set-roles, --set-db-users or --set-db-names".to_string(),
        ));
    }
    let user = with_state(ctx, |state| {
        state.users().update(&args.name, update.clone())
    })?;
    outln!("User {:?} has been updated.", user.name)?;
    Ok(())
}
