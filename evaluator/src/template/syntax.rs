//! Go template syntax the `gtmpl` crate lacks, rewritten into syntax it has before parsing:
//!
//! - **Newlines inside an action** (`{{range $i, $v := ...` continued on the next line; Go
//!   allows them since 1.16): replaced by spaces outside string literals.
//! - **Assignment to a declared variable** (`{{ $s = "s" }}`, Go 1.11): rewritten to a
//!   declaration, `{{ $s := "s" }}`. gtmpl keeps variables declared inside `if` and `with` after
//!   their `end` and looks names up newest first, so the new declaration acts as the
//!   assignment there. Inside `range`, gtmpl drops an iteration's variables when the iteration
//!   ends, so a variable assigned inside a `range` but declared outside it lives in a cell
//!   instead: its declaration and assignments become `{{ __cell_set "$x" (pipeline) }}` and
//!   every read `(__cell_get "$x")` (the functions are in `template.rs`; cells are reset for
//!   each expansion).
//!
//! Why rewriting rather than another engine: gtmpl is the engine of both the evaluator and the
//! notifier (Alertmanager templates), and these two constructs are the only ones found in rule
//! files from the field that it refuses; the rewrite keeps one engine.

use std::borrow::Cow;

/// Rewrites `text` (a template body) as described in the module documentation.
pub fn rewrite(text: &str) -> Result<Cow<'_, str>, String> {
    if !text.contains("{{") || (!text.contains('=') && !has_newline_in_action(text)) {
        return Ok(Cow::Borrowed(text));
    }
    // Split into text and actions (newlines inside actions already replaced).
    let mut parts: Vec<(bool, Cow<'_, str>)> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        parts.push((false, Cow::Borrowed(&rest[..i])));
        let after = &rest[i + 2..];
        let Some(len) = action_len(after) else {
            // Unclosed: leave it to the parser to report.
            parts.push((false, Cow::Borrowed(&rest[i..])));
            rest = "";
            break;
        };
        parts.push((true, one_line(&after[..len])));
        rest = &after[len + 2..];
    }
    parts.push((false, Cow::Borrowed(rest)));
    // First pass: which variables are assigned inside a range they were declared outside of.
    // Block stack: (is range, variables declared in the block).
    let mut scopes: Vec<(bool, Vec<String>)> = vec![(false, prelude_vars())];
    let mut cells: Vec<String> = Vec::new();
    for (is_action, p) in &parts {
        if *is_action {
            if let Some(v) = scan_action(p, &mut scopes)? {
                if !cells.contains(&v) {
                    cells.push(v);
                }
            }
        }
    }
    // Second pass: rewrite.
    let mut out = String::with_capacity(text.len() + 16);
    for (is_action, p) in &parts {
        if *is_action {
            out.push_str("{{");
            out.push_str(&rewrite_action(p, &cells));
            out.push_str("}}");
        } else {
            out.push_str(p);
        }
    }
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

/// The action's trim markers and spaces before its pipeline, the pipeline, and what follows it
/// (spaces and a trailing trim marker).
fn split_action(action: &str) -> (&str, &str, &str) {
    let start = action.len() - action.trim_start_matches('-').trim_start().len();
    let (head, rest) = action.split_at(start);
    let trimmed = rest.trim_end();
    let end = match trimmed.strip_suffix('-') {
        Some(t) if t.ends_with(char::is_whitespace) => t.trim_end().len(),
        _ => trimmed.len(),
    };
    (head, &rest[..end], &rest[end..])
}

/// Follows blocks and declarations through one action; returns the variable it assigns when
/// that variable was declared outside a `range` the action is in.
fn scan_action(
    action: &str,
    scopes: &mut Vec<(bool, Vec<String>)>,
) -> Result<Option<String>, String> {
    let (_, body, _) = split_action(action);
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
    let Some((var, declaration, _)) = assignment(body) else {
        return Ok(None);
    };
    let declare = |scopes: &mut Vec<(bool, Vec<String>)>| {
        if let Some(s) = scopes.last_mut() {
            s.1.push(var.to_string());
        }
    };
    if declaration {
        declare(scopes);
        return Ok(None);
    }
    let Some(level) = scopes
        .iter()
        .rposition(|(_, vars)| vars.iter().any(|v| v == var))
    else {
        return Err(format!("undefined variable \"{var}\""));
    };
    let in_range = scopes[level + 1..].iter().any(|(is_range, _)| *is_range);
    declare(scopes);
    Ok(in_range.then(|| var.to_string()))
}

/// `$x := pipeline` / `$x = pipeline` at the start of `body`: the variable, whether it is a
/// declaration, and the pipeline.
fn assignment(body: &str) -> Option<(&str, bool, &str)> {
    let var = variable(body)?;
    let after = body[var.len()..].trim_start();
    if let Some(p) = after.strip_prefix(":=") {
        return Some((var, true, p));
    }
    match after.strip_prefix('=') {
        Some(p) if !p.starts_with('=') => Some((var, false, p)),
        _ => None,
    }
}

/// Replaces reads of the `cells` variables by `(__cell_get "$x")`, outside string literals.
fn replace_cells(s: &str, cells: &[String]) -> String {
    if cells.is_empty() || !s.contains('$') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut i = 0;
    while i < s.len() {
        let c = s[i..].chars().next().unwrap_or(' ');
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        if matches!(c, '"' | '\'' | '`') {
            quote = Some(c);
        } else if c == '$' {
            if let Some(v) = variable(&s[i..]) {
                if cells.iter().any(|x| x == v) {
                    out.push_str(&format!("(__cell_get \"{v}\")"));
                    i += v.len();
                    continue;
                }
            }
        }
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn rewrite_action(action: &str, cells: &[String]) -> String {
    let (head, body, tail) = split_action(action);
    match assignment(body) {
        Some((var, _, pipeline)) if cells.iter().any(|c| c == var) => format!(
            "{head}__cell_set \"{var}\" ({}){tail}",
            replace_cells(pipeline.trim(), cells)
        ),
        Some((var, _, pipeline)) => {
            format!("{head}{var} :={}{tail}", replace_cells(pipeline, cells))
        }
        None => format!("{head}{}{tail}", replace_cells(body, cells)),
    }
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
        // assigned inside a range, declared outside: a cell
        assert_eq!(
            rewrite(
                r#"{{ $n := 0 }}{{ range $labels }}{{- $n = add1 $n -}}{{ end }}{{ $n }}{{ $nn }}"#
            )
            .unwrap(),
            r#"{{ __cell_set "$n" (0) }}{{ range $labels }}{{- __cell_set "$n" (add1 (__cell_get "$n")) -}}{{ end }}{{ (__cell_get "$n") }}{{ $nn }}"#
        );
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
