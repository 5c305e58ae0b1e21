//! The Prometheus query API's parameter handling and evaluation, as `/api/v1/query`,
//! `/api/v1/query_range` and the `match[]` of `/api/v1/series` run them: the input is a URL
//! query string and a form body (split at the first newline), parsed by
//! `alertd::api::prom::Params`, checked by `instant_params` / `range_params_of` /
//! `match_params`, and evaluated over a few small series (`evaluate_instant`,
//! `evaluate_range`), so deeply nested expressions reach the limits and the evaluator.
#![no_main]

use std::sync::OnceLock;

use alertd::api::prom::{
    evaluate_instant, evaluate_range, instant_params, match_params, range_params_of, Params,
};
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
            vec![("__name__", "latency_bucket"), ("le", "0.1")],
            vec![("__name__", "latency_bucket"), ("le", "+Inf")],
        ];
        for (k, l) in series.iter().enumerate() {
            let labels = Labels::from_pairs(l.iter().map(|(n, v)| (*n, *v)));
            for i in 0..20i64 {
                let v = (i * (k as i64 + 1)) as f64 / 3.0;
                batch.push((labels.clone(), Sample::new(i * 15_000, v)));
            }
        }
        if let Err(e) = s.append(&batch) {
            panic!("seed store: {e}");
        }
        s
    })
}

/// Range queries evaluated at most at this many points (the API allows 11,000; more would
/// only make each run slow).
const MAX_FUZZ_POINTS: i64 = 200;

fuzz_target!(|data: &[u8]| {
    // As in the `promql` target: alertd catches the PromQL parser crate's panics, so the
    // default panic hook is put back; a panic reaching libFuzzer still aborts.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| drop(std::panic::take_hook()));
    let (query, form) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let Ok(p) = Params::parse(Some(query), form) else {
        return;
    };
    let now = 150_000;
    if let Ok((expr, t, _timeout)) = instant_params(&p, now) {
        let _ = evaluate_instant(store(), &expr, t, Default::default());
    }
    if let Ok(r) = range_params_of(&p) {
        if (r.end - r.start) / r.step <= MAX_FUZZ_POINTS {
            let _ = evaluate_range(store(), &r, Default::default());
        }
    }
    if let Ok(sets) = match_params(&p) {
        for ms in sets {
            let _ = store().select(&ms, 0, now);
        }
    }
});
