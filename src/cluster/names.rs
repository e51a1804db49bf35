//! One vote per instance: peers are counted by the name each publishes. A fresh peer that
//! publishes this instance's name, or a name another fresh peer also publishes (one instance
//! listed twice, or two instances configured with one name), is in conflict and abstains.

/// Why each peer (in order) is in conflict, `None` when it is not. `peers` gives each peer's
/// URL and, when it is fresh, the name it publishes.
pub fn conflicts(me: &str, peers: &[(&str, Option<&str>)]) -> Vec<Option<String>> {
    peers
        .iter()
        .enumerate()
        .map(|(i, (_, name))| {
            let name = (*name)?;
            if name == me {
                return Some(format!("it calls itself {name:?}, this instance's name"));
            }
            let others: Vec<&str> = peers
                .iter()
                .enumerate()
                .filter(|(j, (_, n))| *j != i && *n == Some(name))
                .map(|(_, (url, _))| *url)
                .collect();
            (!others.is_empty()).then(|| {
                format!(
                    "{} also calls itself {name:?}: one instance listed twice, or two with one name",
                    others.join(", ")
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_name_or_this_instances_name_is_a_conflict_for_every_holder() {
        let c = conflicts(
            "a",
            &[
                ("u1", Some("b")),
                ("u2", Some("b")),
                ("u3", Some("c")),
                ("u4", Some("a")),
                ("u5", None),
                ("u6", Some("d")),
            ],
        );
        assert!(
            c[0].as_deref()
                .is_some_and(|e| e.starts_with("u2 also calls itself \"b\""))
        );
        assert!(c[1].as_deref().is_some_and(|e| e.starts_with("u1 also")));
        assert_eq!(c[2], None);
        assert!(
            c[3].as_deref()
                .is_some_and(|e| e.contains("this instance's name"))
        );
        assert_eq!((c[4].as_ref(), c[5].as_ref()), (None, None));
    }
}
