//! The series notation of rule unit tests (`promtool test rules` `input_series`): the series
//! (`name{a="b"}`) on the first line, the values (`1+2x10 _ stale _x3`) after it.
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
    let (series, values) = text.split_once('\n').unwrap_or(("up", text));
    let _ = evaluator::unittest::parse_series(series);
    match evaluator::unittest::expand_values(values) {
        Ok(v) => assert!(v.len() <= evaluator::unittest::MAX_EXPANDED_VALUES),
        Err(e) => assert!(!e.is_empty()),
    }
});
