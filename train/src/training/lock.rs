//! The writer lock of a model directory: `DIR/.bead-train.lock`, an advisory lock
//! (`flock` on Unix, `LockFileEx` on Windows) held for as long as a training writes into the
//! directory. A second writer fails at once with a message naming the lock file and the
//! process holding it.
//!
//! The operating system releases the lock when its holder exits, however it exits, so a
//! lock left by a killed process is never stale: the file stays (it is never deleted, which
//! would let two writers lock two different files of the same name) and the next writer
//! simply takes the lock on it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// File name of the lock inside a model directory.
pub const LOCK_FILE: &str = ".bead-train.lock";

/// A held writer lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: PathBuf,
}

impl DirLock {
    /// Take the writer lock of `dir` (which must exist) for `what` (the command, for the
    /// holder's record), or fail at once if another process or handle holds it.
    pub fn acquire(dir: &Path, what: &str) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // The holder writes its record right after locking; it may not have yet.
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "another process (it has not written its pid yet)".to_string()
                } else {
                    holder.to_string()
                };
                return Err(Error::Locked {
                    dir: dir.to_path_buf(),
                    lock: path,
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        let record = format!("pid {} ({what})\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(record.as_bytes()))
            .map_err(|e| Error::io(&path, e))?;
        Ok(Self { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes the release
        // independent of other handles to the same open file.
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    use crate::data::testutil::tmpdir;

    /// Tells the helper test which directory to lock.
    const CHILD_ENV: &str = "BEAD_TEST_LOCK_DIR";
    /// What the helper prints once it holds the lock.
    const HELD: &str = "BEAD-TEST-LOCK-HELD";

    #[test]
    fn a_second_writer_is_refused_naming_the_lock_and_holder() {
        let dir = tmpdir("second");
        let held = DirLock::acquire(&dir, "bead train").unwrap();
        // A second open file description conflicts like a second process would.
        let err = DirLock::acquire(&dir, "bead train")
            .unwrap_err()
            .to_string();
        assert!(err.contains(LOCK_FILE), "{err}");
        assert!(
            err.contains(&format!("pid {} (bead train)", std::process::id())),
            "{err}"
        );
        drop(held);
        // Released: the next writer gets it.
        let again = DirLock::acquire(&dir, "bead train").unwrap();
        assert_eq!(again.path(), dir.join(LOCK_FILE));
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_is_taken_over() {
        let dir = tmpdir("stale");
        // What a killed writer leaves: the file with its record, but no lock on it.
        std::fs::write(dir.join(LOCK_FILE), "pid 999999999 (bead train)\n").unwrap();
        let lock = DirLock::acquire(&dir, "bead train").unwrap();
        let record = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(record, format!("pid {} (bead train)\n", std::process::id()));
        drop(lock);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Run in a child process by the test below: holds the lock until killed.
    #[test]
    #[ignore = "helper of a_lock_held_by_another_process_is_refused_until_it_dies"]
    fn hold_lock_in_child() {
        let Ok(dir) = std::env::var(CHILD_ENV) else {
            return;
        };
        let _lock = DirLock::acquire(Path::new(&dir), "bead train").unwrap();
        println!("{HELD}");
        std::io::stdout().flush().unwrap();
        // Blocks until the parent kills this process.
        let mut rest = String::new();
        let _ = std::io::stdin().read_to_string(&mut rest);
    }

    #[test]
    fn a_lock_held_by_another_process_is_refused_until_it_dies() {
        let dir = tmpdir("process");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "training::lock::tests::hold_lock_in_child",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_ENV, dir.as_os_str())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut seen = Vec::new();
        for line in out.lines() {
            let line = line.unwrap();
            let held = line.contains(HELD);
            seen.push(line);
            if held {
                break;
            }
        }
        assert!(
            seen.iter().any(|l| l.contains(HELD)),
            "the child never held the lock: {seen:?}"
        );
        let err = DirLock::acquire(&dir, "bead train")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("pid {} (bead train)", child.id())),
            "{err}"
        );
        // SIGKILL: no destructor runs, the operating system drops the lock.
        child.kill().unwrap();
        child.wait().unwrap();
        let lock = DirLock::acquire(&dir, "bead train").unwrap();
        drop(lock);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
