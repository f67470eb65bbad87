//! [`Staging`]: a run works in a copy of its output folder, swapped in only when it succeeds,
//! so a failed run — an error, a full disk, a kill — leaves the user's folder as it was.
//!
//! The work folder sits beside the run's folder (never inside it: `--out .` names the current
//! folder, which is resolved first), as `.NAME.partial-PID`. One left behind by a process that
//! no longer runs (killed, or out of disk) is removed by the next run, so junk never piles up;
//! a user's folder moved aside by a commit that was killed half-way is put back.

use std::path::{Path, PathBuf};

/// A run's work folder: a copy of the run's folder (without the learner's folders of an
/// earlier run, for a new run), which [`commit`](Self::commit) swaps in for the folder. A run
/// that fails drops it, leaving the folder as it was.
pub struct Staging {
    dir: PathBuf,
    work: PathBuf,
    committed: bool,
}

/// The learner's folders of a run (checkpoints, metric logs).
const LEARNER_DIRS: [&str; 3] = ["checkpoint", "train", "valid"];

impl Staging {
    /// Copies `dir` (if it exists) to a work folder beside it; `resume` keeps the learner's
    /// folders (a new run starts without them). `dir` may be a symbolic link to a folder: the
    /// run then replaces the folder it points to, and the link stays.
    pub fn begin(dir: &Path, resume: bool) -> Result<Self, String> {
        let dir = resolve(dir)?;
        let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
            return Err(format!(
                "cannot stage {}: a run needs a folder with a parent",
                dir.display()
            ));
        };
        let name = name.to_string_lossy().into_owned();
        sweep_stale(parent, &name);
        let staging = Self {
            work: parent.join(format!(".{name}.partial-{}", std::process::id())),
            dir: dir.clone(),
            committed: false,
        };
        // From here, an error drops `staging`, which removes the work folder.
        std::fs::remove_dir_all(&staging.work).ok();
        if dir.exists() && !dir.is_dir() {
            return Err(format!("{} exists and is not a folder", dir.display()));
        }
        let skip: &[&str] = if resume { &[] } else { &LEARNER_DIRS };
        if dir.exists() {
            copy_dir(&dir, &staging.work, skip)
        } else {
            std::fs::create_dir_all(&staging.work)
        }
        .map_err(|e| {
            format!(
                "cannot stage {} in {}: {e}",
                dir.display(),
                staging.work.display()
            )
        })?;
        Ok(staging)
    }

    /// The work folder.
    pub fn work(&self) -> &Path {
        &self.work
    }

    /// Puts the work folder in place of the run's folder (which is removed once replaced).
    pub fn commit(mut self) -> Result<(), String> {
        let name = self.dir.file_name().unwrap_or_default().to_string_lossy();
        let old = self
            .work
            .with_file_name(format!(".{name}.old-{}", std::process::id()));
        let had_dir = self.dir.exists();
        if had_dir {
            std::fs::rename(&self.dir, &old)
                .map_err(|e| format!("cannot move {} aside: {e}", self.dir.display()))?;
        }
        if let Err(e) = std::fs::rename(&self.work, &self.dir) {
            if had_dir {
                std::fs::rename(&old, &self.dir).ok();
            }
            return Err(format!(
                "cannot move the run into {}: {e}",
                self.dir.display()
            ));
        }
        self.committed = true;
        std::fs::remove_dir_all(&old).ok();
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            std::fs::remove_dir_all(&self.work).ok();
        }
    }
}

/// `dir` as an absolute path with `.`, `..` and symbolic links resolved (the folder a link
/// points to, so the link is kept), for a folder that may not exist yet.
fn resolve(dir: &Path) -> Result<PathBuf, String> {
    let err = |e: std::io::Error| format!("cannot resolve {}: {e}", dir.display());
    if dir.exists() {
        return std::fs::canonicalize(dir).map_err(err);
    }
    match (dir.parent(), dir.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = match parent.as_os_str().is_empty() {
                true => Path::new("."),
                false => parent,
            };
            Ok(resolve(parent)?.join(name))
        }
        _ => Err(format!(
            "cannot stage {}: name a folder (not `..` or a root)",
            dir.display()
        )),
    }
}

/// Cleans up after runs of `name` (in `parent`) whose processes no longer run: a moved-aside
/// folder (`.NAME.old-PID`) is the user's folder of a run killed between the two renames of a
/// commit — put back when the folder is missing, removed when the folder is there (the swap
/// was done); a work folder (`.NAME.partial-PID`) is removed. Only where `/proc` tells which
/// processes run (Linux); elsewhere nothing is touched.
fn sweep_stale(parent: &Path, name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let dir = parent.join(name);
    let stale = |prefix: &str| -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(parent) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|entry| {
                let file = entry.file_name().to_string_lossy().into_owned();
                file.strip_prefix(prefix)
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| {
                        pid != std::process::id()
                            && !Path::new("/proc").join(pid.to_string()).exists()
                    })
            })
            .map(|entry| entry.path())
            .collect()
    };
    // The user's folder first: restored, never removed while it is the only copy.
    for old in stale(&format!(".{name}.old-")) {
        if dir.symlink_metadata().is_err() {
            std::fs::rename(&old, &dir).ok();
        } else {
            std::fs::remove_dir_all(&old).ok();
        }
    }
    for work in stale(&format!(".{name}.partial-")) {
        std::fs::remove_dir_all(&work).ok();
    }
}

/// Copies a folder; symbolic links are copied as links (never followed: a dangling one or a
/// link to a folder is kept as it is).
fn copy_dir(from: &Path, to: &Path, skip: &[&str]) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            copy_link(&src, &dst)?;
        } else if kind.is_dir() {
            copy_dir(&src, &dst, &[])?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn copy_link(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(std::fs::read_link(src)?, dst)
}

#[cfg(not(unix))]
fn copy_link(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::copy(src, dst).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(test: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("burn-rotary-staging-{test}-{}", std::process::id()));
        std::fs::remove_dir_all(&root).ok();
        std::fs::create_dir_all(&root).unwrap();
        root
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A run that fails leaves the folder as it was; one that succeeds replaces it, keeping the
    /// user's other files and (for a new run) dropping the earlier run's learner folders.
    #[test]
    fn staging_swaps_in_only_on_commit() {
        let root = root("commit");
        let dir = root.join("run");
        std::fs::create_dir_all(dir.join("checkpoint")).unwrap();
        std::fs::write(dir.join("model.mpk"), "old weights").unwrap();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        std::fs::write(dir.join("checkpoint/model-3.mpk"), "old epoch").unwrap();

        let failed = Staging::begin(&dir, false).unwrap();
        std::fs::write(failed.work().join("model.mpk"), "half written").unwrap();
        let work = failed.work().to_path_buf();
        drop(failed);
        assert!(!work.exists());
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(read("model.mpk"), "old weights");

        let resumed = Staging::begin(&dir, true).unwrap();
        assert!(resumed.work().join("checkpoint/model-3.mpk").is_file());
        drop(resumed);

        let run = Staging::begin(&dir, false).unwrap();
        assert!(!run.work().join("checkpoint").exists());
        std::fs::write(run.work().join("model.mpk"), "new weights").unwrap();
        run.commit().unwrap();
        assert_eq!(read("model.mpk"), "new weights");
        assert_eq!(read("notes.txt"), "mine");
        assert_eq!(names(&root), ["run"], "only the run's folder is left");
        std::fs::remove_dir_all(root).ok();
    }

    /// Whatever `--out` names, a failed start leaves no junk and the user's files as they were.
    #[cfg(unix)]
    #[test]
    fn odd_folders_leave_no_junk() {
        use std::os::unix::fs::symlink;
        let root = root("odd");

        // A file, not a folder: an error, no work folder left.
        std::fs::write(root.join("file"), "mine").unwrap();
        let error = Staging::begin(&root.join("file"), false).err().unwrap();
        assert!(error.contains("not a folder"), "{error}");
        assert_eq!(names(&root), ["file"]);

        // Links inside the folder are copied as links, dangling ones included.
        let run = root.join("run");
        std::fs::create_dir_all(run.join("data")).unwrap();
        symlink("/nonexistent/target", run.join("dangling")).unwrap();
        symlink("data", run.join("data-link")).unwrap();
        let staged = Staging::begin(&run, false).unwrap();
        let link = staged.work().join("data-link");
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        staged.commit().unwrap();
        assert!(run.join("dangling").symlink_metadata().is_ok());

        // `--out` a link to a folder: the folder is replaced, the link stays a link.
        symlink("run", root.join("out-link")).unwrap();
        let staged = Staging::begin(&root.join("out-link"), false).unwrap();
        std::fs::write(staged.work().join("model.mpk"), "new").unwrap();
        staged.commit().unwrap();
        let out = root.join("out-link");
        assert!(out.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(
            std::fs::read_to_string(run.join("model.mpk")).unwrap(),
            "new"
        );

        // `run/.` is `run`: the work folder is beside it, never inside.
        let staged = Staging::begin(&run.join("."), false).unwrap();
        assert_eq!(
            staged.work().parent(),
            Some(root.canonicalize().unwrap().as_path())
        );
        drop(staged);

        // A work folder of a process that no longer runs (killed) is swept by the next run.
        let dead = u32::MAX - 1;
        let stale = root.join(format!(".run.partial-{dead}"));
        std::fs::create_dir_all(stale.join("checkpoint")).unwrap();
        drop(Staging::begin(&run, false).unwrap());
        assert!(!stale.exists());
        assert_eq!(names(&root), ["file", "out-link", "run"]);

        // Killed between a commit's two renames: the user's folder waits aside and is put
        // back by the next run, not swept.
        let aside = root.join(format!(".run.old-{dead}"));
        std::fs::rename(&run, &aside).unwrap();
        std::fs::create_dir_all(root.join(format!(".run.partial-{dead}"))).unwrap();
        drop(Staging::begin(&run, false).unwrap());
        assert_eq!(
            std::fs::read_to_string(run.join("model.mpk")).unwrap(),
            "new"
        );
        assert_eq!(names(&root), ["file", "out-link", "run"]);
        std::fs::remove_dir_all(root).ok();
    }
}
