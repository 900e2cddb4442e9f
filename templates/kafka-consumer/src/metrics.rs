//! Metrics for operators in Prometheus' text format (the
//! `prometheus-client` crate), served with `--metrics-addr HOST:PORT` at
//! `/metrics` by a thread of their own (`tiny_http`): records in, out,
//! dead-lettered and alerted, the consumer's lag, how long scoring a batch
//! takes, and the drift window's PSI per series.

use prometheus_client::encoding::text::encode;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The consumer's metrics; clones share their values.
#[derive(Clone)]
pub struct Metrics {
    records_in: Counter,
    records_out: Counter,
    dead_lettered: Counter,
    alerts: Counter,
    lag: Gauge,
    scoring: Histogram,
    shadow_out: Counter,
    agreement: Gauge<f64, AtomicU64>,
    mean_abs_diff: Gauge<f64, AtomicU64>,
    psi: Family<Vec<(String, String)>, Gauge<f64, AtomicU64>>,
}

/// The counters as last exported, so each export adds what is new.
#[derive(Default)]
pub struct Exported {
    read: u64,
    written: u64,
    dead_lettered: u64,
    alerts: u64,
    shadowed: u64,
}

impl Metrics {
    /// Registers the metrics and serves them on `addr` from a new thread.
    pub fn serve(addr: &str) -> Result<Metrics, String> {
        let metrics = Metrics {
            records_in: Counter::default(),
            records_out: Counter::default(),
            dead_lettered: Counter::default(),
            alerts: Counter::default(),
            lag: Gauge::default(),
            // 10 µs to about 10 s.
            scoring: Histogram::new(exponential_buckets(1e-5, 2.0, 21)),
            shadow_out: Counter::default(),
            agreement: Gauge::default(),
            mean_abs_diff: Gauge::default(),
            psi: Family::default(),
        };
        let mut registry = Registry::default();
        let m = metrics.clone();
        registry.register(
            "automl_records_in",
            "Records read from the input topic",
            m.records_in,
        );
        registry.register(
            "automl_records_out",
            "Predictions written to the output topic",
            m.records_out,
        );
        registry.register(
            "automl_records_dead_lettered",
            "Records sent to the dead-letter topic",
            m.dead_lettered,
        );
        registry.register(
            "automl_alerts",
            "Outputs also sent to the alert topic",
            m.alerts,
        );
        registry.register(
            "automl_consumer_lag",
            "Records behind the end of the assigned partitions",
            m.lag,
        );
        registry.register(
            "automl_scoring_seconds",
            "Seconds to score one batch of records",
            m.scoring,
        );
        if cfg!(feature = "challenger") {
            registry.register(
                "automl_shadow_out",
                "Challenger outputs written to the shadow topic",
                m.shadow_out,
            );
            registry.register(
                "automl_challenger_agreement",
                "Share of records given the same class by champion and challenger, over the last report",
                m.agreement,
            );
            registry.register(
                "automl_challenger_mean_abs_diff",
                "Mean absolute difference of champion's and challenger's scores, over the last report",
                m.mean_abs_diff,
            );
        }
        registry.register(
            "automl_drift_psi",
            "Population stability index of a series (an input column or the prediction) over the drift window",
            m.psi,
        );
        let server =
            tiny_http::Server::http(addr).map_err(|e| format!("--metrics-addr {addr}: {e}"))?;
        std::thread::spawn(move || {
            for request in server.incoming_requests() {
                let mut body = String::new();
                let response = match encode(&mut body, &registry) {
                    Ok(()) => with_text_type(tiny_http::Response::from_string(body)),
                    Err(e) => tiny_http::Response::from_string(e.to_string()).with_status_code(500),
                };
                let _ = request.respond(response);
            }
        });
        Ok(metrics)
    }

    /// Adds what the counters (read, written, dead-lettered, alerts,
    /// shadowed) gained since the last export.
    pub fn export(&self, last: &mut Exported, [read, written, dead, alerts, shadowed]: [u64; 5]) {
        self.records_in.inc_by(read - last.read);
        self.records_out.inc_by(written - last.written);
        self.dead_lettered.inc_by(dead - last.dead_lettered);
        self.alerts.inc_by(alerts - last.alerts);
        self.shadow_out.inc_by(shadowed - last.shadowed);
        *last = Exported {
            read,
            written,
            dead_lettered: dead,
            alerts,
            shadowed,
        };
    }

    /// Sets the last agreement report's values (the equal share is NaN
    /// for a regression).
    #[cfg(feature = "challenger")]
    pub fn agreement(&self, equal_share: Option<f64>, mean_abs_diff: f64) {
        self.agreement.set(equal_share.unwrap_or(f64::NAN));
        self.mean_abs_diff.set(mean_abs_diff);
    }

    /// Records one batch's scoring time.
    pub fn scored(&self, seconds: f64) {
        self.scoring.observe(seconds);
    }

    /// Sets the drift window's PSI of each series.
    pub fn drift(&self, report: &crate::drift::Report) {
        for (series, psi) in crate::model::DRIFT_SERIES.iter().zip(report.psi) {
            let labels = vec![("series".to_string(), series.to_string())];
            self.psi.get_or_create(&labels).set(psi);
        }
    }

    /// Sets the consumer's lag.
    pub fn lag(&self, records: i64) {
        self.lag.set(records);
    }
}

/// The response with Prometheus' text content type.
fn with_text_type<R: std::io::Read>(response: tiny_http::Response<R>) -> tiny_http::Response<R> {
    let text = &b"text/plain; version=0.0.4; charset=utf-8"[..];
    match tiny_http::Header::from_bytes(&b"Content-Type"[..], text) {
        Ok(header) => response.with_header(header),
        Err(()) => response,
    }
}
