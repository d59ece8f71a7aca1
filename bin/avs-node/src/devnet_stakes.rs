//! `avs-node devnet --stakes`: how stake is spread over the devnet's operators, as a named
//! distribution or one figure per operator, in whole tokens.

use std::{fmt, str::FromStr};

/// The operators' stakes, in whole devnet tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StakeSpec {
    /// 10, 20, 30, …: every operator's stake differs, the last is the largest.
    Linear,
    /// 10 each.
    Equal,
    /// 1,000 / (i + 1): a few whales and a long tail, as in real operator sets.
    Zipf,
    /// One stake per operator, in order.
    List(Vec<u64>),
}

impl StakeSpec {
    /// Operator `i`'s stake in tokens, for `n` operators; an error if a list does not have
    /// exactly `n` entries.
    pub fn stakes(&self, n: usize) -> Result<Vec<u64>, String> {
        Ok(match self {
            Self::Linear => (1..=n as u64).map(|i| 10 * i).collect(),
            Self::Equal => vec![10; n],
            Self::Zipf => (1..=n as u64).map(|i| (1_000 / i).max(1)).collect(),
            Self::List(list) if list.len() == n => list.clone(),
            Self::List(list) => {
                return Err(format!(
                    "--stakes lists {} stakes for {n} operators: give one per operator",
                    list.len()
                ));
            }
        })
    }
}

impl FromStr for StakeSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "linear" => Ok(Self::Linear),
            "equal" => Ok(Self::Equal),
            "zipf" => Ok(Self::Zipf),
            list => list
                .split(',')
                .map(|v| match v.trim().parse::<u64>() {
                    Ok(0) => Err("a stake of 0 tokens cannot register (the quorum's minimum is 1)".to_owned()),
                    Ok(v) => Ok(v),
                    Err(_) => Err(format!(
                        "{v:?} is not a whole number of tokens: give `linear`, `equal`, `zipf` or a list such as 10,20,30"
                    )),
                })
                .collect::<Result<_, _>>()
                .map(Self::List),
        }
    }
}

impl fmt::Display for StakeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Linear => f.write_str("linear"),
            Self::Equal => f.write_str("equal"),
            Self::Zipf => f.write_str("zipf"),
            Self::List(list) => {
                let parts: Vec<String> = list.iter().map(u64::to_string).collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

/// The `k` operators with the largest stakes (ties: the later operator), as a mask.
pub fn largest(stakes: &[u64], k: usize) -> Vec<bool> {
    let mut order: Vec<usize> = (0..stakes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse((stakes[i], i)));
    let mut mask = vec![false; stakes.len()];
    for &i in order.iter().take(k) {
        mask[i] = true;
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_distributions() {
        assert_eq!(StakeSpec::Linear.stakes(4), Ok(vec![10, 20, 30, 40]));
        assert_eq!(StakeSpec::Equal.stakes(3), Ok(vec![10, 10, 10]));
        assert_eq!(StakeSpec::Zipf.stakes(4), Ok(vec![1000, 500, 333, 250]));
        assert_eq!(
            StakeSpec::Zipf.stakes(2000).unwrap()[1999],
            1,
            "never below the minimum"
        );
    }

    #[test]
    fn lists_parse_and_must_match_the_operator_count() {
        let spec: StakeSpec = "5, 7,9".parse().unwrap();
        assert_eq!(spec, StakeSpec::List(vec![5, 7, 9]));
        assert_eq!(spec.to_string(), "5,7,9");
        assert_eq!(spec.stakes(3), Ok(vec![5, 7, 9]));
        let err = spec.stakes(4).unwrap_err();
        assert!(err.contains("3 stakes for 4 operators"), "{err}");
    }

    #[test]
    fn bad_input_names_the_problem() {
        let err = "10,abc".parse::<StakeSpec>().unwrap_err();
        assert!(err.contains("\"abc\" is not a whole number"), "{err}");
        let err = "10,0".parse::<StakeSpec>().unwrap_err();
        assert!(err.contains("stake of 0"), "{err}");
        assert!("".parse::<StakeSpec>().is_err());
    }

    #[test]
    fn the_largest_stakes_are_picked_ties_to_the_later_operator() {
        assert_eq!(
            largest(&[10, 20, 30, 40], 1),
            vec![false, false, false, true]
        );
        assert_eq!(
            largest(&[50, 10, 50, 10], 2),
            vec![true, false, true, false]
        );
        assert_eq!(largest(&[10, 10, 10], 2), vec![false, true, true]);
    }
}
