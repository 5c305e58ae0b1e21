//! PromQL: `evaluator::promql::parse_expr` (parser crate + alertd's support check), and every
//! expression it accepts evaluated as an instant query over a few small series, so the
//! evaluator's functions and operators see arbitrary arguments too.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use model::storage::{MemStorage, SeriesStore};
use model::{Labels, Sample};

fn store() -> &'static MemStorage {
    static STORE: OnceLock<MemStorage> = OnceLock::new();
    STORE.get_or_init(|| {
        let s = MemStorage::new();
        let mut batch = Vec::new();
        let series = [
            vec![("__name__", "up"), ("job", "a"), ("instance", "x:1")],
            vec![("__name__", "up"), ("job", "b"), ("instance", "y:2")],
            vec![("__name__", "http_requests_total"), ("code", "200")],
            vec![("__name__", "http_requests_total"), ("code", "500")],
            vec![("__name__", "latency_bucket"), ("le", "0.1")],
            vec![("__name__", "latency_bucket"), ("le", "+Inf")],
        ];
        for (k, l) in series.iter().enumerate() {
            let labels = Labels::from_pairs(l.iter().map(|(n, v)| (*n, *v)));
            for i in 0..20i64 {
                let v = match k % 3 {
                    0 => (i % 2) as f64,
                    1 => (i * 10 + k as i64) as f64,
                    _ => f64::from(u8::try_from(i).unwrap_or(0)) / 7.0,
                };
                batch.push((labels.clone(), Sample::new(i * 15_000, v)));
            }
        }
        if let Err(e) = s.append(&batch) {
            panic!("seed store: {e}");
        }
        s
    })
}

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys's panic hook aborts even on panics that are caught: alertd catches the
    // PromQL parser crate's panics (`evaluator::promql::parse_syntax`), so the default hook is
    // put back. A panic reaching libFuzzer still aborts and is reported as a crash.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| drop(std::panic::take_hook()));
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > 4096 {
        return;
    }
    if let Ok(expr) = evaluator::promql::parse_expr(text) {
        let _ = evaluator::promql::instant_query(store(), &expr, 150_000);
    }
});
