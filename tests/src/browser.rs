//! A real headless Chromium (the distribution's `chromium`, driven through
//! `chromedriver` with the WebDriver crate `fantoccini`) for the web inbox's tests,
//! with screenshots of each step saved under `target/browser/<test>/`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let mut b = scrm_e2e::browser::Browser::start("demo").await?;
//! b.client.goto("http://127.0.0.1:8080/login").await?;
//! b.screenshot("login").await?;
//! b.close().await;
//! # Ok(())
//! # }
//! ```

use crate::proc::{Supervised, free_port, root};
use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Chromium's binary.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// ChromeDriver's binary.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether the browser tests can run here. Without Chromium and ChromeDriver they
/// are skipped, loudly — unless `SCRM_REQUIRE_BROWSER` is set (CI sets it, after
/// installing the `chromium` and `chromium-driver` packages), when they fail.
///
/// # Panics
/// When they are missing and `SCRM_REQUIRE_BROWSER` is set.
pub fn available(test: &str) -> bool {
    let here =
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !here {
        assert!(
            std::env::var_os("SCRM_REQUIRE_BROWSER").is_none(),
            "{test}: {CHROMIUM} and {CHROMEDRIVER} are required (SCRM_REQUIRE_BROWSER is set)"
        );
        eprintln!(
            "SKIPPED {test}: no {CHROMIUM} / {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        );
    }
    here
}

/// A headless Chromium session.
#[derive(Debug)]
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    _driver: Supervised,
    shots: PathBuf,
    taken: usize,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (phone width when `phone`).
    ///
    /// # Errors
    /// When Chromium or ChromeDriver is missing (`.ci/run` installs the
    /// `chromium` and `chromium-driver` packages) or does not start.
    pub async fn start(test: &str) -> Result<Browser> {
        Self::start_sized(test, 1280, 900).await
    }

    /// [`Browser::start`] with a window of `width` × `height`.
    ///
    /// # Errors
    /// As [`Browser::start`].
    pub async fn start_sized(test: &str, width: u32, height: u32) -> Result<Browser> {
        if !std::path::Path::new(CHROMEDRIVER).exists() {
            bail!("{CHROMEDRIVER} is missing: install the chromium and chromium-driver packages");
        }
        let port = free_port()?;
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start chromedriver")?;
        let driver = Supervised::watch(child, "chromedriver")?;
        let profile = tempfile::tempdir()?.keep();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        // Several crates of the build enable both of rustls's providers; pick one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::rustls()?
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => bail!("chromedriver did not answer: {e}"),
            }
        };
        let shots = root()?.join("target/browser").join(test);
        std::fs::create_dir_all(&shots)?;
        Ok(Browser {
            client,
            _driver: driver,
            shots,
            taken: 0,
        })
    }

    /// Saves a screenshot of the page as `NN-name.png`; its path.
    ///
    /// # Errors
    /// When the browser or the disk fails.
    pub async fn screenshot(&mut self, name: &str) -> Result<PathBuf> {
        self.taken += 1;
        let png = self.client.screenshot().await?;
        let path = self.shots.join(format!("{:02}-{name}.png", self.taken));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// The text of the first element matching `css`, once one exists (10 s).
    ///
    /// # Errors
    /// When none appears.
    pub async fn text(&self, css: &str) -> Result<String> {
        let e = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no element {css}"))?;
        Ok(e.text().await?)
    }

    /// Waits until the page's text under `css` contains `needle` (15 s).
    ///
    /// # Errors
    /// When it does not.
    pub async fn until_text(&self, css: &str, needle: &str) -> Result<String> {
        let started = Instant::now();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(t) = e.text().await
                && t.contains(needle)
            {
                return Ok(t);
            }
            if started.elapsed() > Duration::from_secs(15) {
                let page = self.client.source().await.unwrap_or_default();
                bail!(
                    "{css} never contained {needle:?}; page: {}",
                    &page[..page.len().min(3000)]
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Clicks the first element matching `css` (waiting for it, 10 s).
    ///
    /// # Errors
    /// When there is none.
    pub async fn click(&self, css: &str) -> Result<()> {
        // A list the page redraws (each keystroke's search answer replaces the
        // suggestions) can swap the element between finding and clicking: find again.
        for attempt in 0.. {
            let e = self
                .client
                .wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css(css))
                .await
                .with_context(|| format!("no element {css}"))?;
            match e.click().await {
                Ok(()) => return Ok(()),
                Err(err) if attempt < 5 && err.to_string().contains("stale element") => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// Types `text` into the element matching `css`.
    ///
    /// # Errors
    /// When there is none.
    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let e = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no element {css}"))?;
        e.clear().await?;
        e.send_keys(text).await?;
        Ok(())
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
