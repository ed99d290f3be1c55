//! `acl generate`, `acl check`.

use crate::cli::error::Result;

use super::args::*;
use super::io::*;
use super::{Context, with_state_read};

pub(super) fn acl_generate(ctx: &Context, args: AclGenerateArgs) -> Result<()> {
    // Checked before the state is opened: a refusal changes nothing.
    if let Some(out) = &args.out {
        ctx.outside_state(out)?;
        rctl::AclFile::check_output(out)?;
    }
    if let Some(owner) = &args.owner {
        owner.resolve()?;
    }
    let file = with_state_read(ctx, |state| {
        if let Some(out) = &args.out {
            state.check_output_path(out)?;
        }
        state.settings().render_acl_file(args.target)
    })?;
    let target = file.target;
    if file.databases.unenforced > 0 {
        errln!(
            "note: the db_names of {} user(s) are not enforced on {target}: it has no database rules (valkey-9.1 has db=)",
            file.databases.unenforced
        );
    }
    if !file.databases.not_numbers.is_empty() {
        let names: Vec<&str> = file
            .databases
            .not_numbers
            .iter()
            .map(String::as_str)
            .collect();
        errln!(
            "note: db_names {} are no database number (0, 1, ...): they allow no database",
            names.join(", ")
        );
    }
    match &args.out {
        Some(out) => {
            file.write_owned(out, args.owner.as_ref())?;
            errln!("wrote {} ({} users)", out.display(), file.users);
        }
        None => out!("{}", file.text)?,
    }
    Ok(())
}

pub(super) fn acl_check(ctx: &Context, args: AclCheckArgs) -> Result<()> {
    let text = read_text_file(&args.file, 64 * 1024 * 1024)?;
    let target = match args.target {
        Some(t) => t,
        // The cluster's target (a read-only open: a lint never creates a state).
        None => with_state_read(ctx, |state| state.settings().redis_target())?,
    };
    let findings = rctl::acl::lint(&text, target);
    if findings.is_empty() {
        outln!("{}: OK for {target}", args.file.display())?;
        return Ok(());
    }
    // Every finding on stdout, the verdict as one line on stderr.
    for f in &findings {
        let hint = f
            .exists_in
            .map(|t| super::error::target_hint(t.name()))
            .unwrap_or_default();
        outln!("{}: {f}{hint}", args.file.display())?;
    }
    Err(crate::cli::error::CliError::AclProblems {
        source_name: args.file.display().to_string(),
        target,
        findings,
    })
}
