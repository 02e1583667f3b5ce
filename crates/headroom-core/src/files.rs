//! Writing files without clobbering what the user has: only regular files are replaced,
//! symbolic links are written through to their target or refused, read-only files are
//! respected, and Headroom's own data lives in private files (0600) in private directories
//! (0700).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Most symbolic links followed from one path (Linux's `MAXSYMLINKS` is 40).
const MAX_LINKS: usize = 40;

/// What kind of thing is at a path, in words for a message.
pub fn kind_word(ft: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "a regular file"
    }
}

/// Where a write to `path` must go: `path` itself, or the end of its chain of symbolic links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTarget {
    /// The file to replace or create.
    pub path: PathBuf,
    /// Whether a symbolic link was followed to get there.
    pub through_link: bool,
    /// Whether the file exists now.
    pub exists: bool,
}

/// Follows the symbolic links at `path` (relative targets resolve against the link's
/// directory) to the file a write should replace. Refuses, naming the path and what is
/// there, anything but a regular file or nothing at all; and a read-only file.
pub fn resolve_write_target(path: &Path) -> Result<WriteTarget, String> {
    let mut current = path.to_path_buf();
    let mut through_link = false;
    for _ in 0..MAX_LINKS {
        let md = match fs::symlink_metadata(&current) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(WriteTarget {
                    path: current,
                    through_link,
                    exists: false,
                })
            }
            Err(e) => return Err(format!("cannot inspect {}: {e}", current.display())),
        };
        let ft = md.file_type();
        if ft.is_symlink() {
            let link = fs::read_link(&current)
                .map_err(|e| format!("cannot read the link {}: {e}", current.display()))?;
            current = match current.parent() {
                Some(dir) if link.is_relative() => dir.join(link),
                _ => link,
            };
            through_link = true;
            continue;
        }
        if !ft.is_file() {
            return Err(refusal(path, &current, kind_word(ft)));
        }
        check_writable(&current, &md)?;
        return Ok(WriteTarget {
            path: current,
            through_link,
            exists: true,
        });
    }
    Err(format!(
        "{}: more than {MAX_LINKS} symbolic links (a loop?)",
        path.display()
    ))
}

fn refusal(asked: &Path, found: &Path, what: &str) -> String {
    if asked == found {
        format!(
            "{} is {what}, not a regular file; refused (allowed: a regular file or a new name)",
            asked.display()
        )
    } else {
        format!(
            "{} leads to {}, which is {what}, not a regular file; refused (allowed: a regular file or a new name)",
            asked.display(),
            found.display()
        )
    }
}

/// Refuses a file the user made read-only (no write bit for anyone) or that this process
/// may not write (`access(W_OK)`; root passes that check, so the mode bits are checked too).
fn check_writable(path: &Path, md: &fs::Metadata) -> Result<(), String> {
    let mode = md.mode() & 0o7777;
    let fix = format!(
        "make it writable, e.g. `chmod u+w {}`, to allow it",
        path.display()
    );
    if mode & 0o222 == 0 {
        return Err(format!(
            "{} is read-only (mode {mode:04o}); not changed ({fix})",
            path.display()
        ));
    }
    if !may_write(path) {
        return Err(format!(
            "{} is read-only for this user (mode {mode:04o}, owner uid {}); not changed",
            path.display(),
            md.uid()
        ));
    }
    Ok(())
}

fn may_write(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call; access only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Writes `bytes` to `path` when it is a regular file or nothing yet (atomically, new files
/// with `mode`). Unlike [`resolve_write_target`], a symbolic link is refused too: for a file
/// written once at a name the user typed (a capture), a link at that name is more likely a
/// trap left in a shared directory than a setup to keep; the message names its target so the
/// user can pass that instead.
pub fn write_regular_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let target = check_regular_file(path)?;
    replace_file(&target, bytes, mode).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The checks of [`write_regular_file`] without writing (to refuse before long work).
pub fn check_regular_file(path: &Path) -> Result<PathBuf, String> {
    if let Ok(md) = fs::symlink_metadata(path) {
        if md.file_type().is_symlink() {
            let to = fs::read_link(path).unwrap_or_default();
            return Err(format!(
                "{} is a symbolic link (to {}); refused: write to a regular file or a new name (e.g. the link's target)",
                path.display(),
                to.display()
            ));
        }
    }
    let target = resolve_write_target(path)?;
    if !target.exists {
        let dir = match target.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(format!(
                "{}: the directory {} does not exist",
                path.display(),
                dir.display()
            ));
        }
    }
    Ok(target.path)
}

/// Replaces (or creates) the regular file `target` with `bytes` atomically: a temporary file
/// with `mode` in the same directory, fsync, rename over `target`, fsync of the directory.
pub fn replace_file(target: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    // A leftover of this pid's earlier crash (removing a link never follows it).
    let _ = fs::remove_file(&tmp);
    let result = write_synced(&tmp, bytes, mode).and_then(|()| fs::rename(&tmp, target));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    fs::File::open(&dir)?.sync_all()
}

fn write_synced(tmp: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Creates `dir` and missing parents with mode 0700; an existing directory is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates `dir` (and missing parents) with mode 0700, or tightens it to 0700 when it exists,
/// is ours and others may enter it. A directory shared on purpose (sticky, like `/tmp`) or
/// owned by someone else is left alone: the files in it are still private.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    create_private_dir(dir)?;
    let md = fs::metadata(dir)?;
    let mode = md.mode() & 0o7777;
    if md.uid() == crate::agents::sys::euid() && mode & 0o1000 == 0 && mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

/// Tightens an existing file of ours to 0600 (no-op when it is missing or already private).
pub fn tighten_file(path: &Path) -> std::io::Result<()> {
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mode = md.mode() & 0o7777;
    if md.file_type().is_file() && md.uid() == crate::agents::sys::euid() && mode & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

/// Creates `path` empty with mode 0600 when missing (never following a link), so that a
/// program that creates its companions with the same mode (SQLite's `-wal` and `-shm`) keeps
/// them private too; tightens it to 0600 when it exists.
pub fn private_file(path: &Path) -> std::io::Result<()> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => tighten_file(path),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_are_followed_to_a_regular_file_and_other_kinds_refused() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real.toml");
        fs::write(&real, "x").unwrap();
        symlink("real.toml", d.path().join("link")).unwrap();
        let t = resolve_write_target(&d.path().join("link")).unwrap();
        assert_eq!((t.path, t.through_link, t.exists), (real, true, true));
        let e = resolve_write_target(d.path()).unwrap_err();
        assert!(e.contains("a directory"), "{e}");
        let e = resolve_write_target(Path::new("/dev/null")).unwrap_err();
        assert!(e.contains("a character device"), "{e}");
        symlink("loop", d.path().join("loop")).unwrap();
        assert!(resolve_write_target(&d.path().join("loop"))
            .unwrap_err()
            .contains("loop"));
    }

    #[test]
    fn a_read_only_file_is_refused_even_for_root() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("ro");
        fs::write(&f, "x").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o444)).unwrap();
        let e = resolve_write_target(&f).unwrap_err();
        assert!(e.contains("read-only (mode 0444)"), "{e}");
    }

    #[test]
    fn private_dirs_and_files_are_tightened() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let f = dir.join("f");
        fs::write(&f, "x").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        private_file(&f).unwrap();
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o600);
        let g = dir.join("g");
        private_file(&g).unwrap();
        assert_eq!(fs::metadata(&g).unwrap().mode() & 0o777, 0o600);
    }
}
