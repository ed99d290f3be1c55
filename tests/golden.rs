//! Golden outputs of the CLI (trycmd): help texts, the quickstart, and error lines. A change of
//! output shows up here; after checking it, refresh with `TRYCMD=overwrite cargo test golden`.

#[test]
fn cli_outputs_match_the_golden_files() {
    trycmd::TestCases::new()
        .register_bin("rctl", std::path::Path::new(env!("CARGO_BIN_EXE_rctl")))
        .env("HOME", "/nonexistent")
        .env("USER", "golden")
        .case("tests/cmd/*.toml")
        .case("tests/cmd/*.trycmd");
}
