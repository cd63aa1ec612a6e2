//! The engine trials: a probe exec that hangs is cut off by the exec timeout and the bottle is
//! still torn down; the engine going away mid run ends it with exit 2 naming the phase, and the
//! next run (engine back) reaps what was left.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bottle_backends::BottleBackend;
use libtest_mimic::Failed;

use crate::run::{leftovers, run_id_in, trial_run};

/// A probe that never finishes is cut off by the exec timeout; the bottle is still torn down.
pub(crate) fn hung_exec_is_cut_off() -> Result<(), Failed> {
    use bottle_harness::run::{self, RunOptions};
    use bottle_harness::select::{AnyBackend, BackendKind};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let options = RunOptions::new(BackendKind::Docker, bottle_harness::BottleConfig::default());
        let run_id = bottle_backends::labels::new_run_id();
        let spec = run::bottle_spec(&options, &run_id).map_err(|e| e.to_string())?;
        let backend = AnyBackend::new(BackendKind::Docker);
        let result = async {
            let bottle = backend.launch(&spec).await.map_err(|e| e.to_string())?;
            let argv = vec![bottle.probe_path.clone(), "idle".to_string()];
            let started = Instant::now();
            let outcome = backend
                .exec_in_agent(&bottle, &argv, Duration::from_millis(800), 4096)
                .await;
            let elapsed = started.elapsed();
            match outcome {
                Err(bottle_backends::BackendError::Timeout { .. })
                    if elapsed < Duration::from_secs(3) =>
                {
                    Ok(())
                }
                other => Err(format!(
                    "expected a timeout within 3 s, got {other:?} after {elapsed:?}"
                )),
            }
        }
        .await;
        backend.teardown(&run_id).await.map_err(|e| e.to_string())?;
        result.map(|()| run_id)
    })
    .and_then(|run_id| {
        if leftovers(&run_id)? {
            return Err(format!("{run_id} left behind"));
        }
        Ok(())
    })
    .map_err(Failed::from)
}

/// A stand-in for the engine's socket that the test can make disappear: every connection is
/// relayed to the real socket until `cut` closes the listener and every relayed connection.
struct EngineProxy {
    path: std::path::PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::os::unix::net::UnixStream>>>,
}

impl EngineProxy {
    fn start() -> Result<Self, String> {
        use std::os::unix::net::{UnixListener, UnixStream};
        let real = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
            .unwrap_or_else(|| "/var/run/docker.sock".into());
        let path = std::env::temp_dir().join(format!("cb-engine-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let proxy = Self {
            path,
            stop: Default::default(),
            conns: Default::default(),
        };
        let (stop, conns) = (proxy.stop.clone(), proxy.conns.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let Ok(upstream) = UnixStream::connect(&real) else {
                    continue;
                };
                let pairs = [
                    (client.try_clone(), upstream.try_clone()),
                    (upstream.try_clone(), client.try_clone()),
                ];
                if let Ok(mut all) = conns.lock() {
                    all.extend([client, upstream]);
                }
                for (from, to) in pairs {
                    if let (Ok(mut from), Ok(mut to)) = (from, to) {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Write);
                        });
                    }
                }
            }
        });
        Ok(proxy)
    }

    fn host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The engine "goes away": no new connections, every open one cut.
    fn cut(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = std::fs::remove_file(&self.path);
        if let Ok(all) = self.conns.lock() {
            for conn in all.iter() {
                let _ = conn.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// The engine goes away while the probes run: exit 2 naming the phase; the next run (engine
/// back) reaps what was left.
pub(crate) fn engine_lost_mid_run() -> Result<(), Failed> {
    let proxy = EngineProxy::start()?;
    let mut child = trial_run()
        .env("RUST_LOG", "info")
        .env("DOCKER_HOST", proxy.host())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut seen = String::new();
    let mut run_id = None;
    for line in BufReader::new(child.stderr.take().expect("piped"))
        .lines()
        .map_while(Result::ok)
    {
        if let Some(id) = run_id_in(&line) {
            run_id = Some(id);
        }
        if line.contains("probing") && !seen.contains("probing") {
            proxy.cut();
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    proxy.cut();
    let code = child.wait().map_err(|e| e.to_string())?.code();
    let run_id = run_id.ok_or_else(|| format!("no run id:\n{seen}"))?;
    if code != Some(2) {
        return Err(format!("exit {code:?} instead of 2:\n{seen}").into());
    }
    if !seen.contains("error: during probe") {
        return Err(format!("the error does not name the phase:\n{seen}").into());
    }
    let next = trial_run()
        .arg("--quiet")
        .output()
        .map_err(|e| e.to_string())?;
    if next.status.code() != Some(0) {
        return Err(format!(
            "the next run failed: {}",
            String::from_utf8_lossy(&next.stderr)
        )
        .into());
    }
    if leftovers(&run_id)? {
        return Err(format!("{run_id} is still there after the next run").into());
    }
    Ok(())
}
