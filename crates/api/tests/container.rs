//! The `Containerfile` as Podman builds and runs it (docs/deployment.md): the base image
//! `debian:bookworm-slim` is made from Debian's packages (`mmdebstrap --variant=minbase
//! bookworm`, `podman import`: no image registry is reachable here), the image takes the
//! binary Cargo built for the tests, and a container of it (runc, cgroupfs, explicit ulimits,
//! as this machine needs) serves the seed's walk-through, keeps its data on its volume across a
//! restart and a new container, runs as a user that is not root, passes its health check and
//! stops cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use healthcare_testing::Client;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BASE: &str = "docker.io/library/debian:bookworm-slim";
const PW: &str = "correct horse battery";

/// `podman` with the global options this machine needs.
fn podman() -> Command {
    let mut cmd = Command::new("podman");
    cmd.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
    cmd
}

/// Explicit limits (the defaults are refused here).
const ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=4096:4096",
    "--ulimit",
    "nproc=4096:4096",
];

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .expect("podman (Debian package podman) must be installed");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The base image, made once from Debian's packages when it is not there yet.
fn base_image(scratch: &Path) {
    let present = podman().args(["image", "exists", BASE]).status().unwrap();
    if present.success() {
        return;
    }
    let tar = scratch.join("rootfs.tar");
    let made = Command::new("mmdebstrap")
        .args(["--quiet", "--variant=minbase", "bookworm"])
        .arg(&tar)
        .status()
        .expect("mmdebstrap (Debian package mmdebstrap) must be installed");
    assert!(made.success(), "mmdebstrap failed");
    run(podman().arg("import").arg(&tar).arg(BASE));
    std::fs::remove_file(&tar).unwrap();
}

/// A container of `image` on `volume`, published on a free local port: (its id, the port).
fn start(image: &str, volume: &str) -> (String, u16) {
    let port = healthcare_testing::free_port();
    let id = text(&run(podman()
        .args(["run", "-d"])
        .args(ULIMITS)
        .args(["-p", &format!("127.0.0.1:{port}:8000")])
        .args(["-v", &format!("{volume}:/data")])
        .args(["-e", "BCRYPT_COST=4"])
        .arg(image)));
    let client = Client::new(&format!("http://127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .try_send("GET", "/api/health/", None)
        .map_or(true, |r| r.status != 200)
    {
        assert!(
            Instant::now() < deadline,
            "the container did not answer: {}",
            text(&run(podman().args(["logs", &id])))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (id, port)
}

/// Removes what the test made, whatever happened.
struct Cleanup {
    containers: Vec<String>,
    image: String,
    volume: String,
    scratch: std::path::PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = podman().args(["rm", "-f", c]).output();
        }
        let _ = podman().args(["volume", "rm", "-f", &self.volume]).output();
        let _ = podman().args(["rmi", "-f", &self.image]).output();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

#[test]
fn container_serves_keeps_its_data_and_stops_cleanly() {
    let tag = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let scratch = std::env::temp_dir().join(format!("healthcare-container-{tag}"));
    std::fs::create_dir_all(&scratch).unwrap();
    let mut cleanup = Cleanup {
        containers: Vec::new(),
        image: format!("localhost/healthcare-test:{tag}"),
        volume: format!("healthcare-test-{tag}"),
        scratch: scratch.clone(),
    };
    base_image(&scratch);

    // The image: the repository's Containerfile and the binary Cargo built.
    let context = scratch.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::copy(
        healthcare_testing::workspace_root().join("Containerfile"),
        context.join("Containerfile"),
    )
    .unwrap();
    std::fs::copy(healthcare_testing::binary(), context.join("healthcare")).unwrap();
    run(podman()
        .args(["build", "--quiet", "--format", "docker", "--pull=never"])
        .args(ULIMITS)
        .args(["-t", &cleanup.image])
        .arg(&context));
    let image = cleanup.image.clone();
    let volume = cleanup.volume.clone();

    // The seed's walk-through against the container.
    let (first, port) = start(&image, &volume);
    cleanup.containers.push(first.clone());
    let anon = Client::new(&format!("http://127.0.0.1:{port}"));
    let admin = anon.register("admin", PW);
    let patient = admin.post(
        "/api/patients/",
        json!({"first_name": "Jane", "last_name": "Doe", "date_of_birth": "1990-05-17",
               "gender": "F", "contact_number": "+1 555 0100", "address": "1 Main St"}),
    );
    assert_eq!(patient.status, 201, "{patient:?}");
    let doctor = admin.post(
        "/api/doctors/",
        json!({"first_name": "Gregory", "last_name": "House", "specialization": "GP",
               "contact_number": "555 0101", "email": "house@example.org",
               "license_number": "LIC-1", "hospital": "PPTH", "experience_years": 12}),
    );
    assert_eq!(doctor.status, 201, "{doctor:?}");
    let mapping = admin.post(
        "/api/mappings/",
        json!({"doctor": doctor.id(), "patient": patient.id(), "reason_for_assignment": "", "is_active": true}),
    );
    assert_eq!(mapping.status, 201, "{mapping:?}");
    let booking = json!({"doctor": doctor.id(), "patient": patient.id(),
                         "appointment_datetime": "2030-12-20T10:30:00Z", "reason": "Routine follow-up"});
    assert_eq!(
        admin.post("/api/appointments/", booking.clone()).status,
        201
    );
    let again = admin.post("/api/appointments/", booking);
    assert_eq!(again.status, 409, "{again:?}");
    assert_eq!(
        again.body["non_field_errors"][0],
        "Doctor already has an appointment at this time."
    );

    // Not root: the server runs as the image's own user.
    let uid = text(&run(podman().args([
        "exec",
        &first,
        "sh",
        "-c",
        "awk '/^Uid:/ {print $2}' /proc/1/status",
    ])));
    assert_eq!(uid, "10001");
    // Its health check passes.
    run(podman().args(["healthcheck", "run", &first]));

    // SIGTERM stops it cleanly (exit code 0), and a restart finds the data on the volume.
    run(podman().args(["stop", "-t", "20", &first]));
    let code = text(&run(podman().args([
        "inspect",
        "--format",
        "{{.State.ExitCode}}",
        &first,
    ])));
    assert_eq!(code, "0", "{}", text(&run(podman().args(["logs", &first]))));
    run(podman().args(["start", &first]));
    let restarted_port: u16 = text(&run(podman().args(["port", &first, "8000"])))
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let again = Client::new(&format!("http://127.0.0.1:{restarted_port}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while again
        .try_send("GET", "/api/health/", None)
        .map_or(true, |r| r.status != 200)
    {
        assert!(Instant::now() < deadline, "no answer after the restart");
        std::thread::sleep(Duration::from_millis(200));
    }
    let back = again.login("admin", PW);
    assert_eq!(
        back.get("/api/appointments/")
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    run(podman().args(["rm", "-f", &first]));

    // A new container on the same volume: the same data, the same signing key.
    let (second, port) = start(&image, &volume);
    cleanup.containers.push(second);
    let fresh = Client::new(&format!("http://127.0.0.1:{port}"))
        .with_token(admin.token.as_deref().unwrap());
    assert_eq!(
        fresh.get("/api/patients/").body.as_array().unwrap().len(),
        1
    );
}
