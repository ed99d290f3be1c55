//! The state layer on its own: audit records committed with their change or taken back, the
//! read-only open, settings, and refusals that leave the state as it was.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::accounts::users::Password;
use crate::acl::Target;
use crate::error::{Error, Result};
use crate::storage::{DirOptions, DirStore, Store};

use super::{NewUser, StateDir};

/// A store in memory whose writes fail while `full` is set, as a full disk would.
#[derive(Clone, Default)]
struct MemStore {
    blobs: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    full: Arc<Mutex<bool>>,
    /// Commits fail, as an etcd commit after a conflict does.
    conflicts: Arc<Mutex<bool>>,
    /// How many appends the audit log took (each one a sync of it on a disk).
    audit_appends: Arc<Mutex<usize>>,
}

impl MemStore {
    fn refuse_if_full(&self) -> Result<()> {
        if *self.full.lock().unwrap() {
            return Err(Error::io(
                "mem",
                io::Error::new(io::ErrorKind::StorageFull, "no space left"),
            ));
        }
        Ok(())
    }

    fn get(&self, name: &str) -> Vec<u8> {
        self.blobs
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default()
    }
}

impl Store for MemStore {
    fn change_watch(&self) -> Result<Box<dyn crate::storage::watch::ChangeWatch>> {
        Err(Error::NoRequestQueue)
    }
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.blobs.lock().unwrap().get(name).cloned())
    }
    fn open(&self, name: &str) -> Result<Option<Box<dyn io::BufRead>>> {
        Ok(self
            .read(name)?
            .map(|d| Box::new(io::Cursor::new(d)) as Box<dyn io::BufRead>))
    }
    fn write(&self, name: &str, data: &[u8]) -> Result<()> {
        self.refuse_if_full()?;
        self.blobs
            .lock()
            .unwrap()
            .insert(name.to_string(), data.to_vec());
        Ok(())
    }
    fn append(&self, name: &str, data: &[u8]) -> Result<u64> {
        // The audit log always takes its record; the change after it is what fails.
        if name == "audit.jsonl" {
            *self.audit_appends.lock().unwrap() += 1;
        } else {
            self.refuse_if_full()?;
        }
        let mut blobs = self.blobs.lock().unwrap();
        let blob = blobs.entry(name.to_string()).or_default();
        let before = blob.len() as u64;
        blob.extend_from_slice(data);
        Ok(before)
    }
    fn truncate(&self, name: &str, len: u64) -> Result<()> {
        if let Some(blob) = self.blobs.lock().unwrap().get_mut(name) {
            blob.truncate(len as usize);
        }
        Ok(())
    }
    fn remove(&self, name: &str) -> Result<()> {
        self.refuse_if_full()?;
        self.blobs.lock().unwrap().remove(name);
        Ok(())
    }
    fn list(&self, folder: &str) -> Result<Vec<String>> {
        let prefix = format!("{folder}/");
        Ok(self
            .blobs
            .lock()
            .unwrap()
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
            .collect())
    }
    fn locate(&self, name: &str) -> PathBuf {
        PathBuf::from("mem").join(name)
    }
    fn commit(&self) -> Result<()> {
        if *self.conflicts.lock().unwrap() {
            return Err(Error::Conflict {
                location: "mem".to_string(),
            });
        }
        Ok(())
    }
}

fn user(name: &str) -> NewUser {
    NewUser::new(name.parse().unwrap(), vec!["access".into()])
        .with_db_users(vec![name.into()])
        .with_password(Password::from_input(format!("pw-{name}")).unwrap())
}

#[test]
fn a_change_that_fails_takes_its_audit_record_back() {
    let store = MemStore::default();
    let mut state = StateDir::with_store(Box::new(store.clone()));
    state.add_user(user("alice")).unwrap();
    let (audit, users) = (store.get("audit.jsonl"), store.get("users.jsonl"));
    assert!(String::from_utf8_lossy(&audit).contains("\"user.create\""));
    *store.full.lock().unwrap() = true;
    assert!(state.add_user(user("bob")).is_err());
    assert!(state.remove_user("alice").is_err());
    assert!(state.set_redis_target(Target::Valkey80).is_err());
    assert_eq!(
        store.get("audit.jsonl"),
        audit,
        "a failed change left its record"
    );
    assert_eq!(store.get("users.jsonl"), users);
    *store.full.lock().unwrap() = false;
    state.add_user(user("bob")).unwrap();
    assert_eq!(state.all_users().unwrap().len(), 2);
}

#[test]
fn a_password_not_shown_is_not_saved() {
    let store = MemStore::default();
    let mut state = StateDir::with_store(Box::new(store.clone()));
    let mut new = user("carol");
    new.password = None;
    let pending = state.prepare_user(new).unwrap();
    assert!(
        pending.generated_password().is_some(),
        "a generated password is offered"
    );
    // The caller could not show it (stdout closed) and drops the change.
    drop(pending);
    assert!(store.get("users.jsonl").is_empty() && store.get("audit.jsonl").is_empty());
    assert!(state.all_users().unwrap().is_empty());
}

#[test]
fn settings_start_at_redis_7_0_and_are_kept() {
    let mut state = StateDir::with_store(Box::new(MemStore::default()));
    assert_eq!(state.redis_target().unwrap(), Target::Redis70);
    assert!(!state.cert_login().unwrap());
    // Certificate login needs a target that has it.
    assert!(state.set_cert_login(true).is_err());
    state.set_redis_target(Target::Valkey91).unwrap();
    state.set_cert_login(true).unwrap();
    assert!(state.cert_login().unwrap());
    assert!(state.set_redis_target(Target::Redis70).is_err());
    assert_eq!(state.redis_target().unwrap(), Target::Valkey91);
}

#[test]
fn a_read_only_state_reads_and_refuses_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    {
        let mut state = StateDir::open(&path).unwrap();
        state.host_ca().unwrap();
        state.add_user(user("alice")).unwrap();
    }
    let options = DirOptions::default();
    // A shared lock: two readers at once.
    let mut one = StateDir::open_read_only(&path, &options).unwrap();
    let two = StateDir::open_read_only(&path, &options).unwrap();
    assert_eq!(one.all_users().unwrap().len(), 1);
    assert_eq!(two.all_users().unwrap().len(), 1);
    assert!(one.existing_host_ca().unwrap().is_some());
    let err = one.add_user(user("bob")).unwrap_err().to_string();
    assert!(err.contains("open for reading only"), "{err}");
    // A missing directory reads as empty and is not created.
    let none = StateDir::open_read_only(dir.path().join("missing"), &options).unwrap();
    assert!(none.all_users().unwrap().is_empty());
    assert!(!dir.path().join("missing").exists());
    // A writer opens once the readers are gone.
    drop((one, two));
    assert!(DirStore::open(&path, &options).is_ok());
}

#[test]
fn outputs_inside_the_state_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path().join("state")).unwrap();
    let inside = dir.path().join("state/users.acl");
    assert!(state.check_output_path(&inside).is_err());
    state
        .check_output_path(&dir.path().join("users.acl"))
        .unwrap();
}

#[test]
fn files_placed_for_a_change_that_is_not_saved_are_taken_back() {
    let store = MemStore::default();
    let mut state = StateDir::with_store(Box::new(store.clone()));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("server");
    let req = crate::pki::leaf::ServerCertRequest::new(
        crate::pki::hosts::parse_host_list("localhost").unwrap(),
    );
    // No CA yet: signing creates one, and saving it fails after the files are placed.
    *store.full.lock().unwrap() = true;
    let signing = super::Signing::server(req).written_to(
        &out,
        super::Placement::new(crate::pki::formats::BundleFormat::Redis),
    );
    assert!(state.sign(&signing).is_err());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
    assert!(store.get("host_ca.yaml").is_empty() && store.get("audit.jsonl").is_empty());
    // Run again once the disk has room: the same outputs are placed.
    *store.full.lock().unwrap() = false;
    let (_, written) = state.sign(&signing).unwrap();
    assert!(written.iter().all(|p| p.exists()));
}

/// A sync whose change is not saved (the commit after the files were placed fails, as etcd's
/// does after a conflict) put users.acl back as it was; it was left rewritten.
#[test]
fn server_files_of_a_change_that_is_not_saved_are_put_back() {
    let store = MemStore::default();
    let mut state = StateDir::with_store(Box::new(store.clone()));
    let dir = tempfile::tempdir().unwrap();
    let server = crate::servers::registered::RegisteredServer::new(
        "r1".parse().unwrap(),
        "127.0.0.1:6379".parse().unwrap(),
        &dir.path().join("r1"),
    )
    .unwrap()
    .with_acl_file(&dir.path().join("r1.acl"))
    .unwrap();
    state.add_server(&server).unwrap();
    let server = state.registered_servers(&[]).unwrap().remove(0);
    let wanted = state.wanted(std::slice::from_ref(&server)).unwrap();
    let plan = state.plan_server_files(&server, &wanted, None);
    state
        .write_server_files(&server, &plan, &wanted, None)
        .unwrap();
    let acl = dir.path().join("r1.acl");
    let before = std::fs::read(&acl).unwrap();
    // A new user: users.acl differs, and the change's commit fails.
    state.add_user(user("newcomer")).unwrap();
    let wanted = state.wanted(std::slice::from_ref(&server)).unwrap();
    let plan = state.plan_server_files(&server, &wanted, None);
    assert!(plan.write_acl);
    *store.conflicts.lock().unwrap() = true;
    assert!(
        state
            .write_server_files(&server, &plan, &wanted, None)
            .is_err()
    );
    assert_eq!(
        std::fs::read(&acl).unwrap(),
        before,
        "users.acl was left rewritten"
    );
    *store.conflicts.lock().unwrap() = false;
    state
        .write_server_files(&server, &plan, &wanted, None)
        .unwrap();
    assert_ne!(std::fs::read(&acl).unwrap(), before);
}

/// A bulk change appends all of its audit records at once: 10,000 users added together synced
/// the audit log 10,001 times, one append per record.
#[test]
fn a_bulk_change_is_one_audit_append() {
    let store = MemStore::default();
    let mut state = StateDir::with_store(Box::new(store.clone()));
    let new: Vec<NewUser> = (0..1000).map(|i| user(&format!("u{i:04}"))).collect();
    state.add_users(new).unwrap();
    assert_eq!(*store.audit_appends.lock().unwrap(), 1);
    let audit = String::from_utf8(store.get("audit.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 1000);
    let names: Vec<String> = (0..500).map(|i| format!("u{i:04}")).collect();
    state.remove_users(&names).unwrap();
    assert_eq!(*store.audit_appends.lock().unwrap(), 2);
    assert_eq!(state.audit_log(None).unwrap().len(), 1500);
}
