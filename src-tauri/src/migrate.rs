//! The bundle identifier changed from `dev.headroom.app` (folders named like that look like
//! broken apps in `~/Library/Logs` and `~/Library/Application Support`) to
//! [`IDENTIFIER`]. Tauri names the app's own folders after the identifier (the log folder and
//! the window-size file); at start the old folders move to the new names when the new ones do
//! not exist yet. History and configuration live in Headroom's own folders and do not move.

use std::path::{Component, Path, PathBuf};

/// The bundle identifier (`tauri.conf.json`).
pub const IDENTIFIER: &str = "dev.headroom.Headroom";
/// The identifier used before.
pub const OLD_IDENTIFIER: &str = "dev.headroom.app";

/// The folder named after the identifier that contains `dir` (`dir` itself, or the first
/// ancestor named `id`), with its old-identifier twin: `(old, new)`.
pub fn legacy_pair(dir: &Path, id: &str, old_id: &str) -> Option<(PathBuf, PathBuf)> {
    let mut prefix = PathBuf::new();
    for c in dir.components() {
        prefix.push(c);
        if matches!(c, Component::Normal(name) if name == id) {
            let old = prefix.with_file_name(old_id);
            return Some((old, prefix));
        }
    }
    None
}

/// The moves to make for the app's folders `dirs`: each old folder that exists to its new
/// name that does not, once.
pub fn plan(dirs: &[PathBuf], exists: impl Fn(&Path) -> bool) -> Vec<(PathBuf, PathBuf)> {
    let mut moves: Vec<(PathBuf, PathBuf)> = Vec::new();
    for dir in dirs {
        let Some((old, new)) = legacy_pair(dir, IDENTIFIER, OLD_IDENTIFIER) else {
            continue;
        };
        if exists(&old) && !exists(&new) && !moves.iter().any(|(o, _)| *o == old) {
            moves.push((old, new));
        }
    }
    moves
}

/// Moves the app's old folders to their new names (see [`plan`]); a failure is logged and
/// leaves the old folder where it was.
pub fn run(dirs: &[PathBuf]) {
    for (old, new) in plan(dirs, Path::exists) {
        let moved = new
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::rename(&old, &new));
        match moved {
            Ok(()) => eprintln!("headroom-app: moved {} to {}", old.display(), new.display()),
            Err(e) => eprintln!(
                "headroom-app: cannot move {} to {}: {e} (left where it was)",
                old.display(),
                new.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_the_folder_named_after_the_identifier() {
        let mac_logs = Path::new("/Users/a/Library/Logs/dev.headroom.Headroom");
        assert_eq!(
            legacy_pair(mac_logs, IDENTIFIER, OLD_IDENTIFIER),
            Some((
                PathBuf::from("/Users/a/Library/Logs/dev.headroom.app"),
                mac_logs.to_path_buf()
            ))
        );
        let linux_logs = Path::new("/home/a/.local/share/dev.headroom.Headroom/logs");
        assert_eq!(
            legacy_pair(linux_logs, IDENTIFIER, OLD_IDENTIFIER),
            Some((
                PathBuf::from("/home/a/.local/share/dev.headroom.app"),
                PathBuf::from("/home/a/.local/share/dev.headroom.Headroom")
            ))
        );
        assert_eq!(
            legacy_pair(Path::new("/tmp/x"), IDENTIFIER, OLD_IDENTIFIER),
            None
        );
    }

    #[test]
    fn moves_only_old_folders_whose_new_name_is_free() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        let logs = base.join("Logs");
        let support = base.join("Application Support");
        let cache = base.join("Caches");
        std::fs::create_dir_all(logs.join(OLD_IDENTIFIER)).unwrap();
        std::fs::write(logs.join(OLD_IDENTIFIER).join("headroom.log"), "old log\n").unwrap();
        std::fs::create_dir_all(support.join(OLD_IDENTIFIER)).unwrap();
        std::fs::create_dir_all(support.join(IDENTIFIER)).unwrap();
        let dirs = vec![
            logs.join(IDENTIFIER),
            support.join(IDENTIFIER),
            support.join(IDENTIFIER), // Tauri's config and data folders are one on macOS
            cache.join(IDENTIFIER),   // no old folder
        ];
        assert_eq!(
            plan(&dirs, Path::exists),
            vec![(logs.join(OLD_IDENTIFIER), logs.join(IDENTIFIER))]
        );
        run(&dirs);
        let moved = std::fs::read_to_string(logs.join(IDENTIFIER).join("headroom.log")).unwrap();
        assert_eq!(moved, "old log\n");
        assert!(!logs.join(OLD_IDENTIFIER).exists());
        assert!(
            support.join(OLD_IDENTIFIER).exists(),
            "the new one existed: nothing lost"
        );
        assert!(plan(&dirs, Path::exists).is_empty(), "done once");
    }
}
