//! Role resources: never a panic; an accepted role is valid and survives a YAML round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    match rctl::Role::from_yaml(data, "fuzz.yaml") {
        Ok(role) => {
            role.validate().expect("an accepted role validates");
            for target in rctl::acl::Target::ALL {
                if let Err(e) = rctl::acl::check_role(&role, target) {
                    assert!(!e.to_string().contains('\n'));
                }
            }
            let yaml = serde_norway::to_string(&role).expect("a role serializes");
            assert_eq!(rctl::Role::from_yaml(&yaml, "again.yaml").expect("round trip"), role);
        }
        Err(e) => assert!(!e.to_string().contains('\n')),
    }
});
