//! Redis ACL rules: never a panic; what parses renders to a token that parses the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rctl::acl::AclRule;

fuzz_target!(|data: &str| {
    if let Ok(rule) = AclRule::parse(data) {
        let again = AclRule::parse(&rule.to_string()).expect("a rendered rule parses");
        assert_eq!(again, rule);
        let _ = rule.check_for_role();
    }
});
