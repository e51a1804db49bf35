//! Names written in a zone file: the origin, owner names (`@`, relative or absolute, inside
//! the origin) and names inside record data.

use hickory_proto::rr::Name;
use toml::Spanned;

use super::{ConfigError, Source};

type Result<T> = std::result::Result<T, ConfigError>;

/// The zone's origin: absolute, lower case, not the root.
pub(super) fn parse_origin(src: &Source, raw: &Spanned<String>) -> Result<Name> {
    let text = raw.get_ref().trim();
    let mut name = Name::from_ascii(text)
        .map_err(|e| src.error(raw.span(), format!("invalid origin {text:?}: {e}")))?;
    if name.is_root() {
        return Err(src.error(raw.span(), "origin must not be the root zone"));
    }
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// An owner name: `@`, relative to the origin, or absolute with a trailing dot inside it.
pub(super) fn owner(src: &Source, origin: &Name, raw: &Spanned<String>) -> Result<Name> {
    let text = raw.get_ref().trim();
    if text.contains('*') {
        return Err(src.error(
            raw.span(),
            format!("wildcard name {text:?} is not supported"),
        ));
    }
    let name = resolve_name(text, origin)
        .map_err(|e| src.error(raw.span(), format!("invalid name {text:?}: {e}")))?;
    if !origin.zone_of(&name) {
        return Err(src.error(
            raw.span(),
            format!("name \"{name}\" is outside the origin \"{origin}\""),
        ));
    }
    Ok(name.to_lowercase())
}

/// A name inside record data: may point anywhere.
pub(super) fn target_name(src: &Source, origin: &Name, raw: &Spanned<String>) -> Result<Name> {
    let text = raw.get_ref().trim();
    resolve_name(text, origin)
        .map_err(|e| src.error(raw.span(), format!("invalid name {text:?}: {e}")))
}

fn resolve_name(text: &str, origin: &Name) -> std::result::Result<Name, String> {
    if text == "@" {
        return Ok(origin.clone());
    }
    if text.is_empty() {
        return Err("empty name".into());
    }
    let name = Name::from_ascii(text).map_err(|e| e.to_string())?;
    if text.ends_with('.') {
        Ok(name)
    } else {
        name.append_domain(origin).map_err(|e| e.to_string())
    }
}
