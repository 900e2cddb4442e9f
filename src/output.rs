//! Last stage: files leave the tool whole or not at all. Every file is
//! written to a temporary file beside its destination and renamed over it.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically (temporary file, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".automl-")
        .tempfile_in(dir)
        .map_err(|e| Error::output(path, e))?;
    tmp.write_all(bytes).map_err(|e| Error::output(path, e))?;
    // Temporary files are private (0600); outputs are ordinary files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(0o644);
        tmp.as_file()
            .set_permissions(mode)
            .map_err(|e| Error::output(path, e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::output(path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::output(path, e.error))?;
    Ok(())
}

/// Creates `dir` (and parents) and proves it writable, before any work that
/// would be lost if the outputs could not be written at the end.
pub fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::output(dir, "exists and is not a folder"));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
    tempfile::Builder::new()
        .prefix(".automl-probe-")
        .tempfile_in(dir)
        .map_err(|e| Error::output(dir, e))?;
    Ok(())
}
