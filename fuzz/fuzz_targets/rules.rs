//! Rule files (`evaluator::rules::parse_rule_file`): YAML, PromQL expressions, durations and
//! label/annotation templates of every rule.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys's panic hook aborts even on panics that are caught: alertd catches the
    // PromQL parser crate's panics (`evaluator::promql::parse_syntax`), so the default hook is
    // put back. A panic reaching libFuzzer still aborts and is reported as a crash.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| drop(std::panic::take_hook()));
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match evaluator::rules::parse_rule_file(std::path::Path::new("fuzz.rules.yml"), text) {
        Ok(groups) => {
            let _ = format!("{groups:?}");
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in errors {
                assert!(!e.to_string().is_empty());
            }
        }
    }
});
