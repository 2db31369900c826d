//! Command-line flags. Tempo's manifests spell long flags with one dash (`-config.file=…`,
//! `-target=…`), so single-dash long flags are rewritten to the double-dash form first.

use std::path::PathBuf;

use clap::Parser;

use crate::config::Target;

/// strand: a distributed tracing backend compatible with Grafana Tempo.
#[derive(Debug, Parser)]
#[command(name = "strand", version, about)]
pub struct Cli {
    /// YAML config file. Without one, embedded defaults apply (data under ./data).
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Which roles to run; overrides `target` in the config.
    #[arg(long = "target", value_enum)]
    pub target: Option<Target>,
    /// Print the effective config (defaults, file, environment and flags applied) and exit.
    #[arg(long = "print-config")]
    pub print_config: bool,
}

/// Parses `args` (program name first), accepting Tempo's single-dash long flags.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(args.into_iter().enumerate().map(|(i, arg)| if i == 0 { arg } else { normalise(arg) }))
}

fn normalise(arg: String) -> String {
    let is_single_dash_long = arg.starts_with('-') && !arg.starts_with("--") && arg.len() > 2;
    if is_single_dash_long { format!("-{arg}") } else { arg }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        std::iter::once("strand").chain(list.iter().copied()).map(String::from).collect()
    }

    #[test]
    fn tempo_and_gnu_spellings_both_work() {
        let tempo = parse(args(&["-config.file=/etc/tempo.yaml", "-target=all"])).unwrap();
        assert_eq!(tempo.config_file, Some(PathBuf::from("/etc/tempo.yaml")));
        assert_eq!(tempo.target, Some(Target::All));
        let gnu = parse(args(&["--config.file", "x.yaml", "--print-config"])).unwrap();
        assert_eq!(gnu.config_file, Some(PathBuf::from("x.yaml")));
        assert!(gnu.print_config);
        assert!(parse(args(&["-target=query-frontend"])).is_ok());
        assert!(parse(args(&["--bogus"])).is_err());
    }
}
