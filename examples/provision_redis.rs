//! Provision a Redis server for mutual TLS with the rctl library: a host CA in a fresh state
//! directory, a user, the server's and the user's certificates, and the users.acl.
//!
//! `cargo run --example provision_redis [OUT_DIR]` (a temp folder by default).

use std::path::PathBuf;

use rctl::{
    ClientLogin, NewUser, RedisTlsConfig, ServerCertRequest, Signing, StateDir, parse_host_list,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let out: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());

    // The state directory holds the CA, users and roles; it is created on first use.
    let mut state = StateDir::open(out.join("state"))?;
    let ca = state.ca().get()?;
    println!(
        "host CA for {:?}, pin {}",
        ca.cluster_name(),
        ca.active().pin()
    );

    // A person with the built-in access role, allowed to connect as Redis user "alice".
    let (alice, password) = state.users().add(
        NewUser::new("alice".parse()?, vec!["access".into()]).with_db_users(vec!["alice".into()]),
    )?;
    let password = password.expect("a generated password");
    println!(
        "user {} created; her Redis password is shown once: {}",
        alice.name,
        password.expose()
    );

    // The server's certificate, key and CA bundle.
    let req =
        ServerCertRequest::new(parse_host_list("localhost,127.0.0.1")?).with_ttl("2190h".parse()?);
    let (server, _) = state.sign(&Signing::server(req))?;
    server.write(&out.join("server"), true)?;

    // Alice's client certificate: refused unless her roles allow Redis user "alice".
    let login = ClientLogin::new("alice".parse()?, "alice".parse()?);
    let (client, _) = state.sign(&Signing::client(login))?;
    client.write(&out.join("alice"), true)?;

    // users.acl: alice with her SHA-256 hash and her roles' rules, then `user default off`.
    let acl = state.settings().render_acl(None)?;
    std::fs::write(out.join("users.acl"), &acl)?;
    assert!(acl.ends_with("user default off\n"));

    let mut config = RedisTlsConfig::new(out.join("server"));
    config.aclfile = Some(out.join("users.acl"));
    println!("redis.conf:\n{}", config.render()?);
    Ok(())
}

#[test]
fn provisions_a_server() {
    main().unwrap();
}
