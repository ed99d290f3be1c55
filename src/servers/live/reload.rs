//! Loading a server's files again without a restart: which settings name the TLS files, and
//! the `CONFIG SET` that makes the server read them.

use std::path::{Path, PathBuf};

use crate::acl::Target;
use crate::error::Result;
use crate::pki::bundle::RedisBundle;
use crate::servers::live::Live;
use crate::servers::registered::RegisteredServer;

/// The settings naming a server's TLS files, with the registered file each must name, in
/// the order `CONFIG SET` reloads them (the CA file first).
pub(super) fn tls_files(server: &RegisteredServer) -> [(&'static str, PathBuf); 3] {
    let [crt, key, cas] = RedisBundle::paths(&server.cert_prefix);
    [
        ("tls-ca-cert-file", cas),
        ("tls-key-file", key),
        ("tls-cert-file", crt),
    ]
}

/// The TLS settings of a live server that name other files than the registered ones:
/// (setting, its value, the registered file).
pub(super) fn other_tls_files(
    live: &mut Live,
    server: &RegisteredServer,
) -> Result<Vec<(&'static str, String, PathBuf)>> {
    let mut other = Vec::new();
    for (setting, path) in tls_files(server) {
        let value = live.config_get(setting, &server.addr)?.unwrap_or_default();
        if !same_file(&value, &path) {
            other.push((setting, value, path));
        }
    }
    Ok(other)
}

/// True when `value` (a path as the server has it) names the file at `path`.
fn same_file(value: &str, path: &Path) -> bool {
    if value.is_empty() {
        return false;
    }
    let value = Path::new(value);
    value == path
        || matches!(
            (value.canonicalize(), path.canonicalize()),
            (Ok(a), Ok(b)) if a == b
        )
}

/// `CONFIG SET tls-cert-file … tls-key-file … tls-ca-cert-file …`: Redis loads the files again
/// (7.0.0 alone skipped a path that did not change, redis#10713). A server that takes one
/// setting per `CONFIG SET` (Redis 6, the target's `config_set_many` feature) gets three, each
/// of which reloads all three files.
pub(super) fn reload_tls(live: &mut Live, server: &RegisteredServer, target: Target) -> Result<()> {
    let settings = tls_files(server);
    let text = |p: &Path| p.to_string_lossy().into_owned();
    if target.features().config_set_many {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET");
        for (name, path) in &settings {
            cmd.arg(*name).arg(text(path));
        }
        live.query::<()>(&cmd, &server.addr)
    } else {
        for (name, path) in &settings {
            live.query::<()>(
                redis::cmd("CONFIG").arg("SET").arg(*name).arg(text(path)),
                &server.addr,
            )?;
        }
        Ok(())
    }
}

/// What [`cert_login_drift`] says a server has when it has no such setting.
pub(super) const NO_SETTING: &str = "(no such setting)";

/// The setting that logs clients in by their certificate's CN (Valkey 9.0+, Redis 8.6+).
const CERT_LOGIN_SETTING: &str = "tls-auth-clients-user";

/// `tls-auth-clients-user` as the server has it and as the state wants it, when they differ:
/// a server switched to certificate login by hand lets anyone with a certificate for an
/// account in, password or not; one switched off refuses the logins rctl issues. `None` when
/// they agree, or when the server has no such setting and the state wants none.
pub(super) fn cert_login_drift(
    live: &mut Live,
    server: &RegisteredServer,
    cert_login: bool,
) -> Result<Option<(String, &'static str)>> {
    let want = if cert_login { "CN" } else { "off" };
    let have = live.config_get(CERT_LOGIN_SETTING, &server.addr)?;
    Ok(match have {
        Some(have) if have.eq_ignore_ascii_case(want) => None,
        None if !cert_login => None,
        Some(have) => Some((have, want)),
        None => Some((NO_SETTING.to_string(), want)),
    })
}

/// Sets `tls-auth-clients-user` back to what the state says.
pub(super) fn set_cert_login(live: &mut Live, server: &RegisteredServer, want: &str) -> Result<()> {
    let _: () = live.query(
        redis::cmd("CONFIG")
            .arg("SET")
            .arg(CERT_LOGIN_SETTING)
            .arg(want),
        &server.addr,
    )?;
    Ok(())
}
