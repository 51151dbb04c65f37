//! `key=value` arguments of `codex-meta set` / `write`: splitting and value coercion.
//!
//! A value is taken as JSON when it parses as JSON (`exit_code=0` → `0`, `task="x"` →
//! `"x"`, `attempts=[]` → `[]`, `pid=null` → `null`), else as a plain string
//! (`status=running` → `"running"`). Known fields are type-checked here so that a bad
//! argument is refused before any file is touched.

use serde_json::Value;

use crate::MetaError;
use crate::schema::validate_field;

/// The JSON value of a `key=value` right-hand side (see the module docs).
pub fn coerce_value(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

/// Refuse a field only the run's owner writes ([`crate::PROTECTED_FIELDS`]).
pub fn refuse_protected(key: &str) -> Result<(), MetaError> {
    if !crate::PROTECTED_FIELDS.contains(&key) {
        return Ok(());
    }
    let why = match key {
        "pid" | "pid_start" | "boot_id" | "host" => "the liveness witness of its supervisor",
        "run_id" | "started_at" => "it names the run",
        "worktree" => "it names the run's git worktree, which a prune removes",
        "scheduler" => "it names the job that cancel stops and liveness asks of",
        _ => "readers open only the run's own files",
    };
    Err(MetaError::Protected {
        key: key.to_owned(),
        why,
    })
}

/// Split and check one `key=value` argument. Errors name the argument:
/// no `=`, an empty key, or a value of the wrong type for a known field.
pub fn parse_assignment(arg: &str) -> Result<(String, Value), MetaError> {
    let bad = |reason: String| MetaError::BadAssignment {
        arg: arg.to_owned(),
        reason,
    };
    let Some((key, raw)) = arg.split_once('=') else {
        return Err(bad("expected key=value".to_owned()));
    };
    if key.is_empty() {
        return Err(bad("empty key".to_owned()));
    }
    if key.trim() != key || key.chars().any(char::is_control) {
        return Err(bad("key has spaces or control characters".to_owned()));
    }
    refuse_protected(key)?;
    let value = coerce_value(raw);
    validate_field(key, &value).map_err(bad)?;
    Ok((key.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_json_when_they_parse() {
        assert_eq!(coerce_value("0"), json!(0));
        assert_eq!(coerce_value("-3"), json!(-3));
        assert_eq!(coerce_value("1.5"), json!(1.5));
        assert_eq!(coerce_value("true"), json!(true));
        assert_eq!(coerce_value("null"), Value::Null);
        assert_eq!(coerce_value("\"x\""), json!("x"));
        assert_eq!(coerce_value("[1,\"a\"]"), json!([1, "a"]));
        assert_eq!(coerce_value("{\"a\":{}}"), json!({"a": {}}));
    }

    #[test]
    fn other_values_are_strings() {
        assert_eq!(coerce_value("running"), json!("running"));
        assert_eq!(coerce_value(""), json!(""));
        assert_eq!(coerce_value("fix the tests"), json!("fix the tests"));
        assert_eq!(coerce_value("{broken"), json!("{broken"));
        assert_eq!(coerce_value("a=b"), json!("a=b"));
        assert_eq!(coerce_value("0x10"), json!("0x10"));
    }

    #[test]
    fn assignments_split_on_the_first_equals() {
        assert_eq!(
            parse_assignment("task=a=b").unwrap(),
            ("task".into(), json!("a=b"))
        );
        assert_eq!(
            parse_assignment("exit_code=0").unwrap(),
            ("exit_code".into(), json!(0))
        );
        assert_eq!(
            parse_assignment("status=timed_out").unwrap(),
            ("status".into(), json!("timed_out"))
        );
        assert_eq!(
            parse_assignment("custom.thing={\"a\":1}").unwrap(),
            ("custom.thing".into(), json!({"a":1}))
        );
    }

    #[test]
    fn identity_and_path_fields_are_refused() {
        for key in crate::PROTECTED_FIELDS {
            let err = parse_assignment(&format!("{key}=/etc/passwd")).unwrap_err();
            assert!(matches!(err, MetaError::Protected { .. }), "{key}: {err}");
            assert!(err.to_string().contains(key), "{err}");
        }
        assert!(parse_assignment("task=x").is_ok());
    }

    #[test]
    fn bad_assignments_name_the_argument() {
        for (arg, needle) in [
            ("novalue", "expected key=value"),
            ("=1", "empty key"),
            ("status=runing", "invalid status"),
            ("exit_code=zero", "exit_code"),
            ("exit_code=1.5", "exit_code"),
            ("exit_code=-1.5", "exit_code"),
            ("status=1", "status"),
            (" k=1", "spaces"),
        ] {
            let err = parse_assignment(arg).unwrap_err().to_string();
            assert!(err.contains(&format!("'{arg}'")), "{arg}: {err}");
            assert!(err.contains(needle), "{arg}: {err}");
        }
    }
}
