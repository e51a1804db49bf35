//! Files the commands read besides the zones: the instance file (`gslbd.toml`) and token
//! files.

use anyhow::Context;

/// The instance file: `explicit` (which must exist), or gslbd.toml beside `zones` when it
/// exists.
pub fn instance(
    explicit: Option<&std::path::Path>,
    zones: Option<&std::path::Path>,
) -> Result<gslbd::config::instance::Instance, gslbd::config::ConfigErrors> {
    use gslbd::config::instance;
    match (explicit, zones) {
        (Some(path), _) => instance::load(path, true),
        (None, Some(zones)) => instance::load(&instance::default_path(zones), false),
        (None, None) => Ok(instance::Instance::default()),
    }
}

/// As [`instance`], resolving the peers' hosts (for `check`).
pub fn instance_resolved(
    explicit: Option<&std::path::Path>,
    zones: Option<&std::path::Path>,
) -> Result<gslbd::config::instance::Instance, gslbd::config::ConfigErrors> {
    use gslbd::config::instance;
    match (explicit, zones) {
        (Some(path), _) => instance::load_resolved(path, true),
        (None, Some(zones)) => instance::load_resolved(&instance::default_path(zones), false),
        (None, None) => Ok(instance::Instance::default()),
    }
}

/// A token file's content, surrounding whitespace trimmed (`serve` refuses an empty one).
pub fn token(path: &std::path::Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let t = text.trim();
    gslbd::admin::guard::check_token(t)
        .with_context(|| format!("{}: not a usable token", path.display()))?;
    Ok(t.to_string())
}
