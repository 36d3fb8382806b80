//! Short, actionable summaries of abi_stable's layout-check failures.
//!
//! abi_stable explains a mismatch with pages of layout dump. An operator needs one line:
//! which type, which field, expected versus found. The full dump stays available (the
//! host prints it with `--verbose`).

use abi_stable::{
    abi_stability::abi_checking::{AbiInstability, AbiInstabilityError, AbiInstabilityErrors},
    type_layout::TLFieldOrFunction,
};
use std::fmt::{Debug, Display};

/// One line per mismatch: `in PluginMod.new_load_balancer → InvokerState.free_slots:
/// type expected u32, found u64`.
pub fn summarize(errors: &AbiInstabilityErrors) -> String {
    let lines: Vec<String> = errors.errors.iter().map(summarize_one).collect();
    if lines.is_empty() {
        return "layouts differ (no detail from the checker)".into();
    }
    lines.join("; ")
}

fn summarize_one(error: &AbiInstabilityError) -> String {
    let path = error
        .stack_trace
        .iter()
        .map(|frame| match &frame.found {
            TLFieldOrFunction::Field(field) => {
                format!("{}: {}", field.name(), field.layout().name())
            }
            TLFieldOrFunction::Function(function) => format!("fn {}", function.name),
        })
        .collect::<Vec<_>>();
    let what = error
        .errs
        .iter()
        .map(describe)
        .collect::<Vec<_>>()
        .join(", ");
    if path.is_empty() {
        format!("at the root module: {what}")
    } else {
        format!("at {}: {what}", path.join(" → "))
    }
}

fn ef_display<T: Display>(what: &str, expected: &T, found: &T) -> String {
    format!("{what} expected `{expected}`, found `{found}`")
}

fn ef_debug<T: Debug>(what: &str, expected: &T, found: &T) -> String {
    format!("{what} expected `{expected:?}`, found `{found:?}`")
}

fn describe(err: &AbiInstability) -> String {
    use AbiInstability as AI;
    match err {
        AI::Name(v) => ef_display("type", &v.expected, &v.found),
        AI::Package(v) => ef_display("package", &v.expected, &v.found),
        AI::PackageVersion(v) => ef_debug("package version", &v.expected, &v.found),
        AI::Size(v) => ef_display("size", &v.expected, &v.found),
        AI::Alignment(v) => ef_display("alignment", &v.expected, &v.found),
        AI::MismatchedPrefixSize(v) => ef_display("prefix size", &v.expected, &v.found),
        AI::FieldCountMismatch(v) => format!(
            "field count expected {}, found {}{}",
            v.expected,
            v.found,
            if v.expected > v.found {
                " (the plugin is older than this host's copy of the type)"
            } else {
                ""
            }
        ),
        AI::TooManyVariants(v) => ef_display("variant count", &v.expected, &v.found),
        AI::UnexpectedField(v) => format!(
            "field expected `{}: {}`, found `{}: {}`",
            v.expected.name(),
            v.expected.full_type(),
            v.found.name(),
            v.found.full_type()
        ),
        AI::MismatchedPrimitive(v) => ef_debug("primitive", &v.expected, &v.found),
        AI::TLDataDiscriminant(v) => ef_debug("kind of type", &v.expected, &v.found),
        AI::UnexpectedVariant(v) => ef_display("variant", &v.expected, &v.found),
        AI::ReprAttr(v) => ef_debug("repr", &v.expected, &v.found),
        other => {
            let text = format!("{other:?}");
            let cut: String = text.chars().take(160).collect();
            if cut.len() < text.len() {
                format!("{cut}…")
            } else {
                cut
            }
        }
    }
}
