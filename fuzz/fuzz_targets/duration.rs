//! Go durations: never a panic; what parses formats back to an equal duration.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Ok(d) = rctl::parse_duration(data) {
        let again = rctl::parse_duration(&rctl::format_std(d)).expect("formatted duration parses");
        assert_eq!(again, d);
    }
    if let Err(e) = data.parse::<rctl::Ttl>() {
        assert!(!e.to_string().contains('\n'));
    }
});
