//! Trace export over OTLP (cargo feature `otel`).
//!
//! Every call is a `tool.execute` span with children per policy and attempt
//! (see [`Host`](crate::Host)). With the feature on and
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set (e.g. `http://127.0.0.1:4318`), the CLI
//! adds [`layer`] to its subscriber: spans are batched and sent as
//! OTLP/HTTP protobuf to `{endpoint}/v1/traces`, and a caller's W3C
//! `traceparent` becomes the parent of its `tool.execute` span, so the host's
//! spans join the caller's trace. Embedders add the same layer to their own
//! subscriber. Without the feature, [`adopt_parent`] does nothing and the
//! traceparent is only a span field.

/// Makes the caller's W3C `traceparent` the parent of `span` (feature `otel`;
/// otherwise a no-op). Malformed values are ignored: the span starts a new trace.
pub fn adopt_parent(span: &tracing::Span, traceparent: Option<&str>) {
    #[cfg(feature = "otel")]
    imp::adopt_parent(span, traceparent);
    #[cfg(not(feature = "otel"))]
    let _ = (span, traceparent);
}

#[cfg(feature = "otel")]
pub use imp::{OtelError, OtelGuard, layer, layer_from_env};

#[cfg(feature = "otel")]
mod imp {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use std::collections::HashMap;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::registry::LookupSpan;

    /// The exporter could not be built.
    #[derive(Debug, thiserror::Error)]
    #[error("OTLP exporter: {0}")]
    pub struct OtelError(String);

    /// Flushes and shuts the exporter down when dropped (keep it alive for the
    /// life of the process).
    #[derive(Debug)]
    pub struct OtelGuard {
        provider: SdkTracerProvider,
    }

    impl OtelGuard {
        /// Sends every finished span now.
        pub fn flush(&self) {
            let _ = self.provider.force_flush();
        }
    }

    impl Drop for OtelGuard {
        fn drop(&mut self) {
            let _ = self.provider.shutdown();
        }
    }

    /// A layer exporting spans to the OTLP/HTTP collector at `endpoint`
    /// (`http://host:4318`; `/v1/traces` is appended), as service `toolhost`
    /// unless `OTEL_SERVICE_NAME` says otherwise.
    pub fn layer<S>(
        endpoint: &str,
    ) -> Result<(impl tracing_subscriber::Layer<S> + use<S>, OtelGuard), OtelError>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        // The exporter's reqwest client uses rustls without a provider of its
        // own (the workspace builds rustls with ring only): install ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(url)
            .build()
            .map_err(|e| OtelError(e.to_string()))?;
        let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "toolhost".into());
        let resource = opentelemetry_sdk::Resource::builder().with_service_name(service).build();
        let provider =
            SdkTracerProvider::builder().with_resource(resource).with_batch_exporter(exporter).build();
        let tracer = provider.tracer("toolhost");
        Ok((tracing_opentelemetry::layer().with_tracer(tracer), OtelGuard { provider }))
    }

    /// [`layer`] for `OTEL_EXPORTER_OTLP_ENDPOINT`, or `None` when it is unset.
    #[allow(clippy::type_complexity)]
    pub fn layer_from_env<S>()
    -> Result<Option<(impl tracing_subscriber::Layer<S> + use<S>, OtelGuard)>, OtelError>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Ok(e) if !e.trim().is_empty() => layer(e.trim()).map(Some),
            _ => Ok(None),
        }
    }

    pub(super) fn adopt_parent(span: &tracing::Span, traceparent: Option<&str>) {
        let Some(tp) = traceparent else { return };
        let carrier = HashMap::from([("traceparent".to_string(), tp.to_string())]);
        let cx = TraceContextPropagator::new().extract(&carrier);
        use opentelemetry::trace::TraceContextExt;
        if cx.span().span_context().is_valid() {
            let _ = span.set_parent(cx);
        }
    }
}

#[cfg(all(test, feature = "otel"))]
mod tests {
    //! A real export: an OTLP/HTTP collector on 127.0.0.1 receives the
    //! `tool.execute` span of a call, inside the caller's trace.
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_reach_an_otlp_collector_under_the_callers_trace() {
        let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let b2 = bodies.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let b = b2.clone();
                async move {
                    b.lock().unwrap().push(body.to_vec());
                    ""
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let (layer, guard) = super::layer(&format!("http://{addr}")).unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        let _default = tracing::subscriber::set_default(subscriber);
        let dir = tempfile::tempdir().unwrap();
        let host = crate::Host::builder().plugins_dir(dir.path()).cache_dir(None).build().await.unwrap();
        let ctx = toolhost_core::ExecutionContext::new()
            .with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        host.execute(&ctx, crate::ToolCall::new("no.such_tool", "{}"), &Default::default()).await;
        tokio::task::spawn_blocking(move || guard.flush()).await.unwrap();

        let all: Vec<u8> = bodies.lock().unwrap().concat();
        let trace_id = hex::decode("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let parent_id = hex::decode("00f067aa0ba902b7").unwrap();
        let has = |needle: &[u8]| all.windows(needle.len()).any(|w| w == needle);
        assert!(!all.is_empty(), "the collector received nothing");
        assert!(has(b"tool.execute"), "no tool.execute span exported");
        assert!(has(&trace_id), "the span is not in the caller's trace");
        assert!(has(&parent_id), "the caller's span is not the parent");
        assert!(has(b"TOOL_NOT_FOUND"), "the outcome attribute is missing");
    }
}
