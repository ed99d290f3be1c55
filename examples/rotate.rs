//! Walk a manual rotation of the host CA with the rctl library, re-issuing server
//! certificates when the phase asks for it, and check what each phase trusts.
//!
//! `cargo run --example rotate`

use rctl::{Phase, ServerCertRequest, StateDir, parse_host_list};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut state = StateDir::open(dir.path().join("state"))?;
    let before = state.ca().get()?.active().pin();
    let request =
        ServerCertRequest::new(parse_host_list("redis.internal")?).with_ttl("720h".parse()?);

    for phase in [
        Phase::Init,
        Phase::UpdateClients,
        Phase::UpdateServers,
        Phase::Standby,
    ] {
        let ca = state.ca().rotate(phase)?;
        let trusted: Vec<String> = ca.trusted().map(|k| k.pin()).collect();
        println!(
            "{phase:<15} signing {}  trusted {}",
            ca.active().pin(),
            trusted.len()
        );
        if phase == Phase::UpdateServers {
            // Servers re-issued now trust both keys through their .cas file.
            let (bundle, _) = state.sign(&rctl::Signing::server(request.clone()))?;
            assert_eq!(bundle.ca_pem().matches("BEGIN CERTIFICATE").count(), 2);
        }
    }

    let ca = state.ca().get()?;
    assert_ne!(ca.active().pin(), before, "the new key signs");
    assert_eq!(ca.trusted().count(), 1, "the old key is no longer trusted");
    println!("{}", ca.rotation().describe());

    // A step the state machine does not allow is refused, and says what is allowed.
    let err = state.ca().rotate(Phase::UpdateServers).unwrap_err();
    println!("refused: {err}");
    Ok(())
}

#[test]
fn walks_a_rotation() {
    main().unwrap();
}
