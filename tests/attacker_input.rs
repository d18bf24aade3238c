//! The parsers that face attackers and careless exports, fed arbitrary
//! input (in the spirit of mod_auth_openidc's fuzz targets, replayed as
//! ordinary tests): none of them panics, and the security properties hold
//! for every input, not only for the listed payloads.

use esia_gate::auth::cookies::cookie_value;
use esia_gate::auth::return_to::safe_return_path;
use esia_gate::identity::Snils;
use esia_gate::identity::names::NormalFio;
use esia_gate::proxy::headers::{header_key, strip_cookies};
use proptest::prelude::*;

fn origin() -> url::Url {
    url::Url::parse("https://dnevnik.example.ru").expect("origin")
}

/// Strings rich in the characters that matter for URLs and cookies.
fn tricky() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("/".to_string()),
            Just("\\\\".to_string()),
            Just("%2f".to_string()),
            Just("%5C".to_string()),
            Just("@".to_string()),
            Just(":".to_string()),
            Just(".".to_string()),
            Just("?".to_string()),
            Just("#".to_string()),
            Just("\t".to_string()),
            Just("\n".to_string()),
            Just("\u{3002}".to_string()),
            Just("\u{ff0f}".to_string()),
            Just("evil.example".to_string()),
            Just("http".to_string()),
            Just(";".to_string()),
            Just("=".to_string()),
            "[a-z0-9]{1,4}",
            any::<char>().prop_map(|c| c.to_string()),
        ],
        0..24,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_return_target_never_leaves_the_origin(raw in tricky()) {
        if let Some(path) = safe_return_path(&raw, &origin()) {
            prop_assert!(path.starts_with('/') && !path.starts_with("//"), "{:?} -> {:?}", raw, path);
            let landed = origin().join(&path).expect("joins");
            prop_assert_eq!(landed.origin(), origin().origin());
        }
    }

    #[test]
    fn cookie_headers_never_panic_and_our_cookie_never_survives(raw in tricky()) {
        let header = format!("{raw}; esia_gate_session=abc; {raw}");
        let _ = cookie_value(&header, "esia_gate_session");
        if let Some(kept) = strip_cookies(&header, &["esia_gate_session"]) {
            prop_assert!(kept
                .split(';')
                .all(|c| c.split('=').next().unwrap_or("").trim() != "esia_gate_session"));
        }
        let _ = header_key(&raw);
    }

    #[test]
    fn snils_parsing_never_panics(raw in ".{0,30}") {
        if let Ok(s) = Snils::parse(&raw) {
            prop_assert_eq!(s.digits().len(), 11);
            let shown = format!("{:?}", s);
            prop_assert!(!shown.contains(s.digits()));
        }
    }

    #[test]
    fn any_name_normalises_without_panic(last in ".{0,20}", first in ".{0,20}", middle in ".{0,20}") {
        let a = NormalFio::new(&last, &first, &middle);
        prop_assert_eq!(a, NormalFio::new(&last, &first, &middle));
    }

    #[test]
    fn case_yo_and_spacing_of_a_cyrillic_name_do_not_matter(
        last in "[а-яА-ЯёЁ]{1,12}( ?- ?[а-яА-Я]{1,8})?",
        first in "[а-яА-ЯёЁ]{1,12}",
    ) {
        let plain = NormalFio::new(&last, &first, "");
        let shouted = NormalFio::new(&format!("  {}  ", last.to_uppercase()), &first.to_uppercase(), "");
        let yo = NormalFio::new(&last.replace('е', "ё"), &first.replace('Е', "Ё"), "");
        prop_assert_eq!(&plain, &shouted);
        prop_assert_eq!(&plain, &yo);
    }

    #[test]
    fn a_directory_export_of_any_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut csv = b"login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n".to_vec();
        csv.extend(bytes);
        let _ = esia_gate::identity::Directory::parse_csv(&csv, "fuzz.csv");
    }

    #[test]
    fn a_policy_file_of_any_text_never_panics(text in ".{0,300}") {
        let _ = esia_gate::policy::parse("fuzz.toml", &text);
    }

    #[test]
    fn esia_error_descriptions_never_panic(text in ".{0,40}") {
        let _ = esia_gate::esia::protocol::error_code(&text);
    }
}
