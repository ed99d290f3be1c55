//! `redis sync --watch`: the watching agent's command line, around [`rctl::fleet::watch`].

use std::path::Path;

use rctl::fleet;

use super::Context;
use super::args::RedisSyncArgs;
use super::redis::{client_line, sync_line, sync_metrics};
use crate::cli::error::Result;

/// `redis sync --watch`: passes until the process is stopped. The first pass prints every
/// server; later ones print what they did (a server in line is not news), with why they ran.
pub(super) fn watch(
    ctx: &Context,
    args: &RedisSyncArgs,
    selection: &fleet::Selection,
    options: &rctl::servers::live::SyncOptions,
    metrics: Option<&Path>,
) -> Result<()> {
    let watch = fleet::WatchOptions {
        resync: args.resync.as_std(),
        ..fleet::WatchOptions::default()
    };
    let first = std::cell::Cell::new(true);
    let on_server = |server: &fleet::ServerSync| {
        let line = sync_line(server, false);
        if first.get() || !line.ends_with(": in line") {
            let _ = outln!("{line}");
        }
    };
    let on_pass = |pass: &fleet::Pass| {
        match &pass.report {
            Ok(report) => {
                for notice in &report.notices {
                    errln!("note: {notice}");
                }
                for client in &report.clients {
                    let line = client_line(client, false);
                    if first.get() || !line.ends_with(": in line") {
                        let _ = outln!("{line}");
                    }
                }
                if let Some(path) = metrics
                    && let Err(e) = sync_metrics(ctx, path, report, options)
                {
                    errln!("warning: no metrics written: {}", super::error::message(&e));
                }
            }
            Err(e) => errln!("error: {}", super::error::lib_message(e)),
        }
        first.set(false);
        std::ops::ControlFlow::Continue(())
    };
    fleet::watch(
        || ctx.open(),
        selection,
        options,
        &watch,
        on_server,
        on_pass,
    )?;
    Ok(())
}
