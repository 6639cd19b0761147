//! Deliberate instance failures, for testing that a failed part instance is
//! re-dispatched and never takes the host down. Off unless `FERRY_CHAOS` is
//! set, e.g. `FERRY_CHAOS=trap@2,oom@5,deadline@9`: the 2nd part instance
//! traps at its first epoch check, the 5th gets a 64 KiB memory limit, the
//! 9th a zero deadline. These are real failures of real instances, made by
//! the same limits that guard every instance.

/// What to do to one part instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Trap,
    OutOfMemory,
    Deadline,
}

/// The configured faults, by instance ordinal (1-based).
#[derive(Debug, Clone, Default)]
pub struct Chaos {
    faults: Vec<(u64, Fault)>,
}

impl Chaos {
    /// Reads `FERRY_CHAOS`; unset or empty means no faults.
    pub fn from_env() -> Chaos {
        std::env::var("FERRY_CHAOS")
            .ok()
            .map(|v| Chaos::parse(&v))
            .unwrap_or_default()
    }

    /// Parses `fault@ordinal,...`; unknown entries are ignored.
    pub fn parse(spec: &str) -> Chaos {
        let faults = spec
            .split(',')
            .filter_map(|item| {
                let (name, n) = item.trim().split_once('@')?;
                let fault = match name {
                    "trap" => Fault::Trap,
                    "oom" => Fault::OutOfMemory,
                    "deadline" => Fault::Deadline,
                    _ => return None,
                };
                Some((n.parse().ok()?, fault))
            })
            .collect();
        Chaos { faults }
    }

    /// The fault for the instance with this ordinal, if any.
    pub fn fault(&self, ordinal: u64) -> Option<Fault> {
        self.faults
            .iter()
            .find(|(n, _)| *n == ordinal)
            .map(|(_, f)| *f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ordinals() {
        let c = Chaos::parse("trap@2, oom@5,deadline@9,bogus@1,trap@x");
        assert_eq!(c.fault(2), Some(Fault::Trap));
        assert_eq!(c.fault(5), Some(Fault::OutOfMemory));
        assert_eq!(c.fault(9), Some(Fault::Deadline));
        assert_eq!(c.fault(1), None);
    }
}
