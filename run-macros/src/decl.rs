//! Declaration lists: `inputs(irisdata = "data/iris.csv", other)`, `outputs(...)` and
//! `params(threshold = 0.9, seed)`. One grammar and one set of errors for `#[aml_step]`, where
//! the literal is a step's default, and `pipeline!`, where it is the value the pipeline binds.

use proc_macro2::{TokenStream, TokenTree};

use crate::args::{self, Arg, Value};
use crate::ctxt::Ctxt;

/// The list a name is declared in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    Input,
    Output,
    Param,
}

impl SlotKind {
    /// The list option that declares this kind: `inputs`, `outputs`, `params`.
    pub fn list(self) -> &'static str {
        match self {
            SlotKind::Input => "inputs",
            SlotKind::Output => "outputs",
            SlotKind::Param => "params",
        }
    }

    /// One of the kind, in a message: `input`, `output`, `param`.
    pub fn noun(self) -> &'static str {
        match self {
            SlotKind::Input => "input",
            SlotKind::Output => "output",
            SlotKind::Param => "param",
        }
    }

    /// The kind declared by the list option `key`, if it is one.
    pub fn of_list(key: &str) -> Option<SlotKind> {
        match key {
            "inputs" => Some(SlotKind::Input),
            "outputs" => Some(SlotKind::Output),
            "params" => Some(SlotKind::Param),
            _ => None,
        }
    }

    fn example(self) -> &'static str {
        match self {
            SlotKind::Input => "inputs(irisdata = \"data/iris.csv\", other)",
            SlotKind::Output => "outputs(model = \"outputs/model\")",
            SlotKind::Param => "params(threshold = 0.9, model = \"knn\", seed)",
        }
    }
}

/// What the literal after `name =` is, for messages: a step's `default`, a pipeline's `value`.
#[derive(Clone, Copy)]
pub enum ValueRole {
    Default,
    Value,
}

impl ValueRole {
    fn word(self) -> &'static str {
        match self {
            ValueRole::Default => "default",
            ValueRole::Value => "value",
        }
    }
}

/// A name declared in a list, with its literal if it has one.
pub struct Declaration {
    pub kind: SlotKind,
    pub name: String,
    /// The name's token, for errors about it.
    pub at: TokenStream,
    /// `None` for a bare name, and for a literal that was wrong (already reported).
    pub value: Option<LiteralValue>,
}

/// A literal written after `name =`.
pub struct LiteralValue {
    /// The text the runtime receives: a string's contents, a number's digits (with its sign).
    pub text: String,
    /// The tokens as written, for errors about the value.
    pub tokens: TokenStream,
    /// The type a literal of this kind suggests, for "add `x: f64`" hints.
    pub suggested_ty: &'static str,
}

/// Reads the list option `arg` (`inputs(...)`, `outputs(...)` or `params(...)`, of `kind`)
/// into `declared`, which holds the names of the lists read before: a name is declared once,
/// in one list. Each mistake is an error at its token. Returns `false` when the list could not
/// be read whole (it is not a list, or an entry is malformed or quoted), so that the caller
/// does not report names as undeclared that may well be declared there.
pub fn read(
    arg: &Arg,
    kind: SlotKind,
    role: ValueRole,
    declared: &mut Vec<Declaration>,
    cx: &mut Ctxt,
) -> bool {
    let mut errors = Ctxt::default();
    let entries = args::list(arg, kind.example(), &mut errors);
    let mut whole = errors.is_empty();
    cx.extend(errors);
    for entry in entries.into_iter().flatten() {
        if entry.quoted_key {
            cx.error_at(
                &entry.key_tokens,
                format!(
                    "expected the name of {} {}, not a string: {}",
                    article(kind),
                    kind.noun(),
                    entry.key
                ),
            );
            whole = false;
            continue;
        }
        if let Some(first) = declared.iter().find(|d| d.name == entry.key) {
            cx.error_at(
                &entry.key_tokens,
                format!(
                    "`{}` is already given in {}(...); a name is given once, in one list: \
                     remove one of them",
                    entry.key,
                    first.kind.list()
                ),
            );
            continue;
        }
        let value = match &entry.value {
            Value::Flag => None,
            Value::Eq(tokens) => literal(&entry.key, tokens, kind, role, cx),
            Value::List(group) => {
                cx.error_at(
                    group,
                    format!("expected `{0} = <{1}>` or `{0}`", entry.key, role.word()),
                );
                None
            }
        };
        declared.push(Declaration {
            kind,
            name: entry.key.clone(),
            at: entry.key_tokens.clone(),
            value,
        });
    }
    whole
}

fn article(kind: SlotKind) -> &'static str {
    match kind {
        SlotKind::Input | SlotKind::Output => "an",
        SlotKind::Param => "a",
    }
}

/// The literal of `name = tokens`: any literal for a param, a string (a path) for an input
/// or output.
fn literal(
    name: &str,
    tokens: &TokenStream,
    kind: SlotKind,
    role: ValueRole,
    cx: &mut Ctxt,
) -> Option<LiteralValue> {
    let role = role.word();
    match (kind, literal_text(tokens)) {
        (SlotKind::Param, Some((text, suggested_ty))) => Some(LiteralValue {
            text,
            tokens: tokens.clone(),
            suggested_ty,
        }),
        (SlotKind::Param, None) => {
            cx.error_at(
                tokens,
                format!(
                    "the {role} of param `{name}` must be a literal: a number, a bool or a \
                     string, such as {name} = 0.5"
                ),
            );
            None
        }
        (_, Some((text, "String"))) => Some(LiteralValue {
            text,
            tokens: tokens.clone(),
            suggested_ty: "&Path",
        }),
        _ => {
            cx.error_at(
                tokens,
                format!(
                    "the {role} of {} `{name}` must be a path in a string literal, such as \
                     {name} = \"data/{name}\"",
                    kind.noun()
                ),
            );
            None
        }
    }
}

/// The text of a literal (with an optional leading `-` for numbers), and the type it suggests.
pub fn literal_text(tokens: &TokenStream) -> Option<(String, &'static str)> {
    let mut iter = tokens.clone().into_iter().peekable();
    let negative = matches!(iter.peek(), Some(TokenTree::Punct(p)) if p.as_char() == '-');
    if negative {
        iter.next();
    }
    let lit: syn::Lit = syn::parse2(iter.collect()).ok()?;
    let sign = if negative { "-" } else { "" };
    match lit {
        syn::Lit::Str(s) if !negative => Some((s.value(), "String")),
        syn::Lit::Int(i) => Some((format!("{sign}{}", i.base10_digits()), "i64")),
        syn::Lit::Float(f) => Some((format!("{sign}{}", f.base10_digits()), "f64")),
        syn::Lit::Bool(b) if !negative => Some((b.value.to_string(), "bool")),
        syn::Lit::Char(c) if !negative => Some((c.value().to_string(), "char")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn read_all(tokens: TokenStream, role: ValueRole) -> (Vec<Declaration>, bool, String) {
        let mut cx = Ctxt::default();
        let mut declared = Vec::new();
        let mut whole = true;
        for arg in args::parse(tokens, &mut cx) {
            let kind = SlotKind::of_list(&arg.key).expect("a list option");
            whole &= read(&arg, kind, role, &mut declared, &mut cx);
        }
        let errors = cx
            .into_compile_errors()
            .map(|e| e.to_string())
            .unwrap_or_default();
        (declared, whole, errors)
    }

    #[test]
    fn names_with_and_without_literals() {
        let (declared, whole, errors) = read_all(
            quote!(
                inputs(data = "d.csv", other),
                params(t = -0.5, n = 3, m = "knn", f = true, seed)
            ),
            ValueRole::Default,
        );
        assert!(whole && errors.is_empty(), "{errors}");
        let shown: Vec<(&str, Option<&str>, Option<&str>)> = declared
            .iter()
            .map(|d| {
                let v = d.value.as_ref();
                (
                    d.name.as_str(),
                    v.map(|v| v.text.as_str()),
                    v.map(|v| v.suggested_ty),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("data", Some("d.csv"), Some("&Path")),
                ("other", None, None),
                ("t", Some("-0.5"), Some("f64")),
                ("n", Some("3"), Some("i64")),
                ("m", Some("knn"), Some("String")),
                ("f", Some("true"), Some("bool")),
                ("seed", None, None),
            ]
        );
    }

    #[test]
    fn each_mistake_is_one_error_in_the_words_of_the_role() {
        let (declared, whole, errors) = read_all(
            quote!(inputs(data = 3, x(1)), params(data = 1, t = [1], t = 2)),
            ValueRole::Value,
        );
        assert_eq!(errors.matches("compile_error").count(), 5, "{errors}");
        assert!(
            errors.contains("the value of input `data` must be a path in a string literal"),
            "{errors}"
        );
        assert!(errors.contains("expected `x = <value>` or `x`"), "{errors}");
        assert!(
            errors.contains("`data` is already given in inputs(...)"),
            "{errors}"
        );
        assert!(
            errors.contains("the value of param `t` must be a literal"),
            "{errors}"
        );
        assert!(
            errors.contains("`t` is already given in params(...)"),
            "{errors}"
        );
        // A wrong literal keeps its name declared: no "not declared" follows from it.
        let names: Vec<&str> = declared.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["data", "x", "t"]);
        assert!(whole);
        let (_, _, errors) = read_all(quote!(params(t = [1])), ValueRole::Default);
        assert!(errors.contains("the default of param `t`"), "{errors}");
    }

    #[test]
    fn a_list_that_cannot_be_read_whole_says_so() {
        let (declared, whole, errors) = read_all(quote!(inputs = "x"), ValueRole::Default);
        assert!(declared.is_empty() && !whole);
        assert!(errors.contains("takes a list in parentheses"), "{errors}");
        let (declared, whole, errors) = read_all(quote!(params("seed", n)), ValueRole::Default);
        assert_eq!(declared.len(), 1);
        assert!(!whole);
        assert!(
            errors.contains("expected the name of a param, not a string"),
            "{errors}"
        );
    }
}
