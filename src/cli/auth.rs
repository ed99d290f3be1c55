//! `auth init|sign|export|rotate`, `status`, `certs inspect`.

use crate::cli::error::CliError;
use crate::cli::error::Result;
use rctl::{
    CaOptions, ClientLogin, Error, Phase, ServerCertRequest, parse_host_list, validate_name,
};

use super::args::*;
use super::io::*;
use super::output;
use super::{Context, with_state, with_state_read};

pub(super) fn auth_init(ctx: &Context, args: InitArgs) -> Result<()> {
    let mut options = CaOptions::new(args.cluster_name.unwrap_or_else(rctl::default_cluster_name));
    options.algorithm = args.key_algo;
    options.ttl = args.ca_ttl;
    // A passphrase given, or etcd: the new CA's key is encrypted at rest from the start.
    options.encrypt = ctx.encrypts_new_ca();
    let ca = with_state(ctx, |state| state.ca().init(&options))?;
    outln!(
        "Created host CA for cluster {:?} ({}), valid until {}.\nCA pin: {}",
        ca.cluster_name(),
        ca.active().algorithm(),
        output::date(ca.active().not_after()),
        ca.active().pin()
    )?;
    Ok(())
}

/// The bundle format asked for, with what it needs (checked before anything is signed).
pub(super) fn bundle_format(
    format: SignFormat,
    options: &super::client_args::FormatOptions,
    name: impl FnOnce() -> Result<String>,
) -> Result<rctl::BundleFormat> {
    match format {
        SignFormat::Redis => Ok(rctl::BundleFormat::Redis),
        SignFormat::Pkcs12 => {
            let Some(file) = &options.pkcs12_passphrase_file else {
                return Err(crate::cli::error::usage(
                    "--format=pkcs12 needs --pkcs12-passphrase-file=FILE".to_string(),
                ));
            };
            Ok(rctl::BundleFormat::Pkcs12 {
                passphrase: rctl::read_passphrase_file(file)?,
            })
        }
        SignFormat::KubernetesSecret => {
            let name = name()?;
            rctl::check_kubernetes_name("Kubernetes Secret name", &name)?;
            if let Some(ns) = &options.namespace {
                rctl::check_kubernetes_name("Kubernetes namespace", ns)?;
            }
            Ok(rctl::BundleFormat::KubernetesSecret {
                name,
                namespace: options.namespace.clone(),
            })
        }
    }
}

/// `auth sign`'s arguments turned into one signing, once: what is signed (a person's client
/// certificate, a CSR's, or a server's), and how its files are placed.
fn signing(args: &SignArgs) -> Result<(rctl::Signing, rctl::Placement)> {
    let subject = match (&args.user, &args.csr) {
        (Some(user), _) => {
            let Some(db_user) = args.db_user.clone() else {
                return Err(crate::cli::error::usage("--user needs --db-user=ACCOUNT"));
            };
            let mut login = ClientLogin::new(user.clone(), db_user);
            if let Some(n) = &args.db_name {
                validate_name("database", n)?;
            }
            login.db_name = args.db_name.clone();
            login.ttl = args.ttl;
            login.key_algorithm = args.key_algo;
            rctl::Signing::client(login)
        }
        (None, Some(csr)) => {
            if args.format != SignFormat::Redis {
                return Err(crate::cli::error::usage(
                    "a CSR's certificate is written as --format=redis: the key stays where the CSR was made",
                ));
            }
            rctl::Signing::csr(read_text_file(csr, 64 * 1024)?, args.ttl)
        }
        (None, None) => {
            let hosts = parse_host_list(args.host.as_deref().unwrap_or_default())?;
            let mut req = ServerCertRequest::new(hosts);
            req.key_algorithm = args.key_algo;
            req.ttl = args.ttl;
            rctl::Signing::server(req)
        }
    };
    // The Secret's name: the output's file name (PREFIX=k8s/redis1 names it redis1).
    let format = bundle_format(args.format, &args.format_options, || {
        args.out
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
            .ok_or_else(|| crate::cli::error::usage("--out names no file"))
    })?;
    let mut placement = rctl::Placement::new(format);
    placement.overwrite = args.overwrite;
    placement.owner = args.owner.clone();
    Ok((subject, placement))
}

pub(super) fn auth_sign(ctx: &Context, args: SignArgs) -> Result<()> {
    // Everything is checked before anything is signed: the owner resolves, the outputs are
    // free and outside the state, the redis.conf lines print.
    if let Some(owner) = &args.owner {
        owner.resolve()?;
    }
    ctx.outside_state(&args.out)?;
    let (signing, placement) = signing(&args)?;
    let format = placement.format.name();
    let redis = args.format == SignFormat::Redis;
    if redis {
        rctl::RedisBundle::check_outputs_for(&args.out, args.overwrite, args.csr.is_none())?;
    } else {
        let first = placement.format.paths(&args.out, true)[0].clone();
        rctl::check_file_output(&first)?;
        if !args.overwrite && first.exists() {
            return Err(Error::OutputExists(first).into());
        }
    }
    let client = args.user.is_some();
    if redis && !client {
        rctl::RedisTlsConfig::new(&args.out).render()?;
    }
    if let (true, Some(n)) = (client, &args.db_name) {
        errln!(
            "note: --db-name {n:?} is not in the certificate: a Redis client picks its database with SELECT, which users.acl allows by the user's db_names (db= rules, valkey-9.1 only)"
        );
    }
    let signing = signing.written_to(&args.out, placement);
    let (bundle, written, cert_login) = with_state(ctx, |state| {
        let (bundle, written) = state.sign(&signing)?;
        let cert_login = client && redis && state.settings().cert_login()?;
        Ok((bundle, written, cert_login))
    })?;
    let paths = rctl::RedisBundle::paths(&args.out);
    match (redis, &signing.subject) {
        (false, _) => {
            outln!(
                "Wrote {} ({}, serial {}, until {}).",
                written
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                format,
                bundle.issued().serial,
                output::date(bundle.issued().not_after)
            )?;
        }
        (true, rctl::Subject::Client(login)) => {
            if cert_login {
                errln!(
                    "note: certificate login is on: this certificate logs its holder in as Redis user {:?} with no password; keep {} as safe as a password",
                    login.db_user,
                    paths[1].display()
                );
            }
            out!(
                "{}",
                output::redis_client_instructions(&paths, login, bundle.issued())
            )?;
        }
        (true, _) => {
            // The key the CSR was made with, usually beside it: the redis.conf lines name it.
            let key_beside = args.csr.is_some() && bundle.key_file_matches(&paths[1]);
            out!(
                "{}",
                output::redis_server_instructions(&written, &args.out, key_beside)?
            )?;
        }
    }
    Ok(())
}

pub(super) fn auth_export(ctx: &Context, args: ExportArgs) -> Result<()> {
    match args.ca_type {
        // rctl has one CA: every name tctl has for the CAs of Redis certificates means it.
        CaType::Host | CaType::TlsHost | CaType::Db | CaType::DbClient => {}
    }
    // Read-only when a CA exists; the first export creates one, as every command that needs
    // the CA does.
    if let Some(out) = &args.out {
        rctl::check_file_output(out)?;
    }
    let ca = match with_state_read(ctx, |state| {
        if let Some(out) = &args.out {
            state.check_output_path(out)?;
        }
        state.ca().existing()
    })? {
        Some(ca) => ca,
        None => with_state(ctx, |state| state.ca().get())?,
    };
    match &args.out {
        Some(out) => {
            rctl::write_public_file(out, &ca.trusted_pem())?;
            errln!("wrote {}", out.display());
        }
        None => out!("{}", ca.trusted_pem())?,
    }
    Ok(())
}

pub(super) fn auth_rotate(ctx: &Context, args: RotateArgs) -> Result<()> {
    match args.ca_type {
        // rctl has one CA: every name tctl has for the CAs of Redis certificates means it.
        CaType::Host | CaType::TlsHost | CaType::Db | CaType::DbClient => {}
    }
    // tctl: `--manual` with no phase starts a manual rotation, i.e. enters `init`.
    let phase = match (args.phase, args.manual) {
        (Some(p), _) => Some(p),
        (None, true) => Some(Phase::Init),
        (None, false) => None,
    };
    let ca = match phase {
        Some(phase) => rctl::fleet::rotate(
            || ctx.open(),
            phase,
            args.force,
            rctl::servers::live::DEFAULT_TIMEOUT,
        )?,
        None => with_state(ctx, |state| {
            let grace = args.grace_period.unwrap_or(rctl::DEFAULT_GRACE_PERIOD);
            state.ca().start_auto_rotation(grace)
        })?,
    };
    let registered = with_state_read(ctx, |state| {
        let (servers, clients) = (state.servers().list()?, state.clients().list()?);
        let nodes: std::collections::BTreeSet<_> = servers
            .iter()
            .filter_map(|s| s.node.clone())
            .chain(clients.iter().filter_map(|c| c.node.clone()))
            .collect();
        Ok(output::Registered {
            servers: servers.len(),
            clients: clients.len(),
            nodes: nodes.len(),
        })
    })?;
    outln!("Host CA: {}", ca.rotation().describe())?;
    out!("{}", output::rotation_steps(ca.rotation(), &registered))?;
    Ok(())
}

pub(super) fn status(ctx: &Context, args: FormatArgs) -> Result<()> {
    // A read-only open: a state that does not exist reads as one without a CA.
    let (ca, clients, progress) = with_state_read(ctx, |state| {
        let ca = state.ca().existing()?;
        let (clients, progress) = match &ca {
            Some(ca) => (
                state.clients().plans(None)?,
                state.ca().rotation_progress(ca)?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        Ok((ca, clients, progress))
    })?;
    out!(
        "{}",
        output::status(ca.as_ref(), &ctx.state_dir, args.format, &progress)?
    )?;
    // What the client outputs need, and what it would hold up (text only: the JSON is stable).
    if args.format == output::Format::Text && !clients.is_empty() {
        let due: Vec<String> = clients
            .iter()
            .filter_map(|(c, plan)| plan.renew.as_ref().map(|why| format!("{} ({why})", c.name)))
            .collect();
        if due.is_empty() {
            outln!("Client outputs: {}, all in line.", clients.len())?;
        } else {
            let rotating = ca.as_ref().is_some_and(|ca| {
                matches!(
                    ca.rotation().phase,
                    Phase::UpdateClients | Phase::UpdateServers
                )
            });
            let blocks = if rotating {
                "; the next rotation phase is refused until 'rctl redis sync' renews them"
            } else {
                "; 'rctl redis sync' renews them"
            };
            outln!(
                "Client outputs: {}, due: {}{blocks}.",
                clients.len(),
                due.join(", ")
            )?;
        }
    }
    Ok(())
}

pub(super) fn certs_inspect(ctx: &Context, args: InspectArgs) -> Result<()> {
    let pem = read_text_file(&args.file, 1024 * 1024)?;
    let (report, now) = with_state_read(ctx, |state| {
        let ca = state.ca().existing()?;
        let now = state.now();
        Ok((
            rctl::inspect_certificate(pem.as_bytes(), ca.as_ref(), now)?,
            now,
        ))
    })?;
    out!("{}", output::cert_report(&report, args.format)?)?;
    let why = match report.status {
        rctl::CertStatus::Valid => return Ok(()),
        rctl::CertStatus::Expired => format!("expired {}", output::date(report.not_after)),
        rctl::CertStatus::NotYetValid => format!(
            "is not valid before {} (now {})",
            output::date(report.not_before),
            output::date(now)
        ),
        rctl::CertStatus::Foreign => "was not signed by any key this host CA trusts".to_string(),
        // A status this rctl does not know how to describe: not valid, whatever it is.
        _ => "is not valid".to_string(),
    };
    Err(CliError::CertificateRejected {
        file: args.file,
        why,
    })
}

pub(super) fn auth_encrypt(ctx: &Context) -> Result<()> {
    let ca = with_state(ctx, |state| state.ca().encrypt())?;
    outln!(
        "{} now encrypted at rest (PKCS#8, scrypt, AES-256-CBC); commands that sign ask for the passphrase.",
        ca_keys(&ca)
    )?;
    Ok(())
}

pub(super) fn auth_decrypt(ctx: &Context) -> Result<()> {
    let ca = with_state(ctx, |state| state.ca().decrypt())?;
    outln!("{} now kept in clear (mode 0600).", ca_keys(&ca))?;
    Ok(())
}

/// "The host CA key of cluster "x" is" (or keys ... are, during a rotation).
fn ca_keys(ca: &rctl::HostCa) -> String {
    let (keys, verb) = if ca.trusted().count() > 1 {
        ("keys", "are")
    } else {
        ("key", "is")
    };
    format!(
        "The host CA {keys} of cluster {:?} {verb}",
        ca.cluster_name()
    )
}
