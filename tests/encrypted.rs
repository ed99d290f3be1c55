//! The host CA key encrypted at rest: PKCS#8 `ENCRYPTED PRIVATE KEY` that openssl reads, a
//! passphrase asked only by commands that use the key, refusals that change nothing.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::util::{TestDir, openssl_decrypts, passphrase_file, run, snapshot};

/// The PEM blocks labelled `label` in the CA state file, each with its indentation removed.
fn state_blocks(dir: &TestDir, label: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.state().join("host_ca.yaml")).unwrap();
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines().map(str::trim) {
        if line == begin {
            current = Some(vec![line]);
        } else if let Some(block) = current.as_mut() {
            block.push(line);
            if line == end {
                blocks.push(block.join("\n") + "\n");
                current = None;
            }
        }
    }
    blocks
}

#[test]
fn an_encrypted_key_is_asked_for_only_by_what_signs() {
    let dir = TestDir::new();
    let pass = passphrase_file(&dir, "pass", "correct horse battery staple\n");
    let wrong = passphrase_file(&dir, "wrong", "Tr0ub4dor&3\n");
    dir.rctl(&["auth", "init", "--cluster-name=enc"]).ok();
    dir.rctl(&["auth", "encrypt"])
        .refused("no passphrase was given");
    let out = dir.rctl(&["auth", "encrypt", &pass]).ok();
    assert!(out.contains("now encrypted at rest"), "{out}");
    let sealed = state_blocks(&dir, "ENCRYPTED PRIVATE KEY");
    assert_eq!(sealed.len(), 1);
    assert!(
        state_blocks(&dir, "PRIVATE KEY").is_empty(),
        "no key in clear"
    );
    dir.rctl(&["auth", "encrypt", &pass])
        .refused("encrypted already");

    // openssl reads it with the passphrase, and not without it.
    let key = dir.write("sealed.pem", &sealed[0]);
    assert!(
        openssl_decrypts(&key, &dir.join("pass")),
        "openssl decrypts it"
    );
    assert!(!openssl_decrypts(&key, &dir.join("wrong")));

    // What does not sign never asks (there is no terminal here: asking would fail).
    dir.rctl(&[
        "users",
        "add",
        "alice",
        "--roles=access",
        "--db-users=alice",
    ])
    .ok();
    dir.rctl(&["users", "ls"]).ok();
    dir.rctl(&["status"]).ok();
    dir.rctl(&["auth", "export"]).ok();
    dir.rctl(&["acl", "generate"]).ok();
    dir.rctl(&["audit", "ls"]).ok();
    dir.rctl(&["get", "roles"]).ok();

    // What signs: refused without the passphrase or with a wrong one, changing nothing.
    let before = snapshot(dir.path());
    dir.rctl(&["auth", "sign", "--host=localhost", "--out=server"])
        .refused("the host CA key is encrypted and no passphrase was given (no terminal to ask on); give it with --ca-passphrase-file");
    dir.rctl(&["auth", "sign", "--host=localhost", "--out=server", &wrong])
        .refused("the CA passphrase is wrong");
    dir.rctl(&[
        "auth",
        "sign",
        "--user=alice",
        "--db-user=alice",
        "--out=alice",
        &wrong,
    ])
    .refused("the CA passphrase is wrong");
    assert!(before == snapshot(dir.path()), "refused means unchanged");

    // With it: signed, and the certificate verifies under the CA.
    dir.rctl(&["auth", "sign", "--host=localhost", "--out=server", &pass])
        .ok();
    let mut cmd = Command::new("openssl");
    cmd.args(["verify", "-CAfile"])
        .arg(dir.join("server.cas"))
        .arg(dir.join("server.crt"));
    assert!(run(cmd, None).stdout().contains("OK"));
    // The environment variable works as the flag does.
    let mut cmd = crate::util::rctl_command();
    cmd.arg("--state-dir")
        .arg(dir.state())
        .args(["auth", "sign", "--host=localhost", "--out=server2"])
        .env("RCTL_CA_PASSPHRASE_FILE", dir.join("pass"))
        .current_dir(dir.path());
    run(cmd, None).ok();
}

#[test]
fn a_rotation_keeps_every_key_encrypted() {
    let dir = TestDir::new();
    let pass = passphrase_file(&dir, "pass", "sesame\n");
    // A passphrase at init: encrypted from the start.
    dir.rctl(&["auth", "init", "--cluster-name=enc", &pass])
        .ok();
    assert_eq!(state_blocks(&dir, "ENCRYPTED PRIVATE KEY").len(), 1);
    // init makes a key: it must be encrypted, so the passphrase is needed.
    let before = snapshot(&dir.state());
    dir.rctl(&["auth", "rotate", "--manual", "--phase=init"])
        .refused("no passphrase was given");
    assert!(before == snapshot(&dir.state()));
    dir.rctl(&["auth", "rotate", "--manual", "--phase=init", &pass])
        .ok();
    assert_eq!(state_blocks(&dir, "ENCRYPTED PRIVATE KEY").len(), 2);
    assert!(state_blocks(&dir, "PRIVATE KEY").is_empty());
    // Swapping keys decrypts nothing: no passphrase.
    dir.rctl(&["auth", "rotate", "--manual", "--phase=update_clients"])
        .ok();
    dir.rctl(&["auth", "sign", "--host=localhost", "--out=server", &pass])
        .ok();
    dir.rctl(&["auth", "rotate", "--manual", "--phase=update_servers"])
        .ok();
    dir.rctl(&["auth", "rotate", "--manual", "--phase=standby"])
        .ok();
    assert_eq!(state_blocks(&dir, "ENCRYPTED PRIVATE KEY").len(), 1);

    // Decrypted again: the key in clear, and signing needs nothing.
    dir.rctl(&["auth", "decrypt"])
        .refused("no passphrase was given");
    dir.rctl(&["auth", "decrypt", &pass]).ok();
    assert!(state_blocks(&dir, "ENCRYPTED PRIVATE KEY").is_empty());
    assert_eq!(state_blocks(&dir, "PRIVATE KEY").len(), 1);
    dir.rctl(&[
        "auth",
        "sign",
        "--host=localhost",
        "--out=server",
        "--overwrite",
    ])
    .ok();
    dir.rctl(&["auth", "decrypt", &pass])
        .refused("not encrypted");
}

#[test]
fn a_passphrase_file_others_can_read_is_refused() {
    let dir = TestDir::new();
    let path = dir.write("pass", "sesame\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let flag = format!("--ca-passphrase-file={}", path.display());
    dir.rctl(&["auth", "init", &flag])
        .refused("is accessible by group or others");
    assert!(!dir.state().join("host_ca.yaml").exists());
    dir.rctl(&["auth", "init", &flag, "--insecure-permissions"])
        .ok();
    let empty = passphrase_file(&dir, "empty", "\n");
    dir.rctl(&["auth", "sign", "--host=localhost", "--out=s", &empty])
        .refused("the CA passphrase is empty");
}
