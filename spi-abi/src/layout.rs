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

/// One line per mismatch, e.g. `InvokerState.free_slots: type expected `u32`, found `u64`
/// (reached through PluginMod.new_load_balancer → … → choose_invoker)`.
pub fn summarize(errors: &AbiInstabilityErrors) -> String {
    let lines: Vec<String> = errors
        .errors
        .iter()
        .filter(|e| !e.errs.is_empty())
        .map(summarize_one)
        .collect();
    if lines.is_empty() {
        return "layouts differ (no detail from the checker)".into();
    }
    lines.join("; ")
}

/// The most places of the path shown before the mismatch.
const PATH_SHOWN: usize = 4;

fn summarize_one(error: &AbiInstabilityError) -> String {
    // (name of the field or function, name of its type)
    let frames: Vec<(String, String)> = error
        .stack_trace
        .iter()
        .map(|frame| match &frame.found {
            TLFieldOrFunction::Field(field) => {
                (field.name().to_string(), field.layout().name().to_string())
            }
            TLFieldOrFunction::Function(function) => (function.name.to_string(), "fn".into()),
        })
        .collect();
    let what = error
        .errs
        .iter()
        .map(describe)
        .collect::<Vec<_>>()
        .join(", ");
    let Some((field, _)) = frames.last() else {
        return format!("the root module: {what}");
    };
    let owner = match frames.len() {
        1 => "PluginMod".to_string(),
        n => frames[n - 2].1.clone(),
    };
    let mut via: Vec<&str> = frames[..frames.len() - 1]
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| is_meaningful(name))
        .collect();
    via.dedup();
    if via.len() > PATH_SHOWN {
        via.drain(..via.len() - PATH_SHOWN);
        via.insert(0, "…");
    }
    if via.is_empty() {
        format!("{owner}.{field}: {what}")
    } else {
        format!(
            "{owner}.{field}: {what} (reached through {})",
            via.join(" → ")
        )
    }
}

/// Whether a place on the checker's path means something to a reader: not a tuple index,
/// not an internal of abi_stable's trait objects and wrappers.
fn is_meaningful(name: &str) -> bool {
    !(name.is_empty()
        || name.starts_with("__")
        || name.parse::<u64>().is_ok()
        || (name.starts_with("field_") && name[6..].parse::<u64>().is_ok())
        || matches!(name, "obj" | "vtable" | "data" | "len" | "vtable_"))
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
