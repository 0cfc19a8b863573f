//! A directory of reports not yet acknowledged, one JSON file per
//! interval, named so that they sort oldest first. Files are written to a
//! temporary name and renamed, so a crash never leaves half a report.

use std::path::{Path, PathBuf};

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Spool> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Spool { dir })
    }

    /// Keeps `events` for the interval starting at `window` (a Unix time).
    pub fn put(&self, window: i64, events: &[Value]) -> std::io::Result<PathBuf> {
        let path = self.dir.join(format!("{window:020}.json"));
        let partial = self.dir.join(format!("{window:020}.json.partial"));
        std::fs::write(&partial, serde_json::to_vec(events)?)?;
        std::fs::rename(&partial, &path)?;
        Ok(path)
    }

    /// Reports waiting, oldest first.
    pub fn pending(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        Ok(files)
    }

    /// Forgets a report once it was acknowledged.
    pub fn acknowledged(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_file(path)
    }
}

/// Sends every waiting report, oldest first, until one fails; returns how
/// many were acknowledged. A failed report stays for the next attempt.
pub async fn deliver(
    spool: &Spool,
    client: &reqwest::Client,
    url: &str,
    token: &str,
) -> std::io::Result<usize> {
    let mut sent = 0;
    for path in spool.pending()? {
        let body = std::fs::read(&path)?;
        let answer = client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        match answer {
            Ok(response) if response.status().is_success() => {
                spool.acknowledged(&path)?;
                sent += 1;
            }
            Ok(response) => {
                tracing::warn!(status = %response.status(), file = %path.display(), "usage report refused; will retry");
                break;
            }
            Err(err) => {
                tracing::warn!(error = %err, file = %path.display(), "usage report not delivered; will retry");
                break;
            }
        }
    }
    Ok(sent)
}
