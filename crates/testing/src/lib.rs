//! Black-box test support for the integration tests of `healthcare-api` (crates/api/tests): start
//! the real `healthcare` binary, as Cargo built it for them, on a fresh database (SQLite file or
//! PostgreSQL database), and talk HTTP to it like a client would.
//!
//! Every server is started through one builder, [`TestApp`]:
//!
//! ```no_run
//! use healthcare_testing::TestApp;
//!
//! // A fresh database and a server on it with one more setting; `None` (announced) when the
//! // backend is PostgreSQL and TEST_DATABASE_URL is unset.
//! if let Some(app) = TestApp::on("postgres").env("JWT_SECRET", &"k".repeat(32)).start() {
//!     let admin = app.client().register("admin", "correct horse battery");
//!     assert_eq!(admin.get("/api/patients/").status, 200);
//!     let _second = app.spawn(); // another process on the same database
//! }
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub use healthcare_persistence::testing::TestDb;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The `healthcare` binary under test: the build `HEALTHCARE_TEST_BIN` names when it is set (to
/// run a suite against an older release), else the one Cargo built for the integration tests of
/// `healthcare-api` (`CARGO_BIN_EXE_healthcare`, which Cargo sets when it runs them, since Cargo
/// 1.94; before, only while compiling them). Nothing is built here.
pub fn binary() -> PathBuf {
    for var in ["HEALTHCARE_TEST_BIN", "CARGO_BIN_EXE_healthcare"] {
        if let Some(bin) = std::env::var_os(var).filter(|b| !b.is_empty()) {
            return PathBuf::from(bin);
        }
    }
    panic!(
        "no healthcare binary to test: neither HEALTHCARE_TEST_BIN nor CARGO_BIN_EXE_healthcare is \
         set. Run the suites through Cargo 1.94 or later (`cargo test -p healthcare-api`), which \
         builds the binary and names it in CARGO_BIN_EXE_healthcare, or set HEALTHCARE_TEST_BIN \
         to a build"
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// How a test starts the `healthcare` binary: on which backend, with which environment over the
/// test settings (`BCRYPT_COST=4`, `RUST_LOG=warn`, any free port), and whether its log is kept.
/// [`TestApp::start`] gives a fresh database with a server on it; [`TestApp::serve`] and
/// [`TestApp::launch`] run the binary on a database that exists already.
#[derive(Debug, Clone)]
pub struct TestApp {
    backend: Backend,
    env: Vec<(String, String)>,
    logged: bool,
}

impl TestApp {
    /// On SQLite: a fresh database file.
    pub fn sqlite() -> TestApp {
        TestApp {
            backend: Backend::Sqlite,
            env: Vec::new(),
            logged: false,
        }
    }

    /// On PostgreSQL: a fresh database next to the one `TEST_DATABASE_URL` names. Without
    /// `TEST_DATABASE_URL` there is none: [`TestApp::start`] and [`TestApp::database`] give
    /// `None`, and the skip is announced once per test process.
    pub fn postgres() -> TestApp {
        TestApp {
            backend: Backend::Postgres,
            ..TestApp::sqlite()
        }
    }

    /// On the backend named `"sqlite"` or `"postgres"`.
    pub fn on(backend: &str) -> TestApp {
        match backend {
            "sqlite" => TestApp::sqlite(),
            "postgres" => TestApp::postgres(),
            _ => panic!("unknown backend {backend:?}: \"sqlite\" or \"postgres\""),
        }
    }

    /// One more environment variable for the server (it wins over the test settings).
    pub fn env(mut self, name: &str, value: &str) -> TestApp {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Several environment variables, as [`TestApp::env`] each.
    pub fn envs(self, vars: &[(&str, &str)]) -> TestApp {
        vars.iter()
            .fold(self, |app, (name, value)| app.env(name, value))
    }

    /// Keeps what the server writes to stderr (its log), for [`Server::log`].
    pub fn logged(mut self) -> TestApp {
        self.logged = true;
        self
    }

    /// A fresh, migrated database of this backend, removed on drop; `None` for PostgreSQL
    /// without `TEST_DATABASE_URL` (the skip is announced).
    pub fn database(&self) -> Option<TestDb> {
        match self.backend {
            Backend::Sqlite => Some(TestDb::sqlite().expect("sqlite")),
            Backend::Postgres => TestDb::postgres().expect("postgres"),
        }
    }

    /// A fresh database and a server on it; `None` as for [`TestApp::database`].
    pub fn start(self) -> Option<App> {
        let db = self.database()?;
        let server = self.serve(&db.url);
        Some(App {
            server,
            db,
            settings: self,
        })
    }

    /// A server with these settings on the existing database `url` of this backend (one that
    /// another server uses too, or a file the test made); it is killed on drop.
    pub fn serve(&self, url: &str) -> Server {
        let mut cmd = self.command(url);
        cmd.stderr(if self.logged {
            Stdio::piped()
        } else {
            Stdio::inherit()
        });
        let mut child = cmd.spawn().expect("start healthcare");
        let log = child.stderr.take().map(|stderr| capture(stderr).0);
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("listening on 127.0.0.1:") {
                        break rest.trim().parse::<u16>().expect("port");
                    }
                }
                _ => panic!("server exited before listening"),
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Runs `healthcare serve` with these settings on the existing database `url` and captures
    /// its stderr: if it exits within `timeout`, its exit code; if it starts listening instead,
    /// it is given a moment to finish its start-up logging and then killed. Either way the wait
    /// is bounded by `timeout`.
    pub fn launch(&self, url: &str, timeout: Duration) -> Launch {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::Instant;
        let mut cmd = self.command(url);
        cmd.stdin(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start healthcare");
        let listened = Arc::new(AtomicBool::new(false));
        let stdout = child.stdout.take().expect("stdout");
        let flag = listened.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("listening on ") {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        });
        let (captured, reader) = capture(child.stderr.take().expect("stderr"));
        let deadline = Instant::now() + timeout;
        let mut code = None;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                code = status.code();
                break;
            }
            if listened.load(Ordering::SeqCst) || Instant::now() >= deadline {
                // Serving (or hung): let start-up warnings reach stderr, then stop it.
                std::thread::sleep(Duration::from_millis(300));
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = reader.join();
        let stderr = String::from_utf8_lossy(&captured.lock().expect("stderr buffer")).into_owned();
        Launch {
            code,
            listened: listened.load(Ordering::SeqCst),
            stderr,
        }
    }

    /// `healthcare serve` on `url` with the test settings, then this app's environment; stdout
    /// piped (it names the port).
    fn command(&self, url: &str) -> Command {
        let of_backend = match self.backend {
            Backend::Sqlite => url.starts_with("sqlite:"),
            Backend::Postgres => url.starts_with("postgres"),
        };
        assert!(of_backend, "{:?} settings used on {url}", self.backend);
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .env("DATABASE_URL", url)
            .env("HEALTHCARE_BIND", "127.0.0.1:0")
            .env("BCRYPT_COST", "4")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped());
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        cmd
    }
}

/// A fresh database and a server on it, from [`TestApp::start`]. It derefs to its [`Server`]
/// (`app.client()`, `app.base`). On drop the server is killed, then the database removed.
pub struct App {
    /// The server.
    pub server: Server,
    /// The database (`db.url`, and a pool on it in `db.db`).
    pub db: TestDb,
    settings: TestApp,
}

impl App {
    /// Another server with the same settings on the same database: a second process, or a
    /// restart after [`Server::kill`].
    pub fn spawn(&self) -> Server {
        self.settings.serve(&self.db.url)
    }
}

impl std::ops::Deref for App {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

/// A running server process on its own port; killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its stderr so far, when started [`TestApp::logged`].
    log: Option<Arc<Mutex<Vec<u8>>>>,
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (a graceful stop) and waits for the process to end: its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().ok().and_then(|s| s.code())
    }

    /// Sends SIGKILL and waits.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// An anonymous client of this server.
    pub fn client(&self) -> Client {
        Client {
            base: self.base.clone(),
            token: None,
            headers: Vec::new(),
            agent: agent(),
        }
    }

    /// Everything the server has written to stderr (its log) so far. Only for a server started
    /// [`TestApp::logged`].
    pub fn log(&self) -> String {
        let log = self
            .log
            .as_ref()
            .expect("Server::log needs a server started TestApp::logged()");
        String::from_utf8_lossy(&log.lock().expect("stderr buffer")).into_owned()
    }
}

/// How a process of the binary ended: its exit code (`None` when it was still running and got
/// killed, or died of a signal), whether it got as far as listening, and everything it wrote to
/// stderr.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The exit code, if the process exited by itself.
    pub code: Option<i32>,
    /// Whether it printed `listening on ...` (it started serving).
    pub listened: bool,
    /// Its standard error.
    pub stderr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A response: status, selected headers, JSON body (or `Value::Null`).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body parsed as JSON, `Null` when empty or not JSON.
    pub body: Value,
    /// The body as text.
    pub text: String,
    /// All headers, lower-case names.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `id` field of the body.
    pub fn id(&self) -> i64 {
        self.body["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no id in {self:?}"))
    }
}

/// A client, anonymous or logged in.
#[derive(Clone)]
pub struct Client {
    base: String,
    /// Bearer access token.
    pub token: Option<String>,
    /// Extra request headers sent with every request.
    headers: Vec<(String, String)>,
    agent: ureq::Agent,
}

impl Client {
    /// An anonymous client of the server at `base` (`http://127.0.0.1:PORT`), such as a
    /// balancer in front of several [`Server`]s.
    pub fn new(base: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            token: None,
            headers: Vec::new(),
            agent: agent(),
        }
    }

    /// The same server, with a bearer token.
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// The same client, sending one more header with every request.
    pub fn with_header(&self, name: &str, value: &str) -> Client {
        let mut client = self.clone();
        client.headers.push((name.to_owned(), value.to_owned()));
        client
    }

    /// A request to `path` with the bearer token and the extra headers.
    fn request(&self, method: &str, path: &str) -> ureq::http::request::Builder {
        let url = format!("{}{}", self.base, path);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (name, value) in &self.headers {
            req = req.header(name, value);
        }
        req
    }

    /// Sends `method path` with an optional JSON body.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let raw = body.map(|b| b.to_string());
        self.raw(method, path, raw.as_deref(), Some("application/json"))
    }

    /// Sends raw bytes with a given content type.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        content_type: Option<&str>,
    ) -> Reply {
        let mut req = self.request(method, path);
        if let (Some(ct), Some(_)) = (content_type, body) {
            req = req.header("Content-Type", ct);
        }
        let req = req
            .body(body.unwrap_or("").as_bytes().to_vec())
            .expect("request");
        let mut res = self.agent.run(req).expect("HTTP exchange");
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            text,
            headers,
        }
    }

    /// Sends raw bytes (which need not be UTF-8) with a given content type; a transport
    /// failure (connection refused or reset, as when the server was killed) is an `Err`
    /// instead of a panic.
    pub fn try_raw_bytes(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<Reply, String> {
        let mut req = self.request(method, path);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        let req = req.body(body.to_vec()).map_err(|e| e.to_string())?;
        let mut res = self.agent.run(req).map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let text = res
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            body,
            text,
            headers,
        })
    }

    /// Sends raw bytes; panics on a transport failure.
    pub fn raw_bytes(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Reply {
        self.try_raw_bytes(method, path, body, content_type)
            .unwrap_or_else(|e| panic!("HTTP exchange {method} {path}: {e}"))
    }

    /// Sends JSON (or nothing); a transport failure is an `Err` instead of a panic.
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        match body {
            Some(b) => self.try_raw_bytes(
                method,
                path,
                b.to_string().as_bytes(),
                Some("application/json"),
            ),
            None => self.try_raw_bytes(method, path, b"", None),
        }
    }

    /// GET.
    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None)
    }

    /// POST JSON.
    pub fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(&body))
    }

    /// PATCH JSON.
    pub fn patch(&self, path: &str, body: Value) -> Reply {
        self.send("PATCH", path, Some(&body))
    }

    /// DELETE.
    pub fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None)
    }

    /// Logs in and returns a client carrying the access token.
    pub fn login(&self, username: &str, password: &str) -> Client {
        let r = self.post(
            "/api/token/",
            serde_json::json!({"username": username, "password": password}),
        );
        assert_eq!(r.status, 200, "login {username}: {r:?}");
        self.with_token(r.body["access"].as_str().expect("access"))
    }

    /// Registers (self-registration) and logs in.
    pub fn register(&self, username: &str, password: &str) -> Client {
        let r = self.post(
            "/api/auth/register/",
            serde_json::json!({"username": username, "email": format!("{username}@example.org"), "password": password}),
        );
        assert_eq!(r.status, 201, "register {username}: {r:?}");
        assert_eq!(
            r.header("location"),
            Some(format!("/api/users/{}/", r.body["id"]).as_str()),
            "register {username}"
        );
        self.login(username, password)
    }
}

/// Prints a figure of a reliability suite and, when `RELIABILITY_LOG` names a file (as
/// `.ci/run` does), appends it there, past the test harness's output capture.
pub fn report(line: &str) {
    use std::io::Write;
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("RELIABILITY_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Defines one test per backend: `mod name { fn sqlite(); fn postgres(); }`, each getting a
/// fresh database and a running server ([`TestApp::start`]); the PostgreSQL one does nothing
/// (the skip is announced) without `TEST_DATABASE_URL`.
#[macro_export]
macro_rules! http_test {
    ($($name:ident => $body:expr;)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                let app = $crate::TestApp::sqlite().start().expect("sqlite server");
                ($body)(&app.server);
            }

            #[test]
            fn postgres() {
                if let Some(app) = $crate::TestApp::postgres().start() {
                    ($body)(&app.server);
                }
            }
        }
    )*};
}

/// Reads a child's standard error into a shared buffer on a thread of its own, until it closes.
fn capture(
    mut stderr: std::process::ChildStderr,
) -> (
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    std::thread::JoinHandle<()>,
) {
    use std::io::Read;
    let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = buffer.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("stderr buffer")
                .extend_from_slice(&buf[..n]);
        }
    });
    (buffer, reader)
}

/// Waits (up to 30 s) until the running servers' sealer has linked every audit event of `db`
/// into the chain, then runs `healthcare audit verify` on it and returns what it printed; panics
/// when the events stay unsealed or the chain does not verify.
pub fn audit_verified(db: &TestDb) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = db
            .db
            .read(healthcare_persistence::audit::unsealed)
            .expect("count unsealed audit events");
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} audit events left unsealed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = Command::new(binary())
        .args(["audit", "verify"])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run healthcare audit verify");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "audit verify failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A Python with `packages` (pinned requirement strings) installed: a virtual environment
/// `target/venv-NAME`, made once and reused while its package list is the same, by one test at
/// a time. Panics (the test fails, never skips) when it cannot be made.
pub fn python_venv(name: &str, packages: &[&str]) -> PathBuf {
    static MADE: Mutex<()> = Mutex::new(());
    let _one_at_a_time = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let venv = workspace_root().join(format!("target/venv-{name}"));
    let python = venv.join("bin/python");
    let ready = venv.join(".installed");
    let wanted = packages.join(" ");
    if std::fs::read_to_string(&ready).ok().as_deref() != Some(wanted.as_str()) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(made.success(), "python3 -m venv {} failed", venv.display());
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(packages)
            .status()
            .expect("pip");
        assert!(installed.success(), "pip install {wanted} failed");
        std::fs::write(&ready, &wanted).unwrap();
    }
    python
}

/// The files of the Debian package `name` (this machine's release, as `apt-get download` finds
/// it), unpacked without installing (no maintainer scripts run, no service starts) into
/// `target/debian-NAME`, made once and reused: the folder to find its programs in
/// (`.../usr/sbin/nginx`). Panics (the test fails, never skips) when it cannot be had.
pub fn debian_package(name: &str) -> PathBuf {
    static MADE: Mutex<()> = Mutex::new(());
    let _one_at_a_time = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let root = workspace_root().join(format!("target/debian-{name}"));
    let ready = root.join(".unpacked");
    if !ready.exists() {
        let download = root.join("download");
        std::fs::create_dir_all(&download).unwrap();
        let fetched = Command::new("apt-get")
            .args(["download", "-q", name])
            .current_dir(&download)
            .status()
            .expect("apt-get");
        assert!(fetched.success(), "apt-get download {name} failed");
        let deb = std::fs::read_dir(&download)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .unwrap_or_else(|| panic!("apt-get download {name} left no .deb"));
        let unpacked = Command::new("dpkg")
            .arg("-x")
            .arg(&deb)
            .arg(&root)
            .status()
            .expect("dpkg");
        assert!(unpacked.success(), "dpkg -x {} failed", deb.display());
        std::fs::write(&ready, deb.display().to_string()).unwrap();
    }
    root
}

/// A main nginx configuration for tests: everything under `prefix` (pid, logs, temporary
/// files), no access log, and `site` (a file of `upstream` / `server` blocks, as
/// `deploy/nginx.conf`) included in its `http` block.
pub fn nginx_main_conf(prefix: &std::path::Path, site: &std::path::Path) -> String {
    let p = prefix.display();
    format!(
        "pid {p}/nginx.pid;\nerror_log {p}/error.log;\nevents {{}}\nhttp {{\n    access_log off;\n    \
         client_body_temp_path {p}/body;\n    proxy_temp_path {p}/proxy;\n    \
         fastcgi_temp_path {p}/fastcgi;\n    uwsgi_temp_path {p}/uwsgi;\n    \
         scgi_temp_path {p}/scgi;\n    include {};\n}}\n",
        site.display()
    )
}

/// nginx (Debian's, [`debian_package`]) serving `site` (the text of a site file) from a
/// folder of its own, in the background; stopped, and its folder removed, on drop.
pub struct Nginx {
    prefix: PathBuf,
    binary: PathBuf,
}

impl Nginx {
    /// Starts nginx on `site`; panics when it does not start.
    pub fn start(site: &str) -> Nginx {
        let binary = debian_package("nginx").join("usr/sbin/nginx");
        let prefix = std::env::temp_dir().join(format!(
            "healthcare-nginx-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&prefix).unwrap();
        let site_file = prefix.join("site.conf");
        std::fs::write(&site_file, site).unwrap();
        let main = prefix.join("main.conf");
        std::fs::write(&main, nginx_main_conf(&prefix, &site_file)).unwrap();
        let out = Command::new(&binary)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&main)
            .output()
            .expect("nginx");
        assert!(
            out.status.success(),
            "nginx did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Nginx { prefix, binary }
    }

    /// What nginx wrote to its error log.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new(&self.binary)
            .arg("-p")
            .arg(&self.prefix)
            .arg("-c")
            .arg(self.prefix.join("main.conf"))
            .args(["-s", "stop"])
            .status();
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// A local port nothing listens on now (for a process the test binds to it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A helper process of a test (a webhook receiver, an SMTP server), started from a Python
/// script under `tests/` as `SCRIPT PORT_FILE LOG_FILE ARGS...`: it writes the port it listens
/// on to PORT_FILE and one JSON object per thing it received to LOG_FILE. Killed, and its
/// folder removed, on drop.
pub struct Helper {
    child: Child,
    dir: PathBuf,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

impl Helper {
    /// Starts `script` (relative to the workspace) with `python`, `args` after its two files,
    /// and `env`; waits up to 20 s for its port.
    pub fn start(
        python: &std::path::Path,
        script: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Helper {
        let dir = std::env::temp_dir().join(format!(
            "hc-helper-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new(python)
            .arg(workspace_root().join(script))
            .arg(dir.join("port"))
            .arg(dir.join("log"))
            .args(
                args.iter()
                    .map(|a| a.replace("{dir}", &dir.to_string_lossy())),
            )
            .envs(env.iter().copied())
            .spawn()
            .expect("start the helper");
        let mut helper = Helper {
            child,
            dir,
            port: 0,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        helper.port = loop {
            if let Some(port) = std::fs::read_to_string(helper.dir.join("port"))
                .ok()
                .and_then(|p| p.trim().parse().ok())
            {
                break port;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{script} did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        helper
    }

    /// A file in the helper's folder (`{dir}` in its arguments).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Everything it logged so far, one JSON value per line.
    pub fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON log line"))
            .collect()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
