//! `DATABASE_READ_URL` against a real streaming replica (docs/deployment.md "Read replicas"):
//! the test makes its own primary and replica clusters (`initdb`, `pg_basebackup -R`, the
//! PostgreSQL 15 binaries) in temporary directories on free ports, leaving the machine's own
//! cluster alone. Lists of an account that has not written lately come from the replica while
//! its lag is under `HEALTHCARE_REPLICA_MAX_LAG_MS` (a paused replica shows an old list), and
//! from the primary past it; an account always reads its own writes; the replica stopping in
//! the middle of a load sends reads back to the primary without an error.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use healthcare_testing::{Client, TestApp};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = "/usr/lib/postgresql/15/bin";
const PW: &str = "correct horse battery";

/// A PostgreSQL program run as the `postgres` user (the server refuses root).
fn pg(program: &str, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(format!("{BIN}/{program}"))
        .args(args)
        .output()
        .expect("runuser and the PostgreSQL 15 binaries");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// SQL on a cluster, as `postgres`.
fn sql(port: u16, db: &str, statement: &str) -> String {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(format!("{BIN}/psql"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-d",
            db,
            "-tAc",
            statement,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{statement}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A cluster in `dir`, stopped (immediately) on drop.
struct Cluster {
    dir: PathBuf,
}

impl Cluster {
    fn start(dir: &Path, port: u16) -> Cluster {
        let log = dir.with_extension("log");
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.parent().unwrap().display()
        );
        pg(
            "pg_ctl",
            &[
                "-D",
                &dir.display().to_string(),
                "-l",
                &log.display().to_string(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        Cluster {
            dir: dir.to_owned(),
        }
    }

    fn stop(&self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{BIN}/pg_ctl"))
            .args([
                "-D",
                &self.dir.display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The scratch folder (owned by `postgres`), removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn names(reply: &healthcare_testing::Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{reply:?}");
    reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["first_name"].as_str().unwrap().to_owned())
        .collect()
}

fn patient(name: &str) -> serde_json::Value {
    json!({"first_name": name, "last_name": "Replica", "date_of_birth": "1990-01-01",
           "gender": "F", "contact_number": "555 0100"})
}

#[test]
fn lists_come_from_a_fresh_enough_replica_and_own_writes_from_the_primary() {
    let root = std::env::temp_dir().join(format!("healthcare-replica-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let _scratch = Scratch(root.clone());
    let chowned = Command::new("chown")
        .args(["postgres:postgres"])
        .arg(&root)
        .status()
        .unwrap();
    assert!(chowned.success());
    let (primary_dir, replica_dir) = (root.join("primary"), root.join("replica"));
    let (primary_port, replica_port) = (
        healthcare_testing::free_port(),
        healthcare_testing::free_port(),
    );
    pg(
        "initdb",
        &[
            "-D",
            &primary_dir.display().to_string(),
            "--auth=trust",
            "-U",
            "postgres",
            "--no-sync",
        ],
    );
    let primary = Cluster::start(&primary_dir, primary_port);
    pg(
        "pg_basebackup",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &primary_port.to_string(),
            "-U",
            "postgres",
            "-D",
            &replica_dir.display().to_string(),
            "-R",
            "-X",
            "stream",
            "--no-sync",
        ],
    );
    let replica = Cluster::start(&replica_dir, replica_port);
    assert_eq!(
        sql(replica_port, "postgres", "SELECT pg_is_in_recovery()"),
        "t"
    );
    sql(primary_port, "postgres", "CREATE DATABASE hc");
    let url = |port: u16| format!("postgres://postgres@127.0.0.1:{port}/hc?sslmode=disable");

    let server = TestApp::postgres()
        .envs(&[
            ("DATABASE_READ_URL", &url(replica_port)),
            ("HEALTHCARE_REPLICA_MAX_LAG_MS", "1000"),
            ("RUST_LOG", "info"),
            ("NO_COLOR", "1"),
        ])
        .logged()
        .serve(&url(primary_port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.log().contains("usable=true") {
        assert!(
            Instant::now() < deadline,
            "the replica never came into use: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let admin = server.client().register("admin", PW);
    let made = admin.post(
        "/api/users/",
        json!({"username": "desk", "password": PW, "role": "staff"}),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let desk = server.client().login("desk", PW);
    assert_eq!(admin.post("/api/patients/", patient("Ada")).status, 201);
    // Let both settle: the replica replays everything, the admin's write is past the window.
    std::thread::sleep(Duration::from_millis(1200));

    // Replay paused: the replica stops at what it has. A new patient is written on the primary.
    sql(replica_port, "postgres", "SELECT pg_wal_replay_pause()");
    assert_eq!(admin.post("/api/patients/", patient("Bea")).status, 201);
    // The writer reads its own write (its lists come from the primary for a while) ...
    assert_eq!(names(&admin.get("/api/patients/")), ["Ada", "Bea"]);
    // ... while another account's list still comes from the replica, whose lag is under 1 s:
    // it shows the past.
    assert_eq!(names(&desk.get("/api/patients/")), ["Ada"]);
    // Single records always come from the primary.
    let bea = admin.get("/api/patients/?search=Bea").body[0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(desk.get(&format!("/api/patients/{bea}/")).status, 200);
    // Past the bound the replica is out of use: the primary answers.
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(names(&desk.get("/api/patients/")), ["Ada", "Bea"]);
    sql(replica_port, "postgres", "SELECT pg_wal_replay_resume()");

    // The replica stops in the middle of a load: every list is still answered.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, failures, desk): (_, _, Client) =
                (stop.clone(), failures.clone(), desk.clone());
            std::thread::spawn(move || {
                let mut answered = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    match desk.try_send("GET", "/api/patients/", None) {
                        Ok(r) if r.status == 200 => answered += 1,
                        Ok(r) => failures
                            .lock()
                            .unwrap()
                            .push(format!("{}: {}", r.status, r.text)),
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                }
                answered
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    replica.stop();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::SeqCst);
    let answered: u32 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let failures = failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(answered > 20, "{answered}");
    assert!(
        server.log().contains("read replica out of use"),
        "{}",
        server.log()
    );
    drop(server);
    drop(primary);
}
