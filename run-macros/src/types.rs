//! What the macros need to know about a type from its syntax alone. Anything these helpers do
//! not recognise is left to the compiler, through a trait bound spanned at the type.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::{GenericArgument, PathArguments, Type};

/// The integer types a `step = <parameter>` may have.
pub const INTEGERS: [&str; 12] = [
    "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
];

/// `ty` without parentheses and invisible groups.
pub fn peel(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Paren(p) => ty = &p.elem,
            Type::Group(g) => ty = &g.elem,
            _ => return ty,
        }
    }
}

/// The referenced type of `&T` or `&mut T`.
pub fn referent(ty: &Type) -> Option<&Type> {
    match peel(ty) {
        Type::Reference(r) => Some(&r.elem),
        _ => None,
    }
}

/// The last segment's name and its generic arguments, for a plain path type.
pub fn last_segment(ty: &Type) -> Option<(String, Vec<&Type>)> {
    let Type::Path(p) = peel(ty) else {
        return None;
    };
    if p.qself.is_some() {
        return None;
    }
    let last = p.path.segments.last()?;
    let args = match &last.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some((last.ident.to_string(), args))
}

/// The name of a one-segment path type without generic arguments (`f64`, `String`).
pub fn simple_name(ty: &Type) -> Option<String> {
    let Type::Path(p) = peel(ty) else {
        return None;
    };
    if p.qself.is_some() || p.path.segments.len() != 1 {
        return None;
    }
    let seg = &p.path.segments[0];
    matches!(seg.arguments, PathArguments::None).then(|| seg.ident.to_string())
}

/// `ty` is the step's run: `Run`, `&Run` or a path ending in `Run`.
pub fn is_run(ty: &Type) -> bool {
    let ty = referent(ty).unwrap_or(ty);
    matches!(last_segment(ty), Some((name, args)) if name == "Run" && args.is_empty())
}

/// `ty` is `()`.
pub fn is_unit(ty: &Type) -> bool {
    matches!(peel(ty), Type::Tuple(t) if t.elems.is_empty())
}

/// `ty` is an integer type, or a reference to one.
pub fn is_integer(ty: &Type) -> bool {
    let ty = referent(ty).unwrap_or(ty);
    simple_name(ty).is_some_and(|n| INTEGERS.contains(&n.as_str()))
}

/// `ty` is `&Path` (or `&std::path::Path`).
pub fn is_path_ref(ty: &Type) -> bool {
    referent(ty)
        .is_some_and(|t| matches!(last_segment(t), Some((n, a)) if n == "Path" && a.is_empty()))
}

/// `ty` is `&str`.
pub fn is_str_ref(ty: &Type) -> bool {
    referent(ty).is_some_and(|t| simple_name(t).as_deref() == Some("str"))
}

/// `Option<T>` or `Result<T, ..>`: the wrapper's name and `T`.
pub fn wrapped(ty: &Type) -> Option<(&'static str, &Type)> {
    let (name, args) = last_segment(ty)?;
    let wrapper = match name.as_str() {
        "Option" => "Option",
        "Result" => "Result",
        _ => return None,
    };
    args.first().map(|inner| (wrapper, *inner))
}

/// The name of a type that is plainly text or a collection, never a number: what a user most
/// often returns by mistake. `None` for anything else.
pub fn plainly_not_a_number(ty: &Type) -> Option<String> {
    let inner = referent(ty).unwrap_or(ty);
    match peel(inner) {
        Type::Tuple(t) if t.elems.is_empty() => return Some("()".into()),
        Type::Tuple(_) => return Some("a tuple".into()),
        Type::Slice(_) | Type::Array(_) => return Some("a list".into()),
        _ => {}
    }
    let (name, _) = last_segment(inner)?;
    matches!(
        name.as_str(),
        "String" | "str" | "char" | "Vec" | "HashMap" | "BTreeMap" | "PathBuf" | "Path"
    )
    .then(|| text(ty))
}

/// The name of a type that is plainly not a path: a number, text, a bool, a collection.
pub fn plainly_not_a_path(ty: &Type) -> Option<String> {
    let inner = referent(ty).unwrap_or(ty);
    if matches!(
        peel(inner),
        Type::Tuple(_) | Type::Slice(_) | Type::Array(_)
    ) {
        return Some(text(ty));
    }
    let (name, _) = last_segment(inner)?;
    let not_path = INTEGERS.contains(&name.as_str())
        || matches!(
            name.as_str(),
            "f32" | "f64" | "bool" | "char" | "String" | "str" | "Vec" | "Option"
        );
    not_path.then(|| text(ty))
}

/// `ty` mentions `impl Trait`, which cannot be named in the generated code.
pub fn has_impl_trait(ty: &Type) -> bool {
    fn scan(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tt| match tt {
            TokenTree::Ident(i) => i == "impl",
            TokenTree::Group(g) => scan(g.stream()),
            _ => false,
        })
    }
    scan(ty.to_token_stream())
}

/// `ty` mentions one of `names` (type parameters, `Self`).
pub fn mentions(ty: &Type, names: &[String]) -> bool {
    fn scan(tokens: TokenStream, names: &[String]) -> bool {
        tokens.into_iter().any(|tt| match tt {
            TokenTree::Ident(i) => names.iter().any(|n| i == n),
            TokenTree::Group(g) => scan(g.stream(), names),
            _ => false,
        })
    }
    !names.is_empty() && scan(ty.to_token_stream(), names)
}

/// The type as a user writes it: `&Path`, `Vec<f64>`.
pub fn text(ty: &Type) -> String {
    let raw = ty.to_token_stream().to_string();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            let prev = out.chars().last().unwrap_or(' ');
            let next = chars.peek().copied().unwrap_or(' ');
            let glued = matches!(prev, '&' | '<' | ':' | '(' | '[' | '\'')
                || matches!(next, '<' | '>' | ':' | ',' | ')' | ']');
            if glued && !(prev == ',' || (prev == ':' && next != ':' && !out.ends_with("::"))) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> Type {
        syn::parse_str(s).unwrap()
    }

    #[test]
    fn recognises_runs_paths_and_integers() {
        assert!(is_run(&ty("&Run")) && is_run(&ty("run_runtime::Run")) && is_run(&ty("Run")));
        assert!(!is_run(&ty("&Runner")));
        assert!(is_path_ref(&ty("&Path")) && is_path_ref(&ty("&std::path::Path")));
        assert!(!is_path_ref(&ty("PathBuf")));
        assert!(is_integer(&ty("i64")) && is_integer(&ty("&usize")) && !is_integer(&ty("f64")));
        assert!(is_str_ref(&ty("&'static str")));
    }

    #[test]
    fn finds_the_value_inside_option_and_result() {
        let t = ty("std::io::Result<f64>");
        let (wrapper, inner) = wrapped(&t).unwrap();
        assert_eq!((wrapper, text(inner).as_str()), ("Result", "f64"));
        assert!(wrapped(&ty("Vec<f64>")).is_none());
    }

    #[test]
    fn names_plain_mistakes_only() {
        assert_eq!(
            plainly_not_a_number(&ty("String")).as_deref(),
            Some("String")
        );
        assert_eq!(plainly_not_a_number(&ty("&str")).as_deref(), Some("&str"));
        assert_eq!(plainly_not_a_number(&ty("Scores")), None);
        assert_eq!(plainly_not_a_path(&ty("f64")).as_deref(), Some("f64"));
        assert_eq!(plainly_not_a_path(&ty("&Path")), None);
        assert_eq!(plainly_not_a_path(&ty("CsvFile")), None);
    }

    #[test]
    fn prints_types_as_written() {
        assert_eq!(text(&ty("& Path")), "&Path");
        assert_eq!(
            text(&ty("Result<(), TrainError>")),
            "Result<(), TrainError>"
        );
        assert_eq!(text(&ty("&'a std::path::Path")), "&'a std::path::Path");
        assert_eq!(text(&ty("Vec<Option<u8>>")), "Vec<Option<u8>>");
        assert!(has_impl_trait(&ty("Box<impl Fn()>")) && !has_impl_trait(&ty("Box<dyn Fn()>")));
    }
}
