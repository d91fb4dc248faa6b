//! [`SimLogLayer`]: formats each event as one line stamped from the
//! simulation, and hands it to this thread's capture.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber, span};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::sink;
use super::stamp::format_nanos;

/// A `tracing` layer that keeps the events logged on a thread where a
/// [`capture`](super::capture()) is running, stamped with simulated time,
/// process and task, with the fields of the spans they happened in. On
/// other threads it does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SimLogLayer {
    _private: (),
}

impl SimLogLayer {
    /// The layer.
    pub(crate) fn new() -> Self {
        Self::default()
    }
}

/// The formatted fields of a span, kept in its extensions.
struct SpanFields(String);

/// Collects an event's or span's fields: the message apart, the rest as
/// ` name=value`.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

impl<S> Layer<S> for SimLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if !sink::active() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let text = format!("{}{}", fields.message, fields.rest);
        span.extensions_mut()
            .insert(SpanFields(text.trim_start().to_string()));
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(SpanFields(text)) = extensions.get_mut::<SpanFields>() else {
            return;
        };
        let mut fields = Fields::default();
        values.record(&mut fields);
        text.push_str(&fields.rest);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !sink::active() {
            return;
        }
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = String::with_capacity(160);
        match crate::sim::log_stamp() {
            Some((nanos, process, task)) => {
                let _ = write!(
                    line,
                    "{} {} [{}] ",
                    format_nanos(nanos),
                    process.as_deref().unwrap_or("?"),
                    task.as_deref().unwrap_or("-"),
                );
            }
            None => line.push_str("(outside the simulation) "),
        }
        let _ = write!(
            line,
            "{:>5} {}: {}{}",
            meta.level(),
            meta.target(),
            fields.message,
            fields.rest
        );
        if let Some(scope) = ctx.event_scope(event) {
            let mut first = true;
            for span in scope.from_root() {
                line.push_str(if first { " in " } else { " > " });
                first = false;
                line.push_str(span.name());
                if let Some(SpanFields(text)) = span.extensions().get::<SpanFields>()
                    && !text.is_empty()
                {
                    let _ = write!(line, "{{{text}}}");
                }
            }
        }
        sink::push(line);
    }
}
