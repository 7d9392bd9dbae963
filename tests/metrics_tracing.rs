//! Feature `tracing`: a tracing-subscriber layer records ringcore's `spawn` events, `poll`
//! spans (with the task's id and name, and one for `block_on`'s future) and the debug
//! mode's `slow poll` warning.
#![cfg(feature = "tracing")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// What the layer saw: "span NAME field=value ..." and "event LEVEL field=value ...".
#[derive(Clone, Default)]
struct Record(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl<S: Subscriber> Layer<S> for Record {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut f = Fields(format!(
            "span {} {}",
            attrs.metadata().target(),
            attrs.metadata().name()
        ));
        attrs.record(&mut f);
        self.0.lock().unwrap().push(f.0);
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut f = Fields(format!(
            "event {} {}",
            event.metadata().target(),
            event.metadata().level()
        ));
        event.record(&mut f);
        self.0.lock().unwrap().push(f.0);
    }
}

#[test]
fn spawn_poll_and_slow_poll_reach_a_subscriber() {
    let record = Record::default();
    let subscriber = tracing_subscriber::registry().with(record.clone());
    tracing::subscriber::with_default(subscriber, || {
        let rt = ringcore::Runtime::builder()
            .debug(true)
            .slow_poll_threshold(Duration::from_millis(20))
            .build()
            .unwrap();
        rt.block_on(async {
            ringcore::task::spawn_named("worker", async {
                ringcore::yield_now().await;
            })
            .await
            .unwrap();
            ringcore::task::spawn_named("sleepy", async {
                std::thread::sleep(Duration::from_millis(40));
            })
            .await
            .unwrap();
        });
    });
    let lines = record.0.lock().unwrap().clone();
    let has = |needle: &[&str]| lines.iter().any(|l| needle.iter().all(|n| l.contains(n)));
    assert!(
        has(&[
            "event ringcore::task TRACE",
            "spawn",
            "task_name=\"worker\""
        ]),
        "{lines:#?}"
    );
    assert!(
        has(&[
            "event ringcore::task TRACE",
            "loc_file=\"tests/metrics_tracing.rs\""
        ]),
        "{lines:#?}"
    );
    // The worker yields once: two polls, two spans.
    let worker_polls = lines
        .iter()
        .filter(|l| l.starts_with("span ringcore::task poll") && l.contains("\"worker\""))
        .count();
    assert_eq!(worker_polls, 2, "{lines:#?}");
    assert!(
        has(&["span ringcore::task poll", "task_name=\"block_on\""]),
        "{lines:#?}"
    );
    let slow: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("event ringcore::debug WARN"))
        .collect();
    assert_eq!(slow.len(), 1, "{lines:#?}");
    assert!(slow[0].contains("slow poll") && slow[0].contains("\"sleepy\""));
}
