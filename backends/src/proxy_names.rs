//! The names the proxy probes ask for, derived in one place from the configured allowed and
//! denied names: the backends put them in the DNS canary's zone (every one resolves to a fixture
//! the harness owns, and to nothing anywhere else), the harness plans its attempts with them.
//!
//! * lookalikes of the allowed name that are other names (`<allowed>.attacker.<parent>`,
//!   `x<allowed>`, the allowed name with its inner dots replaced, a sibling under its parent):
//!   what a suffix, substring, unescaped-dot or parent-domain match lets through;
//! * spellings of the denied name: upper and mixed case, a trailing dot, percent-encoded dots,
//!   an explicit port, and an IDNA look-alike (one Latin letter swapped for its Cyrillic twin),
//!   raw and as punycode (RFC 3492).

/// How the denied name is spelled in one attempt: the URI's authority and the Host header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spelling {
    /// What the spelling is, for the report.
    pub what: &'static str,
    pub authority: String,
    pub host: String,
}

/// The lookalikes of `allowed`: other names that contain it, end like it or share its parent.
/// Every one stays under the allowed name's last label (`.test` for the defaults).
pub fn lookalikes(allowed: &str) -> Vec<String> {
    let allowed = allowed.trim_end_matches('.').to_ascii_lowercase();
    let parent = parent_of(&allowed);
    let dashed = match allowed.rsplit_once('.') {
        Some((inner, last)) => format!("{}.{last}", inner.replace('.', "-")),
        None => allowed.clone(),
    };
    let mut names = vec![
        format!("{allowed}.attacker.{parent}"),
        format!("x{allowed}"),
        dashed,
        format!("evil.{parent}"),
    ];
    names.retain(|n| *n != allowed);
    names.dedup();
    names
}

/// The name under which `name`'s siblings live: `name` without its first label (the last label
/// alone for a two-label name).
fn parent_of(name: &str) -> String {
    match name.split_once('.') {
        Some((_, rest)) if rest.contains('.') => rest.to_string(),
        Some((_, rest)) => rest.to_string(),
        None => name.to_string(),
    }
}

/// The spellings of `denied` a proxy must see through, each with the URI authority and Host
/// header it is sent with.
pub fn denied_spellings(denied: &str) -> Vec<Spelling> {
    let denied = denied.trim_end_matches('.').to_ascii_lowercase();
    let same = |what: &'static str, text: String| Spelling {
        what,
        authority: text.clone(),
        host: text,
    };
    let mut spellings = vec![
        same("upper case", denied.to_ascii_uppercase()),
        same("mixed case", mixed_case(&denied)),
        same("trailing dot", format!("{denied}.")),
        same("percent-encoded dots", denied.replace('.', "%2E")),
        same("explicit port", format!("{denied}:80")),
    ];
    if let Some((raw, puny)) = idna_lookalike(&denied) {
        spellings.push(same("IDNA look-alike, raw UTF-8", raw));
        spellings.push(same("IDNA look-alike, punycode", puny));
    }
    spellings
}

/// `Blocked.Fixture.Test`: each label's first letter upper case.
fn mixed_case(name: &str) -> String {
    name.split('.')
        .map(|label| {
            let mut chars = label.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Latin letters with a Cyrillic twin that looks the same.
const CONFUSABLES: &[(char, char)] = &[
    ('o', '\u{43e}'),
    ('a', '\u{430}'),
    ('e', '\u{435}'),
    ('c', '\u{441}'),
    ('p', '\u{440}'),
    ('x', '\u{445}'),
];

/// `name` with the first confusable letter of its first label swapped for its Cyrillic twin,
/// raw and as the A-label a resolver is asked for; None when the first label has none.
pub fn idna_lookalike(name: &str) -> Option<(String, String)> {
    let (first, rest) = name.split_once('.').unwrap_or((name, ""));
    let (index, twin) = first.char_indices().find_map(|(i, c)| {
        CONFUSABLES
            .iter()
            .find(|(l, _)| *l == c)
            .map(|(_, t)| (i, *t))
    })?;
    let mut label = String::new();
    label.push_str(&first[..index]);
    label.push(twin);
    label.push_str(&first[index + 1..]);
    let suffix = if rest.is_empty() {
        String::new()
    } else {
        format!(".{rest}")
    };
    let puny = format!("xn--{}", punycode(&label)?);
    Some((format!("{label}{suffix}"), format!("{puny}{suffix}")))
}

/// Every name the DNS canary answers with the public host: the allowed and denied names, the
/// allowed name's lookalikes and the denied name's punycode look-alike (case and a trailing dot
/// are the resolver's to fold; a percent-encoded or raw UTF-8 name is no DNS name).
pub fn public_zone(allowed: &str, denied: &str) -> Vec<String> {
    let mut names = vec![
        allowed.trim_end_matches('.').to_ascii_lowercase(),
        denied.trim_end_matches('.').to_ascii_lowercase(),
    ];
    names.extend(lookalikes(allowed));
    if let Some((_, puny)) = idna_lookalike(&denied.trim_end_matches('.').to_ascii_lowercase()) {
        names.push(puny);
    }
    names.dedup();
    names
}

/// The punycode of one label (RFC 3492 section 6.3, lower-case output); None on overflow.
fn punycode(label: &str) -> Option<String> {
    const BASE: u32 = 36;
    const T_MIN: u32 = 1;
    const T_MAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    let digit = |d: u32| -> char {
        if d < 26 {
            char::from(b'a' + d as u8)
        } else {
            char::from(b'0' + (d - 26) as u8)
        }
    };
    let adapt = |mut delta: u32, points: u32, first: bool| -> u32 {
        delta = if first { delta / DAMP } else { delta / 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - T_MIN) * T_MAX) / 2 {
            delta /= BASE - T_MIN;
            k += BASE;
        }
        k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
    };
    let input: Vec<u32> = label.chars().map(u32::from).collect();
    let mut output: String = label.chars().filter(char::is_ascii).collect();
    let basic = output.len() as u32;
    let mut handled = basic;
    if basic > 0 {
        output.push('-');
    }
    let (mut n, mut delta, mut bias) = (128u32, 0u32, 72u32);
    while (handled as usize) < input.len() {
        let m = *input.iter().filter(|&&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in &input {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        T_MIN
                    } else if k >= bias + T_MAX {
                        T_MAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    output.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                output.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    Some(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalikes_of_the_default_allowed_name() {
        assert_eq!(
            lookalikes("public.fixture.test"),
            [
                "public.fixture.test.attacker.fixture.test",
                "xpublic.fixture.test",
                "public-fixture.test",
                "evil.fixture.test",
            ]
        );
        // Every lookalike stays under the allowed name's last label and is not the name.
        for name in lookalikes("Public.Fixture.Test.") {
            assert!(name.ends_with(".test"), "{name}");
            assert_ne!(name, "public.fixture.test");
        }
        assert_eq!(
            lookalikes("example.test"),
            [
                "example.test.attacker.test",
                "xexample.test",
                "example.test",
                "evil.test",
            ]
            .into_iter()
            .filter(|n| *n != "example.test")
            .collect::<Vec<_>>()
        );
    }

    /// RFC 3492 section 7.1 sample (L) and well-known A-labels.
    #[test]
    fn punycode_matches_known_encodings() {
        assert_eq!(punycode("bücher").as_deref(), Some("bcher-kva"));
        assert_eq!(punycode("münchen").as_deref(), Some("mnchen-3ya"));
        assert_eq!(
            punycode("3年B組金八先生").as_deref(),
            Some("3B-ww4c5e180e575a65lsy2b")
        );
        assert_eq!(punycode("abc").as_deref(), Some("abc-"));
    }

    #[test]
    fn spellings_of_the_default_denied_name() {
        let spellings = denied_spellings("blocked.fixture.test");
        let authorities: Vec<&str> = spellings.iter().map(|s| s.authority.as_str()).collect();
        assert_eq!(
            authorities,
            [
                "BLOCKED.FIXTURE.TEST",
                "Blocked.Fixture.Test",
                "blocked.fixture.test.",
                "blocked%2Efixture%2Etest",
                "blocked.fixture.test:80",
                "bl\u{43e}cked.fixture.test",
                "xn--blcked-xqf.fixture.test",
            ]
        );
        assert!(spellings.iter().all(|s| s.host == s.authority));
        // The punycode look-alike is in the zone (a proxy that encodes the raw one asks for it).
        assert!(public_zone("public.fixture.test", "blocked.fixture.test")
            .contains(&"xn--blcked-xqf.fixture.test".to_string()));
        // No confusable letter: no look-alike.
        assert_eq!(
            idna_lookalike("xyz.test").map(|(r, _)| r).as_deref(),
            Some("\u{445}yz.test")
        );
        assert_eq!(idna_lookalike("bnm.test"), None);
    }
}
