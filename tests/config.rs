//! The binary's configuration surface, as an operator meets it: Tempo's flag spellings, printed
//! defaults, environment overrides, and mistakes that stop the process with the key named.

mod common;

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{StrandConfig, StrandProcess, free_port};

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs the binary in `dir` with `args` and `env`, expecting it to exit by itself within 30 s.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let stdout_path = dir.join("stdout.txt");
    let stderr_path = dir.join("stderr.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_strand"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("spawn strand");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for strand") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "strand {args:?} was expected to exit but kept running\nstderr: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        status,
        stdout: std::fs::read_to_string(&stdout_path).expect("read stdout"),
        stderr: std::fs::read_to_string(&stderr_path).expect("read stderr"),
    }
}

/// A config that would start a server on free ports, plus `extra` YAML.
fn write_config(dir: &Path, extra: &str) -> String {
    let yaml = format!(
        "server: {{ http_listen_address: 127.0.0.1, http_listen_port: {} }}\n\
         distributor: {{ receivers: {{ otlp: {{ protocols: {{ grpc: {{ endpoint: \"127.0.0.1:{}\" }}, http: {{ endpoint: \"127.0.0.1:{}\" }} }} }} }} }}\n\
         storage: {{ trace: {{ backend: local, local: {{ path: ./blocks }}, wal: {{ path: ./wal }} }} }}\n\
         {extra}",
        free_port(),
        free_port(),
        free_port()
    );
    let path = dir.join("strand.yaml");
    std::fs::write(&path, yaml).expect("write config");
    path.display().to_string()
}

#[test]
fn unknown_config_key_stops_the_process_and_is_named() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = write_config(dir.path(), "ingester: { trace_idle_perod: 5s }\n");
    let run = run(dir.path(), &[&format!("--config.file={config}")], &[]);
    assert!(!run.status.success(), "an unknown key must stop strand, it exited with {}", run.status);
    assert!(run.stderr.contains("trace_idle_perod"), "stderr names the unknown key: {}", run.stderr);
}

#[test]
fn impossible_value_stops_the_process_and_names_the_key() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = dir.path().join("strand.yaml");
    std::fs::write(&config, "storage: { trace: { backend: s3 } }\n").expect("write config");
    let run = run(dir.path(), &[&format!("--config.file={}", config.display())], &[]);
    assert!(!run.status.success(), "s3 without a bucket must stop strand, it exited with {}", run.status);
    assert!(run.stderr.contains("storage.trace.s3.bucket"), "stderr names the key: {}", run.stderr);
}

#[test]
fn missing_config_file_is_named() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let run = run(dir.path(), &["--config.file=does-not-exist.yaml"], &[]);
    assert!(!run.status.success(), "a missing config file must stop strand, it exited with {}", run.status);
    assert!(run.stderr.contains("does-not-exist.yaml"), "stderr names the file: {}", run.stderr);
}

#[test]
fn print_config_without_a_file_shows_tempo_defaults() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let run = run(dir.path(), &["--print-config"], &[]);
    assert!(run.status.success(), "--print-config exits 0: {}\n{}", run.status, run.stderr);
    assert!(run.stdout.contains("http_listen_port: 3200"), "Tempo's API port by default:\n{}", run.stdout);
    assert!(run.stdout.contains("trace_idle_period:"), "the ingester section is printed:\n{}", run.stdout);
    assert!(run.stdout.contains("4317") && run.stdout.contains("4318"), "the OTLP ports are printed:\n{}", run.stdout);
}

#[test]
fn tempo_single_dash_flags_and_environment_overrides() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = write_config(dir.path(), "ingester: { trace_idle_period: 7s }\n");
    let run = run(dir.path(), &[&format!("-config.file={config}"), "-print-config"], &[]);
    assert!(run.status.success(), "-config.file= and -print-config work: {}\n{}", run.status, run.stderr);
    assert!(run.stdout.contains("trace_idle_period: 7s"), "the file was read:\n{}", run.stdout);

    let run = run_with_port_override(dir.path(), &config);
    assert!(
        run.stdout.contains("http_listen_port: 4123"),
        "STRAND_SERVER__HTTP_LISTEN_PORT wins over the file:\n{}",
        run.stdout
    );
}

fn run_with_port_override(dir: &Path, config: &str) -> Run {
    let run = run(
        dir,
        &[&format!("--config.file={config}"), "--print-config"],
        &[("STRAND_SERVER__HTTP_LISTEN_PORT", "4123")],
    );
    assert!(run.status.success(), "{}\n{}", run.status, run.stderr);
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_starts_with_tempo_single_dash_config_flag() {
    let server = StrandProcess::start_with_flag(StrandConfig::local(), "-config.file").await;
    server.assert_ready().await;
}
