//! The deployment files (docs/deployment.md) as their tools read them: `deploy/healthcare.service`
//! passes `systemd-analyze verify` without a word (an unknown or misspelt setting is only a
//! warning there, so any output fails), with the binary where the unit runs it; and
//! `deploy/nginx.conf` passes `nginx -t` (nginx from this machine's Debian release, unpacked by
//! the test) as a site included in an `http` block; `healthcare health-check` finds the server on
//! every form of `HEALTHCARE_BIND`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::Command;

/// What `systemd-analyze verify` says of `unit` (the text of a unit file), installed as
/// `/etc/systemd/system/healthcare.service` in a scratch root with the system's own units and
/// the server binary at `/usr/local/bin/healthcare`: (success, everything it printed).
fn verify_unit(unit: &str) -> (bool, String) {
    let root = tempfile();
    for dir in ["usr/local/bin", "etc/systemd/system", "usr/lib/systemd"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let copied = Command::new("cp")
        .args(["-r", "/usr/lib/systemd/system"])
        .arg(root.join("usr/lib/systemd/"))
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::copy(
        healthcare_testing::binary(),
        root.join("usr/local/bin/healthcare"),
    )
    .unwrap();
    std::fs::write(root.join("etc/systemd/system/healthcare.service"), unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg("/etc/systemd/system/healthcare.service")
        .output()
        .expect("systemd-analyze (Debian package systemd) must be installed");
    std::fs::remove_dir_all(&root).unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

fn tempfile() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "healthcare-deploy-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(healthcare_testing::workspace_root().join(path)).unwrap()
}

#[test]
fn systemd_unit_verifies() {
    let unit = repo_file("deploy/healthcare.service");
    let (ok, said) = verify_unit(&unit);
    assert!(ok && said.trim().is_empty(), "{said}");
    // The hardening the deployment relies on is in the unit.
    for line in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=healthcare",
        "Environment=MALLOC_ARENA_MAX=2",
        "NoNewPrivileges=yes",
        "KillSignal=SIGTERM",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line}");
    }
    // The check is not a rubber stamp: a misspelt setting is reported.
    let (_, said) = verify_unit(&unit.replace("ProtectHome=yes", "ProtectHom=yes"));
    assert!(said.contains("ProtectHom"), "{said}");
}

#[test]
fn nginx_site_passes_nginx_t() {
    let nginx = healthcare_testing::debian_package("nginx").join("usr/sbin/nginx");
    let check = |site: &Path| {
        let prefix = tempfile();
        let main = prefix.join("main.conf");
        std::fs::write(&main, healthcare_testing::nginx_main_conf(&prefix, site)).unwrap();
        let out = Command::new(&nginx)
            .arg("-t")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&main)
            .output()
            .unwrap();
        std::fs::remove_dir_all(&prefix).unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let site = healthcare_testing::workspace_root().join("deploy/nginx.conf");
    let (ok, said) = check(&site);
    assert!(ok && said.contains("test is successful"), "{said}");
    // X-Forwarded-For is appended (HEALTHCARE_TRUSTED_PROXIES reads the last trusted hop).
    let text = repo_file("deploy/nginx.conf");
    assert!(text.contains("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"));
    // A broken site fails the check.
    let scratch = tempfile();
    let broken = scratch.join("broken.conf");
    std::fs::write(&broken, text.replace("least_conn;", "least_conn")).unwrap();
    let (ok, said) = check(&broken);
    std::fs::remove_dir_all(&scratch).unwrap();
    assert!(!ok, "{said}");
}

/// `healthcare health-check` (the container's `HEALTHCHECK`) asks the server on
/// `HEALTHCARE_BIND` as the server was given it: an address, an unspecified address (asked on
/// loopback) or a host name; exit 1 when nothing answers there.
#[test]
fn health_check_asks_the_bound_address() {
    let app = healthcare_testing::TestApp::sqlite()
        .start()
        .expect("server");
    let port = app
        .server
        .base
        .rsplit(':')
        .next()
        .expect("a port")
        .to_owned();
    let check = |bind: &str| {
        std::process::Command::new(healthcare_testing::binary())
            .arg("health-check")
            .env("HEALTHCARE_BIND", bind)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run healthcare")
    };
    for bind in [
        format!("127.0.0.1:{port}"),
        format!("0.0.0.0:{port}"),
        format!("localhost:{port}"),
    ] {
        let out = check(&bind);
        assert!(out.status.success(), "{bind}: {out:?}");
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let free = closed.local_addr().expect("its address").port();
    drop(closed);
    let out = check(&format!("127.0.0.1:{free}"));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = check("localhost");
    assert!(!out.status.success(), "{out:?}");
}
