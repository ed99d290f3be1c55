//! Host lists: never a panic; every accepted host parses again to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    match rctl::parse_host_list(data) {
        Ok(hosts) => {
            assert!(!hosts.is_empty());
            for h in hosts {
                assert_eq!(rctl::Host::parse(&h.to_string()).expect("a host parses again"), h);
            }
        }
        Err(e) => assert!(!e.to_string().contains('\n')),
    }
});
