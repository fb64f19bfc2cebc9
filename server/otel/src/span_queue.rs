//! The bound on spans waiting for export, and the count of spans dropped at it or lost with a
//! failed export. The SDK's batch processor bounds its queue too, but keeps its drop count
//! private; so we hold the same bound one step earlier, where we can count: a span enters when it
//! ends and leaves when the exporter is handed its batch. Within the bound the SDK's own queue
//! never fills. No I/O of its own (the wrapped exporter does it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use prometheus_client::metrics::counter::Counter;

/// Spans ended but not yet handed to the exporter, shared by the two halves below.
#[derive(Debug, Clone, Default)]
pub struct Pending(Arc<AtomicUsize>);

/// Admits a span to the inner processor only while fewer than `bound` are pending; counts the
/// rest in `dropped` instead of blocking the tool call that ended it.
#[derive(Debug)]
pub struct BoundedProcessor<P> {
    inner: P,
    pending: Pending,
    bound: usize,
    dropped: Counter,
}

impl<P> BoundedProcessor<P> {
    pub fn new(inner: P, pending: Pending, bound: usize, dropped: Counter) -> Self {
        Self {
            inner,
            pending,
            bound,
            dropped,
        }
    }
}

impl<P: SpanProcessor> SpanProcessor for BoundedProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        let admitted = self
            .pending
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.bound).then_some(n + 1)
            })
            .is_ok();
        if admitted {
            self.inner.on_end(span);
        } else {
            self.dropped.inc();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The exporter, releasing a batch's places in the bound as soon as it receives the batch
/// (whether the export then succeeds or not, those spans no longer wait), and counting the
/// spans of a failed export in `dropped` (the SDK does not retry them: they are lost).
/// It also says once that export fails, and once that it works again: the SDK's own error per
/// failed batch is silenced (see [`QUIET_SDK_LOGS`]), since an unreachable collector is a
/// state to report, not an error per batch.
#[derive(Debug)]
pub struct ReleasingExporter<E> {
    inner: E,
    pending: Pending,
    dropped: Counter,
    failing: AtomicBool,
}

impl<E> ReleasingExporter<E> {
    pub fn new(inner: E, pending: Pending, dropped: Counter) -> Self {
        Self {
            inner,
            pending,
            dropped,
            failing: AtomicBool::new(false),
        }
    }
}

/// Log directives that silence the OpenTelemetry SDK's and exporter's per-batch error lines; the
/// binaries add them to their default filter, [`ReleasingExporter`] reports failures instead.
pub const QUIET_SDK_LOGS: &str = "opentelemetry_sdk=off,opentelemetry-otlp=off";

impl<E: SpanExporter> SpanExporter for ReleasingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let released = batch.len();
        let _ = self
            .pending
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(released))
            });
        let result = self.inner.export(batch).await;
        if result.is_err() {
            self.dropped.inc_by(released as u64);
        }
        match &result {
            Err(e) if !self.failing.swap(true, Ordering::AcqRel) => tracing::warn!(
                error = %e,
                "OTLP span export failing; calls go on and their spans are dropped until the collector answers"
            ),
            Ok(()) if self.failing.swap(false, Ordering::AcqRel) => {
                tracing::info!("OTLP span export works again");
            }
            _ => {}
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{SdkTracerProvider, SimpleSpanProcessor};

    /// A processor that never exports: every admitted span stays pending.
    #[derive(Debug)]
    struct Stuck;

    impl SpanProcessor for Stuck {
        fn on_start(&self, _: &mut Span, _: &Context) {}
        fn on_end(&self, _: SpanData) {}
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    /// An exporter that accepts every batch at once.
    #[derive(Debug)]
    struct Discard;

    impl SpanExporter for Discard {
        async fn export(&self, _: Vec<SpanData>) -> OTelSdkResult {
            Ok(())
        }
    }

    /// An exporter whose collector is gone.
    #[derive(Debug)]
    struct Refused;

    impl SpanExporter for Refused {
        async fn export(&self, _: Vec<SpanData>) -> OTelSdkResult {
            Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
                "connection refused".to_owned(),
            ))
        }
    }

    /// Ends `spans` spans through a bound of `bound` in front of `exporter` (exported at once);
    /// returns the dropped count and the places still taken.
    fn end_spans<E: SpanExporter + 'static>(
        exporter: impl FnOnce(Pending, Counter) -> ReleasingExporter<E>,
        bound: usize,
        spans: usize,
    ) -> (u64, usize) {
        let dropped = Counter::default();
        let pending = Pending::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BoundedProcessor::new(
                SimpleSpanProcessor::new(exporter(pending.clone(), dropped.clone())),
                pending.clone(),
                bound,
                dropped.clone(),
            ))
            .build();
        let tracer = provider.tracer("t");
        for _ in 0..spans {
            tracer.in_span("s", |_| {});
        }
        (dropped.get(), pending.0.load(Ordering::Acquire))
    }

    #[test]
    fn spans_of_a_failed_export_are_counted_as_dropped() {
        let exporter = |pending, dropped| ReleasingExporter::new(Refused, pending, dropped);
        assert_eq!(end_spans(exporter, 100, 5), (5, 0));
    }

    #[test]
    fn spans_beyond_the_bound_are_dropped_and_counted() {
        let dropped = Counter::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BoundedProcessor::new(
                Stuck,
                Pending::default(),
                3,
                dropped.clone(),
            ))
            .build();
        let tracer = provider.tracer("t");
        for _ in 0..10 {
            tracer.in_span("s", |_| {});
        }
        assert_eq!(dropped.get(), 7);
    }

    #[test]
    fn exported_spans_free_their_places() {
        let exporter = |pending, dropped| ReleasingExporter::new(Discard, pending, dropped);
        assert_eq!(end_spans(exporter, 1, 10), (0, 0));
    }
}
