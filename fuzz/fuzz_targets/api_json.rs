//! JSON bodies of the Alertmanager v2 API: `POST /api/v2/alerts` (an array of `PostableAlert`,
//! turned into alerts) and `POST /api/v2/silences` (`PostableSilence`, turned into a silence and
//! stored through `Silences::set` with its validation), plus matcher strings (`filter=`).
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use model::storage::MemStorage;
use model::FakeClock;
use notifier::api::{PostableAlert, PostableSilence};
use notifier::silences::{SilenceLimits, Silences};

const NOW: i64 = 1_700_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            if let Ok(alerts) = serde_json::from_slice::<Vec<PostableAlert>>(body) {
                for a in alerts {
                    if let Ok(alert) = a.into_alert(NOW) {
                        assert!(!alert.labels.is_empty());
                        assert!(alert.ends_at.is_none_or(|e| e >= alert.starts_at));
                        let _ = alert.labels.fingerprint();
                    }
                }
            }
        }
        1 => {
            if let Ok(s) = serde_json::from_slice::<PostableSilence>(body) {
                if let Ok(silence) = s.into_silence() {
                    let kv = Arc::new(MemStorage::new());
                    let clock = Arc::new(FakeClock::new(NOW));
                    let Ok(silences) = Silences::open(
                        kv,
                        clock,
                        SilenceLimits::default(),
                        model::Duration::from_secs(3600),
                    ) else {
                        return;
                    };
                    if let Ok(id) = silences.set(silence) {
                        let _ = silences.mutes(&model::Labels::empty(), NOW);
                        let _ = silences.expire(&id);
                    }
                }
            }
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(body) {
                let _ = text.parse::<model::Matchers>();
                let _ = text.parse::<model::Matcher>();
            }
        }
    }
});
