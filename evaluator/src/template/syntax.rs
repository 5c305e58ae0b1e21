//! Go template syntax the `gtmpl` crate lacks, rewritten into syntax it has before parsing:
//!
//! - **Newlines inside an action** (`{{range $i, $v := ...` continued on the next line; Go
//!   allows them since 1.16): replaced by spaces outside string literals.
//! - **Assignment to a declared variable** (`{{ $s = "s" }}`, Go 1.11): rewritten to a
//!   declaration, `{{ $s := "s" }}`. gtmpl keeps variables declared inside `if` and `with` after
//!   their `end` and looks names up newest first, so the new declaration acts as the
//!   assignment there. Inside `range`, gtmpl drops an iteration's variables when the iteration
//!   ends, so an assignment there to a variable declared outside the `range` would be lost:
//!   that case is refused with a clear error instead of giving a different text than Go.
//!
//! Why rewriting rather than another engine: gtmpl is the engine of both the evaluator and the
//! notifier (Alertmanager templates), and these two constructs are the only ones found in rule
//! files from the field that it refuses; the rewrite keeps one engine, and the remaining gap
//! is named in the error.

use std::borrow::Cow;

/// Rewrites `text` (a template body) as described in the module documentation.
pub fn rewrite(text: &str) -> Result<Cow<'_, str>, String> {
    if !text.contains("{{") || (!text.contains('=') && !has_newline_in_action(text)) {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len() + 8);
    // Block stack: (is range, variables declared in the block).
    let mut scopes: Vec<(bool, Vec<String>)> = vec![(false, prelude_vars())];
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(len) = action_len(after) else {
            // Unclosed: leave it to the parser to report.
            out.push_str(&rest[i..]);
            return Ok(Cow::Owned(out));
        };
        let action = one_line(&after[..len]);
        out.push_str("{{");
        out.push_str(&rewrite_action(&action, &mut scopes)?);
        out.push_str("}}");
        rest = &after[len + 2..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

fn prelude_vars() -> Vec<String> {
    ["$", "$labels", "$externalLabels", "$externalURL", "$value"]
        .into_iter()
        .map(String::from)
        .collect()
}

fn has_newline_in_action(text: &str) -> bool {
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(len) = action_len(after) else {
            return false;
        };
        if after[..len].contains(['\n', '\r']) {
            return true;
        }
        rest = &after[len + 2..];
    }
    false
}

/// The length of the action body starting at `s` (after `{{`), up to its `}}`, skipping
/// string literals and comments.
fn action_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = s[i + 2..].find("*/")?;
                i += end + 3;
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The action with newlines outside string literals and comments replaced by spaces.
fn one_line(action: &str) -> Cow<'_, str> {
    if !action.contains(['\n', '\r']) {
        return Cow::Borrowed(action);
    }
    let mut out = String::with_capacity(action.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut comment = action
        .trim_start_matches('-')
        .trim_start()
        .starts_with("/*");
    for c in action.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q != '`' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                out.push(c);
            }
            None if comment => out.push(c),
            None => match c {
                '"' | '\'' | '`' => {
                    quote = Some(c);
                    out.push(c);
                }
                '\n' | '\r' => out.push(' '),
                _ => out.push(c),
            },
        }
        if comment && out.ends_with("*/") {
            comment = false;
        }
    }
    Cow::Owned(out)
}

/// `$name` at the start of `s`, with its length.
fn variable(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('$')?;
    let n = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some(&s[..n + 1])
}

fn rewrite_action(action: &str, scopes: &mut Vec<(bool, Vec<String>)>) -> Result<String, String> {
    // Trim markers and spaces before the pipeline.
    let body_start = action.len() - action.trim_start_matches('-').trim_start().len();
    let (head, body) = action.split_at(body_start);
    let word = body
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    match word {
        "if" | "with" | "define" | "block" => scopes.push((false, Vec::new())),
        "range" => {
            let mut vars = Vec::new();
            // range $i, $v := ... / range $v := ...
            let mut rest = body["range".len()..].trim_start();
            while let Some(v) = variable(rest) {
                vars.push(v.to_string());
                rest = rest[v.len()..].trim_start();
                rest = rest.strip_prefix(',').map_or(rest, str::trim_start);
            }
            scopes.push((true, vars));
        }
        "end" if scopes.len() > 1 => {
            scopes.pop();
        }
        _ => {}
    }
    let Some(var) = variable(body) else {
        return Ok(action.to_string());
    };
    let after = body[var.len()..].trim_start();
    let declared = |scopes: &mut Vec<(bool, Vec<String>)>| {
        if let Some(s) = scopes.last_mut() {
            s.1.push(var.to_string());
        }
    };
    if after.starts_with(":=") {
        declared(scopes);
        return Ok(action.to_string());
    }
    if !after.starts_with('=') || after.starts_with("==") {
        return Ok(action.to_string());
    }
    // An assignment: where was the variable declared?
    let Some(level) = scopes
        .iter()
        .rposition(|(_, vars)| vars.iter().any(|v| v == var))
    else {
        return Err(format!("undefined variable \"{var}\""));
    };
    if scopes[level + 1..].iter().any(|(is_range, _)| *is_range) {
        return Err(format!(
            "assigning {var} inside a range to a variable declared outside it is not supported by alertd's template engine (the value would not outlive the iteration)"
        ));
    }
    declared(scopes);
    let tail = &after[1..];
    Ok(format!("{head}{var} :={tail}"))
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn assignment_becomes_a_declaration() {
        let t = r#"{{ $s := "" }}{{ if gt 2 1 }}{{ $s = "s" }}{{ end }}x{{ $s }}"#;
        assert_eq!(
            rewrite(t).unwrap(),
            r#"{{ $s := "" }}{{ if gt 2 1 }}{{ $s := "s" }}{{ end }}x{{ $s }}"#
        );
        // comparisons and strings are left alone
        let t = r#"{{ if eq $value 1.0 }}a = b{{ end }}{{ "x = y" }}"#;
        assert_eq!(rewrite(t).unwrap(), t);
        assert!(rewrite("{{ $t = 1 }}")
            .unwrap_err()
            .contains("undefined variable"));
        let e = rewrite(r#"{{ $n := 0 }}{{ range $labels }}{{ $n = 1 }}{{ end }}"#).unwrap_err();
        assert!(e.contains("inside a range"), "{e}");
        // declared inside the range: fine
        let t = r#"{{ range $k, $v := $labels }}{{ $x := 1 }}{{ $x = 2 }}{{ $v = 3 }}{{ end }}"#;
        assert!(rewrite(t).is_ok());
    }

    #[test]
    fn newlines_inside_actions_become_spaces() {
        let t = "{{range $i, $v :=\n $labels}}{{ $v }}\n{{end}}{{ `a\nb` }}{{/* c\nd */}}";
        assert_eq!(
            rewrite(t).unwrap(),
            "{{range $i, $v :=  $labels}}{{ $v }}\n{{end}}{{ `a\nb` }}{{/* c\nd */}}"
        );
    }
}
