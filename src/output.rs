//! Last stage: files leave the tool whole or not at all. Every file is
//! written to a temporary file beside its destination and renamed over it,
//! and a run's folder of outputs is staged and published only when the run
//! succeeds.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The 64-bit FNV-1a hash of `bytes`: the fingerprint of a model file (in
/// the generated code's `MODEL_ID`) and of a data file (in a checkpoint).
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Writes `bytes` to `path` atomically (temporary file, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Said plainly: tempfile's own error would name its staging file.
    if path.is_dir() {
        return Err(Error::output(path, "is a folder"));
    }
    if !dir.is_dir() {
        let what = if dir.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        return Err(Error::output(path, format!("{} {what}", dir.display())));
    }
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

/// Checks, before any work that would be lost if the outputs could not be
/// written, that `dir` is a folder that can be written into or can be
/// created; creates nothing.
pub fn check_out_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::output(dir, "exists and is not a folder"));
    }
    let mut existing = dir;
    while !existing.exists() {
        existing = match existing.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
    }
    if !existing.is_dir() {
        let reason = format!("{} is not a folder", existing.display());
        return Err(Error::output(dir, reason));
    }
    tempfile::Builder::new()
        .prefix(".automl-probe-")
        .tempfile_in(existing)
        .map(drop)
        .map_err(|e| Error::output(dir, e))
}

/// A run's outputs in the making: files are written into a staging folder
/// beside `dir` and appear in `dir` only on `publish`. Dropped unpublished
/// (a failed run), it leaves nothing behind and an existing `dir` as it was.
pub struct Staged {
    dir: PathBuf,
    staging: tempfile::TempDir,
}

impl Staged {
    /// Stages outputs for `dir`, creating its parent folders if needed.
    pub fn new(dir: &Path) -> Result<Staged> {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(parent).map_err(|e| Error::output(parent, e))?;
        let staging = tempfile::Builder::new()
            .prefix(".automl-staging-")
            .tempdir_in(parent)
            .map_err(|e| Error::output(dir, e))?;
        Ok(Staged {
            dir: dir.to_path_buf(),
            staging,
        })
    }

    /// The staging folder, where outputs are written before publishing.
    pub fn folder(&self) -> &Path {
        self.staging.path()
    }

    /// Where output `name` is written before publishing.
    pub fn path(&self, name: &str) -> PathBuf {
        self.staging.path().join(name)
    }

    /// Moves the outputs into place: the whole folder when `dir` is new,
    /// else file by file (each rename replaces the old file whole), so
    /// other files a user keeps there stay.
    pub fn publish(self) -> Result<()> {
        let dir = &self.dir;
        if !dir.exists() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::Permissions::from_mode(0o755);
                std::fs::set_permissions(self.staging.path(), mode)
                    .map_err(|e| Error::output(dir, e))?;
            }
            let staged = self.staging.keep();
            return std::fs::rename(&staged, dir).map_err(|e| {
                let _ = std::fs::remove_dir_all(&staged);
                Error::output(dir, e)
            });
        }
        let entries = std::fs::read_dir(self.staging.path()).map_err(|e| Error::output(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::output(dir, e))?;
            let to = dir.join(entry.file_name());
            std::fs::rename(entry.path(), &to).map_err(|e| Error::output(&to, e))?;
        }
        Ok(())
    }
}
