//! `strand-loadgen`: writes HotROD-like traces to strand and checks they can be read back.
//!
//! ```sh
//! strand-loadgen run --duration 1h --rate 20            # write and check, against localhost
//! strand-loadgen write --duration 10m --log written.jsonl
//! strand-loadgen check --log written.jsonl              # later: every trace, by ID and search
//! ```

use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};
use strand_loadgen::{
    CancellationToken, CheckReport, Checker, CheckerConfig, Transport, WriteLog, WriteStats, WriterConfig, Written,
};

#[derive(Parser)]
#[command(name = "strand-loadgen", about = "Writes HotROD-like traces to strand over OTLP and reads them back")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write traces; with --log, record every acknowledged one for a later `check`.
    Write {
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Read back every trace of a --log file by ID and by search.
    Check {
        #[command(flatten)]
        check: CheckArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Write and check at once: each trace is read back as soon as it is acknowledged.
    Run {
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        check: CheckArgs,
        /// After writing, read back every trace written once more.
        #[arg(long)]
        verify_all: bool,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum TransportArg {
    Grpc,
    Http,
    /// Alternate connections between gRPC and HTTP.
    Both,
}

#[derive(Args)]
struct WriteArgs {
    /// OTLP/gRPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    otlp_grpc: String,
    /// OTLP/HTTP endpoint (`/v1/traces` is added when the URL has no path).
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    otlp_http: String,
    #[arg(long, value_enum, default_value = "grpc")]
    transport: TransportArg,
    /// Seeds every trace; default: the clock, printed so a run can be checked again.
    #[arg(long)]
    seed: Option<u64>,
    /// Traces per second over all connections; 0: as fast as strand accepts.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Concurrent connections, each with one push in flight.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// How long to write (`90s`, `1h`); default: until Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Traces per export request.
    #[arg(long, default_value_t = 1)]
    traces_per_request: u64,
    /// Compress pushes with gzip.
    #[arg(long)]
    gzip: bool,
}

#[derive(Args)]
struct CheckArgs {
    /// Tempo's HTTP API.
    #[arg(long, default_value = "http://127.0.0.1:3200")]
    api: String,
    /// Traces acknowledged less than this long ago count as recent.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    recent_age: Duration,
    /// How long a trace is looked for before it counts as missing.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15s")]
    read_timeout: Duration,
    /// Checks in flight.
    #[arg(long, default_value_t = 8)]
    check_concurrency: usize,
    /// While writing, check every n-th trace.
    #[arg(long, default_value_t = 1)]
    check_every: u64,
    /// While writing, also search for every n-th trace (searches cost far more than reads by ID).
    #[arg(long, default_value_t = 10)]
    search_every: u64,
    /// When checking a whole log, traces looked for by one (range) search.
    #[arg(long, default_value_t = 20)]
    search_batch: usize,
    /// While writing, random old traces checked per second.
    #[arg(long, default_value_t = 1.0)]
    old_checks_per_second: f64,
    /// Read by ID only.
    #[arg(long)]
    no_search: bool,
}

#[derive(Args)]
struct Common {
    /// X-Scope-OrgID, for a multi-tenant strand.
    #[arg(long)]
    tenant: Option<String>,
    /// `write`, `run`: record every acknowledged trace (seed, index, start, ack time) here, one
    /// JSON object per line. `check`: the traces to check.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

impl WriteArgs {
    fn config(&self, tenant: Option<String>) -> WriterConfig {
        let seed = self.seed.unwrap_or_else(strand_loadgen::now_unix_nanos);
        WriterConfig {
            otlp_grpc: self.otlp_grpc.clone(),
            otlp_http: self.otlp_http.clone(),
            transports: match self.transport {
                TransportArg::Grpc => vec![Transport::Grpc],
                TransportArg::Http => vec![Transport::Http],
                TransportArg::Both => vec![Transport::Grpc, Transport::Http],
            },
            connections: self.connections,
            rate: self.rate,
            duration: self.duration,
            traces_per_request: self.traces_per_request,
            gzip: self.gzip,
            tenant,
            ..WriterConfig::new(seed)
        }
    }
}

impl CheckArgs {
    fn config(&self, tenant: Option<String>) -> CheckerConfig {
        CheckerConfig {
            tenant,
            recent_age: self.recent_age,
            read_timeout: self.read_timeout,
            concurrency: self.check_concurrency,
            check_every: self.check_every,
            search_every: self.search_every,
            search_batch: self.search_batch,
            old_checks_per_second: self.old_checks_per_second,
            search: !self.no_search,
            ..CheckerConfig::new(self.api.clone())
        }
    }
}

/// Cancels `stop` on Ctrl-C.
fn stop_on_ctrl_c() -> CancellationToken {
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping: Ctrl-C");
            token.cancel();
        }
    });
    stop
}

fn save_log(path: &Path, log: &WriteLog) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    for entry in log.snapshot() {
        writeln!(out, "{}", entry.to_json())?;
    }
    out.flush()?;
    Ok(())
}

fn load_log(path: &Path) -> anyhow::Result<Vec<Written>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut entries = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(&line).with_context(|| format!("{}:{}: not JSON", path.display(), n + 1))?;
        entries.push(Written::from_json(&value).with_context(|| format!("{}:{}", path.display(), n + 1))?);
    }
    Ok(entries)
}

fn save_json(common: &Common, value: &Value) -> anyhow::Result<()> {
    if let Some(path) = &common.json {
        std::fs::write(path, serde_json::to_vec_pretty(value)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("figures written to {}", path.display());
    }
    Ok(())
}

fn print_write(config: &WriterConfig, stats: &WriteStats) {
    println!("\n== write (seed {})", config.seed);
    print!("{}", stats.table());
}

fn print_check(title: &str, report: &CheckReport) {
    println!("\n== {title}");
    print!("{}", report.table());
}

async fn main_async(cli: Cli) -> anyhow::Result<bool> {
    let stop = stop_on_ctrl_c();
    match cli.command {
        Command::Write { write, common } => {
            let config = write.config(common.tenant.clone());
            println!("writing with seed {}; Ctrl-C stops", config.seed);
            let log = WriteLog::new();
            let stats = strand_loadgen::write(&config, &log, &stop).await?;
            print_write(&config, &stats);
            if let Some(path) = &common.log {
                save_log(path, &log)?;
                println!("{} acknowledged traces logged in {}", log.len(), path.display());
            }
            save_json(&common, &json!({ "seed": config.seed, "write": stats.to_json() }))?;
            Ok(stats.acked_traces > 0)
        }
        Command::Check { check, common } => {
            let Some(path) = &common.log else {
                bail!("check needs --log <file written by `write --log`>");
            };
            let entries = load_log(path)?;
            println!("checking {} traces from {}", entries.len(), path.display());
            let checker = Checker::new(check.config(common.tenant.clone()))?;
            checker.check_all(entries, &stop).await;
            let report = checker.report();
            print_check("check", &report);
            save_json(&common, &json!({ "check": report.to_json() }))?;
            Ok(report.all_found())
        }
        Command::Run { write, check, verify_all, common } => {
            let config = write.config(common.tenant.clone());
            println!("writing and checking with seed {}; Ctrl-C stops", config.seed);
            let checker = Checker::new(check.config(common.tenant.clone()))?;
            let log = WriteLog::new();
            let stats = strand_loadgen::run(&config, &checker, &log, &stop).await?;
            let followed = checker.report();
            print_write(&config, &stats);
            print_check("read after write", &followed);
            let mut figures = json!({ "seed": config.seed, "write": stats.to_json(), "follow": followed.to_json() });
            let mut ok = followed.all_found() && stats.acked_traces > 0;
            if let Some(path) = &common.log {
                save_log(path, &log)?;
            }
            if verify_all {
                checker.reset();
                checker.check_all(log.snapshot(), &CancellationToken::new()).await;
                let verified = checker.report();
                print_check("every trace, read again", &verified);
                figures["verify_all"] = verified.to_json();
                ok &= verified.all_found();
            }
            save_json(&common, &figures)?;
            Ok(ok)
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let ok = runtime.block_on(main_async(cli))?;
    if !ok {
        bail!("not every trace was written and read back intact (see above)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
