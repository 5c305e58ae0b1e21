//! The `alertd.yaml` loader (`alertd_config::parse_str`): the whole configuration, parsed and
//! validated. Errors must carry a position and print; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match alertd_config::parse_str(text, "fuzz.yaml") {
        Ok(c) => {
            let _ = format!("{c:?}");
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
        }
    }
});
