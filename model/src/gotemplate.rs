//! Go template helpers shared by the evaluator's templates (Prometheus's functions) and the
//! notifier's (Alertmanager's): the text checks run before parsing, and the string functions
//! both engines offer, with Go's behaviour. Prometheus 2.42 and Alertmanager 0.25 differ in one
//! of them: Prometheus's `title` is Go's `strings.Title`, Alertmanager's is
//! `cases.Title(language.AmericanEnglish)` from `golang.org/x/text` (see [`strings_title`] and
//! [`cases_title`]). Number and time formats are in [`crate::gofmt`].

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

/// Go's simple (one rune to one rune) case mapping, as `unicode.ToUpper`/`ToLower` do: where
/// Rust's full mapping gives several characters (`ß` → `SS`), Go leaves the rune as it is.
fn simple_case(c: char, upper: bool) -> char {
    if !upper && c == '\u{130}' {
        // `İ`: Go maps it to `i` (Rust's full mapping adds a combining dot).
        return 'i';
    }
    let mut m = if upper {
        Some(c.to_uppercase())
            .into_iter()
            .flatten()
            .collect::<Vec<char>>()
    } else {
        Some(c.to_lowercase())
            .into_iter()
            .flatten()
            .collect::<Vec<char>>()
    };
    match (m.pop(), m.is_empty()) {
        (Some(one), true) => one,
        _ => c,
    }
}

/// The four Latin digraphs with a titlecase form distinct from their upper case (`ǅ`, `ǈ`,
/// `ǋ`, `ǲ`), by any of their three forms.
fn digraph_title(c: char) -> Option<char> {
    match c {
        '\u{1C4}'..='\u{1C6}' => Some('\u{1C5}'),
        '\u{1C7}'..='\u{1C9}' => Some('\u{1C8}'),
        '\u{1CA}'..='\u{1CC}' => Some('\u{1CB}'),
        '\u{1F1}'..='\u{1F3}' => Some('\u{1F2}'),
        _ => None,
    }
}

/// Go's `strings.ToUpper` (Prometheus's and Alertmanager's `toUpper`).
pub fn to_upper(s: &str) -> String {
    s.chars().map(|c| simple_case(c, true)).collect()
}

/// Go's `strings.ToLower` (Prometheus's and Alertmanager's `toLower`).
pub fn to_lower(s: &str) -> String {
    s.chars().map(|c| simple_case(c, false)).collect()
}

/// Go's `strings.Title`, Prometheus's `title`: the first rune of every word in title case, the
/// rest unchanged. Words are separated by ASCII characters other than letters, digits and `_`,
/// and by Unicode spaces: `node_exporter` → `Node_exporter`, `don't` → `Don'T`, `HELLO` stays.
pub fn strings_title(s: &str) -> String {
    let separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !c.is_alphanumeric() && c.is_whitespace()
        }
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if separator(prev) {
                digraph_title(c).unwrap_or_else(|| simple_case(c, true))
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

/// Characters `golang.org/x/text/cases` treats as case-ignorable inside a word (UAX #29's
/// MidLetter, MidNumLet and Single_Quote, the spacing modifiers and the combining marks):
/// one of them between two letters does not end the word, two in a row do.
fn is_mid(c: char) -> bool {
    matches!(
        c,
        '\'' | '.'
            | ':'
            | '^'
            | '`'
            | '\u{A8}'
            | '\u{AD}'
            | '\u{AF}'
            | '\u{B4}'
            | '\u{B7}'
            | '\u{B8}'
            | '\u{2B0}'..='\u{36F}'
            | '\u{387}'
            | '\u{5F4}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2018}'
            | '\u{2019}'
            | '\u{2024}'
            | '\u{2027}'
            | '\u{FE13}'
            | '\u{FE52}'
            | '\u{FE55}'
            | '\u{FF07}'
            | '\u{FF0E}'
            | '\u{FF1A}'
    )
}

/// Whether `c` has case (`golang.org/x/text`'s "cased": upper, lower or title case letters,
/// Roman numerals included).
fn is_cased(c: char) -> bool {
    c.is_uppercase()
        || c.is_lowercase()
        || digraph_title(c) == Some(c)
        || c.is_alphabetic() && simple_case(c, false) != c
}

/// Whether `c` ends a word for `cases.Title`: anything but letters, decimal digits, connector
/// punctuation (`_`) and the [`is_mid`] characters. Numbers that are not digits (`②`, `½`)
/// and symbols end words.
fn is_break(c: char) -> bool {
    let connector = matches!(
        c,
        '_' | '\u{203F}' | '\u{2040}' | '\u{2054}' | '\u{FE33}' | '\u{FE34}' | '\u{FE4D}'
            ..='\u{FE4F}' | '\u{FF3F}'
    );
    let digit = c.is_numeric() && !is_other_number(c);
    !(c.is_alphabetic() || digit || connector || is_mid(c))
}

/// Numbers of Unicode's category No that Go's tables do not count as digits: superscripts,
/// fractions, circled and parenthesised numbers.
fn is_other_number(c: char) -> bool {
    matches!(
        c,
        '\u{B2}' | '\u{B3}' | '\u{B9}' | '\u{BC}'..='\u{BE}'
            | '\u{2070}'..='\u{209F}'
            | '\u{2150}'..='\u{215F}'
            | '\u{2189}'
            | '\u{2460}'..='\u{24FF}'
            | '\u{2776}'..='\u{2793}'
            | '\u{3192}'..='\u{3195}'
            | '\u{3220}'..='\u{3229}'
            | '\u{3248}'..='\u{324F}'
            | '\u{3251}'..='\u{325F}'
            | '\u{3280}'..='\u{3289}'
            | '\u{32B1}'..='\u{32BF}'
    )
}

/// `cases.Title(language.AmericanEnglish)` from `golang.org/x/text`, Alertmanager's `title`:
/// in every word the first cased letter in title case and the letters after it in lower case.
/// Words continue over letters, digits, `_` and one mid-word character such as `'`, `.` or
/// `:` (`node_exporter` → `Node_exporter`, `don't` → `Don't`, `foo.bar` → `Foo.bar`, `HELLO` →
/// `Hello`, `1st` → `1St`); spaces, `-`, `/` and other symbols end them. Title case is Unicode's
/// full mapping (`ß` → `Ss`, `ǆ` → `ǅ`), and a final `Σ` becomes `ς`. The Unicode tables of
/// `x/text` are approximated for rare scripts (see [`is_mid`] and [`is_break`]).
pub fn cases_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // The lower-cased part of the current word is collected and lowered as one string, so that
    // a final sigma is found as Unicode's (and x/text's) context rule finds it.
    let mut tail = String::new();
    let mut mid_word = false;
    let mut prev_mid = false;
    let flush = |out: &mut String, tail: &mut String| {
        out.push_str(&tail.to_lowercase());
        tail.clear();
    };
    for c in s.chars() {
        let mid = is_mid(c);
        if prev_mid && mid {
            mid_word = false;
        }
        if is_cased(c) {
            if mid_word {
                tail.push(c);
            } else {
                flush(&mut out, &mut tail);
                match digraph_title(c) {
                    Some(t) => out.push(t),
                    None => {
                        // Full title case: the upper case, letters after the first lowered
                        // (`ß` → `Ss`, `ﬁ` → `Fi`).
                        let mut seen_cased = false;
                        for u in c.to_uppercase() {
                            if seen_cased {
                                out.extend(u.to_lowercase());
                            } else {
                                seen_cased = is_cased(u);
                                out.push(u);
                            }
                        }
                    }
                }
                mid_word = true;
            }
        } else {
            tail.push(c);
            if is_break(c) {
                mid_word = false;
                flush(&mut out, &mut tail);
            }
        }
        prev_mid = mid;
    }
    flush(&mut out, &mut tail);
    out
}

/// Go's `regexp.MatchString` (Prometheus's and Alertmanager's `match`): whether `pattern`
/// matches anywhere in `text` (not anchored).
pub fn regex_match(pattern: &str, text: &str) -> Result<bool, regex::Error> {
    Ok(regex::Regex::new(pattern)?.is_match(text))
}

/// Go's `regexp.MustCompile(pattern).ReplaceAllString(text, repl)` (Prometheus's and
/// Alertmanager's `reReplaceAll`): `$1`, `${name}` and `$$` in `repl` as Go expands them.
pub fn re_replace_all(pattern: &str, repl: &str, text: &str) -> Result<String, regex::Error> {
    Ok(regex::Regex::new(pattern)?
        .replace_all(text, repl)
        .into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned from Prometheus 2.42 (`promtool test rules` expanding `{{ "…" | title }}`),
    /// Alertmanager 0.25 (`amtool template render`), both built with Go 1.19.
    #[test]
    fn title_upper_and_lower_as_prometheus_and_alertmanager() {
        let cases = [
            // input, Prometheus's title (strings.Title), Alertmanager's (cases.Title)
            ("foo_bar baz", "Foo_bar Baz", "Foo_bar Baz"),
            ("node_exporter", "Node_exporter", "Node_exporter"),
            ("don't stop", "Don'T Stop", "Don't Stop"),
            ("HELLO wORLD", "HELLO WORLD", "Hello World"),
            ("DiskFull", "DiskFull", "Diskfull"),
            (
                "foo.bar foo-bar foo:bar",
                "Foo.Bar Foo-Bar Foo:Bar",
                "Foo.bar Foo-Bar Foo:bar",
            ),
            (
                "1st place 2nd_try",
                "1st Place 2nd_try",
                "1St Place 2Nd_try",
            ),
            ("host-1:9100", "Host-1:9100", "Host-1:9100"),
            ("x/y z(a)b", "X/Y Z(A)B", "X/Y Z(A)B"),
            ("été ǆemal ßtraße", "Été ǅemal ßtraße", "Été ǅemal Sstraße"),
            ("a&b a+b a@b", "A&B A+B A@B", "A&B A+B A@B"),
            ("déjà-vu o'neil", "Déjà-Vu O'Neil", "Déjà-Vu O'neil"),
            ("foo bar\ttab", "Foo Bar\tTab", "Foo Bar\tTab"),
        ];
        for (input, prometheus, alertmanager) in cases {
            assert_eq!(strings_title(input), prometheus, "strings.Title({input:?})");
            assert_eq!(cases_title(input), alertmanager, "cases.Title({input:?})");
        }
        // Alertmanager 0.25 only (amtool).
        for (input, alertmanager) in [
            (
                "foo,bar foo;bar foo..bar foo'.bar .bar 'bar",
                "Foo,Bar Foo;Bar Foo..Bar Foo'.Bar .Bar 'Bar",
            ),
            ("xY 123abc ABC123DEF a1B2", "Xy 123Abc Abc123def A1b2"),
            ("ǅx ǆX ǈx ﬁsh ŉx", "ǅx ǅx ǈx Fish ʼNx"),
            ("ω-ΩΣΑΣ straße", "Ω-Ωσας Straße"),
            ("foo__bar _foo __", "Foo__bar _Foo __"),
            ("a·b a’b a‘b a|b a~b a#b", "A·b A’b A‘b A|B A~B A#B"),
            ("emoji🙂x a:b:c a.b.c", "Emoji🙂X A:b:c A.b.c"),
            ("a:.b a.:b x'y'z", "A:.B A.:B X'y'z"),
            ("x%y x=y x!y x?y x*y", "X%Y X=Y X!Y X?Y X*Y"),
            ("a–b a b a‿b", "A–B A B A‿b"),
            ("Ⅻx ⅻx ②x", "Ⅻx Ⅻx ②X"),
        ] {
            assert_eq!(cases_title(input), alertmanager, "cases.Title({input:?})");
        }
        // strings.ToUpper/ToLower: simple case mapping (`ß` stays, `ǆ` → `Ǆ`).
        assert_eq!(to_upper("été ǆemal ßtraße"), "ÉTÉ ǄEMAL ßTRAßE");
        assert_eq!(to_upper("don't stop"), "DON'T STOP");
        assert_eq!(to_lower("Déjà-Vu O'NEIL"), "déjà-vu o'neil");
        assert_eq!(to_lower("İ"), "i");
    }

    #[test]
    fn regex_helpers_as_go() {
        assert_eq!(regex_match("b+", "abbc"), Ok(true));
        assert_eq!(regex_match("^b", "abbc"), Ok(false));
        assert!(regex_match("(", "x").is_err());
        assert_eq!(
            re_replace_all("(.*):[0-9]+", "$1", "host-1:9100").unwrap(),
            "host-1"
        );
        assert_eq!(
            re_replace_all("(?P<h>[a-z]+)-", "${h}_$$", "ab-cd-").unwrap(),
            "ab_$cd_$"
        );
        assert!(re_replace_all("[", "", "x").is_err());
    }

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
