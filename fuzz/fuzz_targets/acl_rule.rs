//! Redis ACL rules: never a panic; what a target accepts renders to a token it reads the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rctl::acl::{AclRule, Target};

fuzz_target!(|data: &str| {
    for target in Target::ALL {
        if let Ok(rule) = AclRule::parse(data, target) {
            let again = AclRule::parse(&rule.to_string(), target).expect("a rendered rule parses");
            assert_eq!(again, rule);
        }
    }
});
