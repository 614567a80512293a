//! A reference to one version of a registered model, as MLflow writes it: `models:/NAME/3`,
//! `models:/NAME@champion` or `models:/NAME/latest`.

use std::fmt;
use std::str::FromStr;

use super::check_model_name;
use crate::error::{Error, NameKind, Result, Shown};

/// The scheme of a model reference.
const SCHEME: &str = "models:/";

/// The forms a reference may take, for messages.
const FORMS: &str = "models:/NAME/VERSION (a number), models:/NAME@ALIAS or models:/NAME/latest";

/// Which version of a model a [`ModelRef`] means.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// That version number.
    Version(u64),
    /// The version an alias points at.
    Alias(String),
    /// The highest version.
    Latest,
}

/// One version of a registered model, by number, alias or as the latest: what
/// [`Registry::resolve`](super::Registry::resolve) and
/// [`Registry::download`](super::Registry::download) take, and what a step's data input may
/// name.
///
/// ```
/// use run_runtime::{ModelRef, Selector};
///
/// let r: ModelRef = "models:/iris-classifier@champion".parse()?;
/// assert_eq!(r.name(), "iris-classifier");
/// assert_eq!(r.selector(), &Selector::Alias("champion".into()));
/// assert_eq!(ModelRef::version("iris-classifier", 3)?.to_string(), "models:/iris-classifier/3");
/// assert!("models:/iris-classifier/Production".parse::<ModelRef>().is_err());
/// # Ok::<(), run_runtime::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    name: String,
    selector: Selector,
}

impl ModelRef {
    /// Version `version` of model `name`.
    pub fn version(name: &str, version: u64) -> Result<ModelRef> {
        ModelRef::new(name, Selector::Version(version))
    }

    /// The version of model `name` that `alias` points at; the alias follows MLflow's rules
    /// (see the guide).
    pub fn alias(name: &str, alias: &str) -> Result<ModelRef> {
        check_alias(alias)?;
        ModelRef::new(name, Selector::Alias(alias.to_owned()))
    }

    /// The highest version of model `name`.
    pub fn latest(name: &str) -> Result<ModelRef> {
        ModelRef::new(name, Selector::Latest)
    }

    fn new(name: &str, selector: Selector) -> Result<ModelRef> {
        check_model_name(name)?;
        if selector == Selector::Version(0) {
            return Err(invalid(
                &format!("{SCHEME}{name}/0"),
                "versions count from 1",
            ));
        }
        Ok(ModelRef {
            name: name.to_owned(),
            selector,
        })
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which of its versions.
    pub fn selector(&self) -> &Selector {
        &self.selector
    }

    /// `true` for text that is meant as a model reference: it starts with `models:/`.
    pub fn is_model_uri(text: &str) -> bool {
        text.starts_with(SCHEME)
    }
}

/// An alias: MLflow's rules (`run_rules::alias_rule`).
pub(crate) fn check_alias(alias: &str) -> Result<()> {
    run_rules::alias_rule(alias).map_err(|rule| Error::InvalidName {
        kind: NameKind::Alias,
        name: Shown::new(alias),
        rule,
    })
}

fn invalid(text: &str, reason: &str) -> Error {
    Error::InvalidModelUri {
        uri: Shown::new(text),
        reason: format!("{reason}; a model is named as {FORMS}"),
    }
}

impl FromStr for ModelRef {
    type Err = Error;

    fn from_str(text: &str) -> Result<ModelRef> {
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| invalid(text, "it does not start with models:/"))?;
        // A model name has no `/` and no `@` (the key rules), so the first of them ends it.
        match rest.find(['/', '@']) {
            None => Err(invalid(text, "it names no version")),
            Some(at) => {
                let (name, selector) = (&rest[..at], &rest[at + 1..]);
                if name.is_empty() {
                    return Err(invalid(text, "it names no model"));
                }
                // `@latest` is the highest version, as MLflow's server takes it.
                if rest.as_bytes()[at] == b'@' && selector.eq_ignore_ascii_case("latest") {
                    return ModelRef::latest(name);
                }
                if rest.as_bytes()[at] == b'@' {
                    return ModelRef::alias(name, selector);
                }
                parse_version(text, name, selector)
            }
        }
    }
}

fn parse_version(text: &str, name: &str, version: &str) -> Result<ModelRef> {
    if version == "latest" {
        return ModelRef::latest(name);
    }
    if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) {
        let number = version
            .parse::<u64>()
            .map_err(|_| invalid(text, "the version is too large"))?;
        return ModelRef::version(name, number);
    }
    let reason = match version {
        "" => String::from("it names no version after the '/'"),
        v if v.contains('/') => format!("{v:?} is a path; a reference names a version only"),
        v => format!(
            "{v:?} is not a version number (stages such as Production are not supported; \
             point an alias at the version instead)"
        ),
    };
    Err(invalid(text, &reason))
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            Selector::Version(v) => write!(f, "{SCHEME}{}/{v}", self.name),
            Selector::Alias(a) => write!(f, "{SCHEME}{}@{a}", self.name),
            Selector::Latest => write!(f, "{SCHEME}{}/latest", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_parse_and_print_back() {
        for (text, selector) in [
            ("models:/iris/3", Selector::Version(3)),
            ("models:/iris@champion", Selector::Alias("champion".into())),
            ("models:/iris/latest", Selector::Latest),
            ("models:/a.b-c_d/12", Selector::Version(12)),
        ] {
            let r: ModelRef = text.parse().unwrap();
            assert_eq!(r.selector(), &selector, "{text}");
            assert_eq!(r.to_string(), text);
        }
        let r: ModelRef = "models:/iris@Latest".parse().unwrap();
        assert_eq!(r.to_string(), "models:/iris/latest");
        assert_eq!("models:/iris/3".parse::<ModelRef>().unwrap().name(), "iris");
    }

    #[test]
    fn refusals_name_the_text_the_rule_and_the_forms() {
        for (text, says) in [
            ("runs:/abc/model", "does not start with models:/"),
            ("models:/iris", "names no version"),
            ("models:/iris/", "names no version after the '/'"),
            ("models:/iris/0", "versions count from 1"),
            ("models:/iris/Production", "stages such as Production"),
            ("models:/iris/3/extra", "is a path"),
            ("models:/iris/-1", "is not a version number"),
            ("models:/iris/99999999999999999999999", "too large"),
            ("models:/@champion", "names no model"),
        ] {
            let e = text.parse::<ModelRef>().unwrap_err().to_string();
            assert!(e.starts_with(&format!("invalid model URI {text:?}")), "{e}");
            assert!(e.contains(says), "{text}: {e}");
            assert!(e.ends_with(&format!("a model is named as {FORMS}")), "{e}");
        }
        let e = "models:/iris@v2".parse::<ModelRef>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid alias name \"v2\": 'v' followed by digits is reserved: it names a version \
             (v3 is version 3); choose another alias"
        );
        let e = "models:/team:iris/1".parse::<ModelRef>().unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidName {
                    kind: NameKind::Model,
                    ..
                }
            ),
            "{e}"
        );
        let e = "models:/iris@a b".parse::<ModelRef>().unwrap_err();
        assert!(e.to_string().contains("character ' ' at position 1"), "{e}");
    }
}
