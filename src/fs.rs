//! Durable files: a file replaced atomically, so a crash leaves the old content or the new.

use crate::error::{Error, Result, excerpt};

/// Writes a file so that readers see the old content or the new, never a mix: write a
/// temporary file beside it, sync it, rename it over the target, and sync the folder.
pub async fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let path = path.to_path_buf();
    let bytes = bytes.to_vec();
    tokio::task::spawn_blocking(move || write_atomically_blocking(&path, &bytes))
        .await
        .map_err(|e| Error::system(format!("state writer panicked: {e}")))?
}

/// Blocking form of [`write_atomically`].
pub fn write_atomically_blocking(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path.file_name().ok_or_else(|| {
        Error::config(format!(
            "not a file path: {}",
            excerpt(&path.display().to_string())
        ))
    })?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Directory fsync makes the rename durable; not every platform supports it.
        let _ = d.sync_all();
    }
    Ok(())
}
