//! The per-user secret that keeps other local users out of `headroom serve`.
//!
//! Loopback is shared by every user of the machine, so "loopback only" alone would let any of
//! them act through the server. Every server therefore has a secret (the bearer token):
//!
//! - By default it is read from [`SECRET_FILE`] in the data directory, created on first use
//!   with 32 random bytes (hex) from the system's random device. The directory is made `0700`
//!   and the file `0600`, both owned by the user: only the owner (and root) can read it.
//! - `--token-file PATH` reads it from another file, which must be owned by the user and not
//!   readable by group or others; `HEADROOM_TOKEN` from the environment (another user cannot
//!   read a process's environment); `--token` from the command line, which every user of the
//!   machine can see in `ps`.
//!
//! The owner's tools read the file: `headroom serve --print-url` prints the one-step login URL,
//! and scripts send `Authorization: Bearer $(cat <file>)`.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The secret's file name inside the data directory.
pub const SECRET_FILE: &str = "serve-token";

/// Random bytes in a generated secret (written as 64 hex characters).
const SECRET_BYTES: usize = 32;

/// Why the secret could not be read or created: the file and what to do.
#[derive(Debug)]
pub struct SecretError(pub String);

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SecretError {}

fn err(path: &Path, what: impl fmt::Display) -> SecretError {
    SecretError(format!("{}: {what}", path.display()))
}

/// The default secret file: [`SECRET_FILE`] in `data_dir`.
pub fn default_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SECRET_FILE)
}

/// Reads the secret at `path`, creating the file (and its `0700` directory) with a fresh
/// random secret when it does not exist. Looser permissions of a file or directory the user
/// owns are tightened; one owned by someone else is refused.
pub fn load_or_create(path: &Path) -> Result<String, SecretError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    private_dir(dir)?;
    match read_private(path, true) {
        Ok(token) => return Ok(token),
        Err(e) if !is_not_found(&e) => return Err(e),
        Err(_) => {}
    }
    let token = generate().map_err(|e| err(path, format!("cannot generate a secret: {e}")))?;
    publish(path, &token)?;
    // Another process may have published first: the file is the truth.
    read_private(path, true)
}

/// Reads a token file given with `--token-file`: owned by the user, not readable by group or
/// others, one line.
pub fn read_token_file(path: &Path) -> Result<String, SecretError> {
    read_private(path, false)
}

fn is_not_found(e: &SecretError) -> bool {
    e.0.ends_with(NOT_FOUND)
}

const NOT_FOUND: &str = "does not exist";

/// Opens without following a symlink, checks owner and mode (tightening them when `tighten`),
/// and returns the first line.
fn read_private(path: &Path, tighten: bool) -> Result<String, SecretError> {
    let file = open_nofollow(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => err(path, NOT_FOUND),
        _ => err(path, format!("cannot open the secret file: {e}")),
    })?;
    let meta = file.metadata().map_err(|e| err(path, e))?;
    if !meta.is_file() {
        return Err(err(path, "not a regular file; a secret must be in a file"));
    }
    check_owner_and_mode(path, &meta, tighten, 0o600)?;
    let mut text = String::new();
    file.take(4096)
        .read_to_string(&mut text)
        .map_err(|e| err(path, format!("cannot read: {e}")))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        return Err(err(
            path,
            "the file is empty; put the token on its first line",
        ));
    }
    Ok(token)
}

#[cfg(unix)]
fn open_nofollow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(not(unix))]
fn open_nofollow(path: &Path) -> io::Result<File> {
    File::open(path)
}

#[cfg(unix)]
fn check_owner_and_mode(
    path: &Path,
    meta: &fs::Metadata,
    tighten: bool,
    private_mode: u32,
) -> Result<(), SecretError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(err(
            path,
            format!(
                "owned by uid {}, not by you (uid {me}); a secret must be your own file",
                meta.uid()
            ),
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    if !tighten {
        return Err(err(
            path,
            format!(
                "readable by other users (mode {mode:o}); run `chmod {private_mode:o} {}`",
                path.display()
            ),
        ));
    }
    fs::set_permissions(path, fs::Permissions::from_mode(private_mode))
        .map_err(|e| err(path, format!("cannot make it private (mode {mode:o}): {e}")))
}

#[cfg(not(unix))]
fn check_owner_and_mode(
    _path: &Path,
    _meta: &fs::Metadata,
    _tighten: bool,
    _private_mode: u32,
) -> Result<(), SecretError> {
    Ok(())
}

/// Creates `dir` (`0700`) if missing; an existing one must be the user's own and is tightened
/// to `0700`.
fn private_dir(dir: &Path) -> Result<(), SecretError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| err(dir, format!("cannot create the directory: {e}")))?;
    let meta = fs::symlink_metadata(dir).map_err(|e| err(dir, e))?;
    let meta = if meta.file_type().is_symlink() {
        fs::metadata(dir).map_err(|e| err(dir, e))?
    } else {
        meta
    };
    check_owner_and_mode(dir, &meta, true, 0o700)
}

/// `SECRET_BYTES` random bytes from the system's random device, as lowercase hex.
fn generate() -> io::Result<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes the secret to a private temporary file, then links it into place: readers never see
/// a partial file, and an existing file (another process won the race) is kept.
fn publish(path: &Path, token: &str) -> Result<(), SecretError> {
    let tmp = path.with_file_name(format!(".{SECRET_FILE}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let written = write_new_private(&tmp, token);
    let linked = written.and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(err(path, format!("cannot create the secret file: {e}"))),
    }
}

fn write_new_private(path: &Path, token: &str) -> io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(format!("{token}\n").as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_secret_is_random_private_and_stable() {
        let tmp = tempfile::tempdir().unwrap();
        let path = default_path(&tmp.path().join("data"));
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.len(), 2 * SECRET_BYTES);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(
            load_or_create(&path).unwrap(),
            first,
            "read back, not replaced"
        );
        let other = tmp.path().join("other/serve-token");
        assert_ne!(load_or_create(&other).unwrap(), first);
    }

    #[test]
    fn loose_permissions_are_tightened_for_the_default_file_and_refused_for_token_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.join(SECRET_FILE);
        fs::write(&path, "0123456789abcdef0123\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_token_file(&path).unwrap_err().0;
        assert!(
            e.contains("readable by other users") && e.contains("chmod 600"),
            "{e}"
        );
        assert_eq!(load_or_create(&path).unwrap(), "0123456789abcdef0123");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(read_token_file(&path).unwrap(), "0123456789abcdef0123");
    }

    #[test]
    fn symlinks_empty_files_and_directories_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        fs::write(&real, "0123456789abcdef0123\n").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = read_token_file(&link).unwrap_err().0;
        assert!(e.contains("cannot open"), "{e}");
        let empty = tmp.path().join("empty");
        File::create(&empty).unwrap();
        fs::set_permissions(&empty, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read_token_file(&empty).unwrap_err().0.contains("empty"));
        let e = read_token_file(tmp.path()).unwrap_err().0;
        assert!(e.contains("not a regular file"), "{e}");
        let e = read_token_file(&tmp.path().join("missing")).unwrap_err().0;
        assert!(e.contains("does not exist"), "{e}");
    }
}
