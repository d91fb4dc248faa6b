//! Coverage over a test's seeds: which sites were reached, which held, and
//! which `sometimes!`/`reachable!` sites never did (the gaps).

use std::fmt;

use super::site::{Site, SiteKind, sites};
use super::state::SiteCount;

/// One site's record over all seeds of a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SiteCoverage {
    /// The site.
    pub site: &'static Site,
    /// Seeds in which it was evaluated at least once.
    pub seeds_evaluated: u64,
    /// Seeds in which it held (assertions) or fired (buggify) at least once.
    pub seeds_satisfied: u64,
    /// Evaluations over all seeds.
    pub evaluations: u64,
}

impl SiteCoverage {
    /// Whether the site shows that the test did not exercise what it claims:
    /// a `sometimes!` that never held, a `reachable!` or `always!` never
    /// reached.
    pub fn is_gap(&self) -> bool {
        match self.site.kind {
            SiteKind::Sometimes | SiteKind::Reachable => self.seeds_satisfied == 0,
            SiteKind::Always => self.seeds_evaluated == 0,
            SiteKind::AlwaysOrUnreachable | SiteKind::Unreachable | SiteKind::Buggify => false,
        }
    }

    fn note(&self) -> &'static str {
        match self.site.kind {
            _ if self.is_gap() && self.seeds_evaluated == 0 => "GAP: never reached",
            _ if self.is_gap() => "GAP: never true",
            SiteKind::Buggify if self.seeds_evaluated == 0 => "never reached",
            SiteKind::Buggify if self.seeds_satisfied == 0 => "never fired",
            SiteKind::AlwaysOrUnreachable if self.seeds_evaluated == 0 => "never reached (allowed)",
            SiteKind::Unreachable if self.seeds_evaluated == 0 => "never reached (as required)",
            _ => "",
        }
    }
}

/// Per-seed counts added up across seeds. Aligned with
/// [`sites()`](super::sites).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverageTally {
    seeds: u64,
    evaluated: Vec<u64>,
    satisfied: Vec<u64>,
    evaluations: Vec<u64>,
}

impl CoverageTally {
    /// Adds one seed's counts.
    pub fn add_seed(&mut self, counts: &[SiteCount]) {
        let n = counts.len().max(self.evaluated.len());
        for v in [
            &mut self.evaluated,
            &mut self.satisfied,
            &mut self.evaluations,
        ] {
            v.resize(n, 0);
        }
        for (i, c) in counts.iter().enumerate() {
            self.evaluated[i] += u64::from(c.evaluated > 0);
            self.satisfied[i] += u64::from(c.satisfied > 0);
            self.evaluations[i] += c.evaluated;
        }
        self.seeds += 1;
    }

    /// Merges another tally (from another thread).
    pub fn merge(&mut self, other: &CoverageTally) {
        let n = other.evaluated.len().max(self.evaluated.len());
        for v in [
            &mut self.evaluated,
            &mut self.satisfied,
            &mut self.evaluations,
        ] {
            v.resize(n, 0);
        }
        for i in 0..other.evaluated.len() {
            self.evaluated[i] += other.evaluated[i];
            self.satisfied[i] += other.satisfied[i];
            self.evaluations[i] += other.evaluations[i];
        }
        self.seeds += other.seeds;
    }

    /// The report for the sites whose module path is one of `scope` or
    /// inside one of them.
    pub fn report(&self, scope: &[&str]) -> CoverageReport {
        let sites = sites()
            .iter()
            .enumerate()
            .filter(|(_, s)| in_scope(s.module, scope))
            .map(|(i, &site)| SiteCoverage {
                site,
                seeds_evaluated: self.evaluated.get(i).copied().unwrap_or(0),
                seeds_satisfied: self.satisfied.get(i).copied().unwrap_or(0),
                evaluations: self.evaluations.get(i).copied().unwrap_or(0),
            })
            .collect();
        CoverageReport {
            seeds: self.seeds,
            scope: scope.iter().map(|s| (*s).to_string()).collect(),
            sites,
        }
    }
}

fn in_scope(module: &str, scope: &[&str]) -> bool {
    scope
        .iter()
        .any(|p| module == *p || (module.starts_with(p) && module[p.len()..].starts_with("::")))
}

/// The coverage table of a test: every site it is responsible for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoverageReport {
    /// Seeds counted.
    pub seeds: u64,
    /// The module paths whose sites the test is responsible for.
    pub scope: Vec<String>,
    /// The sites, in source order.
    pub sites: Vec<SiteCoverage>,
}

impl CoverageReport {
    /// Sites that show the test did not exercise what it claims.
    pub fn gaps(&self) -> Vec<&SiteCoverage> {
        self.sites.iter().filter(|s| s.is_gap()).collect()
    }

    /// `buggify!` sites that never fired in any seed.
    pub fn unfired_buggify(&self) -> Vec<&SiteCoverage> {
        self.sites
            .iter()
            .filter(|s| s.site.kind == SiteKind::Buggify && s.seeds_satisfied == 0)
            .collect()
    }
}

impl fmt::Display for CoverageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sites.is_empty() {
            return write!(f, "coverage: no chaos sites in {}", self.scope.join(", "));
        }
        writeln!(
            f,
            "coverage over {} seeds ({} sites in {}):",
            self.seeds,
            self.sites.len(),
            self.scope.join(", ")
        )?;
        let width = self
            .sites
            .iter()
            .map(|s| s.site.message.chars().count())
            .max()
            .unwrap_or(0)
            .min(48);
        writeln!(
            f,
            "  {:<23} {:<width$}  {:>9} {:>9} {:>11}  location",
            "kind", "message", "reached", "held", "evaluations"
        )?;
        for s in &self.sites {
            let mut line = format!(
                "  {:<23} {:<width$}  {:>9} {:>9} {:>11}  {}:{}",
                s.site.kind.macro_name(),
                s.site.message,
                s.seeds_evaluated,
                s.seeds_satisfied,
                s.evaluations,
                s.site.file,
                s.site.line
            );
            let note = s.note();
            if !note.is_empty() {
                line.push_str("  ");
                line.push_str(note);
            }
            writeln!(f, "{line}")?;
        }
        let gaps = self.gaps().len();
        write!(
            f,
            "  ({gaps} gap{}; `reached` and `held` count seeds; for buggify, `held` means fired)",
            if gaps == 1 { "" } else { "s" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_matches_whole_path_segments() {
        assert!(in_scope("bank", &["bank"]));
        assert!(in_scope("bank::transfer", &["bank"]));
        assert!(!in_scope("bankrupt", &["bank"]));
        assert!(!in_scope("other::bank", &["bank"]));
        assert!(in_scope("a::b::c", &["x", "a::b"]));
    }

    #[test]
    fn tallies_count_seeds_not_hits() {
        let mut t = CoverageTally::default();
        t.add_seed(&[
            SiteCount {
                evaluated: 5,
                satisfied: 0,
            },
            SiteCount {
                evaluated: 0,
                satisfied: 0,
            },
        ]);
        t.add_seed(&[
            SiteCount {
                evaluated: 2,
                satisfied: 2,
            },
            SiteCount {
                evaluated: 1,
                satisfied: 1,
            },
        ]);
        let mut u = CoverageTally::default();
        u.add_seed(&[SiteCount {
            evaluated: 1,
            satisfied: 1,
        }]);
        t.merge(&u);
        assert_eq!(t.seeds, 3);
        assert_eq!(t.evaluated, vec![3, 1]);
        assert_eq!(t.satisfied, vec![2, 1]);
        assert_eq!(t.evaluations, vec![8, 1]);
    }
}
