//! `gslbd check`: validates zone files as one set and prints the cutover and N-1 tables, or
//! with `--fail` a preview of a failure.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::args::CheckArgs;
use super::inputs::{instance, instance_resolved};

/// `gslbd check --fail`: the simulation on the configured weights.
fn drill(set: &gslbd::zone::ZoneSet, args: &CheckArgs) -> ExitCode {
    use gslbd::simulate;
    let failed = match simulate::resolve(set, &args.fail) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gslbd: {e}");
            return ExitCode::from(2);
        }
    };
    let mode = if args.drain {
        simulate::Mode::Drain
    } else {
        simulate::Mode::Down
    };
    let sim = simulate::run(set, &failed, mode, simulate::configured);
    print_report(&sim, args.json)
}

/// Prints a report as text or as pretty JSON.
fn print_report<T: serde::Serialize + std::fmt::Display>(report: &T, json: bool) -> ExitCode {
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("gslbd: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!("{}", report.to_string().trim_end());
    }
    ExitCode::SUCCESS
}

/// `files` plus the topology map beside them, as `serve` would read it from their directory
/// (said on stderr, so nobody wonders which map the figures used).
fn with_maps(files: &[PathBuf]) -> Vec<PathBuf> {
    let named = |p: &PathBuf| {
        p.file_name()
            .is_some_and(|n| n == gslbd::config::topology::FILE)
    };
    let mut all = files.to_vec();
    if files.iter().any(named) {
        return all;
    }
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .map(|f| f.parent().map_or_else(PathBuf::new, PathBuf::from))
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        let map = dir.join(gslbd::config::topology::FILE);
        if map.is_file() {
            eprintln!(
                "gslbd: reading the topology map beside the zone files: {}",
                map.display()
            );
            all.push(map);
        }
    }
    all
}

/// `gslbd check`: loads the zones (and the instance file) and prints the report, or with
/// `--fail` what the pools would answer.
pub fn check(args: CheckArgs) -> ExitCode {
    let zones_dir = args
        .files
        .is_empty()
        .then(|| args.zones.clone().unwrap_or_else(|| PathBuf::from("zones")));
    let loaded = match &zones_dir {
        Some(dir) => gslbd::config::load_dir(dir),
        None => gslbd::config::load_files(&with_maps(&args.files)),
    };
    let loaded = loaded.and_then(|mut set| {
        let inst = instance_resolved(args.config.as_deref(), zones_dir.as_deref())?;
        set.timing = gslbd::cutover::Timing {
            consensus: inst.cluster.as_ref().map_or(Duration::ZERO, |c| c.delay()),
            secondary: inst.transfer.as_ref().map(|t| t.timing()),
        };
        Ok(set)
    });
    match loaded {
        Ok(set) if !args.fail.is_empty() => drill(&set, &args),
        Ok(set) => {
            if let Ok(inst) = instance(args.config.as_deref(), zones_dir.as_deref())
                && let Some(t) = &inst.transfer
            {
                for z in t.unknown_zones(&set) {
                    eprintln!(
                        "gslbd: warning: [transfer] zones names {z}, which no zone file serves"
                    );
                }
            }
            for key in set
                .zones
                .iter()
                .filter_map(|z| z.signing.as_deref())
                .flat_map(|s| &s.keys)
                .filter(|k| k.readable_by_others)
            {
                eprintln!(
                    "gslbd: warning: DNSSEC key file {} is readable by its group or everyone (chmod 600 it)",
                    key.file.display()
                );
            }
            match gslbd::check::report(&set) {
                Ok(report) => print_report(&report, args.json),
                Err(e) => {
                    eprintln!("gslbd: dnssec: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(errors) => {
            if args.json {
                let list: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
                println!("{}", serde_json::json!({ "valid": false, "errors": list }));
            }
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}
