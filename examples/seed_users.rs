//! Fills a state directory with N users in one write, for benchmarks and load tests:
//! `cargo run --release --example seed_users -- STATE_DIR N`.

use rctl::{NewUser, StateDir};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (args.next(), args.next()) else {
        return Err("usage: seed_users STATE_DIR N".into());
    };
    let n: usize = n.parse()?;
    let mut state = StateDir::open(&dir)?;
    state.ca().get()?;
    let users = (0..n)
        .map(|i| {
            NewUser::new(
                format!("seed{i:07}").parse().unwrap(),
                vec!["access".to_string()],
            )
            .with_db_users(vec![format!("seed{i:07}")])
            .with_db_names(vec!["*".to_string()])
        })
        .collect();
    let added = state.users().add_many(users)?;
    println!("added {} users to {dir}", added.len());
    Ok(())
}
