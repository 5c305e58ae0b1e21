//! Go template text checks shared by the evaluator's and the notifier's templates.

/// Refuses a Go template whose action (`{{ ... }}`) is never closed, whose comment is never
/// closed, or whose quoted string is unterminated. The `gtmpl` crate loops forever on those,
/// so both template users run this before parsing.
pub fn precheck(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            return Err("unclosed action (missing \"}}\")".into());
        };
        let action = &after[..j];
        if action
            .trim_start_matches('-')
            .trim_start()
            .starts_with("/*")
            && !action.contains("*/")
        {
            return Err("unclosed comment".into());
        }
        let quotes = action
            .replace("\\\\", "")
            .replace("\\\"", "")
            .matches('"')
            .count();
        if quotes % 2 == 1 || action.matches('`').count() % 2 == 1 {
            return Err("unterminated quoted string in action".into());
        }
        rest = &after[j + 2..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::precheck;

    #[test]
    fn unclosed_actions_comments_and_strings_are_refused() {
        assert!(precheck("plain {{ .A }} and {{ \"q\" }}").is_ok());
        assert!(precheck("{{ .A ").is_err());
        assert!(precheck("{{/* open }}").is_err());
        assert!(precheck("{{ \"open }}").is_err());
        assert!(precheck("{{ `open }}").is_err());
        assert!(precheck("{{ \"esc \\\" ok\" }}").is_ok());
    }
}
