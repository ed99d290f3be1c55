//! The users.acl linter: never a panic, whatever the file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    for finding in rctl::acl::lint(data) {
        assert!(!finding.to_string().contains('\n'));
    }
});
