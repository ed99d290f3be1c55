//! Library throughput: signing, RBAC-checked client certificates, state loading, users.acl
//! rendering and password hashing. `cargo bench`; whole-process comparisons: bench/compare.sh.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rctl::{
    CaOptions, ClientLogin, HostCa, KeyAlgorithm, NewUser, Password, ServerCertRequest, StateDir,
    parse_host_list,
};

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn server_request() -> ServerCertRequest {
    ServerCertRequest::new(parse_host_list("localhost,127.0.0.1").unwrap())
        .with_ttl("2190h".parse().unwrap())
}

/// Key + certificate + PEM of both, as `auth sign --format=redis` makes them.
fn sign_server_bundle(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign_redis_server_bundle");
    group.throughput(Throughput::Elements(1));
    for algo in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Rsa2048,
    ] {
        let mut options = CaOptions::new("bench".parse().unwrap());
        options.algorithm = algo;
        let ca = HostCa::generate(&options, now()).unwrap();
        let req = server_request();
        if algo.is_rsa() {
            group.sample_size(10);
        }
        group.bench_function(BenchmarkId::from_parameter(algo), |b| {
            b.iter(|| {
                let bundle = ca.sign_redis_server(black_box(&req), now()).unwrap();
                black_box((
                    bundle.certificate_pem().len(),
                    bundle.private_key_pem().map_or(0, str::len),
                ))
            })
        });
    }
    group.finish();
}

/// The floor: rcgen + ring alone, issuer built once, same fields, no rctl code at all.
fn rcgen_ring_floor(c: &mut Criterion) {
    use rcgen::{
        CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer = Issuer::new(ca_params, &ca_key);
    c.bench_function("sign_redis_server_bundle/floor_rcgen_ring_p256", |b| {
        b.iter(|| {
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let mut params =
                CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                    .unwrap();
            params
                .distinguished_name
                .push(DnType::CommonName, "localhost");
            params.is_ca = IsCa::ExplicitNoCa;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            params.use_authority_key_identifier_extension = true;
            let cert = params.signed_by(&key, &issuer).unwrap();
            black_box((cert.pem().len(), key.serialize_pem().len()))
        })
    });
}

fn new_user(i: usize) -> NewUser {
    NewUser::new(
        format!("user{i:06}").parse().unwrap(),
        vec!["access".to_string()],
    )
    .with_db_users(vec![format!("user{i:06}")])
    .with_db_names(vec!["*".to_string()])
    .with_password(Password::from_input(format!("password-{i}")).unwrap())
}

/// A state directory with `n` users (added in one write).
fn state_with_users(dir: &Path, n: usize) -> StateDir {
    let mut state = StateDir::open(dir).unwrap();
    state.ca().get().unwrap();
    state
        .users()
        .add_many((0..n).map(new_user).collect())
        .unwrap();
    state
}

fn sign_client_with_rbac(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let mut state = state_with_users(&tmp.path().join("s"), 10);
    let login = ClientLogin::new("user000003".parse().unwrap(), "user000003".parse().unwrap());
    c.bench_function("sign_redis_client_with_rbac/10_users", |b| {
        b.iter(|| {
            black_box(
                state
                    .sign(black_box(&rctl::Signing::client(login.clone())))
                    .unwrap()
                    .0
                    .issued()
                    .serial
                    .len(),
            )
        })
    });
}

fn load_users(c: &mut Criterion) {
    let mut group = c.benchmark_group("load_users");
    for n in [10, 10_000] {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s");
        drop(state_with_users(&path, n));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let mut state = StateDir::open(&path).unwrap();
                black_box(state.users().list().unwrap().len())
            })
        });
    }
    group.finish();
}

fn acl_generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("acl_generate");
    group.sample_size(10);
    for n in [1_000, 100_000] {
        let tmp = tempfile::tempdir().unwrap();
        let mut state = state_with_users(&tmp.path().join("s"), n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| black_box(state.settings().render_acl(None).unwrap().len()))
        });
    }
    group.finish();
}

/// Users with three roles (two become selectors on Redis 7.0; on Redis 6.2 the merge is
/// computed once per role combination): rendering must stay linear in users.
fn acl_generate_three_roles(c: &mut Criterion) {
    let mut group = c.benchmark_group("acl_generate_three_roles");
    group.sample_size(10);
    let n = 100_000;
    let tmp = tempfile::tempdir().unwrap();
    let mut state = StateDir::open(tmp.path().join("s")).unwrap();
    for (name, rules) in [
        ("app", "[\"~app:*\", \"+get\"]"),
        ("cache", "[\"~cache:*\", \"+@read\"]"),
    ] {
        let yaml = format!(
            "kind: role\nversion: v5\nmetadata: {{name: {name}}}\nspec: {{allow: {{redis_acl: {rules}}}}}\n"
        );
        let role = rctl::Role::from_yaml(&yaml, name).unwrap();
        state.roles().create(&role, false, None).unwrap();
    }
    let users = (0..n)
        .map(|i| {
            let mut user = new_user(i);
            user.roles = vec!["readonly".into(), "app".into(), "cache".into()];
            user
        })
        .collect();
    state.users().add_many(users).unwrap();
    group.throughput(Throughput::Elements(n as u64));
    for target in [rctl::acl::Target::Redis70, rctl::acl::Target::Redis62] {
        group.bench_function(BenchmarkId::new(target.name(), n), |b| {
            b.iter(|| black_box(state.settings().render_acl(Some(target)).unwrap().len()))
        });
    }
    group.finish();
}

fn password_hashing(c: &mut Criterion) {
    let password = Password::generate();
    c.bench_function("password_sha256", |b| {
        b.iter(|| black_box(black_box(&password).hash()))
    });
}

criterion_group!(
    benches,
    rcgen_ring_floor,
    sign_server_bundle,
    sign_client_with_rbac,
    load_users,
    acl_generate,
    acl_generate_three_roles,
    password_hashing
);
criterion_main!(benches);
