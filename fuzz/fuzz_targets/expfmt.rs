//! The Prometheus text exposition parser (`collector::expfmt`): every scrape body goes through
//! it. No input may panic; what it accepts must be well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Scrape bodies are decoded lossily before parsing.
    let text = String::from_utf8_lossy(data);
    if let Ok(samples) = collector::expfmt::parse(&text) {
        for s in &samples {
            assert!(collector::expfmt::is_metric_name(&s.name), "{s:?}");
            for (i, (n, _)) in s.labels.iter().enumerate() {
                assert!(!n.is_empty(), "{s:?}");
                assert!(
                    s.labels[..i].iter().all(|(m, _)| m != n),
                    "duplicate label: {s:?}"
                );
            }
        }
    }
    for token in text.split_whitespace().take(16) {
        let _ = collector::expfmt::parse_value(token);
    }
});
