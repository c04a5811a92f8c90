//! Usernames: the key under which an account name is unique and looked up, and the rule that
//! refuses names mixing look-alike alphabets.
//!
//! The key is `NFKC(fold(NFKC(trim(name))))`: surrounding white space removed, Unicode NFKC
//! normalisation, Unicode default (full, non-Turkic) case folding, then NFKC once more.
//! Case folding does not preserve normalisation: it can turn a precomposed letter into a
//! base letter plus a combining mark (`ǰ` folds to `j` + U+030C), leaving two canonically
//! equivalent spellings of one name (`J` + U+0323 + U+030C and `ǰ` + U+0323) with different
//! folded strings. The second NFKC makes them one key, as Unicode's `toNFKC_Casefold`
//! (UAX #31, identifier caseless matching) does; [`username_key`] is idempotent.
//!
//! Mixed scripts: Latin, Greek and Cyrillic share many letter shapes (`a`/`а`, `o`/`ο`/`о`),
//! so a name with letters of two of them (`pаypal` with a Cyrillic `а`) could pass for
//! another account's. Such names are refused at account creation ([`mixed_scripts`]); names in
//! one of these alphabets, or in any other script (Han, Arabic, ...), with digits and
//! punctuation, are accepted.

use icu_casemap::CaseMapper;
use icu_normalizer::ComposingNormalizer;
use icu_properties::props::Script;
use icu_properties::CodePointMapData;
use std::fmt;

/// The key under which a username is unique and compared: trimmed, NFKC-normalised, case-folded
/// (Unicode default folding: `ß` and `SS` both give `ss`, `İ` gives `i` + U+0307, `ı` stays
/// `ı`) and NFKC-normalised again (see the module documentation).
pub fn username_key(username: &str) -> String {
    let nfkc = ComposingNormalizer::new_nfkc();
    let normalized = nfkc.normalize(username.trim());
    let folded = CaseMapper::new().fold_string(&normalized);
    // Trimmed again: normalisation can begin or end a name with white space (`¯` is a space and
    // a combining macron under NFKC), and the key of a key must be the key itself.
    nfkc.normalize(&folded).trim().to_owned()
}

/// An alphabet whose letters are easily taken for another's: usernames may use letters of
/// at most one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Alphabet {
    /// Latin letters (`a`, `é`, fullwidth `Ａ`, ...).
    Latin,
    /// Greek letters.
    Greek,
    /// Cyrillic letters.
    Cyrillic,
}

impl Alphabet {
    /// The English name of the alphabet.
    pub fn name(self) -> &'static str {
        match self {
            Self::Latin => "Latin",
            Self::Greek => "Greek",
            Self::Cyrillic => "Cyrillic",
        }
    }

    fn of(c: char) -> Option<Self> {
        match CodePointMapData::<Script>::new().get(c) {
            Script::Latin => Some(Self::Latin),
            Script::Greek => Some(Self::Greek),
            Script::Cyrillic => Some(Self::Cyrillic),
            _ => None,
        }
    }
}

impl fmt::Display for Alphabet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The alphabets a username mixes, in the order Latin, Greek, Cyrillic, when it has letters of
/// two or more of them; `None` when it does not.
///
/// Characters are read after NFKC normalisation (what [`username_key`] compares), so letters
/// that only become Latin or Greek there (mathematical `𝐚`, the micro sign `µ`) count too.
/// Digits, punctuation and combining marks belong to no alphabet.
pub fn mixed_scripts(username: &str) -> Option<Vec<Alphabet>> {
    let normalized = ComposingNormalizer::new_nfkc().normalize(username.trim());
    let mut found = Vec::new();
    for alphabet in normalized.chars().filter_map(Alphabet::of) {
        if !found.contains(&alphabet) {
            found.push(alphabet);
        }
    }
    found.sort_unstable();
    (found.len() > 1).then_some(found)
}

/// The field error for a username that mixes `alphabets` (as [`mixed_scripts`] names them).
pub fn mixed_scripts_message(alphabets: &[Alphabet]) -> String {
    let names: Vec<&str> = alphabets.iter().map(|a| a.name()).collect();
    let listed = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    };
    format!(
        "Enter a valid username. This value may not mix letters of different scripts ({listed})."
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(a: &str, b: &str) -> bool {
        username_key(a) == username_key(b)
    }

    #[test]
    fn sharp_s_folds_to_ss() {
        assert_eq!(username_key("Straße"), "strasse");
        assert!(same("ß", "SS"));
        assert!(same("ß", "ss"));
        assert!(same("STRASSE", "straße"));
        // Capital sharp s (U+1E9E) too.
        assert!(same("\u{1E9E}", "ss"));
    }

    #[test]
    fn compatibility_forms_are_the_plain_letters() {
        assert_eq!(username_key("ＡＤＭＩＮ"), "admin");
        assert!(same("ＡＤＭＩＮ", "admin"));
        // Ligature fi (U+FB01).
        assert_eq!(username_key("\u{FB01}nn"), "finn");
        // Kelvin sign (U+212A) is K.
        assert_eq!(username_key("\u{212A}elvin"), "kelvin");
        // Mathematical bold a (U+1D41A), circled digit one.
        assert_eq!(username_key("\u{1D41A}\u{2460}"), "a1");
    }

    #[test]
    fn dotted_and_dotless_i_fold_as_default_folding_says() {
        // Default (non-Turkic) folding: I -> i, İ -> i + U+0307, ı unchanged.
        assert_eq!(username_key("I"), "i");
        assert_eq!(username_key("\u{130}"), "i\u{307}");
        assert_eq!(username_key("\u{131}"), "\u{131}");
        assert!(!same("\u{131}", "i"));
        assert!(!same("\u{131}", "I"));
        assert!(!same("\u{130}", "i"));
        // A decomposed İ is the same name as the precomposed one.
        assert!(same("I\u{307}", "\u{130}"));
    }

    #[test]
    fn surrounding_space_is_ignored_and_inner_text_kept() {
        assert_eq!(username_key("  Alice\t"), "alice");
        assert_eq!(username_key("a.b+c-d_e@f"), "a.b+c-d_e@f");
    }

    #[test]
    fn folding_is_renormalised() {
        // ǰ folds to j + U+030C; with a dot below the two canonically equivalent spellings
        // only meet after the second NFKC.
        let (a, b) = ("\u{1F0}\u{323}", "J\u{323}\u{30C}");
        let fold_only = |s: &str| {
            let normalized = ComposingNormalizer::new_nfkc().normalize(s);
            CaseMapper::new().fold_string(&normalized).into_owned()
        };
        assert_ne!(fold_only(a), fold_only(b));
        assert!(same(a, b));
        assert_eq!(username_key("\u{1F0}"), "\u{1F0}");
    }

    #[test]
    fn greek_final_sigma_and_cyrillic_case() {
        assert!(same("ΣΟΦΙΑ", "σοφια"));
        assert!(same("σοφιας", "ΣΟΦΙΑΣ"));
        assert!(same("Иван", "ИВАН"));
    }

    #[test]
    fn latin_with_cyrillic_is_mixed() {
        // U+0430 CYRILLIC SMALL LETTER A.
        assert_eq!(
            mixed_scripts("p\u{430}ypal"),
            Some(vec![Alphabet::Latin, Alphabet::Cyrillic])
        );
        assert_ne!(username_key("p\u{430}ypal"), username_key("paypal"));
    }

    #[test]
    fn latin_with_greek_is_mixed() {
        // U+03BF GREEK SMALL LETTER OMICRON.
        assert_eq!(
            mixed_scripts("g\u{3BF}\u{3BF}gle"),
            Some(vec![Alphabet::Latin, Alphabet::Greek])
        );
        // The micro sign becomes Greek mu under NFKC.
        assert_eq!(
            mixed_scripts("\u{B5}mol"),
            Some(vec![Alphabet::Latin, Alphabet::Greek])
        );
    }

    #[test]
    fn greek_with_cyrillic_is_mixed() {
        assert_eq!(
            mixed_scripts("\u{3B1}\u{431}"),
            Some(vec![Alphabet::Greek, Alphabet::Cyrillic])
        );
    }

    #[test]
    fn compatibility_letters_count_as_their_script() {
        // Mathematical bold a (Script=Common) is Latin a after NFKC.
        assert_eq!(
            mixed_scripts("\u{1D41A}\u{431}"),
            Some(vec![Alphabet::Latin, Alphabet::Cyrillic])
        );
    }

    #[test]
    fn single_scripts_are_accepted() {
        for name in [
            "alice",
            "Ångström",
            "ＡＤＭＩＮ",
            "Иван_Петров",
            "Σοφία.2024",
            "山田太郎",
            "やまだ_タロウ",
            "محمد",
            "ivan+test-1@example.org",
            "user_01.a+b-c@d",
            "12345",
            "_",
        ] {
            assert_eq!(mixed_scripts(name), None, "{name}");
        }
    }

    #[test]
    fn message_names_the_scripts() {
        let m = mixed_scripts_message(&[Alphabet::Latin, Alphabet::Cyrillic]);
        assert!(m.contains("(Latin and Cyrillic)"), "{m}");
        let m = mixed_scripts_message(&[Alphabet::Latin, Alphabet::Greek, Alphabet::Cyrillic]);
        assert!(m.contains("(Latin, Greek and Cyrillic)"), "{m}");
    }

    #[test]
    fn key_is_idempotent_on_every_assigned_plane() {
        // Planes 0-3 and 14; planes 4-13 are unassigned, 15-16 private use.
        let failures: Vec<String> = (0..0x40000u32)
            .chain(0xE0000..0xF0000)
            .filter_map(char::from_u32)
            .filter_map(|c| {
                let once = username_key(&format!("x{c}"));
                let twice = username_key(&once);
                (once != twice).then(|| format!("U+{:04X}", u32::from(c)))
            })
            .collect();
        assert!(failures.is_empty(), "not idempotent: {failures:?}");
    }

    proptest! {
        #[test]
        fn key_is_idempotent(name in "\\PC{0,12}") {
            let once = username_key(&name);
            prop_assert_eq!(username_key(&once), once);
        }

        #[test]
        fn key_ignores_case_of_ascii(name in "[A-Za-z0-9_.@+-]{1,20}") {
            prop_assert_eq!(username_key(&name), name.to_ascii_lowercase());
        }
    }
}
