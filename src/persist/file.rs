//! The snapshot on disk: one file in the data path, replaced atomically.
//!
//! A new snapshot is written to a temporary file, flushed to the disk
//! (`fsync`), renamed over the old one, and the directory flushed too, so
//! a crash or power loss at any moment leaves the old snapshot or the new
//! one, never a torn one. A snapshot that cannot be read is moved aside,
//! under a name of its own, and kept for inspection.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The snapshot's name in the data path.
pub const NAME: &str = "lookupd.snapshot";
const TEMPORARY: &str = "lookupd.snapshot.tmp";

/// The snapshot's path in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(NAME)
}

/// Makes sure `dir` exists (creating it) and that files can be written
/// there: an error names the path and says what is wrong.
pub fn prepare(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{shown} exists and is not a directory"));
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {shown}: {e}"))?;
    let probe = dir.join(TEMPORARY);
    let written = File::create(&probe).and_then(|mut f| f.write_all(b"probe"));
    let _ = fs::remove_file(&probe);
    written.map_err(|e| format!("cannot write in {shown}: {e}"))
}

/// Replaces the snapshot in `dir` with `bytes`, atomically. When that
/// fails (a full disk, say), the temporary file is removed: it would hold
/// the space until the next start, and the previous snapshot stays.
pub fn write(dir: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(TEMPORARY);
    let written = write_tmp(&tmp, bytes).and_then(|()| fs::rename(&tmp, path(dir)));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename itself is durable once the directory is.
    File::open(dir)?.sync_all()
}

fn write_tmp(tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The snapshot's bytes, or `None` when there is none.
pub fn read(dir: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path(dir)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Moves an unreadable snapshot aside (`lookupd.snapshot.damaged-<unix
/// seconds>`, never over an earlier one) and returns where it went.
pub fn move_aside(dir: &Path) -> io::Result<PathBuf> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut n = 0;
    loop {
        let name = match n {
            0 => format!("{NAME}.damaged-{secs}"),
            n => format!("{NAME}.damaged-{secs}-{n}"),
        };
        let to = dir.join(name);
        if !to.exists() {
            fs::rename(path(dir), &to)?;
            return Ok(to);
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lookupd-file-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn write_read_replace_move_aside() {
        let dir = scratch("rw");
        prepare(&dir).unwrap();
        assert_eq!(read(&dir).unwrap(), None);
        write(&dir, b"one").unwrap();
        write(&dir, b"two").unwrap();
        assert_eq!(read(&dir).unwrap().as_deref(), Some(&b"two"[..]));
        assert!(!dir.join(TEMPORARY).exists());
        let first = move_aside(&dir).unwrap();
        write(&dir, b"three").unwrap();
        let second = move_aside(&dir).unwrap();
        assert_ne!(first, second, "an earlier one is never overwritten");
        assert_eq!(fs::read(&first).unwrap(), b"two");
        assert_eq!(read(&dir).unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file_and_the_last_snapshot() {
        let dir = scratch("fail");
        prepare(&dir).unwrap();
        write(&dir, b"good").unwrap();
        // The rename cannot replace a directory that holds something.
        let aside = dir.join("good");
        fs::rename(path(&dir), &aside).unwrap();
        fs::create_dir(path(&dir)).unwrap();
        fs::write(path(&dir).join("x"), b"x").unwrap();
        assert!(write(&dir, b"new").is_err());
        assert!(!dir.join(TEMPORARY).exists(), "temporary file left behind");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The case met in the field: a full disk (a 512 KiB tmpfs as the data
    /// path). Needs root to mount; says so and skips otherwise.
    #[test]
    fn a_full_disk_keeps_the_last_snapshot_and_frees_its_space() {
        let dir = scratch("full");
        fs::create_dir_all(&dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("SKIPPED: cannot mount a tmpfs (needs root)");
            let _ = fs::remove_dir_all(&dir);
            return;
        }
        let outcome = std::panic::catch_unwind(|| {
            write(&dir, &[1; 100 * 1024]).unwrap();
            let e = write(&dir, &[2; 600 * 1024]).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
            assert!(!dir.join(TEMPORARY).exists(), "temporary file left behind");
            assert_eq!(read(&dir).unwrap().unwrap(), vec![1; 100 * 1024]);
            // The space is free again: a snapshot that fits is written.
            write(&dir, &[3; 300 * 1024]).unwrap();
        });
        let _ = std::process::Command::new("umount").arg(&dir).status();
        let _ = fs::remove_dir_all(&dir);
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    #[test]
    fn a_file_is_not_a_data_path() {
        let dir = scratch("file");
        fs::write(&dir, b"x").unwrap();
        let e = prepare(&dir).unwrap_err();
        assert!(e.contains(&dir.display().to_string()), "{e}");
        fs::remove_file(&dir).unwrap();
        let nested = dir.join("a/b");
        prepare(&nested).unwrap();
        assert!(nested.is_dir());
        fs::remove_dir_all(&dir).unwrap();
    }
}
