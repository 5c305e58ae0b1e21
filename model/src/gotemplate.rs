//! Go template text checks shared by the evaluator's and the notifier's templates.

/// The deepest nesting a template may have: parentheses inside an action, and blocks
/// (`if`, `range`, `with`, `define`, `block`) inside each other. The `gtmpl` crate parses and
/// executes recursively, one stack frame group per level, so a template nested thousands of
/// levels deep would overflow a thread's stack (which aborts the process).
pub const MAX_TEMPLATE_DEPTH: usize = 100;

/// Refuses a Go template whose action (`{{ ... }}`) is never closed, whose comment is never
/// closed, or whose quoted string is unterminated (the `gtmpl` crate loops forever on those),
/// and one nested deeper than [`MAX_TEMPLATE_DEPTH`]; both template users run this before
/// parsing.
pub fn precheck(text: &str) -> Result<(), String> {
    let mut rest = text;
    let mut blocks = 0usize;
    let too_deep =
        || format!("template is nested deeper than the limit of {MAX_TEMPLATE_DEPTH} levels");
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
        if paren_depth(action) > MAX_TEMPLATE_DEPTH {
            return Err(too_deep());
        }
        let word = action
            .trim_start_matches('-')
            .trim_start()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("");
        match word {
            "if" | "range" | "with" | "define" | "block" => {
                blocks += 1;
                if blocks > MAX_TEMPLATE_DEPTH {
                    return Err(too_deep());
                }
            }
            "end" => blocks = blocks.saturating_sub(1),
            _ => {}
        }
        rest = &after[j + 2..];
    }
    Ok(())
}

/// The deepest parentheses in an action, outside quoted strings.
fn paren_depth(action: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in action.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '`' | '\'' => quote = Some(c),
                '(' => {
                    depth += 1;
                    max = max.max(depth);
                }
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    max
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

    #[test]
    fn deep_nesting_is_refused_naming_the_limit() {
        let parens = |n: usize| format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n));
        assert!(precheck(&parens(100)).is_ok());
        let e = precheck(&parens(101)).unwrap_err();
        assert!(e.contains("limit of 100 levels"), "{e}");
        assert!(precheck("{{ \"((((\" }}").is_ok(), "parentheses in strings");
        let blocks = |n: usize| format!("{}x{}", "{{ if 1 }}".repeat(n), "{{ end }}".repeat(n));
        assert!(precheck(&blocks(100)).is_ok());
        assert!(precheck(&blocks(101)).is_err());
        // Sequential blocks are not nested.
        assert!(precheck(&"{{ range .A }}x{{ end }}".repeat(500)).is_ok());
    }
}
