//! `gslbd keygen`: a new DNSSEC key for a zone, written where asked, and the DNSKEY and DS
//! records printed for the zone's operator and its parent.

use anyhow::Context;

use super::args::{KeygenAlgorithm, KeygenArgs};
use gslbd::dnssec::{self, KeyAlgorithm};

pub fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let zone = hickory_proto::rr::Name::from_ascii(&args.zone)
        .with_context(|| format!("--zone {:?} is not a domain name", args.zone))?;
    let zone = zone.to_lowercase();
    let zone = if zone.is_fqdn() {
        zone
    } else {
        let mut z = zone;
        z.set_fqdn(true);
        z
    };
    let algorithm = match args.algorithm {
        KeygenAlgorithm::EcdsaP256 => KeyAlgorithm::EcdsaP256,
        KeygenAlgorithm::Ed25519 => KeyAlgorithm::Ed25519,
    };
    let key = dnssec::generate(&zone, algorithm)?;
    let out = args.out.clone().unwrap_or_else(|| {
        let name = zone.to_ascii();
        format!("{}.key.pem", name.trim_end_matches('.')).into()
    });
    key.write_pem(&out)?;
    println!("; key {} written to {}", key.key_tag, out.display());
    println!("{}", key.dnskey);
    println!("; for the parent zone:");
    println!("{}", key.ds);
    Ok(())
}
