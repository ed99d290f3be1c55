//! The users.acl linter: never a panic, one line per finding, no secret echoed, whatever the
//! file and the target.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rctl::acl::Target;

fuzz_target!(|data: &str| {
    for target in [Target::Redis60, Target::Redis62, Target::Redis70, Target::Valkey91] {
        for finding in rctl::acl::lint(data, target) {
            assert!(!finding.to_string().contains('\n'));
        }
    }
});
